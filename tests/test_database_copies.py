"""The PostgreSQL test databases: a copy of a template used again by the next test holds
exactly what a fresh copy holds (tests/conftest.py's ``_TemplateCopies``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager

import psycopg
import pytest

from tests.conftest import _COPIES, _pg_base, migrated_database, postgres_database

pytestmark = pytest.mark.postgres


@contextmanager
def template_copy(template_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection to a copy of the template at ``template_url``, given back afterwards."""
    with contextmanager(postgres_database)(template=template_url) as url, \
            closing(psycopg.connect(url.replace(_pg_base(), _pg_base().replace(
                "postgresql+psycopg://", "postgresql://")), autocommit=True)) as conn:
        yield conn


def contents(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, object]:
    """What a test could see of a database: every table's rows and every sequence's next
    value (read without moving it), and the size of every table's file."""
    tables = [row[0] for row in conn.execute(
        "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'")]
    seen: dict[str, object] = {
        table: sorted(map(repr, conn.execute(f"SELECT * FROM {table}").fetchall()))
        for table in tables}
    seen["sequences"] = sorted(conn.execute(
        "SELECT sequencename, last_value FROM pg_sequences").fetchall())
    # the tables' files: a table left holding deleted rows would hand out new rows in their
    # space, and an unordered scan would read them out of insertion order
    seen["sizes"] = {table: conn.execute("SELECT pg_relation_size(%s)", (table,)).fetchone()
                     for table in tables}
    return seen


def names(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    return str(conn.execute("SELECT current_database()").fetchone())


@pytest.fixture
def template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The migrated template behind the ``db`` fixture's PostgreSQL databases."""
    return migrated_database("postgres", tmp_path_factory)


def test_a_used_copy_is_put_back_as_the_template_had_it(template: str) -> None:
    with template_copy(template) as conn:
        first, fresh = names(conn), contents(conn)
        assert fresh["infrastructure_ranges"], "the template's own rows are part of the test"
        conn.execute("UPDATE infrastructure_ranges SET provider = 'changed'")
        conn.execute("INSERT INTO infrastructure_ranges (provider, network, as_of, loaded_at,"
                     " source) VALUES ('x', '192.0.2.0/24', now(), now(), '')")
        conn.execute("DELETE FROM alembic_version")
        assert contents(conn) != fresh
    with template_copy(template) as conn:
        assert names(conn) == first, "the copy was used again, not made anew"
        assert contents(conn) == fresh


def test_a_copy_whose_tables_changed_is_not_used_again(template: str) -> None:
    with template_copy(template) as conn:
        first, fresh = names(conn), contents(conn)
        conn.execute("ALTER TABLE infrastructure_ranges ADD COLUMN note text")
    with template_copy(template) as conn:
        assert names(conn) != first
        assert contents(conn) == fresh
    assert all(first not in spare for spare in _COPIES._spare.values())
