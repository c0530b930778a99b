"""Console forms on a case page for staff: record a notice (as sent, or queued for email),
send or resend it, and set or look up the site's abuse contact. Each form carries the
session's CSRF token; a refusal shows the case page again with its one-line reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from casefiles.contacts import refresh, set_contact
from casefiles.delivery import resend, send_due
from casefiles.notices import record_notice
from casefiles.rdap import rdap_client
from swordnet.accounts import access
from swordnet.core.config import Settings
from swordnet.core.errors import Conflict, Forbidden, NotFound, SwordnetError, Unavailable
from swordnet.core.models import Notice
from swordnet.web.console_base import Signed, Viewer, check_form_csrf
from swordnet.web.console_pages import case_page_response
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=320)]
Token = Annotated[str, Form(max_length=200)]


def _staff_form(request: Request, viewer: Viewer, csrf_token: str) -> Settings:
    check_form_csrf(request, viewer, csrf_token)
    if not viewer.is_staff:
        raise Forbidden("Only staff send notices and edit contacts.")
    settings: Settings = request.app.state.settings
    return settings


def _act(request: Request, session: Session, viewer: Viewer, case_id: int,
         action: Callable[[], object]) -> Response:
    """Run ``action``; back to the case page, or the page again with the refusal."""
    try:
        action()
    except SwordnetError as exc:
        session.rollback()
        return case_page_response(request, session, viewer, case_id, status=exc.status,
                                  error=str(exc))
    session.commit()
    return RedirectResponse(f"/cases/{case_id}#notices", status_code=303)


@router.post("/cases/{case_id}/notices")
def notice_record(case_id: PathId, request: Request, session: DbSession, viewer: Signed,
                  recipient: Text = "", template: Annotated[str, Form(max_length=100)] = "",
                  email: Annotated[str, Form(max_length=10)] = "",
                  csrf_token: Token = "") -> Response:
    settings = _staff_form(request, viewer, csrf_token)
    access.get_case(session, viewer.principal, case_id)

    def record() -> None:
        sender = None
        if email:
            if settings.smtp is None:
                raise Unavailable("No mail server is configured (SWORDNET_SMTP_HOST, "
                                  "SWORDNET_SMTP_FROM); record the notice as sent instead.")
            sender = settings.smtp.sender
        record_notice(session, case_id, recipient, template or "dmca-en",
                      viewer.principal.username, settings.templates_dir, sender=sender)

    return _act(request, session, viewer, case_id, record)


def _email_notice(session: Session, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"no notice with id {notice_id}")
    return notice


@router.post("/notices/{notice_id}/send")
def notice_send(notice_id: PathId, request: Request, session: DbSession, viewer: Signed,
                csrf_token: Token = "") -> Response:
    settings = _staff_form(request, viewer, csrf_token)
    notice = _email_notice(session, notice_id)
    case_id = notice.case_id

    def send() -> None:
        if notice.delivery != "email" or notice.status != "queued":
            raise Conflict(f"notice {notice_id} is {notice.status}; only a queued email "
                           "notice can be sent")
        if settings.smtp is None:
            raise Unavailable("No mail server is configured (SWORDNET_SMTP_HOST).")
        session.rollback()  # the sender commits its own steps
        report = send_due(request.app.state.db, settings.smtp, notice_ids=[notice_id])
        if report.stopped:
            raise Unavailable(f"Notice {notice_id} not sent: {report.stopped}")

    return _act(request, session, viewer, case_id, send)


@router.post("/notices/{notice_id}/resend")
def notice_resend(notice_id: PathId, request: Request, session: DbSession, viewer: Signed,
                  csrf_token: Token = "") -> Response:
    _staff_form(request, viewer, csrf_token)
    case_id = _email_notice(session, notice_id).case_id
    return _act(request, session, viewer, case_id,
                lambda: resend(session, notice_id, viewer.principal.username))


@router.post("/cases/{case_id}/contact")
def contact_set(case_id: PathId, request: Request, session: DbSession, viewer: Signed,
                email: Text = "", csrf_token: Token = "") -> Response:
    _staff_form(request, viewer, csrf_token)
    case = access.get_case(session, viewer.principal, case_id)
    return _act(request, session, viewer, case_id, lambda: set_contact(
        session, case.site, email.strip() or None, viewer.principal.username))


@router.post("/cases/{case_id}/contact/lookup")
def contact_lookup(case_id: PathId, request: Request, session: DbSession, viewer: Signed,
                   csrf_token: Token = "") -> Response:
    settings = _staff_form(request, viewer, csrf_token)
    domain = access.get_case(session, viewer.principal, case_id).site.domain
    session.rollback()
    return _act(request, session, viewer, case_id, lambda: refresh(
        request.app.state.db, domain, rdap_client(settings)))
