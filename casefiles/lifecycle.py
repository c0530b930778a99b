"""The case lifecycle: which status may follow which, and mirrors linked to a case.

Every change of status is a ``status_changed`` event in the case's custody log with the
actor, the reason and references to the evidence it rests on; a change not in
:data:`TRANSITIONS` is refused, naming the statuses that may follow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.custody import append_event
from swordnet.core.db import lock_for_writing
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import Case, CaseEvent, CaseMirror, Site
from swordnet.core.timeutil import utcnow
from swordnet.watch.targets import site_key

# open -> notice_sent -> removed | no_response -> escalated -> site_shut_down |
# transferred_to_judiciary -> closed; reopened when removed content reappears.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("notice_sent", "closed"),
    "notice_sent": ("removed", "no_response", "closed"),
    "no_response": ("escalated", "removed", "closed"),
    "escalated": ("site_shut_down", "transferred_to_judiciary", "removed", "closed"),
    "removed": ("reopened", "closed"),
    "site_shut_down": ("reopened", "closed"),
    "transferred_to_judiciary": ("closed",),
    "reopened": ("notice_sent", "escalated", "closed"),
    "closed": (),
}


class TransitionRefused(Conflict):
    """A status change the lifecycle does not allow."""


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise NotFound(f"no case with id {case_id} (see `swordnet cases list`)")
    return case


def lock_case(session: Session, case: Case) -> None:
    """Take the write lock and read ``case`` again under it, so a change of status or a
    custody event stored meanwhile by another unit of work is seen before deciding on it."""
    lock_for_writing(session)
    session.refresh(case, with_for_update=True)


def allowed_next(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def manual_next(status: str) -> tuple[str, ...]:
    """The statuses staff may move a case to by hand (``notice_sent`` comes with a notice).

    >>> manual_next("open")
    ('closed',)
    """
    return tuple(s for s in allowed_next(status) if s != "notice_sent")


def transition(session: Session, case: Case, to: str, actor: str, reason: str,
               evidence: dict[str, Any] | None = None, *, via_notice: bool = False) -> CaseEvent:
    """Move ``case`` to status ``to``; raises TransitionRefused with the allowed statuses.
    ``notice_sent`` is reached only through a notice that went out (``via_notice``:
    :func:`casefiles.notices.mark_sent`), never by hand."""
    lock_case(session, case)
    if to not in TRANSITIONS:
        raise TransitionRefused(f"unknown case status {to!r} "
                                f"(statuses: {', '.join(TRANSITIONS)})")
    if to == "notice_sent" and not via_notice:
        raise TransitionRefused(
            f"case {case.id} becomes notice_sent only when a notice is sent: record one "
            f"(`swordnet notices record {case.id} --recipient ADDRESS`)")
    if to not in allowed_next(case.status):
        allowed = ", ".join(allowed_next(case.status)) or "none, the case is closed"
        raise TransitionRefused(f"case {case.id} is {case.status}; it cannot become {to} "
                                f"(allowed next: {allowed})")
    if not reason.strip():
        raise BadInput("a status change needs a reason (--reason)")
    previous, case.status = case.status, to
    if to == "closed":
        case.closed_at = utcnow()
    return append_event(session, case, "status_changed", {
        "from": previous, "to": to, "reason": reason.strip(), "evidence": evidence or {}},
        actor)


def link_mirror(session: Session, case: Case, domain_or_url: str, actor: str) -> Site:
    """Link a known mirror (a host, or a URL on it) to ``case``: its hits join the case."""
    key = site_key(domain_or_url if "://" in domain_or_url else f"http://{domain_or_url}/")
    lock_case(session, case)
    if case.status == "closed":
        raise Conflict(f"case {case.id} is closed; mirrors cannot be linked to it")
    site = session.scalar(select(Site).where(Site.domain == key))
    if site is None:
        site = Site(domain=key, status="active", first_seen_at=utcnow())
        session.add(site)
        session.flush()
    if site.id == case.site_id:
        raise BadInput(f"{key} is the case's own site")
    linked = session.get(CaseMirror, {"case_id": case.id, "site_id": site.id})
    other = session.scalar(select(CaseMirror).where(CaseMirror.site_id == site.id))
    if other is not None and linked is None:
        raise Conflict(f"{key} is already linked to case {other.case_id}")
    if linked is None:
        session.add(CaseMirror(case_id=case.id, site_id=site.id))
        append_event(session, case, "mirror_linked", {"site_id": site.id, "domain": key}, actor)
    return site


def case_sites(session: Session, case: Case) -> list[Site]:
    """The case's site followed by its linked mirrors."""
    mirrors = session.scalars(select(Site).join(CaseMirror, CaseMirror.site_id == Site.id)
                              .where(CaseMirror.case_id == case.id).order_by(Site.id)).all()
    return [case.site, *mirrors]
