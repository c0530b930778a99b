"""Shared fixtures: an isolated Swordnet home, SQLite and PostgreSQL databases, the fixture site.

PostgreSQL tests use a fresh database on 127.0.0.1:5432 per test. When the server cannot be
reached they are skipped, unless ``SWORDNET_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which
turns "unreachable" into a failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from playwright.sync_api import expect

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


# Playwright's assertions give up after 5 s by default, which a page on a loaded machine can
# take just to finish a navigation (a sign-in redirect). They pass as soon as they hold; the
# deadline only ends a hang, so it is one a slow machine never reaches.
expect.set_options(timeout=60_000)

# Under pytest-xdist every core already runs a test: each crawl of the session gets one match
# worker process (crawlers/config.py reads it from the environment too) instead of one per
# core, which would start and index a second worker per crawl only to compete for the same
# cores. The fixture site's shared crawl (tests/crawled.py) has a pool of two.
MATCH_WORKERS = "1"


@pytest.fixture(autouse=True, scope="session")
def allow_test_sites() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SWORDNET_ALLOW_NETWORKS", TEST_NETWORKS)
        patch.setenv("SWORDNET_MATCH_WORKERS", MATCH_WORKERS)
        yield


def pytest_configure(config: pytest.Config) -> None:
    """One id per test run, shared by its pytest-xdist workers (they inherit the environment
    of the process that starts them): it names the databases built once for the whole run."""
    os.environ.setdefault("SWORDNET_TEST_RUN", uuid.uuid4().hex[:10])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests and xdist groups first (a stable sort: the same order on every xdist
    worker), so that under pytest-xdist they start at once instead of becoming the tail of
    the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None
               and item.get_closest_marker("xdist_group") is None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The process that ran the session (not an xdist worker) drops the run's shared
    PostgreSQL databases (:func:`built_once`), once no worker can still be copying them, and
    any test database a crashed worker left."""
    if hasattr(session.config, "workerinput"):
        return
    run = os.environ["SWORDNET_TEST_RUN"]
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        return  # nothing was created there
    with admin:
        names = admin.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)"
                              " OR starts_with(datname, %s)",
                              (f"swordnet_test_{run}_", f"swordnet_shared_{run}_")).fetchall()
        for (name,) in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def shared_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every process of the test run sees: the base temporary directory, or
    under pytest-xdist the one its workers' base directories are in."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def exclusive(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[None]:
    """Holds the run-wide lock ``name`` (a file lock) while the block runs: one process of
    the test run at a time, whichever xdist worker it is on."""
    with _locked(shared_directory(tmp_path_factory) / f"{name}.lock"):
        yield


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def demo_port_lock() -> Iterator[None]:
    """``swordnet demo`` serves its site on port 8765 when that port is free, and a rerun
    counts on getting it again: one demo at a time on this machine (the port is the
    machine's, whichever test run or checkout wants it), held while the block runs."""
    with _locked(Path(tempfile.gettempdir()) / "swordnet-tests-demo-port-8765.lock"):
        yield


@pytest.fixture
def demo_port() -> Iterator[None]:
    """The test runs ``swordnet demo`` (see :func:`demo_port_lock`)."""
    with demo_port_lock():
        yield


def built_once(tmp_path_factory: pytest.TempPathFactory, key: str,
               build: Callable[[Path], dict[str, Any]]) -> tuple[Path, dict[str, Any]]:
    """Something built once per test run, whichever xdist worker needs it first: ``build``
    fills the directory it is given and returns what to remember (JSON); every process
    gets that directory (to copy, never to change) and the remembered values."""
    directory = shared_directory(tmp_path_factory) / key
    done = directory.with_suffix(".json")
    with exclusive(tmp_path_factory, key):
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            done.write_text(json.dumps(build(directory)))
    return directory, json.loads(done.read_text())


def shared_database_url(backend: str, key: str, directory: Path) -> str:
    """An empty database for :func:`built_once` to fill: a SQLite file in ``directory`` or a
    PostgreSQL database dropped when the test run ends. Tests copy it; none connects to it
    (PostgreSQL copies only a database nobody is connected to)."""
    if backend == "sqlite":
        return f"sqlite:///{directory / 'swordnet.db'}"
    name = f"swordnet_shared_{os.environ['SWORDNET_TEST_RUN']}_{key}".lower()
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a failed build's
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{_pg_base()}/{name}"


