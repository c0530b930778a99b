"""The detection benchmark's image set: real photographs, their altered copies, distractors.

Photographs come from installed packages (the ``bench`` extra), never from the network, and
are only read at benchmark time, not redistributed. Their terms, as the packages state them:
scikit-image's ``astronaut``, ``chelsea``, ``coffee``, ``camera``, ``cell``, ``retina``,
``rocket``, ``hubble_deep_field``, ``clock``, ``text`` and the CC0 textures (``brick``,
``grass``, ``gravel``) are public domain or CC0; ``coins`` and ``immunohistochemistry`` have
"no known copyright restrictions"; ``moon``, ``page``, ``stereo_motorcycle`` (Middlebury
stereo data) and ``lfw_subset`` (Labeled Faces in the Wild) state no licence in their
docstrings. scikit-learn's ``china.jpg`` and ``flower.jpg`` are CC BY 2.0 (attribution in
``sklearn.datasets.load_sample_images().DESCR``).

Works are 13 photographs, copied under 16 alterations and 6 hard ones
(:data:`HARD_ALTERATIONS`: 30-50% of a page screenshot, mirrored and cropped, one tile of a
3x3 collage, a photo of a screen). Distractors never contain a work: they are built from held-out
photographs (flower, textures, a clock, a document page, a text scan), scikit-image's 200
bundled faces, rendered text, gradients and page-like screenshots.
Everything is generated from fixed seeds, so two runs see the same images.
"""

from __future__ import annotations

import functools
import io
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

WORK_NAMES = (
    "astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field", "moon",
    "rocket", "retina", "cell", "immunohistochemistry", "motorcycle", "china",
)
HELD_OUT_NAMES = ("flower", "brick", "grass", "gravel", "clock", "page", "text")


def _as_image(array: np.ndarray) -> Image.Image:
    image = Image.fromarray(array)
    return image.convert("RGB")


def load_photo(name: str) -> Image.Image:
    """A photograph by name, as RGB, at most 1000 px on its long side."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    if name in ("china", "flower"):
        image = _as_image(load_sample_image(f"{name}.jpg"))
    elif name == "motorcycle":
        image = _as_image(skimage.data.stereo_motorcycle()[0])
    else:
        image = _as_image(getattr(skimage.data, name)())
    image.thumbnail((1000, 1000))
    return image


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _crop(image: Image.Image, keep: float, rnd: random.Random) -> Image.Image:
    w, h = image.size
    cw, ch = round(w * keep), round(h * keep)
    x, y = rnd.randint(0, w - cw), rnd.randint(0, h - ch)
    return image.crop((x, y, x + cw, y + ch))


def _border(image: Image.Image, rnd: random.Random) -> Image.Image:
    w, h = image.size
    color = rnd.choice([(0, 0, 0), (255, 255, 255), (rnd.randrange(256),) * 3])
    return ImageOps.expand(image, border=(round(w * 0.1), round(h * 0.1)), fill=color)


def _watermark(image: Image.Image, rnd: random.Random) -> Image.Image:
    out = image.copy().convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    text = rnd.choice(["piratebay.example", "FREE HD DOWNLOAD", "www.warez.example", "样本站"])
    size = max(14, out.size[0] // 14)
    x = rnd.randint(0, max(1, out.size[0] // 3))
    y = rnd.randint(0, max(1, out.size[1] - size * 2))
    draw.text((x, y), text, font=font(size), fill=(255, 255, 255, 170))
    return Image.alpha_composite(out, layer).convert("RGB")


def _rotate(image: Image.Image, rnd: random.Random) -> Image.Image:
    angle = rnd.choice([-5, 5])
    return image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True,
                        fillcolor=(255, 255, 255))


def page_canvas(width: int, height: int, rnd: random.Random) -> Image.Image:
    """A page-like screenshot: header bar, sidebar, lines of text, buttons, ad boxes."""
    bg = rnd.choice([(255, 255, 255), (245, 245, 245), (30, 30, 34)])
    ink = (20, 20, 20) if sum(bg) > 300 else (225, 225, 225)
    canvas = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, 60), fill=tuple(rnd.randrange(256) for _ in range(3)))
    draw.text((20, 18), rnd.choice(["FilmStream HD", "ComicVault", "ZeroDayWarez", "影视天堂"]),
              font=font(24), fill=(255, 255, 255))
    for _ in range(rnd.randint(8, 30)):
        x, y = rnd.randrange(width), rnd.randrange(70, height)
        words = " ".join(rnd.choice(["watch", "free", "download", "episode", "chapter",
                                     "now", "1080p", "online", "new", "login"])
                         for _ in range(rnd.randint(2, 8)))
        draw.text((x, y), words, font=font(rnd.randint(11, 18)), fill=ink)
    for _ in range(rnd.randint(1, 4)):
        x, y = rnd.randrange(width - 60), rnd.randrange(70, height - 30)
        draw.rectangle((x, y, x + rnd.randint(60, 240), y + rnd.randint(20, 90)),
                       outline=ink, fill=tuple(rnd.randrange(256) for _ in range(3)))
    return canvas


def _embed(image: Image.Image, rnd: random.Random, share: float = 0.6) -> Image.Image:
    """The work at ``share`` of a 1024 px page-like canvas's width, somewhere on the page."""
    canvas_w = 1024
    scaled = image.resize((round(canvas_w * share), round(canvas_w * share * image.height
                                                          / image.width)))
    canvas_h = max(768, scaled.height + 140)
    canvas = page_canvas(canvas_w, canvas_h, rnd)
    canvas.paste(scaled, (rnd.randint(0, canvas_w - scaled.width),
                          rnd.randint(70, canvas_h - scaled.height)))
    return canvas


