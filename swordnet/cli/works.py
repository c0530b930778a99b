"""``swordnet works`` (the registry), ``swordnet fingerprint`` and ``swordnet match``.

Works of every kind are registered from a file (``works add``, ``works import``) or from
fingerprints computed elsewhere (``works import-fingerprints``, fed by ``swordnet
fingerprint``). A file's kind is told from its content unless ``--kind`` says it (a
registration category such as ``film`` or ``fine_art``, or a media kind such as ``video``);
a file bigger than its kind's signals read is refused before it is read. Registration
metadata (number, date, authority, author, first publication, licence territories) is given
with ``works add`` or an import line and changed with ``works edit``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matching.registry import (
    describe_match,
    detect_kind,
    max_content_bytes,
    signals_for_kind,
    supported_kinds,
)
from matching.signal import ContentRejected
from matching.stages import match_content, registration_fingerprints
from swordnet.cli.util import (
    ID,
    RegularFile,
    console,
    current_settings,
    database,
    emit,
    evidence_store,
    fail,
    in_unit,
    json_option,
)
from swordnet.core.categories import (
    DEFAULT_CATEGORY,
    KindAndCategory,
    category_label,
    kind_words,
    resolve_kind,
)
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import Fingerprint, Work
from swordnet.core.text import UnusableText
from swordnet.works.image_index import LiveMatchIndex, index_directory
from swordnet.works.metadata import parse_metadata, registration_facts
from swordnet.works.precomputed import parse_csv, parse_lines
from swordnet.works.quarantine import release
from swordnet.works.registry import (
    RegistrationError,
    delete_work_and_hits,
    edit_registration,
    register_precomputed,
    register_work,
    set_threshold,
)

MB = 1024 * 1024
SNIFF_BYTES = 64 * 1024  # the start of a file its kind is told from


class KindWord(click.ParamType[KindAndCategory, Any]):
    """A registration category or a media kind, as :func:`resolve_kind` reads it."""

    name = "kind"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> KindAndCategory:
        if isinstance(value, KindAndCategory):
            return value
        try:
            return resolve_kind(str(value))
        except BadInput as exc:
            self.fail(str(exc), param, ctx)


kind_option = click.option(
    "--kind", "kind_word", type=KindWord(), default=None,
    help=f"What the work is: {', '.join(kind_words())} (default: told from the file's "
         "content, registered as its media kind's default category).")
METADATA_OPTIONS = (
    ("--registration-number", "registration_number", "Its copyright registration number."),
    ("--registration-date", "registration_date", "When it was registered (YYYY-MM-DD)."),
    ("--authority", "registering_authority", "Who registered it (the registering office)."),
    ("--author", "author", "Its author."),
    ("--first-published", "first_published", "When it was first published (YYYY-MM-DD)."),
    ("--territories", "licence_territories",
     "Where it is licensed: ISO 3166-1 alpha-2 codes separated by commas, or worldwide."),
)


def metadata_options(command: Any) -> Any:
    """Add the registration-metadata options; the command gets them as ``metadata``
    (only those given)."""
    for flag, field, help_text in reversed(METADATA_OPTIONS):
        command = click.option(flag, field, default=None, help=help_text)(command)
    return command


def given_metadata(options: dict[str, str | None]) -> dict[str, str]:
    """The registration fields given on the command line (``""`` clears one in an edit)."""
    fields = {field for _flag, field, _help in METADATA_OPTIONS}
    return {k: v for k, v in options.items() if k in fields and v is not None}
holder_option = click.option("--holder", required=True,
                             help="Rights holder name (created on first use).")


def read_work_file(path: Path, kind: str | None) -> tuple[str, bytes]:
    """The file's kind (``kind``, or told from its first bytes) and its bytes, refusing files
    larger than that kind's signals read (before reading them) and anything but a regular
    file (``/dev/zero`` or a pipe would be read without end)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise RegistrationError("not a regular file (a directory, device or pipe)")
        with path.open("rb") as f:
            if kind is None:
                kind = detect_kind(f.read(SNIFF_BYTES), path.name)
                if kind is None:
                    raise RegistrationError(
                        "cannot tell what kind of work this is: not a recognised "
                        f"{', '.join(supported_kinds())} file (give --kind)")
                f.seek(0)
            if not signals_for_kind(kind):
                raise RegistrationError(f"kind {kind!r} is not supported yet")
            cap = max_content_bytes(kind)
            size = os.fstat(f.fileno()).st_size
            content = f.read(cap + 1) if size <= cap else b""
        size = max(size, len(content))
        if size > cap:
            raise RegistrationError(f"file is {size / MB:,.0f} MB; a {kind} work can be at "
                                    f"most {cap // MB} MB")
        return kind, content
    except OSError as exc:
        raise RegistrationError(f"cannot read {path}: {exc.strerror}") from None