@contextmanager
def copy_database(url: str, directory: Path) -> Iterator[str]:
    """A copy of the database at ``url`` (a SQLite file copied into ``directory``), dropped
    afterwards if on PostgreSQL."""
    if url.startswith("sqlite:///"):
        copy = directory / "swordnet.db"
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as source, \
                closing(sqlite3.connect(copy)) as target:
            source.backup(target)
        yield f"sqlite:///{copy}"
    else:
        with contextmanager(postgres_database)(template=url) as copy_url:
            yield copy_url


@contextmanager
def _admin() -> Iterator[psycopg.Connection[Any]]:
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("SWORDNET_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_DSN}")
    with admin:
        yield admin


def _pg_base() -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")


def postgres_database(template: str | None = None) -> Iterator[str]:
    """A fresh database: empty and dropped afterwards, or a copy of the database at URL
    ``template`` (which nothing may be connected to), put back for the next test afterwards
    (:class:`_TemplateCopies`)."""
    if template is not None:
        source = template.rsplit("/", 1)[1]
        name = _COPIES.take(source)
        try:
            yield f"{_pg_base()}/{name}"
        finally:
            _COPIES.give_back(source, name)
        return
    name = _new_database_name()
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{_pg_base()}/{name}"
    finally:
        _drop_database(name)


def _new_database_name() -> str:
    """A test database's name, under the run's prefix (:func:`pytest_sessionfinish` drops
    what a crashed worker left)."""
    return f"swordnet_test_{os.environ['SWORDNET_TEST_RUN']}_{uuid.uuid4().hex[:12]}"


class _TemplateCopies:
    """Copies of template databases, each used again by this process's next test that wants
    a copy of the same template, once put back as the template had it.

    ``CREATE DATABASE ... TEMPLATE`` takes 0.3-0.5 s here on a quiet machine and 1-4 s on a
    loaded one, ``DROP DATABASE`` 0.1-0.5 s: the server writes and flushes every file of the
    copy. Putting a used copy back (:meth:`_Snapshot.put_back`: every row deleted, the
    template's rows copied in again, every sequence set back) takes tens of milliseconds on
    these small databases. A copy whose schema its test changed, or that cannot be put back,
    is dropped.
    """

    def __init__(self) -> None:
        self._spare: dict[str, list[str]] = {}
        self._templates: dict[str, _Snapshot] = {}

    def take(self, template: str) -> str:
        """The name of a copy of database ``template``, the caller's until :meth:`give_back`."""
        spare = self._spare.setdefault(template, [])
        if spare:
            return spare.pop()
        name = _new_database_name()
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        if template not in self._templates:
            self._templates[template] = _Snapshot.of(name)
        return name

    def give_back(self, template: str, name: str) -> None:
        """Puts copy ``name`` back as its template had it for the next test, or drops it."""
        try:
            self._templates[template].put_back(name)
        except (psycopg.Error, _SchemaChanged):
            _drop_database(name)
        else:
            self._spare[template].append(name)

    def close(self) -> None:
        """Drops every spare copy."""
        for names in self._spare.values():
            for name in names:
                _drop_database(name)
        self._spare.clear()


class _SchemaChanged(Exception):
    """A test changed its database's tables: the copy cannot be put back by rows alone."""