def _combined(image: Image.Image, rnd: random.Random) -> Image.Image:
    resized = image.resize((round(image.width * 0.7), round(image.height * 0.7)))
    return jpeg(_watermark(resized, rnd), 60)


def _gray(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


def _mirror_crop(image: Image.Image, rnd: random.Random) -> Image.Image:
    """Mirrored and cropped to 75% (neither stage-1 variant survives the crop)."""
    return _crop(ImageOps.mirror(image), 0.75, rnd)


@functools.cache
def _held_out() -> tuple[Image.Image, ...]:
    return tuple(load_photo(name) for name in HELD_OUT_NAMES)


def _collage(image: Image.Image, rnd: random.Random) -> Image.Image:
    """The work as one tile of a 3x3 collage, the other eight from held-out photographs."""
    tile_w, tile_h, gutter = 330, 248, 8
    canvas = Image.new("RGB", (3 * tile_w + 4 * gutter, 3 * tile_h + 4 * gutter),
                       rnd.choice([(255, 255, 255), (0, 0, 0), (40, 40, 40)]))
    slot = rnd.randrange(9)
    for k in range(9):
        source = image if k == slot else _crop(rnd.choice(_held_out()), rnd.uniform(0.4, 1), rnd)
        tile = ImageOps.fit(source, (tile_w, tile_h), Image.Resampling.BICUBIC)
        canvas.paste(tile, (gutter + (k % 3) * (tile_w + gutter),
                            gutter + (k // 3) * (tile_h + gutter)))
    return canvas


def _screen_photo(image: Image.Image, rnd: random.Random) -> Image.Image:
    """A phone photo of the work on a monitor: perspective, moire, blur, gamma, sensor noise.

    The work fills most of a dark bezel; the camera sees it off-axis (each corner moved by up
    to 10% of the side), through a fine interference pattern of two slightly rotated pixel
    grids, out of focus, with a gamma curve and noise, saved as a camera JPEG.
    """
    work = np.asarray(image.convert("RGB").resize((800, round(800 * image.height / image.width))),
                      np.float32)
    h, w = work.shape[:2]
    bezel = 40
    screen = np.full((h + 2 * bezel, w + 2 * bezel, 3), rnd.uniform(5, 25), np.float32)
    screen[bezel:bezel + h, bezel:bezel + w] = work
    sh, sw = screen.shape[:2]
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)

    def grating(angle_deg: float, period: float) -> np.ndarray:
        angle = math.radians(angle_deg)
        return np.cos(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)

    # The screen's pixel grid times the camera's sensor grid, nearly aligned: their product
    # beats in broad curved bands (the moire) over a fine texture the blur mostly removes.
    angle, period = rnd.uniform(-30, 30), rnd.uniform(2.6, 3.4)
    pattern = grating(angle, period) * grating(angle + rnd.uniform(2, 5),
                                               period * rnd.uniform(1.03, 1.08))
    screen *= (1 + rnd.uniform(0.15, 0.25) * pattern)[..., None]
    out_w, out_h = 1024, round(1024 * sh / sw)
    src = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]])
    inset = 0.08  # the screen's corners, each then moved by up to 10% of the side
    jitter = 0.1
    dst = np.float32([[out_w * (x + rnd.uniform(-jitter, jitter)),
                       out_h * (y + rnd.uniform(-jitter, jitter))]
                      for x, y in ((inset, inset), (1 - inset, inset), (1 - inset, 1 - inset),
                                   (inset, 1 - inset))])
    matrix = cv2.getPerspectiveTransform(src, dst)
    photo = cv2.warpPerspective(screen, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                borderValue=(rnd.uniform(30, 90),) * 3)
    photo = cv2.GaussianBlur(photo, (0, 0), rnd.uniform(0.8, 1.4))
    gamma = rnd.uniform(0.75, 1.3)
    photo = 255 * (np.clip(photo, 0, 255) / 255) ** gamma
    noise = np.random.default_rng(rnd.randrange(2**32)).normal(0, 4, photo.shape)
    return jpeg(Image.fromarray(np.clip(photo + noise, 0, 255).astype(np.uint8)), 80)