@click.group()
def works() -> None:
    """Registered works and their fingerprints."""


@works.command("add")
@click.argument("file", type=RegularFile())
@click.option("--title", required=True, help="Title of the work.")
@holder_option
@kind_option
@click.option("--alias", "aliases", multiple=True,
              help="Another name of the work (repeatable), e.g. a translated title.")
@metadata_options
def works_add(file: Path, title: str, holder: str, kind_word: KindAndCategory | None,
              aliases: tuple[str, ...], **options: str | None) -> None:
    """Register FILE as a work of HOLDER (text, music, audiovisual, film, photography,
    fine art or software), with what its copyright registration says."""
    with database() as db:
        try:
            with db.session() as session:
                kind, content = read_work_file(file, kind_word.kind if kind_word else None)
                reg = register_work(session, content, title=title, holder_name=holder,
                                    kind=kind, category=kind_word.category if kind_word
                                    else None, source_name=file.name, aliases=aliases,
                                    metadata=given_metadata(options),
                                    preview_store=evidence_store())
                work_id, work_title = reg.work.id, reg.work.title
                category = category_label(reg.work.category)
                fingerprints = len(reg.work.fingerprints)
        except (RegistrationError, ContentRejected) as exc:
            fail(f"{file}: {exc}")
    if reg.created:
        as_category = f", {category}" if category != kind else ""
        console().print(f"Registered work {work_id} '{work_title}' ({kind}{as_category}, "
                        f"{fingerprints} fingerprints).")
    else:
        count = reg.added_fingerprints
        added = f"; added {count} missing fingerprint{'s' * (count != 1)}" if count else ""
        console().print(f"{file} is already registered as work {work_id} '{work_title}'{added}.")


