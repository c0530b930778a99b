"""Review decisions on hits: confirming opens (or extends) the site's case, rejecting closes it out.

Only pending hits can be decided; every confirmation is a custody-log event on the case.
A hit held by its work's quarantine is confirmed only when the reviewer says so explicitly.
A known copy (staydown) confirmed into a case that was ``removed`` or ``site_shut_down``
reopens it.
A decision can be undone (the hit is pending again) until a notice names the hit; undoing a
confirmation appends a ``hit_unconfirmed`` event, since the custody log is never rewritten.
Every decision and undo is kept in ``hit_decisions`` with who made it and when.

Decisions serialise on every backend: each takes the database's write lock on SQLite, or
locks the hit's row (and its site's and case's) on PostgreSQL, before reading the hit, so of
two decisions sent together only one finds it pending; the other is a ``ReviewError``.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.custody import append_event
from casefiles.lifecycle import allowed_next, transition
from swordnet.core.db import lock_for_writing
from swordnet.core.errors import Conflict
from swordnet.core.models import Case, CaseMirror, CrawlRun, Hit, HitDecision, NoticeUrl, Site
from swordnet.core.timeutil import utcnow
from swordnet.works.registry import thresholds_in_force


class ReviewError(Conflict):
    """A review decision that cannot be applied (unknown hit, hit not pending)."""


def _locked_hit(session: Session, hit_id: int) -> Hit | None:
    """The hit, locked and re-read from the database (not what the session already held,
    which a concurrent decision may have changed). On PostgreSQL the row lock is ``FOR NO KEY
    UPDATE``: it still excludes other decisions, but lets a notice that holds the case's lock
    insert rows that refer to the hit, instead of deadlocking with an undo waiting for it."""
    lock_for_writing(session)
    return session.get(Hit, hit_id, with_for_update={"key_share": True},
                       populate_existing=True)


def _pending_hit(session: Session, hit_id: int, verb: str) -> Hit:
    hit = _locked_hit(session, hit_id)
    if hit is None:
        raise ReviewError(f"no hit with id {hit_id}")
    if hit.status != "pending":
        raise ReviewError(
            f"hit {hit_id} is already {hit.status}; only pending hits can be {verb}"
        )
    return hit


def case_for_site(session: Session, site_id: int, actor: str,
                  campaign_id: int | None = None, known_case_id: int | None = None) -> Case:
    """The case it is a linked mirror of, or the site's active (not closed) case, or else
    ``known_case_id`` (the case a staydown copy is known from) if still active; opened now
    (for ``campaign_id``, the campaign whose crawl found the first hit) if there is none.
    The site row is locked first, so concurrent confirmations open one case."""
    lock_for_writing(session)
    session.get(Site, site_id, with_for_update=True)
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
    if case is None and known_case_id is not None:
        case = session.scalar(select(Case).where(Case.id == known_case_id,
                                                 Case.status != "closed").with_for_update())
    if case is None:
        case = Case(site_id=site_id, status="open", campaign_id=campaign_id)
        session.add(case)
        session.flush()
        append_event(session, case, "case_opened", {"site_id": site_id}, actor)
    return case


def confirm_hit(session: Session, hit_id: int, reviewer: str, *,
                accept_quarantined: bool = False, automatic: str | None = None) -> Case:
    """Confirm a pending hit and add it to its site's case (or, on a site without one, to
    the case it is a known copy of); returns the case. ``automatic`` is the reason of a
    confirmation nobody made by hand (staydown), kept in the custody event."""
    hit = _pending_hit(session, hit_id, "confirmed")
    if hit.quarantined and not accept_quarantined:
        raise ReviewError(
            f"hit {hit_id} is held by the quarantine of work {hit.work_id}; check it against the "
            "work and confirm it with --accept-quarantined")
    run = session.get(CrawlRun, hit.run_id) if hit.run_id is not None else None
    case = case_for_site(session, hit.site_id, reviewer, run.campaign_id if run else None,
                         hit.known_case_id)
    hit.case_id = case.id
    hit.confirmed_thresholds = thresholds_in_force(hit.work)  # what rechecks judge it by
    _record(session, hit, "confirmed", reviewer)
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
        **({"known_copy_of_case": hit.known_case_id, "known_by": hit.known_by}
           if hit.known_case_id is not None else {}),
        **({"automatic": True, "reason": automatic} if automatic else {}),
    }, reviewer)
    if hit.known_case_id == case.id and "reopened" in allowed_next(case.status):
        transition(session, case, "reopened", reviewer,
                   f"a copy confirmed in this case is back: {hit.url}", {"hit_id": hit.id})
    return case


def reject_hit(session: Session, hit_id: int, reviewer: str) -> Hit:
    """Reject a pending hit as a false match."""
    hit = _pending_hit(session, hit_id, "rejected")
    _record(session, hit, "rejected", reviewer)
    return hit


def _record(session: Session, hit: Hit, decision: str, actor: str) -> None:
    """Set the hit's status from a decision and keep the decision."""
    at = utcnow()
    session.add(HitDecision(hit_id=hit.id, decision=decision, previous_status=hit.status,
                            case_id=hit.case_id, actor=actor, at=at))
    hit.status = "pending" if decision == "undone" else decision
    hit.reviewer, hit.reviewed_at = (None, None) if decision == "undone" else (actor, at)


def undo_decision(session: Session, hit_id: int, actor: str) -> Hit:
    """Put a confirmed or rejected hit back to pending. A confirmed hit leaves its case with a
    ``hit_unconfirmed`` custody event; one already named in a notice cannot be undone."""
    hit = _locked_hit(session, hit_id)
    if hit is None:
        raise ReviewError(f"no hit with id {hit_id}")
    if hit.status not in ("confirmed", "rejected"):
        raise ReviewError(f"hit {hit_id} is {hit.status}; only confirmed or rejected hits "
                          "can be undone")
    if hit.status == "confirmed" and hit.case_id is not None:
        # The case is locked before anything about it is read: what another unit of work does
        # to it (an event, a notice, closing it) comes wholly before this undo or after it.
        case = session.get(Case, hit.case_id, with_for_update=True, populate_existing=True)
        assert case is not None
        notice_id = session.scalar(select(NoticeUrl.notice_id)
                                   .where(NoticeUrl.hit_id == hit.id).limit(1))
        if notice_id is not None:
            raise ReviewError(f"hit {hit_id} is named in notice {notice_id}; it can no longer "
                              "be undone")
        if case.status == "closed":
            raise ReviewError(f"hit {hit_id} is in case {case.id}, which is closed; it can no "
                              "longer be undone")
        append_event(session, case, "hit_unconfirmed",
                     {"hit_id": hit.id, "work_id": hit.work_id, "url": hit.url}, actor)
    _record(session, hit, "undone", actor)
    hit.case_id, hit.confirmed_thresholds = None, None
    return hit
