"""A crawled database for console and API tests: two rights holders, four users, real hits.

The fixture pirate site is crawled once per test run and backend (a real ``scrapy crawl``
subprocess, by whichever pytest-xdist worker needs it first). The six sample works are split
between two holders, so each holder has hits the other must never see. One page of the site
is titled ``<script>alert(1)</script>`` and holds a copy, so its hit carries that title into
the console. Tests use copies of the home and database (:meth:`WebData.copy_to`), never the
original; :func:`web_data_on` gives it on SQLite or PostgreSQL.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
import pytest

from swordnet.accounts.users import add_user, create_token
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.demo.samples import sample_files
from swordnet.demo.site import build_demo_site, serve_site
from swordnet.evidence.store import EvidenceStore
from swordnet.works.registry import register_work
from tests.conftest import PG_ADMIN_DSN, built_once, shared_database_url
from tests.crawled import crawl
from tests.pirate_sites import plant, sample_works

HOLDER_A = "North Light Pictures"
HOLDER_B = "Harbour Press"
PASSWORD = "lanterns over the harbour at dusk"
XSS_TITLE = "<script>alert(1)</script>"
XSS_PAGE = "/forum/thread-7.html"
ALTERATIONS = ("reencoded", "resized", "mirrored", "cropped")
USERS = {  # username -> (role, holder)
    "admin": ("admin", None),
    "reviewer": ("staff", None),
    "north": ("rights_holder", HOLDER_A),
    "harbour": ("rights_holder", HOLDER_B),
}


@dataclass(frozen=True)
class WebData:
    """A home with a crawled database, and an API token per user."""

    settings: Settings
    tokens: dict[str, str]
    pg_copies: list[str] = field(default_factory=list)  # dropped by web_data_on

    def copy_to(self, directory: Path) -> Settings:
        """A private copy of the home and database, for a test that changes data."""
        home = directory / "home"
        shutil.copytree(self.settings.home, home)
        url = self.settings.database_url
        if not url.startswith("sqlite:///"):
            return Settings(home=home, database_url=self._pg_copy(url))
        target = home / "swordnet.db"
        target.unlink(missing_ok=True)
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as src, \
                closing(sqlite3.connect(target)) as dst:
            src.backup(dst)
        return Settings(home=home, database_url=f"sqlite:///{target}")

    def _pg_copy(self, url: str) -> str:
        name = f"swordnet_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"')
        self.pg_copies.append(name)
        return f"{url.rsplit('/', 1)[0]}/{name}"


def holder_of(index: int) -> str:
    """Sample works alternate between the two holders."""
    return HOLDER_A if index % 2 == 0 else HOLDER_B


@contextmanager
def web_data_on(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebData]:
    """The web data on ``backend``; the PostgreSQL copies made from it are dropped after."""
    data = replace(shared_web_data(tmp_path_factory, backend), pg_copies=[])
    try:
        yield data
    finally:
        if data.pg_copies:
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
                for name in data.pg_copies:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def shared_web_data(tmp_path_factory: pytest.TempPathFactory,
                    backend: str = "sqlite") -> WebData:
    """The web data on ``backend``, built once per test run (copy it, never change it)."""

    def build(directory: Path) -> dict[str, object]:
        data = build_web_data(directory, shared_database_url(backend, "web_data", directory))
        return {"database_url": data.settings.database_url, "tokens": data.tokens}

    directory, built = built_once(tmp_path_factory, f"web_data_{backend}", build)
    return WebData(Settings(home=directory / "home", database_url=built["database_url"]),
                   built["tokens"])


def build_web_data(directory: Path, database_url: str | None = None) -> WebData:
    """Register the samples for two holders, add users and tokens, crawl the fixture site
    (into a SQLite file in the home unless ``database_url`` names another database)."""
    home = directory / "home"
    settings = Settings(home=home,
                        database_url=database_url or f"sqlite:///{home / 'swordnet.db'}")
    db = open_database(settings)
    store = EvidenceStore(settings.evidence_dir)
    tokens: dict[str, str] = {}
    try:
        with db.session() as session:
            for n, (path, title) in enumerate(sample_files()):
                register_work(session, path.read_bytes(), title=title, holder_name=holder_of(n),
                              source_name=path.name, preview_store=store)
            for username, (role, holder) in USERS.items():
                add_user(session, username, PASSWORD, role, holder)
                tokens[username] = create_token(session, username, "tests").secret
        works = sample_works()
        site = build_demo_site(works, alterations=ALTERATIONS, unrelated_count=4)
        tag = plant(site, works[0], "/forum/attach/7.jpg", XSS_PAGE, "watermarked")
        site.add(XSS_PAGE, (f"<!doctype html><html><head><title>{XSS_TITLE}</title></head>"
                            f"<body><p>New upload</p>{tag}</body></html>").encode(),
                 "text/html; charset=utf-8")
        root = site.files["/"]
        site.add("/", root.body.replace(b"</ul>", f'<li><a href="{XSS_PAGE}">Forum</a></li>'
                                        "</ul>".encode()), root.content_type)
        with serve_site(site) as running:
            crawl(db, settings, running.url)
    finally:
        db.dispose()
    return WebData(settings, tokens)

