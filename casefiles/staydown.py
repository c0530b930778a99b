"""Staydown: a copy already confirmed in a case, found again (at a new URL or on a new domain).

A new hit is a *known copy* of case N when N (not closed) holds a confirmed hit with the same
content (the capture's sha256: ``known_by="sha256"``) or, failing that, a confirmed hit of the
same work by the same algorithm whose score is no closer than the new one's
(``known_by="score"``). The newest such case is named. The hit then waits in the review queue
as "known copy of case N", unless the policy confirms it automatically: the case's own
setting, else the instance's (:class:`~swordnet.core.models.StaydownSettings`: exact copies
on, fuzzy ones off). A hit held by its work's flood quarantine is never confirmed
automatically. An automatic confirmation is an ordinary :func:`~casefiles.review.confirm_hit`
by the actor ``staydown``, whose custody event says why and carries the copy's sha256; one
the case refuses (its custody log is broken, say) leaves the hit pending, for staff.
A known copy on a site other than the case's is proposed as a mirror of the case
(:mod:`casefiles.mirror_proposals`); sites are never linked without staff.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.mirror_proposals import propose
from casefiles.review import confirm_hit
from matching.registry import signal_type
from swordnet.core.errors import SwordnetError
from swordnet.core.models import Capture, Case, Hit, StaydownSettings
from swordnet.core.timeutil import utcnow

ACTOR = "staydown"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    """Whether reappearing copies are confirmed without review: exact ones, fuzzy ones."""

    exact: bool
    fuzzy: bool


def instance_policy(session: Session) -> Policy:
    """The instance's staydown defaults (exact copies confirmed, fuzzy ones reviewed)."""
    row = session.get(StaydownSettings, 1)
    return Policy(True, False) if row is None else Policy(row.auto_confirm_exact,
                                                          row.auto_confirm_fuzzy)


def case_policy(session: Session, case: Case) -> Policy:
    """The policy for copies of ``case``: its own settings where set, else the instance's."""
    default = instance_policy(session)
    return Policy(default.exact if case.auto_confirm_exact is None else case.auto_confirm_exact,
                  default.fuzzy if case.auto_confirm_fuzzy is None else case.auto_confirm_fuzzy)


def set_instance_policy(session: Session, actor: str, exact: bool | None = None,
                        fuzzy: bool | None = None) -> Policy:
    """Change the instance's defaults (None leaves one as it is)."""
    row = session.get(StaydownSettings, 1, with_for_update=True)
    if row is None:
        row = StaydownSettings(id=1, auto_confirm_exact=True, auto_confirm_fuzzy=False)
        session.add(row)
    if exact is not None:
        row.auto_confirm_exact = exact
    if fuzzy is not None:
        row.auto_confirm_fuzzy = fuzzy
    row.updated_by, row.updated_at = actor, utcnow()
    session.flush()
    return instance_policy(session)


def set_case_policy(session: Session, case: Case, exact: str | None = None,
                    fuzzy: str | None = None) -> Policy:
    """Override the instance's defaults for ``case``: each of ``exact`` and ``fuzzy`` is
    ``"on"``, ``"off"``, ``"default"`` (follow the instance) or None (unchanged)."""
    values = {"on": True, "off": False, "default": None}
    if exact is not None:
        case.auto_confirm_exact = values[exact]
    if fuzzy is not None:
        case.auto_confirm_fuzzy = values[fuzzy]
    session.flush()
    return case_policy(session, case)


def known_case(session: Session, hit: Hit, sha256: str | None) -> tuple[Case, str] | None:
    """The case ``hit``'s copy is already confirmed in, and how that is known."""
    active = (Hit.status == "confirmed", Hit.case_id.is_not(None), Hit.id != hit.id,
              Case.status != "closed")
    if sha256 is not None:
        exact = session.scalar(
            select(Case).join(Hit, Hit.case_id == Case.id)
            .join(Capture, Capture.id == Hit.media_capture_id)
            .where(Capture.sha256 == sha256, *active).order_by(Case.id.desc()).limit(1))
        if exact is not None:
            return exact, "sha256"
    closer = Hit.score <= hit.score
    if signal_type(hit.algorithm).higher_is_closer:
        closer = Hit.score >= hit.score
    fuzzy = session.scalar(
        select(Case).join(Hit, Hit.case_id == Case.id)
        .where(Hit.work_id == hit.work_id, Hit.algorithm == hit.algorithm, closer, *active)
        .order_by(Case.id.desc()).limit(1))
    return (fuzzy, "score") if fuzzy is not None else None


def apply_staydown(session: Session, hit: Hit, sha256: str | None) -> str | None:
    """Mark a new pending ``hit`` whose content is ``sha256`` as a known copy of a case, and
    confirm it if the case's policy says so. Returns ``"auto_confirmed"``, ``"known"`` or
    None (not a known copy)."""
    found = known_case(session, hit, sha256)
    if found is None:
        return None
    case, known_by = found
    hit.known_case_id, hit.known_by = case.id, known_by
    session.flush()
    if hit.site_id != case.site_id:
        what = f"the same file (sha256 {sha256})" if known_by == "sha256" else \
            f"a copy of work {hit.work_id} as close as one"
        propose(session, case.id, hit.site_id, "copies",
                f"serves {what} confirmed in case {case.id}: hit {hit.id}")
    policy = case_policy(session, case)
    if hit.quarantined or not (policy.exact if known_by == "sha256" else policy.fuzzy):
        return "known"
    reason = (f"exact copy (sha256 {sha256}) of a copy confirmed in case {case.id}"
              if known_by == "sha256" else
              f"copy of work {hit.work_id} at {hit.algorithm} score {hit.score:g}, as close as "
              f"one confirmed in case {case.id}")
    try:
        with session.begin_nested():
            confirm_hit(session, hit.id, ACTOR, automatic=reason)
    except SwordnetError as exc:  # e.g. the case's custody log is broken: staff decide
        log.warning("hit %d not confirmed automatically: %s", hit.id, exc)
        return "known"
    return "auto_confirmed"
