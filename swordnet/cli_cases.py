"""The ``cases``, ``keys`` and ``allowlist`` commands, and ``evidence verify``/``extract``:
the case lifecycle, custody-log checks, evidence bundles and the key that signs them, and
the licensed domains kept off shutdown lists."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefiles.bundle import export_bundle, extract_bundle, verify_bundle
from casefiles.custody import case_log_problem
from casefiles.evidence import EvidenceStore
from casefiles.lifecycle import TRANSITIONS, allowed_next, get_case, link_mirror, transition
from casefiles.signing import fingerprint, key_path, load_or_create_key, load_public_pem, public_pem
from swordnet.cliutil import (
    ID,
    RegularFile,
    actor_option,
    console,
    current_settings,
    database,
    emit,
    fail,
    in_unit,
    json_option,
)
from swordnet.models import AllowlistEntry, Case, CaseEvent, Hit, RightsHolder, Work
from swordnet.watchlist import check_host


@click.group()
def cases() -> None:
    """Enforcement cases: lifecycle, custody logs, evidence bundles."""


@cases.command("list")
@json_option
def cases_list(as_json: bool) -> None:
    """List cases with their confirmed hits and custody-log state."""
    with database() as db, db.session() as session:
        data = []
        for case in session.scalars(select(Case).order_by(Case.id)):
            hit_count = session.scalar(select(func.count()).where(Hit.case_id == case.id))
            problem = case_log_problem(session, case)
            data.append({"id": case.id, "site": case.site.domain, "status": case.status,
                         "opened_at": case.opened_at.isoformat(timespec="seconds"),
                         "hits": hit_count, "events": len(case.events),
                         "next": ", ".join(allowed_next(case.status)),
                         "custody_log": problem or "intact"})
    emit(data, as_json, "Cases", ["id", "site", "status", "opened_at", "hits", "events",
                                  "custody_log", "next"])


@cases.command("show")
@click.argument("case_id", type=ID)
@json_option
def cases_show(case_id: int, as_json: bool) -> None:
    """Show a case's custody log, oldest event first."""
    with database() as db, db.session() as session:
        case = session.get(Case, case_id)
        if case is None:
            fail(f"no case with id {case_id}")
        events: list[CaseEvent] = list(case.events)
        problem = case_log_problem(session, case)
        data = [{"seq": e.seq, "at": e.at.isoformat(timespec="seconds"), "type": e.type,
                 "actor": e.actor, "payload": e.payload, "hash": e.hash} for e in events]
        title = f"Case {case.id}: {case.site.domain} ({case.status})"
    emit(data, as_json, title, ["seq", "at", "type", "actor", "payload"])
    if not as_json:
        console.print("Custody log intact." if problem is None
                      else f"[red]Custody log {problem}.[/red]")


@cases.command("verify")
@click.argument("case_id", type=ID)
def cases_verify(case_id: int) -> None:
    """Recompute CASE_ID's custody-log chain and check it ends at its signed head; exit 1
    naming the first broken link or the deleted events."""
    with database() as db, db.session() as session:
        case = session.get(Case, case_id)
        if case is None:
            fail(f"no case with id {case_id}")
        events = list(case.events)
        problem = case_log_problem(session, case)
    if problem is not None:
        click.echo(f"case {case_id}: custody log {problem} ({len(events)} events)", err=True)
        sys.exit(1)
    console.print(f"Case {case_id}: custody log intact ({len(events)} events, head "
                  f"{events[-1].hash if events else 'none'}, signed).")


@cases.command("transition")
@click.argument("case_id", type=ID)
@click.argument("status", type=click.Choice(list(TRANSITIONS)))
@click.option("--reason", required=True, help="Why (goes into the custody log).")
@click.option("--evidence", "evidence", multiple=True,
              help="A reference the decision rests on, e.g. capture:12 or a file hash.")
@actor_option
def cases_transition(case_id: int, status: str, reason: str, evidence: tuple[str, ...],
                     actor: str) -> None:
    """Move CASE_ID to STATUS (only along the lifecycle; see `cases list` for next states)."""
    def apply(session: Session) -> str:
        case = get_case(session, case_id)
        transition(session, case, status, actor, reason, {"references": list(evidence)})
        return case.status

    console.print(f"Case {case_id} is now {in_unit(apply)}.")


@cases.command("link-mirror")
@click.argument("case_id", type=ID)
@click.argument("domain")
@actor_option
def cases_link_mirror(case_id: int, domain: str, actor: str) -> None:
    """Link a known mirror DOMAIN to CASE_ID: its confirmed hits join this case."""
    key = in_unit(lambda s: link_mirror(s, get_case(s, case_id), domain, actor).domain)
    console.print(f"{key} is linked to case {case_id} as a mirror.")


