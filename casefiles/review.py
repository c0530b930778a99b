"""Review decisions on hits: confirming opens (or extends) the site's case, rejecting closes it out.

Only pending hits can be decided; every confirmation is a custody-log event on the case.
A hit held by its work's quarantine is confirmed only when the reviewer says so explicitly.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.custody import append_event
from swordnet.models import Case, CaseMirror, CrawlRun, Hit
from swordnet.timeutil import utcnow


class ReviewError(ValueError):
    """A review decision that cannot be applied (unknown hit, hit not pending)."""


def _pending_hit(session: Session, hit_id: int, verb: str) -> Hit:
    hit = session.get(Hit, hit_id, with_for_update=True)
    if hit is None:
        raise ReviewError(f"no hit with id {hit_id}")
    if hit.status != "pending":
        raise ReviewError(
            f"hit {hit_id} is already {hit.status}; only pending hits can be {verb}"
        )
    return hit


def case_for_site(session: Session, site_id: int, actor: str,
                  campaign_id: int | None = None) -> Case:
    """The site's active (not closed) case, or the case it is a linked mirror of, opened
    now (for ``campaign_id``, the campaign whose crawl found the first hit) if there is
    none."""
    mirror_of = session.scalar(
        select(Case).join(CaseMirror, CaseMirror.case_id == Case.id)
        .where(CaseMirror.site_id == site_id, Case.status != "closed").with_for_update())
    if mirror_of is not None:
        return mirror_of
    case = session.scalar(
        select(Case)
        .where(Case.site_id == site_id, Case.status != "closed")
        .order_by(Case.id)
        .limit(1)
        .with_for_update()
    )
    if case is None:
        case = Case(site_id=site_id, status="open", campaign_id=campaign_id)
        session.add(case)
        session.flush()
        append_event(session, case, "case_opened", {"site_id": site_id}, actor)
    return case


def confirm_hit(session: Session, hit_id: int, reviewer: str, *,
                accept_quarantined: bool = False) -> Case:
    """Confirm a pending hit and add it to its site's case; returns the case."""
    hit = _pending_hit(session, hit_id, "confirmed")
    if hit.quarantined and not accept_quarantined:
        raise ReviewError(
            f"hit {hit_id} is held by the quarantine of work {hit.work_id}; check it against the "
            "work and confirm it with --accept-quarantined")
    hit.status, hit.reviewer, hit.reviewed_at = "confirmed", reviewer, utcnow()
    run = session.get(CrawlRun, hit.run_id) if hit.run_id is not None else None
    case = case_for_site(session, hit.site_id, reviewer, run.campaign_id if run else None)
    hit.case_id = case.id
    media = hit.media_capture
    append_event(session, case, "hit_confirmed", {
        "hit_id": hit.id,
        "work_id": hit.work_id,
        "url": hit.url,
        "page_url": hit.page_url,
        "algorithm": hit.algorithm,
        "stage": hit.stage,
        "score": hit.score,
        "media_sha256": media.sha256 if media else None,
        "captured_at": media.fetched_at.isoformat() if media else None,
    }, reviewer)
    return case


def reject_hit(session: Session, hit_id: int, reviewer: str) -> Hit:
    """Reject a pending hit as a false match."""
    hit = _pending_hit(session, hit_id, "rejected")
    hit.status, hit.reviewer, hit.reviewed_at = "rejected", reviewer, utcnow()
    return hit
