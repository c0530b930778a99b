"""Schema, migrations and database settings, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from swordnet.core.config import Settings, load_settings
from swordnet.core.db import (
    Database,
    head_revision,
    make_engine,
    migrate,
    newest_migration,
    open_database,
    schema_revision,
)
from swordnet.core.models import Base, RightsHolder
from swordnet.demo.samples import sample_files
from tests.conftest import BACKENDS, fresh_database, run_cli


@pytest.fixture(params=BACKENDS)
def migrated_from_empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A truly empty database, migrated here (the ``db`` fixture copies a migrated one)."""
    with fresh_database(request.param, tmp_path) as url:
        database = open_database(Settings(home=tmp_path / "home", database_url=url))
        yield database
        database.dispose()


def test_migrations_create_every_table_and_match_the_models(
        migrated_from_empty: Database) -> None:
    db = migrated_from_empty
    assert schema_revision(db.engine) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_second_migration_is_a_no_op(migrated_from_empty: Database) -> None:
    assert migrate(migrated_from_empty.engine) is False


def test_the_newest_migration_file_is_alembics_head() -> None:
    """Opening a database skips Alembic when the database is at the newest migration file's
    revision, read from its name: that must be the head Alembic would migrate to."""
    assert newest_migration() == head_revision()


def test_timestamps_round_trip_as_utc(db: Database) -> None:
    moment = datetime(2026, 11, 21, 8, 30, 15, 123456, tzinfo=UTC)
    with db.session() as session:
        session.add(RightsHolder(name="Clock Test", created_at=moment))
    with db.session() as session:
        holder = session.query(RightsHolder).one()
        assert holder.created_at == moment and holder.created_at.tzinfo is UTC


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(empty_home: Settings) -> None:
    engine = make_engine(load_settings().database_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_a_sqlite_url_with_two_timeouts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"gives \?timeout= more than once"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}?timeout=1&timeout=2")


def test_default_database_lives_in_swordnet_home(empty_home: Settings) -> None:
    assert empty_home.database_url == f"sqlite:///{empty_home.home / 'swordnet.db'}"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_home_database_evidence_and_keys_are_private(empty_home: Settings) -> None:
    """The database holds password hashes and session tokens; it was created 0644 and the
    evidence store 0755 (under the usual umask 022)."""
    previous = os.umask(0o022)
    try:
        path, title = sample_files()[0]
        assert run_cli("works", "add", str(path), "--title", title, "--holder", "H").exit_code == 0
        assert run_cli("keys", "show").exit_code == 0
        db = open_database(empty_home)
        with db.engine.connect() as conn:  # an open connection keeps the -wal and -shm files
            conn.execute(text("INSERT INTO rights_holders (name, created_at) "
                              "VALUES ('Mode Test', '2026-12-06 00:00:00')"))
            conn.commit()
            database = empty_home.home / "swordnet.db"
            files = [database, database.with_name("swordnet.db-wal"),
                     database.with_name("swordnet.db-shm")]
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        db.dispose()
        evidence = empty_home.evidence_dir
        dirs = [empty_home.home, empty_home.home / "keys", evidence,
                *(p for p in evidence.rglob("*") if p.is_dir())]
        assert len(dirs) > 5 and {str(d): mode(d) for d in dirs} == {str(d): 0o700 for d in dirs}
        assert mode(next((empty_home.home / "keys").iterdir())) == 0o600
    finally:
        os.umask(previous)


def test_an_existing_database_readable_by_others_is_made_private(empty_home: Settings) -> None:
    database = empty_home.home / "swordnet.db"
    database.parent.mkdir(parents=True)
    database.touch(mode=0o644)
    database.chmod(0o644)
    open_database(empty_home).dispose()
    assert mode(database) == 0o600


@pytest.mark.parametrize("timeout", ["abc", "-1", "nan", "1e9"])
def test_a_bad_busy_timeout_in_the_url_is_one_line_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timeout: str) -> None:
    monkeypatch.setenv("SWORDNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SWORDNET_DATABASE_URL", f"sqlite:///{tmp_path / 'sn.db'}?timeout={timeout}")
    result = run_cli("works", "list")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: the database URL's ?timeout= must be a number of seconds from 0 to 86400, "
        f"not {timeout!r}"]
