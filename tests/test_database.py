"""Schema, migrations and database settings, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from swordnet.config import Settings, load_settings
from swordnet.db import Database, head_revision, make_engine, migrate, schema_revision
from swordnet.models import Base, RightsHolder


def test_migrations_create_every_table_and_match_the_models(db: Database) -> None:
    assert schema_revision(db.engine) == head_revision()
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_second_migration_is_a_no_op(db: Database) -> None:
    assert migrate(db.engine) is False


def test_timestamps_round_trip_as_utc(db: Database) -> None:
    moment = datetime(2026, 11, 21, 8, 30, 15, 123456, tzinfo=UTC)
    with db.session() as session:
        session.add(RightsHolder(name="Clock Test", created_at=moment))
    with db.session() as session:
        holder = session.query(RightsHolder).one()
        assert holder.created_at == moment and holder.created_at.tzinfo is UTC


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_home: Settings) -> None:
    engine = make_engine(load_settings().database_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_default_database_lives_in_swordnet_home(sqlite_home: Settings) -> None:
    assert sqlite_home.database_url == f"sqlite:///{sqlite_home.home / 'swordnet.db'}"