@cases.command("export")
@click.argument("case_id", type=ID)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The zip file to write.")
@actor_option
def cases_export(case_id: int, output: Path, actor: str) -> None:
    """Write CASE_ID's signed evidence bundle (WARC files, media, custody log, report)."""
    if output.exists():
        fail(f"{output} already exists; choose another --output")
    if not output.parent.is_dir():
        fail(f"{output.parent} is not a folder; create it or choose another --output")
    settings = current_settings()
    key = load_or_create_key(settings.home)
    store = EvidenceStore(settings.evidence_dir)

    def export(session: Session) -> tuple[str, int]:
        case = get_case(session, case_id)
        try:
            record = export_bundle(session, store, case, output, key, settings.templates_dir,
                                   actor)
        except OSError as exc:
            raise ValueError(f"cannot write {output}: {exc.strerror or exc}") from None
        return record.sha256, record.size

    digest, size = in_unit(export)
    console.print(f"Wrote {output} ({size} bytes, sha256 {digest}); signed with key "
                  f"{fingerprint(key.public_key())}.")


@click.group()
def keys() -> None:
    """The instance's signing key."""


@keys.command("show")
def keys_show() -> None:
    """Print the public key that signs evidence bundles (publish it for verifiers)."""
    settings = current_settings()
    key = load_or_create_key(settings.home).public_key()
    click.echo(public_pem(key).decode(), nl=False)
    click.echo(f"sha256 of the raw key: {fingerprint(key)}")
    click.echo(f"private key: {key_path(settings.home)}", err=True)


@click.command("verify")
@click.argument("bundle", type=RegularFile())
@click.option("--key", "key_file", type=RegularFile(),
              help="The trusted public key (PEM); default: this instance's key, if any.")
@click.option("--trust-embedded-key", is_flag=True,
              help="With no trusted key, accept whichever key the bundle carries (checks "
                   "integrity only, not who signed it).")
def evidence_verify(bundle: Path, key_file: Path | None, trust_embedded_key: bool) -> None:
    """Check an evidence bundle offline; exit 1 naming every problem, or if no trusted key
    vouches for its signer."""
    settings = current_settings()
    trusted = None
    if key_file is not None:
        try:
            trusted = load_public_pem(key_file.read_bytes(), str(key_file))
        except ValueError as exc:
            fail(str(exc))
    elif key_path(settings.home).exists():
        trusted = load_or_create_key(settings.home).public_key()
    result = verify_bundle(bundle, trusted, trust_embedded_key=trust_embedded_key)
    for problem in result.problems:
        click.echo(f"{bundle}: {problem}", err=True)
    if result.problems:
        sys.exit(1)
    if not result.trusted and not trust_embedded_key:
        click.echo(f"{bundle}: intact, but its signer (key {result.key_fingerprint}) is not "
                   "trusted: pass --key with the instance's published key, or "
                   "--trust-embedded-key", err=True)
        sys.exit(1)
    how = "the trusted key" if result.trusted else "the bundle's own key (not checked against " \
        "a trusted one)"
    console.print(f"{bundle}: intact. Case {result.case_id}, {result.files} files, signature "
                  f"valid for {how} {result.key_fingerprint}.")


@click.command("extract")
@click.argument("bundle", type=RegularFile())
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to extract into.")
def evidence_extract(bundle: Path, output: Path) -> None:
    """Unpack a bundle into a directory (refused whole if any path is unsafe)."""
    try:
        written = extract_bundle(bundle, output)
    except ValueError as exc:
        fail(str(exc))
    console.print(f"Extracted {len(written)} files into {output}.")


@click.group()
def allowlist() -> None:
    """Licensed domains: never put on a shutdown list."""


@allowlist.command("add")
@click.argument("domain")
@click.option("--holder", required=True, help="The rights holder who licensed the domain.")
@click.option("--work", "work_id", type=ID, help="Only for this work (default: all).")
def allowlist_add(domain: str, holder: str, work_id: int | None) -> None:
    """Put DOMAIN (a host, or host:port) on HOLDER's allowlist."""
    def add(session: Session) -> str:
        rights_holder = session.scalar(select(RightsHolder).where(RightsHolder.name == holder))
        if rights_holder is None:
            raise LookupError(f"no rights holder named {holder!r}")
        if work_id is not None:
            work = session.get(Work, work_id)
            if work is None or work.holder_id != rights_holder.id:
                raise LookupError(f"{holder!r} has no work with id {work_id}")
        key = check_host(domain)
        session.add(AllowlistEntry(holder_id=rights_holder.id, work_id=work_id, domain=key))
        return key

    console.print(f"{in_unit(add)} is on {holder}'s allowlist.")


@allowlist.command("list")
@json_option
def allowlist_list(as_json: bool) -> None:
    """List allowlisted domains."""
    with database() as db, db.session() as session:
        data = [{"id": e.id, "domain": e.domain, "holder_id": e.holder_id, "work_id": e.work_id}
                for e in session.scalars(select(AllowlistEntry).order_by(AllowlistEntry.id))]
    emit(data, as_json, "Allowlist", ["id", "domain", "holder_id", "work_id"])