@works.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@holder_option
@kind_option
def works_import(directory: Path, holder: str, kind_word: KindAndCategory | None) -> None:
    """Register every file in DIRECTORY as one work, titled after its file name (for
    registration metadata per work, import lines with `works import-fingerprints`)."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        console().print(f"{directory} has no files: 0 works registered.")
        return
    added = existing = 0
    failed: list[str] = []
    with database() as db, Progress(TextColumn("{task.description}"), BarColumn(),
                                    MofNCompleteColumn(), console=console(),
                                    transient=True) as progress:
        task = progress.add_task("Registering", total=len(files))
        for path in files:
            try:
                with db.session() as session:
                    file_kind, content = read_work_file(
                        path, kind_word.kind if kind_word else None)
                    reg = register_work(session, content, holder_name=holder,
                                        title=path.stem.replace("_", " "), kind=file_kind,
                                        category=kind_word.category if kind_word else None,
                                        source_name=path.name,
                                        preview_store=evidence_store())
                added, existing = added + reg.created, existing + (not reg.created)
            except (RegistrationError, ContentRejected, UnusableText) as exc:
                failed.append(f"{click.format_filename(path)}: {exc}")
            progress.advance(task)
    console().print(f"{added} works registered, {existing} already registered, "
                    f"{len(failed)} failed.")
    for line in failed:
        console().print(f"  failed: {line}")
    if failed:
        sys.exit(1)


@works.command("import-fingerprints")
@click.argument("file", type=RegularFile())
@holder_option
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default=None,
              help="Default: csv for a .csv file, else JSON Lines.")
def works_import_fingerprints(file: Path, holder: str, fmt: str | None) -> None:
    """Register works from precomputed fingerprints: one JSON object, JSON Lines, or CSV
    (one fingerprint per row), each with its registration metadata.

    Every line is checked first; if any is bad, each problem is printed with its line
    number and nothing is registered. Lines come from `swordnet fingerprint`.
    """
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: cannot read it as UTF-8 text: {exc}")
    is_csv = fmt == "csv" or (fmt is None and file.suffix.lower() == ".csv")
    entries, errors = parse_csv(text) if is_csv else parse_lines(text)
    if errors:
        for error in errors:
            console().print(f"{file}: {error}", markup=False)
        fail(f"{file}: {len(errors)} bad line{'s' * (len(errors) != 1)}; nothing registered")
    created = 0
    with database() as db:
        try:
            with db.session() as session:
                for entry in entries:
                    reg = register_precomputed(
                        session, title=entry.title, holder_name=holder, kind=entry.kind,
                        fingerprints=entry.fingerprints, aliases=entry.aliases,
                        category=entry.category, metadata=entry.metadata,
                        source_name=f"{file.name}:{entry.line}")
                    created += reg.created
        except RegistrationError as exc:
            fail(f"{file}: {exc}; nothing registered")
    console().print(f"{created} works registered from precomputed fingerprints, "
                    f"{len(entries) - created} already registered.")


@works.command("list")
@json_option
def works_list(as_json: bool) -> None:
    """List registered works with their registration (--json: every field)."""
    with database() as db, db.session() as session:
        rows = session.execute(
            select(Work, func.count(Fingerprint.id)).outerjoin(Work.fingerprints)
            .group_by(Work.id).order_by(Work.id)
        ).all()
        data = [{"id": w.id, "title": w.title, "kind": w.kind, "holder": w.holder.name,
                 "aliases": ", ".join(w.aliases), "fingerprints": n, "sha256": w.sha256,
                 "source": w.source_name, "quarantined": w.quarantine_reason or "",
                 "created_at": w.created_at.isoformat(), **registration_facts(w)}
                for w, n in rows]
    if not as_json:
        for row in data:
            row["category"] = row.pop("category_label")
            row["registration"] = ", ".join(str(row[k]) for k in (
                "registration_number", "registration_date", "registering_authority") if row[k])
            row["territories"] = " ".join(row["licence_territories"])
    emit(data, as_json, "Works", ["id", "title", "category", "holder", "aliases",
                                  "registration", "author", "territories", "fingerprints",
                                  "quarantined"])


@works.command("edit")
@click.argument("work_id", type=ID)
@kind_option
@metadata_options
def works_edit(work_id: int, kind_word: KindAndCategory | None,
               **options: str | None) -> None:
    """Change WORK_ID's registration metadata (an empty value clears a field) or its
    category (one of the same media kind: a video work can be film or audiovisual)."""
    metadata = given_metadata(options)
    if not metadata and kind_word is None:
        fail("nothing to change: give --kind or a registration option (see --help)")

    def edit(session: Session) -> str:
        work = session.get(Work, work_id)
        if work is None:
            raise NotFound(f"no work with id {work_id}")
        edit_registration(work, metadata, kind_word.category if kind_word else None)
        return work.title

    console().print(f"Work {work_id} '{in_unit(edit)}' updated.")


@works.command("threshold")
@click.argument("work_id", type=ID)
@click.argument("algorithm")
@click.argument("value", type=float, required=False)
@click.option("--clear", is_flag=True, help="Go back to the algorithm's default threshold.")
def works_threshold(work_id: int, algorithm: str, value: float | None, clear: bool) -> None:
    """Override WORK_ID's match threshold for ALGORITHM (phash: max bits; orb: min inliers;
    text: min share of a page; link: min links)."""
    if (value is None) == (not clear):
        fail("give a VALUE or --clear, not both or neither")
    with database() as db, db.session() as session:
        set_threshold(session, work_id, algorithm, None if clear else value)
    shown = "the default" if clear else f"{value:g}"
    console().print(f"Work {work_id}: {algorithm} threshold set to {shown} "
                    "(applies to new crawls).")


@works.command("release")
@click.argument("work_id", type=ID)
def works_release(work_id: int) -> None:
    """Lift the quarantine of WORK_ID (hits it already holds stay flagged)."""
    with database() as db, db.session() as session:
        release(session, work_id)
    console().print(f"Work {work_id} released from quarantine.")


@works.command("delete")
@click.argument("work_id", type=ID)
def works_delete(work_id: int) -> None:
    """Delete WORK_ID with its fingerprints and its pending or rejected hits (refused while
    any of its hits is evidence in a case)."""
    def delete(session: Session) -> str:
        work = session.get(Work, work_id)
        if work is None:
            raise NotFound(f"no work with id {work_id}")
        title = work.title
        delete_work_and_hits(session, work)
        return title

    console().print(f"Deleted work {work_id} '{in_unit(delete)}'.")


@click.command()
@click.argument("file", type=RegularFile())
@kind_option
@click.option("--title", help="Title for the line (default: the file name).")
@click.option("--alias", "aliases", multiple=True, help="Another name (repeatable).")
@metadata_options
def fingerprint(file: Path, kind_word: KindAndCategory | None, title: str | None,
                aliases: tuple[str, ...], **options: str | None) -> None:
    """Print FILE's fingerprints as a line for `works import-fingerprints`.

    Needs no database: a rights holder can run it where the content is and send only the
    line.
    """
    try:
        metadata = parse_metadata(given_metadata(options))
        kind, content = read_work_file(file, kind_word.kind if kind_word else None)
        fingerprints = registration_fingerprints(kind, content)
    except (RegistrationError, ContentRejected) as exc:
        fail(f"{file}: {exc}")
    category = kind_word.category if kind_word else DEFAULT_CATEGORY[kind]
    line: dict[str, Any] = {"title": title or file.stem.replace("_", " "), "kind": category}
    if aliases:
        line["aliases"] = list(aliases)
    line.update({k: v.isoformat() if isinstance(v, date) else v
                 for k, v in metadata.items() if v})
    line["fingerprints"] = [{"algorithm": a, "variant": v, "value": value}
                            for a, v, value in fingerprints]
    click.echo(json.dumps(line, ensure_ascii=False, separators=(",", ":")))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@kind_option
@json_option
def match(files: tuple[Path, ...], kind_word: KindAndCategory | None, as_json: bool) -> None:
    """Fingerprint local FILES and show which registered works each matches."""
    with database() as db, db.session() as session:
        # images from the node's index file if a crawl has made one (mapped, not read row
        # by row), everything else and anything newer from the database
        index = LiveMatchIndex(session, index_directory(current_settings().home)).index
        titles = dict(session.execute(select(Work.id, Work.title)).all())
    results: list[dict[str, Any]] = []
    for path in files:
        entry: dict[str, Any] = {"file": str(path), "matches": []}
        try:
            found = match_content(index, *read_work_file(
                path, kind_word.kind if kind_word else None))
        except (RegistrationError, ContentRejected) as exc:
            entry["error"] = str(exc)
        else:
            entry["matches"] = [{"work_id": m.work_id, "work_title": titles[m.work_id],
                                 "algorithm": m.algorithm, "variant": m.variant,
                                 "stage": m.stage, "score": m.score, "detail": m.detail,
                                 "method": describe_match(m.algorithm, m.variant, m.score,
                                                          m.detail)}
                                for m in found]
        results.append(entry)
    if as_json:
        click.echo(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for entry in results:
            if "error" in entry:
                console().print(f"{entry['file']}: [red]{entry['error']}[/red]")
            elif not entry["matches"]:
                console().print(f"{entry['file']}: no match")
            for m in entry["matches"]:
                console().print(f"{entry['file']}: work {m['work_id']} '{m['work_title']}' "
                                f"({m['method']})")
    if any("error" in entry for entry in results):
        sys.exit(1)
