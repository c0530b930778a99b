"""Crawl-level tests: the site spider over the fixture pirate site on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from crawlers.spiders.site import SiteSpider
from matching.image import PHashSignal
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import Capture, CrawlRun, Hit, Work
from swordnet.demo.site import DemoSite, RunningSite
from tests.conftest import ALLOW_TEST_SITES, BACKENDS
from tests.crawled import fixture_crawl
from tests.pirate_sites import register_samples
from tests.spider_harness import crawl_in_process, make_spider, run_spider

REPO_ROOT = Path(__file__).resolve().parents[1]


def hit_set(db: Database) -> set[tuple[str, str]]:
    with db.session() as session:
        rows = session.execute(select(Work.title, Hit.url).join(Hit.work)).all()
    return {(title, url) for title, url in rows}


@dataclass
class SiteCrawl:
    db: Database
    settings: Settings   # the copy's home (evidence store) and database
    site: DemoSite
    url: str             # where the site was served
    requests: list[str]  # what the crawl requested
    run: CrawlRun


@pytest.fixture(params=BACKENDS)
def site_crawl(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               tmp_path: Path, fixture_site: DemoSite) -> Iterator[SiteCrawl]:
    """The fixture site crawled once per test run into a database (sample works registered),
    on each backend; each test reads its own copy."""
    crawled = fixture_crawl(request.param, tmp_path_factory, fixture_site)
    with crawled.copy(tmp_path) as settings:
        db = open_database(settings)
        try:
            with db.session() as session:
                run = session.get(CrawlRun, crawled.run_id)
                assert run is not None
            yield SiteCrawl(db, settings, fixture_site, crawled.url, crawled.requests, run)
        finally:
            db.dispose()


def test_crawl_finds_exactly_the_planted_copies(site_crawl: SiteCrawl) -> None:
    db, site, run = site_crawl.db, site_crawl.site, site_crawl.run

    base = site_crawl.url.rstrip("/")
    expected = {(p.work_title, base + p.image_path) for p in site.planted}
    assert {p.alteration for p in site.planted} == {
        "reencoded", "resized", "watermarked", "cropped", "mirrored", "cropped-hard",
        "in-a-screenshot"}
    assert {p.embedding for p in site.planted} == {
        "img", "srcset", "lazy", "picture", "css-inline", "css-block", "og-image"}
    assert hit_set(db) == expected
    with db.session() as session:  # hard alterations were found by stage 2, and say how
        hard = {base + p.image_path for p in site.planted
                if p.alteration in ("cropped-hard", "in-a-screenshot")}
        for hit in session.scalars(select(Hit)):
            assert (hit.stage, hit.algorithm) == ((2, "orb") if hit.url in hard else (1, "phash"))
            if hit.stage == 2:
                assert hit.score >= 10 and hit.detail["inliers"] == hit.score
    assert run.outcome == "finished"
    assert run.stats["hits_new"] == len(expected)
    # Unrelated images were fetched and matched nothing.
    assert all(path in site_crawl.requests for path in site.unrelated)


def test_failures_are_recorded_on_the_run_and_the_crawl_goes_on(site_crawl: SiteCrawl) -> None:
    db, site, run = site_crawl.db, site_crawl.site, site_crawl.run
    failed = {(e["kind"], e["url"].removeprefix(site_crawl.url.rstrip("/"))) for e in run.errors}
    assert failed == {("http_500", "/broken.html"), ("http_404", "/media/missing.jpg"),
                      ("bad_media", "/media/corrupt.jpg")}
    assert run.stats["errors_by_type"] == {"http_500": 1, "http_404": 1, "bad_media": 1}
    assert run.stats["media_skipped"] == 1  # the 1x1 spacer gif
    # stage 2 ran on what stage 1 left: the hard copies, the unrelated images, and the copies
    # stage 1 matched only marginally or too plain to be sure, which stage 2 confirmed
    hard = sum(p.alteration in ("cropped-hard", "in-a-screenshot") for p in site.planted)
    with db.session() as session:
        marginal = session.scalars(select(Hit).where(
            Hit.stage == 1, Hit.score > PHashSignal.confirm_beyond)).all()
        assert marginal and all(h.detail["confirmed_by"]["algorithm"] == "orb" for h in marginal)
        plain = [h for h in session.scalars(select(Hit).where(
            Hit.stage == 1, Hit.score <= PHashSignal.confirm_beyond)) if h.detail.get("low_detail")]
        assert all(h.detail["confirmed_by"]["algorithm"] == "orb" for h in plain)
    assert run.stats["media_stage2"] == hard + len(site.unrelated) + len(marginal) + len(plain)
    assert run.stats["hits_new"] == len(site.planted)


def test_recrawl_yields_the_same_hit_set(site_crawl: SiteCrawl,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """What the real crawl stored, crawled again in-process at the same address (no
    sockets: tests/spider_harness.py), matched and stored as the crawl's pipelines do."""
    db, site = site_crawl.db, site_crawl.site
    monkeypatch.setenv("SWORDNET_HOME", str(site_crawl.settings.home))  # the spider's database
    monkeypatch.setenv("SWORDNET_DATABASE_URL", site_crawl.settings.database_url)
    first = hit_set(db)
    again = crawl_in_process(db, site_crawl.settings, urlsplit(site_crawl.url).netloc, site)
    assert hit_set(db) == first
    assert again.new == 0
    assert again.seen == len(first)
    with db.session() as session:
        media = session.scalars(select(Capture).where(Capture.kind == "media")).all()
    assert len(media) == len(first)  # no duplicate captures either


def test_spider_stays_on_site_and_respects_depth(fixture_site: DemoSite) -> None:
    spider = make_spider(SiteSpider, url="http://pirate.example/", depth="0")
    run = run_spider(spider, {"pirate.example": fixture_site})
    assert list(run.requests) == ["pirate.example"]
    pages = [p for p in run.paths("pirate.example") if p.endswith(".html") or p == "/"]
    assert pages == ["/"]  # depth 0: the start page only (images on it would be fetched)
    assert run.stats["pages"] == 1
    assert run.stats["links_found"] > 0 and not run.errors


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
