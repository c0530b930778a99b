"""Works found in one region of a crawled image (a collage's cell) when the whole image
matches nothing, with where the region lies; unrelated collages and pages match nothing."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from sqlalchemy import select

from bench.imageset import encode, page_canvas
from matching.match_index import MatchIndex
from matching.stages import (
    first_stage_matches,
    first_stage_queries,
    match_content,
    registration_fingerprints,
    settle_whole,
)
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Hit
from swordnet.demo.samples import artwork
from swordnet.demo.site import DemoSite, serve_site
from tests.conftest import run_cli
from tests.pirate_sites import add_watch_target, crawl_target, page

TILE, GUTTER = (330, 248), 8
SLOT = 4  # the middle cell of a 3x3 collage
CELL = {"left": GUTTER + TILE[0] + GUTTER, "top": GUTTER + TILE[1] + GUTTER,
        "width": TILE[0], "height": TILE[1]}


def smooth_work(seed: int) -> Image.Image:
    """A soft, low-texture picture (soft blobs over a grey ground, a little sensor noise):
    like a moon or a microscope photograph, few ORB keypoints to spare at a third of a
    collage, so the whole collage matches nothing."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    picture = np.full((480, 640), 90, np.float32)
    for _ in range(40):
        cx, cy, radius = rng.uniform(0, 640), rng.uniform(0, 480), rng.uniform(8, 60)
        picture += rng.uniform(-40, 40) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2)
                                                 / (2 * radius * radius))
    picture += rng.normal(0, 3, picture.shape)
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).convert("RGB")


def collage(centre: Image.Image, seed: int) -> Image.Image:
    """``centre`` in the middle cell of a 3x3 collage, generated pictures in the others."""
    canvas = Image.new("RGB", (3 * TILE[0] + 4 * GUTTER, 3 * TILE[1] + 4 * GUTTER),
                       (255, 255, 255))
    for k in range(9):
        picture = centre if k == SLOT else artwork(seed + k)
        canvas.paste(ImageOps.fit(picture, TILE), (GUTTER + (k % 3) * (TILE[0] + GUTTER),
                                                   GUTTER + (k // 3) * (TILE[1] + GUTTER)))
    return canvas


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def index_of(work: Image.Image) -> MatchIndex:
    index = MatchIndex()
    for algorithm, variant, value in registration_fingerprints("image", png(work)):
        index.add(len(index) + 1, 1, algorithm, value, variant=variant)
    return index


def assert_near_the_cell(region: dict[str, int]) -> None:
    assert all(abs(region[key] - CELL[key]) <= 6 for key in CELL), region


def test_a_work_in_a_collage_cell_is_found_there_when_the_whole_collage_finds_nothing() -> None:
    work = smooth_work(3)
    index = index_of(work)
    copy = encode(collage(work, 7000))
    first = first_stage_matches(index, first_stage_queries("image", copy))
    assert settle_whole(index, "image", copy, first) == []  # the whole collage: nothing
    [match] = match_content(index, "image", copy)
    assert match.work_id == 1
    assert_near_the_cell(match.detail["region"])


def test_unrelated_collages_and_pages_with_pictures_match_nothing_in_their_regions() -> None:
    index = index_of(smooth_work(3))
    for seed in range(7100, 7104):
        assert match_content(index, "image", encode(collage(artwork(seed), seed))) == []
        screenshot = page_canvas(1024, 768, random.Random(seed))
        screenshot.paste(smooth_work(seed).resize((320, 240)), (300, 200))  # another work
        assert match_content(index, "image", encode(screenshot)) == []


def test_a_crawled_collage_is_a_hit_on_its_work_that_says_where_the_work_lies(
        sqlite_home: Settings, tmp_path: Path) -> None:
    work = tmp_path / "soft-moon.png"
    work.write_bytes(png(smooth_work(3)))
    assert run_cli("works", "add", str(work), "--title", "Soft Moon",
                   "--holder", "Observatory").exit_code == 0
    site = DemoSite()
    site.add("/", page("Wallpapers pack 12", '<img src="/img/pack-12.jpg" alt="pack">'),
             "text/html; charset=utf-8")
    site.add("/img/pack-12.jpg", encode(collage(smooth_work(3), 7000)), "image/jpeg")
    db = open_database(sqlite_home)
    with serve_site(site) as running:
        run = crawl_target(db, sqlite_home, add_watch_target(db, running.url))
    assert run.outcome == "finished"
    with db.session() as session:
        [hit] = session.scalars(select(Hit)).all()
        assert hit.url.endswith("/img/pack-12.jpg")
        assert_near_the_cell(hit.detail["region"])
    [shown] = json.loads(run_cli("hits", "list", "--json").output)
    assert shown["work_title"] == "Soft Moon"
    assert "in the region 3" in shown["method"]  # "... 330x248 at (346, 264) of the copy"
    db.dispose()
