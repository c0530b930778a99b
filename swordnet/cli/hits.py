"""The ``hits`` commands: matches awaiting review, and review decisions."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from functools import partial
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.review import confirm_hit, reject_hit, undo_decision
from matching.registry import describe_match
from swordnet.cli.util import ID, campaign_option, console, database, emit, json_option
from swordnet.core.campaign_scope import hit_condition
from swordnet.core.models import HIT_STATUSES, Case, Hit
from swordnet.watch.campaigns import find_campaign


@click.group()
def hits() -> None:
    """Matches awaiting review, and review decisions."""


def hit_row(hit: Hit) -> dict[str, Any]:
    return {"id": hit.id, "work_id": hit.work_id, "work_title": hit.work.title, "url": hit.url,
            "page_url": hit.page_url, "site": hit.site.domain, "algorithm": hit.algorithm,
            "variant": hit.variant, "stage": hit.stage, "score": hit.score,
            "method": describe_match(hit.algorithm, hit.variant, hit.score, hit.detail),
            "detail": hit.detail, "quarantined": hit.quarantined, "status": hit.status,
            "case_id": hit.case_id, "known_case_id": hit.known_case_id,
            "known_by": hit.known_by, "reviewer": hit.reviewer,
            "created_at": hit.created_at.isoformat(timespec="seconds")}


@hits.command("list")
@click.option("--status", type=click.Choice(HIT_STATUSES), help="Only hits in this state.")
@campaign_option
@json_option
def hits_list(status: str | None, campaign: str | None, as_json: bool) -> None:
    """List hits, newest first (with --campaign, the hits its report counts: on its sites
    and up during its window, whichever run found them)."""
    with database() as db, db.session() as session:
        query = select(Hit).order_by(Hit.id.desc())
        if status:
            query = query.where(Hit.status == status)
        if campaign is not None:
            query = query.where(hit_condition(find_campaign(session, campaign).id))
        data = [hit_row(hit) for hit in session.scalars(query)]
    for row in data:
        row["flag"] = " ".join(filter(None, (
            "QUARANTINED" if row["quarantined"] else "",
            f"known copy of case {row['known_case_id']}" if row["known_case_id"] else "")))
    emit(data, as_json, "Hits", ["id", "status", "flag", "work_title", "stage", "method", "site",
                                 "url"])


def _decide(hit_ids: tuple[int, ...], reviewer: str,
            decide: Callable[[Session, int, str], Any], done: str) -> None:
    """Apply one decision per hit, each in its own transaction; stop at the first refusal
    (a ReviewError)."""
    with database() as db:
        for hit_id in hit_ids:
            with db.session() as session:
                result = decide(session, hit_id, reviewer)
                case_note = f" (case {result.id})" if isinstance(result, Case) else ""
            console().print(f"Hit {hit_id} {done}{case_note}.")


reviewer_option = click.option("--reviewer", default=getpass.getuser, show_default="login name",
                               help="Who takes the decision (recorded on the hit).")


@hits.command("confirm")
@click.argument("hit_ids", nargs=-1, required=True, type=ID)
@reviewer_option
@click.option("--accept-quarantined", is_flag=True,
              help="Also confirm hits held by their work's quarantine (checked one by one).")
def hits_confirm(hit_ids: tuple[int, ...], reviewer: str, accept_quarantined: bool) -> None:
    """Confirm pending hits: each opens or extends the case for its site."""
    _decide(hit_ids, reviewer, partial(confirm_hit, accept_quarantined=accept_quarantined),
            "confirmed")


@hits.command("reject")
@click.argument("hit_ids", nargs=-1, required=True, type=ID)
@reviewer_option
def hits_reject(hit_ids: tuple[int, ...], reviewer: str) -> None:
    """Reject pending hits as false matches."""
    _decide(hit_ids, reviewer, reject_hit, "rejected")


@hits.command("undo")
@click.argument("hit_ids", nargs=-1, required=True, type=ID)
@reviewer_option
def hits_undo(hit_ids: tuple[int, ...], reviewer: str) -> None:
    """Put confirmed or rejected hits back to pending (until a notice names them)."""
    _decide(hit_ids, reviewer, undo_decision, "is pending again")
