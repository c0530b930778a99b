"""What every ``swordnet`` command shares: the console, one-line failures (a database held
locked by another process too long among them), the database, output.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError

from casefiles.evidence import EvidenceStore
from swordnet import db as dbmodule
from swordnet.config import load_settings
from swordnet.db import Database, DatabaseUnavailable, open_database
from swordnet.watchlist import parse_interval

T = TypeVar("T")
console = Console(highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Stop with a one-line error and exit status 1."""
    raise click.ClickException(message)


def _locked_too_long(exc: OperationalError) -> bool:
    """Whether SQLite gave up waiting for another process's write lock."""
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)


class Commands(click.Group):
    """A command group whose commands fail with one line, not a traceback, when the
    database stays locked by another process past the busy timeout."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            if not _locked_too_long(exc):
                raise
            seconds = dbmodule.SQLITE_BUSY_TIMEOUT_MS / 1000
            fail(f"the database {load_settings().database_url} stayed locked by another "
                 f"process (a crawl, the scheduler or another command) for {seconds:g} s, "
                 "so this command stopped and its unfinished change was rolled back; run it "
                 "again when that process is done")


@contextmanager
def database() -> Iterator[Database]:
    try:
        db = open_database(load_settings())
    except DatabaseUnavailable as exc:
        fail(str(exc))
    try:
        yield db
    finally:
        db.dispose()


def preview_store() -> EvidenceStore:
    """The evidence store, where previews of registered works are kept for reviewers."""
    return EvidenceStore(load_settings().evidence_dir)


def in_unit(work: Callable[..., T], *args: Any) -> T:
    """Run ``work(session, *args)`` in one unit of work; a ValueError or LookupError (a
    user's mistake) becomes a one-line failure and rolls everything back."""
    with database() as db:
        try:
            with db.session() as session:
                return work(session, *args)
        except (ValueError, LookupError) as exc:
            fail(str(exc))


def interval_option(_ctx: click.Context, _param: click.Parameter,
                    value: str | None) -> int | None:
    """Click callback: an interval like ``30m`` or ``6h`` as seconds."""
    if value is None:
        return None
    try:
        return parse_interval(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def emit(rows: Sequence[dict[str, Any]], as_json: bool, title: str,
         columns: Sequence[str]) -> None:
    """Print rows as a JSON array or as a table of the named columns."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, default=str, ensure_ascii=False))
        return
    if not rows:
        console.print(f"No {title.lower()}.")
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    console.print(table)


actor_option = click.option("--actor", default=lambda: os.environ.get("USER", "staff"),
                            show_default="your user name",
                            help="Who is acting (recorded in the custody log).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
