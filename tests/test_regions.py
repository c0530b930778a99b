"""The region finder on synthetic images: a collage's cells, a picture pasted on a page, and
nothing in an ordinary picture, a plain page or a page of text."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from matching.regions import MAX_REGIONS, Box, find_regions


def texture(width: int, height: int, seed: int) -> np.ndarray:
    """A photograph-like picture: blurred noise in colour, detail everywhere."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC))
    fine = rng.normal(0, 18, (height, width, 3))
    return np.clip(base + fine, 0, 255).astype(np.uint8)


def collage(columns: int, rows: int, gutter: int = 8, tile: tuple[int, int] = (330, 248),
            colour: int = 255) -> tuple[np.ndarray, list[Box]]:
    width, height = columns * tile[0] + (columns + 1) * gutter, rows * tile[1] + (rows + 1) * gutter
    canvas = np.full((height, width, 3), colour, np.uint8)
    boxes = []
    for k in range(columns * rows):
        x = gutter + (k % columns) * (tile[0] + gutter)
        y = gutter + (k // columns) * (tile[1] + gutter)
        canvas[y:y + tile[1], x:x + tile[0]] = texture(*tile, seed=k)
        boxes.append(Box(x / width, y / height, (x + tile[0]) / width, (y + tile[1]) / height))
    return canvas, boxes


def page(with_picture: bool, seed: int = 1) -> tuple[np.ndarray, Box]:
    """A white 1024x768 page with a header bar and lines of text, and maybe a picture."""
    image = Image.new("RGB", (1024, 768), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1024, 60), fill=(40, 60, 150))
    rng = np.random.default_rng(seed)
    for y in range(80, 760, 22):
        x = int(rng.integers(10, 600))
        draw.text((x, y), "watch free download episode 1080p online " * 2,
                  font=ImageFont.load_default(size=14), fill=(20, 20, 20))
    box = Box(400 / 1024, 200 / 768, 707 / 1024, 430 / 768)
    if with_picture:
        image.paste(Image.fromarray(texture(307, 230, seed)), (400, 200))
    return np.asarray(image), box


def best_overlap(found: list[Box], wanted: Box) -> float:
    return max((box.iou(wanted) for box in found), default=0.0)


def test_every_cell_of_a_3x3_collage_is_found() -> None:
    for colour in (255, 0, 40):
        image, cells = collage(3, 3, colour=colour)
        found = find_regions(image)
        assert len(found) == 9
        assert all(best_overlap(found, cell) > 0.9 for cell in cells), colour


def test_a_two_by_two_collage_without_a_margin_is_cut_at_its_gutters() -> None:
    image, cells = collage(2, 2)
    image = image[8:-8, 8:-8]  # no outer margin, only the gutters between tiles
    found = find_regions(image)
    assert len(found) == 4
    height, width = image.shape[:2]
    assert found[0].pixels(width, height)[2] - found[0].pixels(width, height)[0] > 300


def test_regions_are_capped() -> None:
    image, _ = collage(4, 4, tile=(200, 150))
    assert len(find_regions(image)) == MAX_REGIONS


def test_a_picture_pasted_on_a_page_of_text_is_found() -> None:
    image, picture = page(with_picture=True)
    found = find_regions(image)
    assert best_overlap(found, picture) > 0.85
    assert len(found) <= 2


def test_an_ordinary_picture_a_plain_page_and_a_page_of_text_have_no_regions() -> None:
    assert find_regions(texture(800, 600, seed=5)) == []
    assert find_regions(np.full((600, 800, 3), 250, np.uint8)) == []
    text_only, _ = page(with_picture=False)
    assert find_regions(text_only) == []


def test_a_picture_with_a_border_is_found_without_it() -> None:
    picture = texture(600, 400, seed=9)
    bordered = np.pad(picture, ((80, 80), (100, 100), (0, 0)), constant_values=0)
    [found] = find_regions(bordered)  # to a pixel or so of the analysis size (a third)
    assert np.allclose(found.pixels(800, 560), (100, 80, 700, 480), atol=5)
