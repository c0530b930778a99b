"""Database access: engine creation (SQLite WAL + busy timeout), sessions, write locks,
migrations.

Every entry point calls :func:`open_database`, which applies any pending Alembic migration
before returning, so `swordnet init` is optional and a second one is a no-op.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from swordnet.core.config import Settings, SettingsError
from swordnet.core.errors import Unavailable
from swordnet.core.signing import SIGNING_KEY, load_or_create_key
from swordnet.core.text import check_text

if TYPE_CHECKING:
    from alembic.config import Config

T = TypeVar("T")
KeyLoader = Callable[[], Ed25519PrivateKey]
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


class DatabaseUnavailable(Unavailable):
    """The configured database cannot be reached or opened."""


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def _refuse_unusable_parameters(_conn: Any, _cursor: Any, _statement: str, parameters: Any,
                                _context: Any, _executemany: bool) -> None:
    """No text parameter with a NUL character or a lone surrogate reaches the database
    (PostgreSQL cannot take a NUL): such a query fails as a user's mistake
    (:class:`~swordnet.core.text.UnusableText`) on every backend."""
    check_text(parameters, "a text value")


def make_engine(database_url: str) -> Engine:
    """Create an engine; SQLite connections get WAL mode, a busy timeout and foreign keys.
    Text parameters holding NUL characters or lone surrogates are
    refused on every backend.

    The SQLite busy timeout (how long a write waits for another's lock before failing) is
    30 s, or ``?timeout=SECONDS`` in the URL.
    """
    engine = _make_engine(database_url)
    event.listen(engine, "before_cursor_execute", _refuse_unusable_parameters)
    return engine


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite database file readable by its owner only (0600), or make an
    existing one (and its -wal and -shm files) so; SQLite gives the -wal and -shm files it
    creates the database file's mode. The database holds password hashes, session tokens
    and every holder's data."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Never open an existing database here: closing the descriptor would drop this
    # process's SQLite (POSIX) locks on it.
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except FileNotFoundError:
            pass


def _busy_timeout_s(value: str | tuple[str, ...]) -> float:
    """The SQLite busy timeout a database URL's ``?timeout=`` gives, in seconds.

    >>> _busy_timeout_s(""), _busy_timeout_s("2.5")
    (30.0, 2.5)
    >>> _busy_timeout_s("abc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    swordnet.core.config.SettingsError: the database URL's ?timeout= must be a number ... 'abc'
    """
    if not isinstance(value, str):
        raise SettingsError("the database URL gives ?timeout= more than once")
    if not value:
        return SQLITE_BUSY_TIMEOUT_MS / 1000
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= 86400:  # also refuses nan
        raise SettingsError("the database URL's ?timeout= must be a number of seconds from 0 "
                            f"to 86400, not {value!r}")
    return seconds


def _make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        url = make_url(database_url)
        path = url.database
        if path and path != ":memory:" and not path.startswith("file:"):
            private_sqlite_file(Path(path))
        timeout_s = _busy_timeout_s(url.query.get("timeout", ""))
        engine = create_engine(url.difference_update_query(["timeout"]),
                               connect_args={"timeout": timeout_s})
        event.listen(engine, "connect", _sqlite_pragmas(round(timeout_s * 1000)))
        return engine
    return create_engine(database_url, pool_pre_ping=True)


def lock_for_writing(session: Session) -> None:
    """Make the session's unit of work the only writer from now until it ends, so what it
    reads next stays true until it commits. Call it before reading what a write depends on.

    On SQLite this takes the database's write lock (``BEGIN IMMEDIATE``, waiting up to the
    busy timeout) unless the unit of work already holds it: pysqlite opens a transaction only
    at the first write, so until then every read sees the latest commit and two units of work
    could both act on the same state. A transaction already open here began with a write,
    which holds the lock. (Take the lock before any savepoint: one opened outside a
    transaction would begin a transaction that only reads.) On PostgreSQL it does nothing:
    callers lock the rows they decide on (``SELECT ... FOR UPDATE``).
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    driver = connection.connection.driver_connection
    assert driver is not None  # the connection the session just handed out is open
    if not driver.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# Alembic is imported only where a schema is migrated: importing it (and Mako and Pygments
# with it) costs about 0.2 CPU s, which every process that opens a database would otherwise
# pay, a crawl and its match worker included, though the schema is nearly always up to date.
# Migration files are named after their revision ("0018_service_instances.py" is revision
# 0018, one line of them); tests/test_database.py checks that the newest is Alembic's head.

def _alembic_config(engine: Engine, signing_key: KeyLoader | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    config.attributes[SIGNING_KEY] = signing_key  # 0007 signs existing custody-log heads
    return config


def schema_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def newest_migration() -> str:
    """The revision of the newest migration file, from its name (without Alembic)."""
    newest = max((MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return newest.name[:4]


def _at_newest_migration(engine: Engine) -> bool:
    """Whether the database is at :func:`newest_migration` (read without Alembic)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        stored = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return stored == [newest_migration()]


def migrate(engine: Engine, signing_key: KeyLoader | None = None) -> bool:
    """Upgrade the schema to the newest revision; returns True if anything was applied."""
    if _at_newest_migration(engine) or schema_revision(engine) == head_revision():
        return False
    from alembic import command

    command.upgrade(_alembic_config(engine, signing_key), "head")
    return True


class Database:
    """An engine plus a session factory for one configured database."""

    def __init__(self, engine: Engine, signing_key: KeyLoader | None = None) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False,
                                      info={SIGNING_KEY: signing_key})

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(settings: Settings, *, apply_migrations: bool = True) -> Database:
    """Connect to the configured database and bring its schema up to date."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = make_engine(settings.database_url)
    signing_key = cache(partial(load_or_create_key, settings.home))  # signs custody heads
    try:
        if apply_migrations:
            migrate(engine, signing_key)
        else:
            with engine.connect():
                pass
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from exc
    return Database(engine, signing_key)


def in_session(settings: Settings, work: Callable[..., T], *args: Any) -> T:
    """Open the database, run ``work(session, *args)`` in one unit of work, close it again."""
    db = open_database(settings)
    try:
        with db.session() as session:
            return work(session, *args)
    finally:
        db.dispose()
