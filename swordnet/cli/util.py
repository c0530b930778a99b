"""What every ``swordnet`` command shares: the console, one-line failures (a
:class:`~swordnet.core.errors.SwordnetError`, or a database held locked by another process
too long), the database, output.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import OperationalError

from swordnet.core import db as dbmodule
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.errors import BadInput, SwordnetError
from swordnet.core.models import MAX_ID
from swordnet.core.text import text_problem
from swordnet.evidence.store import EvidenceStore
from swordnet.watch.targets import parse_interval

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")
ID = click.IntRange(1, MAX_ID)  # an object's id: a bigger number never reaches the database


@cache
def console() -> Console:
    """The console every command prints to, made when a command first prints."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Stop with a one-line error and exit status 1."""
    raise click.ClickException(message)


def current_settings() -> Settings:
    """This command's settings, read from the environment once, by the top-level group."""
    found = click.get_current_context().find_object(Settings)
    if found is None:
        raise RuntimeError("the settings are read by the top-level `swordnet` group")
    return found


@contextmanager
def database() -> Iterator[Database]:
    """The configured database (DatabaseUnavailable, a SwordnetError, if it cannot be
    opened)."""
    db = open_database(current_settings())
    try:
        yield db
    finally:
        db.dispose()


def evidence_store() -> EvidenceStore:
    """The evidence store: WARC files, screenshots, work previews."""
    return EvidenceStore(current_settings().evidence_dir)


def in_unit(work: Callable[..., T], *args: Any) -> T:
    """Run ``work(session, *args)`` in one unit of work: committed if it returns, rolled back
    if it raises (a SwordnetError then ends the command in one line; see SwordnetGroup)."""
    with database() as db, db.session() as session:
        return work(session, *args)


def interval_option(_ctx: click.Context, _param: click.Parameter,
                    value: str | None) -> int | None:
    """Click callback: an interval like ``30m`` or ``6h`` as seconds."""
    if value is None:
        return None
    try:
        return parse_interval(value)
    except BadInput as exc:
        raise click.BadParameter(str(exc)) from None


def emit(rows: Sequence[dict[str, Any]], as_json: bool, title: str,
         columns: Sequence[str]) -> None:
    """Print rows as a JSON array or as a table of the named columns."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, default=str, ensure_ascii=False))
        return
    if not rows:
        console().print(f"No {title.lower()}.")
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    console().print(table)


actor_option = click.option("--actor", default=lambda: os.environ.get("USER", "staff"),
                            show_default="your user name",
                            help="Who is acting (recorded in the custody log).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
campaign_option = click.option(
    "--campaign", metavar="NAME",
    help="Only what campaign NAME (or id) counts: on its sites, within its window, whichever "
         "run found it (see `swordnet campaigns report --help`).")


def argument_problem(args: Sequence[str]) -> str | None:
    """A one-line refusal naming the first command-line argument that holds a NUL character
    or a lone surrogate (bytes that are not UTF-8 arrive as lone surrogates), or None.

    >>> argument_problem(["works", "add", "a.jpg", "--title", "\\udcff"])
    'option --title must not contain lone surrogates (text that is not valid Unicode)'
    >>> argument_problem(["sites", "add", "x\\x00"])
    'argument 3 must not contain NUL characters'
    """
    for number, arg in enumerate(args, start=1):
        if (problem := text_problem(arg)) is None:
            continue
        if arg.startswith("--") and "=" in arg:
            name = arg.split("=", 1)[0]
        elif number > 1 and args[number - 2].startswith("-"):
            name = args[number - 2]
        else:
            return f"argument {number} {problem}"
        shown = name if text_problem(name) is None else "an option"
        return f"option {shown} {problem}"
    return None


def _locked_too_long(exc: OperationalError) -> bool:
    """Whether SQLite gave up waiting for another process's write lock."""
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)


class SwordnetGroup(click.Group):
    """The top-level group: arguments that are not usable text are refused before any
    command runs. A SwordnetError (a user's mistake, such as unusable text found in a file,
    an unusable setting or an unknown id), a file that cannot be read or written and a
    database held locked by another process past the busy timeout are one-line failures.
    Any other exception is a bug and shows its traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if problem := argument_problem(args):
            fail(problem)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SwordnetError as exc:
            fail(str(exc))
        except OperationalError as exc:
            if not _locked_too_long(exc):
                raise
            seconds = dbmodule.SQLITE_BUSY_TIMEOUT_MS / 1000
            fail(f"the database {current_settings().database_url} stayed locked by another "
                 f"process (a crawl, the scheduler or another command) for {seconds:g} s, "
                 "so this command stopped and its unfinished change was rolled back; run it "
                 "again when that process is done")
        except OSError as exc:  # a file the user named: a missing folder, no permission
            if exc.filename is None:
                raise
            fail(f"{exc.filename}: {exc.strerror or exc}")


class RegularFile(click.Path):
    """An existing regular file to read: a directory, device or pipe is refused
    (``/dev/zero`` would be read without end)."""

    def __init__(self) -> None:
        super().__init__(exists=True, dir_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        if not stat.S_ISREG(os.stat(path).st_mode):
            self.fail(f"{click.format_filename(path)!r} is not a regular file (a device, pipe "
                      "or socket)", param, ctx)
        return path