ALTERATIONS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "jpeg_q30": lambda im, rnd: jpeg(im, 30),
    "jpeg_q70": lambda im, rnd: jpeg(im, 70),
    "downscale_50": lambda im, rnd: im.resize((im.width // 2, im.height // 2)),
    "downscale_25": lambda im, rnd: im.resize((im.width // 4, im.height // 4)),
    "crop_90": lambda im, rnd: _crop(im, 0.9, rnd),
    "crop_75": lambda im, rnd: _crop(im, 0.75, rnd),
    "border_10": _border,
    "watermark": _watermark,
    "brightness_+30": lambda im, rnd: ImageEnhance.Brightness(im).enhance(1.3),
    "contrast_-30": lambda im, rnd: ImageEnhance.Contrast(im).enhance(0.7),
    "blur": lambda im, rnd: im.filter(ImageFilter.GaussianBlur(rnd.choice([1.5, 2.0]))),
    "grayscale": lambda im, rnd: _gray(im),
    "mirror": lambda im, rnd: ImageOps.mirror(im),
    "rotate_5": _rotate,
    "embed_60": _embed,
    "resize_watermark_jpeg": _combined,
}
# The hard copies: a work at 30-50% of a page screenshot's width, mirrored and cropped, one
# tile of nine, photographed off a screen.
HARD_ALTERATIONS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "embed_50": lambda im, rnd: _embed(im, rnd, 0.5),
    "embed_40": lambda im, rnd: _embed(im, rnd, 0.4),
    "embed_30": lambda im, rnd: _embed(im, rnd, 0.3),
    "mirror_crop_75": _mirror_crop,
    "collage_3x3": _collage,
    "screen_photo": _screen_photo,
}
ALL_ALTERATIONS = {**ALTERATIONS, **HARD_ALTERATIONS}


@dataclass(frozen=True)
class Sample:
    """One benchmark image: a copy of ``work`` made by ``alteration``, or a distractor."""

    label: str        # alteration name, or distractor family
    work: str | None  # the work it copies; None for a distractor
    image: Image.Image


def altered_copies(works: dict[str, Image.Image], per_work: int = 3,
                   alterations: Iterable[str] = ALL_ALTERATIONS) -> Iterator[Sample]:
    """``per_work`` copies of every work under each of ``alterations`` (different random
    params)."""
    for alteration in alterations:
        make = ALL_ALTERATIONS[alteration]
        for name, image in works.items():
            for k in range(per_work):
                rnd = random.Random(f"{alteration}/{name}/{k}")
                yield Sample(alteration, name, make(image, rnd))


def _random_crop(image: Image.Image, rnd: random.Random) -> Image.Image:
    keep = rnd.uniform(0.3, 0.9)
    crop = _crop(image, keep, rnd)
    scale = rnd.uniform(0.6, 1.6)
    return crop.resize((max(32, round(crop.width * scale)), max(32, round(crop.height * scale))))


def _text_image(rnd: random.Random) -> Image.Image:
    w, h = rnd.choice([(640, 360), (800, 600), (512, 512), (1024, 300)])
    bg = tuple(rnd.randrange(256) for _ in range(3))
    image = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(image)
    fg = tuple(255 - c for c in bg)
    y = 10
    while y < h - 20:
        size = rnd.randint(14, 40)
        line = " ".join(rnd.choice(["Chapter", "the", "night", "river", "第一章", "下载",
                                    "SUBTITLE", "season", "2026", "crack", "keygen"])
                        for _ in range(rnd.randint(2, 7)))
        draw.text((rnd.randint(5, 60), y), line, font=font(size), fill=fg)
        y += size + rnd.randint(4, 20)
    return image


def _gradient(rnd: random.Random) -> Image.Image:
    w, h = rnd.choice([(640, 480), (512, 512), (800, 450)])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = rnd.uniform(-1, 1), rnd.uniform(-1, 1)
    if rnd.random() < 0.5:
        t = (a * xx / w + b * yy / h)
    else:
        cx, cy = rnd.uniform(0, w), rnd.uniform(0, h)
        t = np.hypot(xx - cx, yy - cy) / max(w, h)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    c0, c1 = np.array([rnd.randrange(256) for _ in range(3)]), np.array(
        [rnd.randrange(256) for _ in range(3)])
    rgb = c0 + (c1 - c0) * t[..., None]
    noise = np.random.default_rng(rnd.randrange(2**32)).normal(0, rnd.choice([0, 2, 8]),
                                                                 rgb.shape)
    return Image.fromarray(np.clip(rgb + noise, 0, 255).astype(np.uint8))


def _face(faces: np.ndarray, rnd: random.Random) -> Image.Image:
    face = (faces[rnd.randrange(len(faces))] * 255).astype(np.uint8)
    size = rnd.choice([128, 200, 256, 320])
    image = Image.fromarray(face).resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
    if rnd.random() < 0.5:
        image = ImageEnhance.Color(image).enhance(0.0)
    return image


def _page_with_photo(held_out: list[Image.Image], rnd: random.Random) -> Image.Image:
    canvas = page_canvas(1024, 768, rnd)
    photo = _random_crop(rnd.choice(held_out), rnd)
    photo.thumbnail((600, 500))
    canvas.paste(photo, (rnd.randint(0, 1024 - photo.width), rnd.randint(70, 768 - photo.height)))
    return canvas


def distractors(count: int = 3200) -> Iterator[Sample]:
    """Images that contain no work, in six families, ``count`` in all."""
    import skimage.data

    held_out = [load_photo(name) for name in HELD_OUT_NAMES]
    faces = skimage.data.lfw_subset()
    families: list[tuple[str, float, Callable[[random.Random], Image.Image]]] = [
        ("photo_crop", 0.30, lambda rnd: _random_crop(rnd.choice(held_out), rnd)),
        ("face", 0.15, lambda rnd: _face(faces, rnd)),
        ("text", 0.15, _text_image),
        ("gradient", 0.10, _gradient),
        ("page_screenshot", 0.15, lambda rnd: page_canvas(1024, 768, rnd)),
        ("page_with_photo", 0.15, lambda rnd: _page_with_photo(held_out, rnd)),
    ]
    for family, share, make in families:
        for k in range(round(count * share)):
            yield Sample(family, None, make(random.Random(f"{family}/{k}")))


def encode(image: Image.Image, quality: int = 90) -> bytes:
    """The bytes a crawler would fetch: a JPEG, as most reposts are."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
