"""Sites proposed as mirrors of a case, for staff to accept (linking the mirror) or decline.

A site is proposed when it serves copies confirmed in a case (:mod:`casefiles.staydown`), or,
checked when a crawl of it ends (:func:`propose_from_run`), when it shares an IP address with
a case's site, its start page redirects to that site, or its start page has the same template
(:mod:`matching.page_template`) as the case site's last crawled one. A proposal gathers
one reason per kind of evidence; a declined proposal is not raised again for the same site
and case, and nothing is linked until staff accept (:func:`accept`, which is
:func:`casefiles.lifecycle.link_mirror`: a ``mirror_linked`` custody event).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.lifecycle import get_case, link_mirror
from matching.page_template import same_template
from swordnet.core.db import lock_for_writing
from swordnet.core.errors import Conflict, NotFound
from swordnet.core.models import Case, CaseMirror, CrawlRun, MirrorProposal
from swordnet.core.timeutil import utcnow


def propose(session: Session, case_id: int, site_id: int, kind: str,
            text: str) -> MirrorProposal | None:
    """Propose ``site_id`` as a mirror of ``case_id`` for this reason (``kind``: ``copies``
    or ``shared_ip``), or add the reason to the existing proposal. Nothing is proposed for the
    case's own site or a site already linked as a mirror."""
    case = session.get(Case, case_id)
    if case is None or case.site_id == site_id or case.status == "closed":
        return None
    if session.scalar(select(CaseMirror.case_id).where(CaseMirror.site_id == site_id)):
        return None
    proposal = session.scalar(select(MirrorProposal).where(
        MirrorProposal.case_id == case_id, MirrorProposal.site_id == site_id))
    if proposal is None:
        proposal = MirrorProposal(case_id=case_id, site_id=site_id, status="proposed",
                                  reasons=[], created_at=utcnow())
        session.add(proposal)
    if all(reason.get("kind") != kind for reason in proposal.reasons):
        proposal.reasons = [*proposal.reasons, {"kind": kind, "text": text}]
    session.flush()
    return proposal


def _last_template(session: Session, site_id: int) -> str | None:
    """The start-page template of the site's latest crawl that recorded one."""
    for stats in session.scalars(select(CrawlRun.stats).where(CrawlRun.site_id == site_id)
                                 .order_by(CrawlRun.id.desc()).limit(10)):
        if stats.get("start_template"):
            return str(stats["start_template"])
    return None


def propose_from_run(session: Session, run: CrawlRun) -> None:
    """Propose the crawled site as a mirror of each active case whose site shares an IP
    address with it, which its start page redirected to, or whose start page has the same
    template as its own."""
    site = run.site
    template = run.stats.get("start_template")
    redirected_to = run.stats.get("start_redirected_to")
    for case in session.scalars(select(Case).where(Case.status != "closed",
                                                   Case.site_id != site.id)):
        other = case.site
        shared = sorted(set(site.ips) & set(other.ips))
        if shared:
            propose(session, case.id, site.id, "shared_ip",
                    f"shares IP address {', '.join(shared)} with {other.domain}")
        if redirected_to == other.domain:
            propose(session, case.id, site.id, "redirect",
                    f"its start page redirects to {other.domain} (run {run.id})")
        theirs = _last_template(session, other.id) if template else None
        if template and theirs and same_template(template, theirs):
            propose(session, case.id, site.id, "template",
                    f"its start page has the same template as {other.domain}'s (run {run.id})")


def list_proposals(session: Session, status: str | None = "proposed",
                   case_id: int | None = None) -> list[MirrorProposal]:
    query = select(MirrorProposal).order_by(MirrorProposal.id)
    if status is not None:
        query = query.where(MirrorProposal.status == status)
    if case_id is not None:
        query = query.where(MirrorProposal.case_id == case_id)
    return list(session.scalars(query))


def _open_proposal(session: Session, proposal_id: int) -> MirrorProposal:
    lock_for_writing(session)
    proposal = session.get(MirrorProposal, proposal_id, with_for_update=True,
                           populate_existing=True)
    if proposal is None:
        raise NotFound(f"no mirror proposal with id {proposal_id} "
                       "(see `swordnet staydown proposals`)")
    if proposal.status != "proposed":
        raise Conflict(f"mirror proposal {proposal_id} is already {proposal.status}")
    return proposal


def accept(session: Session, proposal_id: int, actor: str) -> MirrorProposal:
    """Link the proposed site to its case as a mirror."""
    proposal = _open_proposal(session, proposal_id)
    link_mirror(session, get_case(session, proposal.case_id), proposal.site.domain, actor)
    proposal.status, proposal.decided_by, proposal.decided_at = "accepted", actor, utcnow()
    return proposal


def decline(session: Session, proposal_id: int, actor: str) -> MirrorProposal:
    """Refuse the proposal; it is not raised again."""
    proposal = _open_proposal(session, proposal_id)
    proposal.status, proposal.decided_by, proposal.decided_at = "declined", actor, utcnow()
    return proposal


def proposal_row(proposal: MirrorProposal) -> dict[str, Any]:
    """What lists show of a proposal (its reasons as one line)."""
    return {"id": proposal.id, "case_id": proposal.case_id, "site": proposal.site.domain,
            "case_site": proposal.case.site.domain, "status": proposal.status,
            "reasons": "; ".join(r["text"] for r in proposal.reasons),
            "created_at": proposal.created_at.isoformat(timespec="seconds"),
            "decided_by": proposal.decided_by}
