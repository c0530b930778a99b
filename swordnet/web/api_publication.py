"""``/cases/{id}/publication`` and ``/cases/{id}/consent``: publishing a case on the public
pages, and rights holders' consent to it.

Staff publish (summary and public fields), change and unpublish a closed or transferred
case, and record a holder's consent received offline (with a reference). A rights holder
gives or withdraws their own consent and sees only their own consent; the rules are in
:mod:`casefiles.publication`.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from casefiles.publication import (
    MAX_SUMMARY,
    PUBLIC_FIELDS,
    consent_rows,
    give_consent,
    is_published,
    publication_of,
    publish,
    unpublish,
    withdraw_consent,
)
from swordnet.accounts.access import get_case, require_staff
from swordnet.accounts.users import Principal
from swordnet.core.errors import BadInput
from swordnet.core.models import Case, RightsHolder
from swordnet.web.deps import Caller, DbSession
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.params import PathId

router = APIRouter(prefix="/cases", tags=["publication"], responses=ERROR_RESPONSES)


class ConsentOut(BaseModel):
    holder: str
    given: bool
    given_by: str | None = None
    given_at: datetime | None = None
    method: str | None = Field(None, description="console, api, cli or offline.")
    reference: str | None = None


class PublicationOut(BaseModel):
    case_id: int
    published: bool
    summary: str | None
    fields: list[str]
    published_at: datetime | None
    published_by: str | None
    unpublished_at: datetime | None
    consents: list[ConsentOut] = Field(description="Each rights holder of the case (for a "
                                       "rights holder: only their own) and their consent.")


class PublishIn(BaseModel):
    summary: str = Field(max_length=MAX_SUMMARY * 2, description="The public summary "
                         f"(plain text, at most {MAX_SUMMARY} characters once trimmed).")
    fields: list[str] = Field(default_factory=list, max_length=len(PUBLIC_FIELDS),
                              description=f"Public fields: any of {', '.join(PUBLIC_FIELDS)}.")


class UnpublishIn(BaseModel):
    reason: str = Field(max_length=2000)


class ConsentIn(BaseModel):
    holder: str | None = Field(None, max_length=200, description="Staff: the holder whose "
                               "consent was received offline. Ignored for rights holders.")
    reference: str | None = Field(None, max_length=2000, description="Staff: the letter, "
                                  "email or call the consent was given in (required).")


def publication_out(session: Session, principal: Principal, case: Case) -> PublicationOut:
    publication = publication_of(session, case)
    consents = [
        ConsentOut(holder=row["holder"], given=row["consent"] is not None,
                   **({"given_by": row["consent"].given_by, "given_at": row["consent"].given_at,
                       "method": row["consent"].method, "reference": row["consent"].reference}
                      if row["consent"] is not None else {}))
        for row in consent_rows(session, case)
        if principal.is_staff or row["holder_id"] == principal.holder_id]
    return PublicationOut(
        case_id=case.id, published=is_published(publication),
        summary=publication.summary if publication else None,
        fields=list(publication.fields) if publication else [],
        published_at=publication.published_at if publication else None,
        published_by=publication.published_by if publication else None,
        unpublished_at=publication.unpublished_at if publication else None,
        consents=consents)


def _acting_holder(session: Session, principal: Principal, body: ConsentIn) -> str:
    if principal.is_staff:
        if not body.holder:
            raise BadInput("field holder: name the rights holder whose consent you record")
        return body.holder
    holder = session.get(RightsHolder, principal.holder_id)
    assert holder is not None
    return holder.name


@router.get("/{case_id}/publication", summary="A case's publication and consents")
def get_publication(case_id: PathId, session: DbSession, caller: Caller) -> PublicationOut:
    """Whether the case is published, its public summary and fields, and each holder's consent
    (a rights holder sees only their own)."""
    return publication_out(session, caller, get_case(session, caller, case_id))


@router.put("/{case_id}/publication", summary="Publish a case (staff)")
def put_publication(case_id: PathId, body: PublishIn, session: DbSession,
                    caller: Caller) -> PublicationOut:
    """Publish the case, or change its summary and fields; 409 unless it is closed or
    transferred and every holder consented, 422 for an unknown field or empty summary."""
    require_staff(caller)
    case = get_case(session, caller, case_id)
    publish(session, case, body.summary, body.fields, caller.username)
    return publication_out(session, caller, case)


@router.post("/{case_id}/publication/withdraw", summary="Unpublish a case (staff)")
def withdraw_publication(case_id: PathId, body: UnpublishIn, session: DbSession,
                         caller: Caller) -> PublicationOut:
    """Take the case off the public pages, with the reason recorded in its custody log."""
    require_staff(caller)
    case = get_case(session, caller, case_id)
    unpublish(session, case, caller.username, body.reason)
    return publication_out(session, caller, case)


@router.post("/{case_id}/consent", summary="Consent to publishing a case")
def post_consent(case_id: PathId, body: ConsentIn, session: DbSession,
                 caller: Caller) -> PublicationOut:
    """A rights holder consents for themselves; staff record a named holder's consent
    received offline, with its reference."""
    case = get_case(session, caller, case_id)
    give_consent(session, case, _acting_holder(session, caller, body), caller.username,
                 "offline" if caller.is_staff else "api", body.reference)
    return publication_out(session, caller, case)


@router.post("/{case_id}/consent/withdraw", summary="Withdraw consent to publishing")
def withdraw_consent_endpoint(case_id: PathId, body: ConsentIn, session: DbSession,
                              caller: Caller) -> PublicationOut:
    """Withdrawing a consent unpublishes a published case."""
    case = get_case(session, caller, case_id)
    withdraw_consent(session, case, _acting_holder(session, caller, body), caller.username)
    return publication_out(session, caller, case)
