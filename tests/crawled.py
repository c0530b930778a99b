"""The fixture pirate site crawled once per test run and backend, for tests that read or
change a copy of what a real crawl stored.

The crawl is a real ``scrapy crawl`` subprocess (:func:`crawl`), built by whichever
pytest-xdist worker needs it first (:func:`tests.conftest.built_once`); every test gets a
copy of the home and database (:meth:`FixtureCrawl.copy`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawlers.config import MATCH_WORKERS
from scheduler.executor import CrawlRequest
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import CrawlRun
from swordnet.demo.site import DemoSite, serve_site
from swordnet.watch.targets import site_for_url
from tests.conftest import built_once, copy_database, shared_database_url, site_copy
from tests.pirate_sites import register_samples, run_crawl


def crawl(db: Database, settings: Settings, url: str, depth: int = 2,
          match_workers: int | None = None) -> CrawlRun:
    """Crawl ``url`` as the scheduler does (a ``scrapy crawl`` subprocess); the finished run.
    ``match_workers`` overrides the session's one match worker per crawl (tests/conftest.py)."""
    with db.session() as session:
        site_id = site_for_url(session, url).id
    extra = {} if match_workers is None else {MATCH_WORKERS: match_workers}
    return run_crawl(db, settings, CrawlRequest(site_id=site_id, start_url=url, depth=depth,
                                                max_pages=50, settings=extra))


@dataclass(frozen=True)
class FixtureCrawl:
    """The fixture site (sample works registered) crawled into a home and database."""

    settings: Settings   # to copy, never to use: PostgreSQL copies only an unused database
    url: str             # where the site was served (its hits' URLs start with it)
    requests: list[str]  # the paths the crawl requested, in order
    run_id: int

    @contextmanager
    def copy(self, directory: Path) -> Iterator[Settings]:
        """A private copy of the home (``directory / "home"``) and database."""
        home = directory / "home"
        shutil.copytree(self.settings.home, home)
        with copy_database(self.settings.database_url, directory) as url:
            yield Settings(home=home, database_url=url)


def fixture_crawl(backend: str, tmp_path_factory: pytest.TempPathFactory,
                  fixture_site: DemoSite) -> FixtureCrawl:
    """The fixture site crawled on ``backend``, once per test run."""

    def build(directory: Path) -> dict[str, object]:
        settings = Settings(home=directory / "home",
                            database_url=shared_database_url(backend, "fixture_crawl", directory))
        db = open_database(settings)
        try:
            register_samples(db)
            with serve_site(site_copy(fixture_site)) as served:
                # a pool of two match workers, as on a two-core node: the tests that read
                # this crawl see what a pool of several found
                run = crawl(db, settings, served.url, match_workers=2)
                return {"database_url": settings.database_url, "url": served.url,
                        "requests": list(served.requests), "run_id": run.id}
        finally:
            db.dispose()

    directory, built = built_once(tmp_path_factory, f"fixture_crawl_{backend}", build)
    return FixtureCrawl(Settings(home=directory / "home", database_url=built["database_url"]),
                        built["url"], built["requests"], built["run_id"])
