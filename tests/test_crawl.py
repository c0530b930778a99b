"""Crawl-level tests: the site spider over the fixture pirate site on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from matching.image import PHashSignal
from scheduler.executor import CrawlRequest
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import Capture, CrawlRun, Hit, Work
from swordnet.demo.site import DemoSite, RunningSite, serve_site
from swordnet.watch.targets import site_for_url
from tests.conftest import ALLOW_TEST_SITES, BACKENDS, fresh_database, site_copy
from tests.pirate_sites import register_samples, run_crawl

REPO_ROOT = Path(__file__).resolve().parents[1]


def crawl(db: Database, settings: Settings, url: str, depth: int = 2) -> CrawlRun:
    with db.session() as session:
        site_id = site_for_url(session, url).id
    return run_crawl(db, settings,
                     CrawlRequest(site_id=site_id, start_url=url, depth=depth, max_pages=50))


def hit_set(db: Database) -> set[tuple[str, str]]:
    with db.session() as session:
        rows = session.execute(select(Work.title, Hit.url).join(Hit.work)).all()
    return {(title, url) for title, url in rows}


@dataclass
class SiteCrawl:
    db: Database
    served_site: RunningSite  # its requests are the crawl's
    run: CrawlRun


@pytest.fixture(scope="module", params=BACKENDS)
def site_crawl(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               fixture_site: DemoSite) -> Iterator[SiteCrawl]:
    """The fixture site crawled once into a fresh database (sample works registered), on each
    backend, for the tests below that only read what the crawl did."""
    directory = tmp_path_factory.mktemp("site_crawl")
    with fresh_database(request.param, directory) as url, \
            serve_site(site_copy(fixture_site)) as served_site:
        settings = Settings(home=directory / "home", database_url=url)
        db = open_database(settings)
        try:
            register_samples(db)
            yield SiteCrawl(db, served_site, crawl(db, settings, served_site.url))
        finally:
            db.dispose()


def test_crawl_finds_exactly_the_planted_copies(site_crawl: SiteCrawl) -> None:
    db, served_site, run = site_crawl.db, site_crawl.served_site, site_crawl.run

    base = served_site.url.rstrip("/")
    expected = {(p.work_title, base + p.image_path) for p in served_site.site.planted}
    assert {p.alteration for p in served_site.site.planted} == {
        "reencoded", "resized", "watermarked", "cropped", "mirrored", "cropped-hard",
        "in-a-screenshot"}
    assert {p.embedding for p in served_site.site.planted} == {
        "img", "srcset", "lazy", "picture", "css-inline", "css-block", "og-image"}
    assert hit_set(db) == expected
    with db.session() as session:  # hard alterations were found by stage 2, and say how
        hard = {base + p.image_path for p in served_site.site.planted
                if p.alteration in ("cropped-hard", "in-a-screenshot")}
        for hit in session.scalars(select(Hit)):
            assert (hit.stage, hit.algorithm) == ((2, "orb") if hit.url in hard else (1, "phash"))
            if hit.stage == 2:
                assert hit.score >= 10 and hit.detail["inliers"] == hit.score
    assert run.outcome == "finished"
    assert run.stats["hits_new"] == len(expected)
    # Unrelated images were fetched and matched nothing.
    assert all(path in served_site.requests for path in served_site.site.unrelated)


def test_failures_are_recorded_on_the_run_and_the_crawl_goes_on(site_crawl: SiteCrawl) -> None:
    db, served_site, run = site_crawl.db, site_crawl.served_site, site_crawl.run
    failed = {(e["kind"], e["url"].removeprefix(served_site.url.rstrip("/"))) for e in run.errors}
    assert failed == {("http_500", "/broken.html"), ("http_404", "/media/missing.jpg"),
                      ("bad_media", "/media/corrupt.jpg")}
    assert run.stats["errors_by_type"] == {"http_500": 1, "http_404": 1, "bad_media": 1}
    assert run.stats["media_skipped"] == 1  # the 1x1 spacer gif
    # stage 2 ran on what stage 1 left: the hard copies, the unrelated images, and the copies
    # stage 1 matched only marginally, which stage 2 confirmed
    hard = sum(p.alteration in ("cropped-hard", "in-a-screenshot")
               for p in served_site.site.planted)
    with db.session() as session:
        marginal = session.scalars(select(Hit).where(
            Hit.stage == 1, Hit.score > PHashSignal.confirm_beyond)).all()
        assert marginal and all(h.detail["confirmed_by"]["algorithm"] == "orb" for h in marginal)
    assert run.stats["media_stage2"] == hard + len(served_site.site.unrelated) + len(marginal)
    assert run.stats["hits_new"] == len(served_site.site.planted)


def test_recrawl_yields_the_same_hit_set(
    home: Settings, db: Database, served_site: RunningSite
) -> None:
    register_samples(db)
    crawl(db, home, served_site.url)
    first = hit_set(db)
    second_run = crawl(db, home, served_site.url)
    assert hit_set(db) == first
    assert second_run.stats["hits_new"] == 0
    assert second_run.stats["hits_seen"] == len(first)
    with db.session() as session:
        media = session.scalars(select(Capture).where(Capture.kind == "media")).all()
    assert len(media) == len(first)  # no duplicate captures either


def test_spider_stays_on_site_and_respects_depth(
    sqlite_home: Settings, served_site: RunningSite
) -> None:
    from swordnet.core.db import open_database

    db = open_database(sqlite_home)
    run = crawl(db, sqlite_home, served_site.url, depth=0)
    db.dispose()
    pages = [p for p in served_site.requests if p.endswith(".html") or p == "/"]
    assert pages == ["/"]  # depth 0: the start page only; images on it would still be fetched
    assert run.stats["pages"] == 1
    assert not any(e["url"].startswith("http://127.0.0.2") for e in run.errors)


def test_scrapy_crawl_from_repo_root_records_its_own_run(
    sqlite_home: Settings, served_site: RunningSite
) -> None:
    from swordnet.core.db import open_database

    db = open_database(sqlite_home)
    register_samples(db)
    env = {**os.environ, "SWORDNET_HOME": str(sqlite_home.home)}
    env.pop("SCRAPY_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"url={served_site.url}",
         *ALLOW_TEST_SITES],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    with db.session() as session:
        runs = session.scalars(select(CrawlRun)).all()
        assert [(r.outcome, r.stats["hits_new"]) for r in runs] == [
            ("finished", len(served_site.site.planted))]
    db.dispose()
