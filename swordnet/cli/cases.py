"""The ``cases`` commands: the case lifecycle, custody-log checks, mirrors, evidence
bundle export, and publishing a case on the public pages (with holders' consent)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefiles.bundle import export_bundle
from casefiles.custody import case_log_problem
from casefiles.lifecycle import TRANSITIONS, allowed_next, get_case, link_mirror, transition
from casefiles.publication import (
    PUBLIC_FIELDS,
    give_consent,
    publish,
    unpublish,
    withdraw_consent,
)
from swordnet.cli.util import (
    ID,
    actor_option,
    campaign_option,
    console,
    current_settings,
    database,
    emit,
    fail,
    in_unit,
    json_option,
)
from swordnet.core.campaign_scope import case_condition
from swordnet.core.errors import BadInput
from swordnet.core.models import Case, CaseEvent, Hit
from swordnet.core.signing import fingerprint, load_or_create_key
from swordnet.evidence.store import EvidenceStore
from swordnet.watch.campaigns import find_campaign


@click.group()
def cases() -> None:
    """Enforcement cases: lifecycle, custody logs, evidence bundles."""


@cases.command("list")
@campaign_option
@json_option
def cases_list(campaign: str | None, as_json: bool) -> None:
    """List cases with their confirmed hits and custody-log state (with --campaign, the
    cases its report counts: on its sites and open during its window)."""
    with database() as db, db.session() as session:
        data = []
        query = select(Case).order_by(Case.id)
        if campaign is not None:
            query = query.where(case_condition(find_campaign(session, campaign).id))
        for case in session.scalars(query):
            hit_count = session.scalar(select(func.count()).where(Hit.case_id == case.id))
            problem = case_log_problem(session, case)
            data.append({"id": case.id, "site": case.site.domain, "status": case.status,
                         "opened_at": case.opened_at.isoformat(
                             timespec="auto" if as_json else "seconds"),
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
        data = [{"seq": e.seq, "at": e.at.isoformat(timespec="auto" if as_json else "seconds"),
                 "type": e.type,
                 "actor": e.actor, "payload": e.payload, "hash": e.hash} for e in events]
        title = f"Case {case.id}: {case.site.domain} ({case.status})"
    emit(data, as_json, title, ["seq", "at", "type", "actor", "payload"])
    if not as_json:
        console().print("Custody log intact." if problem is None
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
    console().print(f"Case {case_id}: custody log intact ({len(events)} events, head "
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

    console().print(f"Case {case_id} is now {in_unit(apply)}.")


@cases.command("link-mirror")
@click.argument("case_id", type=ID)
@click.argument("domain")
@actor_option
def cases_link_mirror(case_id: int, domain: str, actor: str) -> None:
    """Link a known mirror DOMAIN to CASE_ID: its confirmed hits join this case."""
    key = in_unit(lambda s: link_mirror(s, get_case(s, case_id), domain, actor).domain)
    console().print(f"{key} is linked to case {case_id} as a mirror.")


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
            raise BadInput(f"cannot write {output}: {exc.strerror or exc}") from None
        return record.sha256, record.size

    digest, size = in_unit(export)
    console().print(f"Wrote {output} ({size} bytes, sha256 {digest}); signed with key "
                    f"{fingerprint(key.public_key())}.")


@cases.command("consent")
@click.argument("case_id", type=ID)
@click.option("--holder", required=True, help="The rights holder who consented.")
@click.option("--reference", default=None,
              help="Where the consent was given (letter, email, call); needed for --offline.")
@click.option("--offline/--holder-acting", "offline", default=True, show_default=True,
              help="Consent received offline and recorded by staff, or given by the holder "
                   "at this command line.")
@click.option("--withdraw", is_flag=True, help="Withdraw the consent (unpublishes the case).")
@actor_option
def cases_consent(case_id: int, holder: str, reference: str | None, offline: bool,
                  withdraw: bool, actor: str) -> None:
    """Record HOLDER's consent to publishing CASE_ID (a custody event), or withdraw it."""
    def apply(session: Session) -> None:
        case = get_case(session, case_id)
        if withdraw:
            withdraw_consent(session, case, holder, actor)
        else:
            give_consent(session, case, holder, actor, "offline" if offline else "cli",
                         reference)

    in_unit(apply)
    console().print(f"{holder}'s consent to publishing case {case_id} is "
                    f"{'withdrawn' if withdraw else 'recorded'}.")


@cases.command("publish")
@click.argument("case_id", type=ID)
@click.option("--summary", required=True, help="The short public summary (plain text).")
@click.option("--fields", default="site,works,outcome,closed", show_default=True,
              help=f"Comma-separated public fields, of: {', '.join(PUBLIC_FIELDS)}.")
@actor_option
def cases_publish(case_id: int, summary: str, fields: str, actor: str) -> None:
    """Publish closed or transferred CASE_ID on the public pages (every holder of a work in
    it must have consented: `cases consent`)."""
    chosen = [f.strip() for f in fields.split(",") if f.strip()]
    in_unit(lambda s: publish(s, get_case(s, case_id), summary, chosen, actor))
    console().print(f"Case {case_id} is published: /public/cases/{case_id} (served when "
                    "SWORDNET_PUBLIC_PAGES is on).")


@cases.command("unpublish")
@click.argument("case_id", type=ID)
@click.option("--reason", required=True, help="Why (goes into the custody log).")
@actor_option
def cases_unpublish(case_id: int, reason: str, actor: str) -> None:
    """Take CASE_ID off the public pages."""
    in_unit(lambda s: unpublish(s, get_case(s, case_id), actor, reason))
    console().print(f"Case {case_id} is no longer published.")
