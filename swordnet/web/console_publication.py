"""Console forms on a case page for publishing it: staff publish (summary and public fields)
and unpublish, and record a holder's consent received offline; a rights holder gives or
withdraws their own consent. Each form carries the session's CSRF token; a refusal shows
the case page again with its one-line reason (:mod:`casefiles.publication` decides)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from casefiles.publication import give_consent, publish, unpublish, withdraw_consent
from swordnet.accounts import access
from swordnet.core.errors import Forbidden, SwordnetError
from swordnet.core.models import Case, RightsHolder
from swordnet.web.console_base import Signed, Viewer, check_form_csrf
from swordnet.web.console_pages import case_page_response
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Form(max_length=200)]
Name = Annotated[str, Form(max_length=200)]


def _act(request: Request, session: Session, viewer: Viewer, case_id: int,
         action: Callable[[Case], object]) -> Response:
    """Run ``action`` on the case; back to its page, or the page again with the refusal."""
    case = access.get_case(session, viewer.principal, case_id)
    try:
        action(case)
    except SwordnetError as exc:
        session.rollback()
        return case_page_response(request, session, viewer, case_id, status=exc.status,
                                  error=str(exc))
    session.commit()
    return RedirectResponse(f"/cases/{case_id}#publication", status_code=303)


def _staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("Only staff publish and unpublish cases.")


def _holder_acting(session: Session, viewer: Viewer, named: str) -> str:
    """Whose consent a form is about: the holder's own, or for staff the holder named."""
    if viewer.is_staff:
        return named
    holder = session.get(RightsHolder, viewer.principal.holder_id)
    assert holder is not None
    return holder.name


@router.post("/cases/{case_id}/publish")
def case_publish(case_id: PathId, request: Request, session: DbSession, viewer: Signed,
                 summary: Annotated[str, Form(max_length=4000)] = "",
                 fields: Annotated[list[str] | None, Form()] = None,
                 csrf_token: Token = "") -> Response:
    check_form_csrf(request, viewer, csrf_token)
    _staff(viewer)
    return _act(request, session, viewer, case_id, lambda case: publish(
        session, case, summary, fields or [], viewer.principal.username))


@router.post("/cases/{case_id}/unpublish")
def case_unpublish(case_id: PathId, request: Request, session: DbSession, viewer: Signed,
                   reason: Annotated[str, Form(max_length=2000)] = "",
                   csrf_token: Token = "") -> Response:
    check_form_csrf(request, viewer, csrf_token)
    _staff(viewer)
    return _act(request, session, viewer, case_id, lambda case: unpublish(
        session, case, viewer.principal.username, reason))


@router.post("/cases/{case_id}/consent")
def case_consent(case_id: PathId, request: Request, session: DbSession, viewer: Signed,
                 holder: Name = "", reference: Annotated[str, Form(max_length=2000)] = "",
                 csrf_token: Token = "") -> Response:
    """A holder consents to publishing; staff record consent received offline."""
    check_form_csrf(request, viewer, csrf_token)
    name = _holder_acting(session, viewer, holder)
    method = "offline" if viewer.is_staff else "console"
    return _act(request, session, viewer, case_id, lambda case: give_consent(
        session, case, name, viewer.principal.username, method, reference))


@router.post("/cases/{case_id}/consent/withdraw")
def case_consent_withdraw(case_id: PathId, request: Request, session: DbSession,
                          viewer: Signed, holder: Name = "",
                          csrf_token: Token = "") -> Response:
    check_form_csrf(request, viewer, csrf_token)
    name = _holder_acting(session, viewer, holder)
    return _act(request, session, viewer, case_id, lambda case: withdraw_consent(
        session, case, name, viewer.principal.username))
