"""Shared fixtures: an isolated Swordnet home, SQLite and PostgreSQL databases, the fixture site.

PostgreSQL tests use a fresh database on 127.0.0.1:5432 per test. When the server cannot be
reached they are skipped, unless ``SWORDNET_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which
turns "unreachable" into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from swordnet.cli import main
from swordnet.config import Settings, load_settings
from swordnet.db import Database, open_database
from swordnet.demo_site import DemoSite, RunningSite, build_demo_site, serve_site
from swordnet.samples import sample_files

PG_ADMIN_DSN = os.environ.get("SWORDNET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_database() -> Iterator[str]:
    name = f"swordnet_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("SWORDNET_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'swordnet.db'}"
    else:
        yield from postgres_database()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> Settings:
    """SWORDNET_HOME and SWORDNET_DATABASE_URL pointing at a fresh test database.

    The environment is what the CLI and every crawl subprocess read.
    """
    monkeypatch.setenv("SWORDNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SWORDNET_DATABASE_URL", database_url)
    return load_settings()


@pytest.fixture
def sqlite_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A fresh home with the default SQLite database, for tests that need one backend."""
    monkeypatch.setenv("SWORDNET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SWORDNET_DATABASE_URL", raising=False)
    return load_settings()


@pytest.fixture
def db(home: Settings) -> Iterator[Database]:
    """The (migrated) database of the test's home, on each backend."""
    database = open_database(home)
    yield database
    database.dispose()


def run_cli(*args: str) -> Result:
    """Invoke the ``swordnet`` CLI in-process, as a user would from the shell."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="session")
def fixture_site() -> DemoSite:
    """The generated pirate site, with altered copies of the sample works."""
    return build_demo_site([(t, Image.open(p).convert("RGB")) for p, t in sample_files()])


@pytest.fixture
def served_site(fixture_site: DemoSite) -> Iterator[RunningSite]:
    """The fixture site on a free port; a test may change its copy (take pages down)."""
    site = replace(fixture_site, files=dict(fixture_site.files),
                   routes=dict(fixture_site.routes), planted=list(fixture_site.planted),
                   unrelated=list(fixture_site.unrelated))
    with serve_site(site) as running:
        yield running
