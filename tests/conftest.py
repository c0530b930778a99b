"""Shared fixtures: an isolated Swordnet home, SQLite and PostgreSQL databases, the fixture site.

PostgreSQL tests use a fresh database on 127.0.0.1:5432 per test. When the server cannot be
reached they are skipped, unless ``SWORDNET_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which
turns "unreachable" into a failure.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from swordnet.cli.main import main
from swordnet.core.config import Settings, load_settings
from swordnet.core.db import Database, open_database
from swordnet.demo.samples import sample_files
from swordnet.demo.site import DemoSite, RunningSite, build_demo_site, serve_site
from tests.canary import Canary

PG_ADMIN_DSN = os.environ.get("SWORDNET_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# The tests' own sites are served on loopback, which the outbound-request policy refuses by
# default: every test session allows it (as an operator would allow an intranet), through
# the environment the CLI, the executors and their crawl subprocesses read. A ``scrapy crawl``
# started directly gets the setting with :data:`ALLOW_TEST_SITES`.
TEST_NETWORKS = "127.0.0.0/8,::1/128"
ALLOW_TEST_SITES = ("-s", f"SWORDNET_ALLOW_NETWORKS={TEST_NETWORKS}")


@pytest.fixture(autouse=True, scope="session")
def allow_test_sites() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWORDNET_ALLOW_NETWORKS", TEST_NETWORKS)
        yield


# Test files whose tests run on one pytest-xdist worker (``make test`` runs
# ``--dist loadgroup``), one group each: `swordnet demo` serves its site on port 8765 when
# that port is free and a rerun counts on getting it again, so no two demos may run at once
# (the bundle tests build a demo home too); the others share module-scoped crawls.
XDIST_GROUPS = {"test_demo.py": "demo", "test_evidence_bundle.py": "demo",
                "test_crawl.py": "test_crawl.py",
                "test_review_and_cases.py": "test_review_and_cases.py",
                # each builds one crawled database for the module (tests/web_data.py)
                **{name: name for name in ("test_api.py", "test_api_access.py",
                                           "test_api_schema.py", "test_console.py",
                                           "test_hostile_input.py",
                                           "test_console_browser.py")}}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first (a stable sort: the same order on every xdist worker), so that under
    pytest-xdist they start at once instead of becoming the tail of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with the groups of :data:`XDIST_GROUPS`, and every other test on
    its own, handed out in collection order.

    xdist's own loadgroup reads ``xdist_group`` marks through node ids, which pytest 9.2 no
    longer lets it change: the marks are silently ignored (pytest-dev/pytest-xdist#1386).
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return XDIST_GROUPS.get(nodeid.split("::", 1)[0].rsplit("/", 1)[-1], nodeid)

    config.option.loadscopereorder = False  # not the biggest groups first: slow tests first
    return FileGroupScheduling(config, log)


def postgres_database(template: str | None = None) -> Iterator[str]:
    """A fresh database: empty, or a copy of the database at URL ``template`` (which nothing
    may be connected to); dropped afterwards."""
    name = f"swordnet_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("SWORDNET_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}")
    with admin:
        source = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
        admin.execute(f'CREATE DATABASE "{name}"{source}')
        base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a fresh, empty database on ``backend`` (a SQLite file in ``directory``)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'swordnet.core.db'}"
    else:
        yield from postgres_database()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


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


def site_copy(site: DemoSite) -> DemoSite:
    """A copy of ``site`` that can be changed (pages taken down) without changing ``site``."""
    return replace(site, files=dict(site.files), routes=dict(site.routes),
                   planted=list(site.planted), unrelated=list(site.unrelated))


@pytest.fixture
def served_site(fixture_site: DemoSite) -> Iterator[RunningSite]:
    """The fixture site on a free port; a test may change its copy (take pages down)."""
    with serve_site(site_copy(fixture_site)) as running:
        yield running


@pytest.fixture
def canaries() -> Iterator[tuple[Canary, Canary, Canary]]:
    """Canaries on 127.0.0.1, 127.0.0.2 (loopback too, on Linux) and [::1]."""
    servers = (Canary("127.0.0.1"), Canary("127.0.0.2"), Canary("::1"))
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()
