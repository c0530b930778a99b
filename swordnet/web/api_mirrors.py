"""Mirrors and staydown: ``/cases/{id}/mirrors`` (the sites linked to a case as its
mirrors), ``/mirror-proposals`` (sites proposed as mirrors, accepted or declined by staff)
and ``/staydown/policy`` (whether reappearing copies are confirmed without review, for the
instance and per case).

Rights holders may list the mirrors of cases they see; everything else here is staff work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.lifecycle import case_sites, link_mirror
from casefiles.mirror_proposals import accept, decline, list_proposals
from casefiles.staydown import (
    Policy,
    case_policy,
    instance_policy,
    set_case_policy,
    set_instance_policy,
)
from swordnet.accounts.access import BadQuery, get_case, require_staff
from swordnet.core.models import MIRROR_PROPOSAL_STATUSES, Case, MirrorProposal
from swordnet.web.deps import Caller, DbSession
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.params import PathId, QueryId, choice_param

router = APIRouter(tags=["mirrors"], responses=ERROR_RESPONSES)
OnOff = Literal["on", "off", "default"]


class MirrorOut(BaseModel):
    site_id: int
    domain: str


class MirrorIn(BaseModel):
    domain: str = Field(min_length=1, max_length=2000, description=(
        "The mirror's host (host[:port]) or a URL on it."))


class ReasonOut(BaseModel):
    kind: str = Field(description="What kind of evidence: shared copies, IP address, "
                      "redirect or page template.")
    text: str


class ProposalOut(BaseModel):
    id: int
    case_id: int
    case_site: str = Field(description="The case's own site.")
    site: str = Field(description="The site proposed as its mirror.")
    status: str = Field(description="proposed, accepted or declined")
    reasons: list[ReasonOut]
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class PolicyOut(BaseModel):
    exact: bool = Field(description="Reappearing exact copies (same sha256) are confirmed "
                        "automatically.")
    fuzzy: bool = Field(description="Reappearing copies of the same work at a score at least "
                        "as close are confirmed automatically.")


class CasePolicyOut(PolicyOut):
    case_id: int
    own_exact: bool | None = Field(description="The case's own setting; null follows the "
                                   "instance.")
    own_fuzzy: bool | None


class InstancePolicyOut(PolicyOut):
    overrides: list[CasePolicyOut] = Field(description="Cases with a setting of their own.")


class InstancePolicyIn(BaseModel):
    exact: bool | None = Field(None, description="null leaves it as it is.")
    fuzzy: bool | None = None


class CasePolicyIn(BaseModel):
    exact: OnOff | None = Field(None, description="on, off, default (follow the instance), "
                                "or null to leave it as it is.")
    fuzzy: OnOff | None = None


def _mirrors(session: Session, case: Case) -> list[MirrorOut]:
    return [MirrorOut(site_id=site.id, domain=site.domain)
            for site in case_sites(session, case)[1:]]


def proposal_out(proposal: MirrorProposal) -> ProposalOut:
    return ProposalOut(id=proposal.id, case_id=proposal.case_id,
                       case_site=proposal.case.site.domain, site=proposal.site.domain,
                       status=proposal.status,
                       reasons=[ReasonOut(kind=str(r.get("kind", "")), text=str(r["text"]))
                                for r in proposal.reasons],
                       created_at=proposal.created_at, decided_by=proposal.decided_by,
                       decided_at=proposal.decided_at)


def _case_policy_out(session: Session, case: Case) -> CasePolicyOut:
    policy: Policy = case_policy(session, case)
    return CasePolicyOut(exact=policy.exact, fuzzy=policy.fuzzy, case_id=case.id,
                         own_exact=case.auto_confirm_exact, own_fuzzy=case.auto_confirm_fuzzy)


def _instance_out(session: Session) -> InstancePolicyOut:
    policy = instance_policy(session)
    overrides = session.scalars(select(Case).where(
        Case.auto_confirm_exact.is_not(None) | Case.auto_confirm_fuzzy.is_not(None))
        .order_by(Case.id))
    return InstancePolicyOut(exact=policy.exact, fuzzy=policy.fuzzy,
                             overrides=[_case_policy_out(session, c) for c in overrides])


@router.get("/cases/{case_id}/mirrors", response_model=list[MirrorOut],
            summary="List a case's mirrors")
def list_case_mirrors(case_id: PathId, session: DbSession, caller: Caller) -> list[MirrorOut]:
    """The sites linked to the case as its mirrors (their confirmed hits join it)."""
    return _mirrors(session, get_case(session, caller, case_id))


@router.post("/cases/{case_id}/mirrors", response_model=list[MirrorOut], status_code=201,
             summary="Link a mirror to a case")
def link_case_mirror(case_id: PathId, body: MirrorIn, session: DbSession,
                     caller: Caller) -> list[MirrorOut]:
    """Link a known mirror to the case (a custody-log event); answers the case's mirrors.
    Staff only."""
    require_staff(caller)
    case = get_case(session, caller, case_id)
    link_mirror(session, case, body.domain, caller.username)
    session.flush()
    return _mirrors(session, case)


@router.get("/mirror-proposals", response_model=list[ProposalOut],
            summary="List mirror proposals")
def list_mirror_proposals(
    session: DbSession, caller: Caller, case_id: QueryId = None,
    status: Annotated[str | None, choice_param(MIRROR_PROPOSAL_STATUSES,
                                               "Only proposals in this state; all if left "
                                               "out.")] = None,
) -> list[ProposalOut]:
    """Sites proposed as mirrors of a case (they serve its copies, share its IP address,
    redirect to it or share its page template), oldest first. Staff only."""
    require_staff(caller)
    if status is not None and status not in MIRROR_PROPOSAL_STATUSES:
        raise BadQuery(f"status {status!r} is not one of {', '.join(MIRROR_PROPOSAL_STATUSES)}")
    return [proposal_out(p) for p in list_proposals(session, status, case_id)]


@router.post("/mirror-proposals/{proposal_id}/accept", response_model=ProposalOut,
             summary="Accept a mirror proposal")
def accept_proposal(proposal_id: PathId, session: DbSession, caller: Caller) -> ProposalOut:
    """Link the proposed site to its case as a mirror. Staff only."""
    require_staff(caller)
    proposal = accept(session, proposal_id, caller.username)
    session.flush()
    return proposal_out(proposal)


@router.post("/mirror-proposals/{proposal_id}/decline", response_model=ProposalOut,
             summary="Decline a mirror proposal")
def decline_proposal(proposal_id: PathId, session: DbSession, caller: Caller) -> ProposalOut:
    """Refuse the proposal; it is not raised again for this site and case. Staff only."""
    require_staff(caller)
    proposal = decline(session, proposal_id, caller.username)
    session.flush()
    return proposal_out(proposal)


@router.get("/staydown/policy", response_model=InstancePolicyOut, tags=["staydown"],
            summary="Show the staydown policy")
def show_staydown_policy(session: DbSession, caller: Caller) -> InstancePolicyOut:
    """The instance's automatic-confirmation defaults and the cases that override them.
    Staff only."""
    require_staff(caller)
    return _instance_out(session)


@router.put("/staydown/policy", response_model=InstancePolicyOut, tags=["staydown"],
            summary="Set the staydown policy")
def put_staydown_policy(body: InstancePolicyIn, session: DbSession,
                        caller: Caller) -> InstancePolicyOut:
    """Change the instance's defaults (null leaves one as it is). Staff only."""
    require_staff(caller)
    set_instance_policy(session, caller.username, body.exact, body.fuzzy)
    return _instance_out(session)


@router.get("/cases/{case_id}/staydown-policy", response_model=CasePolicyOut,
            tags=["staydown"], summary="Show a case's staydown policy")
def show_case_staydown(case_id: PathId, session: DbSession, caller: Caller) -> CasePolicyOut:
    """The policy for copies of this case: its own settings where set, else the
    instance's. Staff only."""
    require_staff(caller)
    return _case_policy_out(session, get_case(session, caller, case_id))


@router.put("/cases/{case_id}/staydown-policy", response_model=CasePolicyOut,
            tags=["staydown"], summary="Set a case's staydown policy")
def put_case_staydown(case_id: PathId, body: CasePolicyIn, session: DbSession,
                      caller: Caller) -> CasePolicyOut:
    """Override the instance's defaults for this case (``default`` follows the instance
    again). Staff only."""
    require_staff(caller)
    case = get_case(session, caller, case_id)
    set_case_policy(session, case, body.exact, body.fuzzy)
    return _case_policy_out(session, case)