@dataclass(frozen=True)
class _Snapshot:
    """What a fresh copy of a template holds: its tables' rows (as ``COPY`` text), its
    sequences' positions, and a digest of its columns."""

    schema: str
    tables: tuple[str, ...]
    rows: dict[str, bytes]
    sequences: tuple[tuple[str, int, bool], ...]

    _SCHEMA = ("SELECT md5(string_agg(table_name || '.' || column_name || ':' || data_type,"
               " ',' ORDER BY table_name, ordinal_position)) FROM information_schema.columns"
               " WHERE table_schema = 'public'")

    @classmethod
    def of(cls, name: str) -> _Snapshot:
        with _connect(name) as conn:
            tables = tuple(row[0] for row in conn.execute(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
                " ORDER BY tablename"))
            rows = {}
            for table in tables:
                with conn.cursor().copy(f"COPY {table} TO STDOUT") as copy:
                    data = b"".join(bytes(block) for block in copy)
                if data:
                    rows[table] = data
            sequences = tuple(
                (sequence, last if last is not None else start, last is not None)
                for sequence, last, start in conn.execute(
                    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename),"
                    " last_value, start_value FROM pg_sequences"))
            schema = conn.execute(cls._SCHEMA).fetchone()
        return cls(str(schema and schema[0]), tables, rows, sequences)

    def put_back(self, name: str) -> None:
        """Makes database ``name`` hold what the template held, ending any session on it."""
        with _admin() as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
        with _connect(name) as conn:
            with conn.transaction():
                schema = conn.execute(self._SCHEMA).fetchone()
                if str(schema and schema[0]) != self.schema:
                    raise _SchemaChanged(name)
                conn.execute("SET LOCAL session_replication_role = replica")  # any order
                for table in self.tables:
                    conn.execute(f"DELETE FROM {table}")
            # empty files again, as in a fresh copy: rows are stored, and read back by a scan
            # without ORDER BY, in the order they are inserted, not in the space left behind
            conn.execute("VACUUM " + ", ".join(self.tables))
            self._copy_in(conn)

    def _copy_in(self, conn: psycopg.Connection[Any]) -> None:
        """The template's rows and sequence positions, into a copy whose tables are empty."""
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            for table, data in self.rows.items():
                with conn.cursor().copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(data)
            for sequence, value, called in self.sequences:
                conn.execute("SELECT setval(%s, %s, %s)", (sequence, value, called))


def _connect(name: str) -> psycopg.Connection[Any]:
    return psycopg.connect(f"{PG_ADMIN_DSN.rsplit('/', 1)[0]}/{name}", autocommit=True,
                           connect_timeout=5)


def _drop_database(name: str) -> None:
    with _admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_COPIES = _TemplateCopies()


@pytest.fixture(autouse=True, scope="session")
def _spare_copies_dropped() -> Iterator[None]:
    """Every test process drops its spare copies, before the run drops the templates."""
    yield
    _COPIES.close()


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a fresh, empty database on ``backend`` (a SQLite file in ``directory``)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'swordnet.db'}"
    else:
        yield from postgres_database()


def migrated_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database at the newest schema on ``backend``, migrated once per test run
    (migrating takes about 0.4 s on SQLite and 1-2 s on PostgreSQL; a copy a few ms on
    SQLite and 0.2-0.4 s on PostgreSQL). Tests copy it (:func:`copy_database`)."""

    def build(directory: Path) -> dict[str, Any]:
        url = shared_database_url(backend, "migrated", directory)
        open_database(Settings(home=directory / "home", database_url=url)).dispose()
        return {"database_url": url}

    return str(built_once(tmp_path_factory, f"migrated_{backend}", build)[1]["database_url"])


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database on each backend, empty but at the newest schema: a copy of the one
    :func:`migrated_database` migrated (the migrations themselves are tested in
    test_database.py, from an empty database)."""
    with copy_database(migrated_database(request.param, tmp_path_factory), tmp_path) as url:
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
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A home not made yet, with the default SQLite database, for tests of what making one
    does."""
    monkeypatch.setenv("SWORDNET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SWORDNET_DATABASE_URL", raising=False)
    return load_settings()


@pytest.fixture
def sqlite_home(empty_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A fresh home with the default SQLite database, for tests that need one backend: what
    opening a new home leaves (the home, private, holding only the empty database at the
    newest schema), its database a copy of the one :func:`migrated_database` migrated."""
    empty_home.home.mkdir(parents=True, mode=0o700)
    with copy_database(migrated_database("sqlite", tmp_path_factory), empty_home.home) as url:
        assert url == empty_home.database_url, url
    (empty_home.home / "swordnet.db").chmod(0o600)
    return empty_home


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
