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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from swordnet.accounts.users import add_user, create_token
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.demo.samples import sample_files
from swordnet.demo.site import build_demo_site, serve_site
from swordnet.evidence.store import EvidenceStore
from swordnet.works.registry import register_work
from tests.conftest import built_once, copy_database, shared_database_url
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
    copies: ExitStack = field(default_factory=ExitStack)  # closed by web_data_on

    def copy_to(self, directory: Path) -> Settings:
        """A private copy of the home and database, for a test that changes data; a
        PostgreSQL copy is given back when :func:`web_data_on` ends."""
        return self.copies.enter_context(self.copied(directory))

    @contextmanager
    def copied(self, directory: Path) -> Iterator[Settings]:
        """A private copy of the home and database while the block runs; a PostgreSQL copy
        is then put back for the next test that wants one (``copy_database``)."""
        home = directory / "home"
        shutil.copytree(self.settings.home, home)
        (home / "swordnet.db").unlink(missing_ok=True)
        with copy_database(self.settings.database_url, home) as url:
            yield Settings(home=home, database_url=url)


def holder_of(index: int) -> str:
    """Sample works alternate between the two holders."""
    return HOLDER_A if index % 2 == 0 else HOLDER_B


@contextmanager
def web_data_on(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebData]:
    """The web data on ``backend``; the PostgreSQL copies made from it are given back after."""
    data = replace(shared_web_data(tmp_path_factory, backend), copies=ExitStack())
    with data.copies:
        yield data


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

