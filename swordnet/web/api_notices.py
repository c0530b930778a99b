"""``/cases/{id}/notices``, ``/notices`` and ``/contacts``: record a takedown notice (as sent
through staff's own channel, or queued for email), send it, follow its delivery, read its
text, see the rechecks of the URLs it names (``/notices/{id}/urls``), the automatic-notice
policy (``/notices/auto``), and the abuse contacts a site's notices go to. Staff only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.auto_notices import MAX_AFTER_HOURS, last_run, policy, set_policy
from casefiles.contacts import contacts, find_site, refresh, set_contact, suggested_recipient
from casefiles.delivery import resend, send_due, settle_delivered
from casefiles.notices import notice_row, notice_url_checks, record_notice
from casefiles.rdap import rdap_client
from swordnet.accounts.access import BadQuery, get_case, require_staff
from swordnet.core.campaign_scope import notice_condition
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.errors import Conflict, NotFound, Unavailable
from swordnet.core.models import NOTICE_STATUSES, Campaign, Notice, NoticeUrl
from swordnet.web.deps import Caller, DbSession, get_db
from swordnet.web.errors import ERROR_RESPONSES, ErrorOut
from swordnet.web.params import PathId, QueryId, choice_param

router = APIRouter(tags=["notices"], responses=ERROR_RESPONSES | {503: {
    "model": ErrorOut, "description": "No mail server is configured, or it cannot be reached."}})
Db = Annotated[Database, Depends(get_db)]
Domain = Annotated[str, Path(max_length=255, description="The site's domain (host[:port]).")]


class NoticeIn(BaseModel):
    recipient: str | None = Field(None, max_length=320, description=(
        "Who it goes to; default: the site's abuse contact (GET /contacts/{domain})."))
    template: str = Field("dmca-en", max_length=100, description="Notice template.")
    email: bool = Field(False, description=(
        "Queue it for email (sent by POST /notices/{id}/send or the next sender run); "
        "false: it was sent through your own channel and is recorded as sent."))


class NoticeOut(BaseModel):
    id: int
    case_id: int
    recipient: str
    template: str
    delivery: str = Field(description="email, or manual (sent through staff's own channel)")
    status: str = Field(description="queued, sending, sent, failed or uncertain (or answered, "
                        "bounced)")
    message_id: str | None
    created_at: str | None
    sent_at: str | None
    attempts: int
    next_attempt_at: str | None
    server_answer: str | None = Field(description="The mail server's answer to the message.")
    last_error: str | None
    urls: list[str] = Field(description="The URLs the notice names.")


class RecheckOut(BaseModel):
    at: str = Field(description="When the URL was fetched again.")
    outcome: str = Field(description="What the recheck saw (e.g. removed, present, error).")
    reason: str
    capture_id: int | None = Field(description="The capture of the response (GET "
                                   "/captures/{id}).")


class NoticeUrlOut(BaseModel):
    id: int
    url: str
    hit_id: int
    status: str = Field(description="unchecked, present, removed, ...")
    removed_at: datetime | None
    last_checked_at: datetime | None
    checks: list[RecheckOut] = Field(description="Every recheck of the URL, oldest first.")


class SettleIn(BaseModel):
    evidence: str = Field(max_length=2000, description=(
        "Where the delivery was confirmed (e.g. the mail server's log line)."))


class ContactIn(BaseModel):
    email: str | None = Field(max_length=320, description=(
        "Staff's address for the site's notices; null removes it."))


class AutoNoticesIn(BaseModel):
    enabled: bool | None = Field(None, description="Queue each open case's first notice "
                                 "automatically; null leaves it as it is.")
    template: str | None = Field(None, max_length=100, description="Their template.")
    after_hours: int | None = Field(None, ge=0, le=MAX_AFTER_HOURS, description=(
        "Hours after a case opened before its notice is queued."))


class SkippedCase(BaseModel):
    case_id: int
    reason: str


class AutoNoticesOut(BaseModel):
    enabled: bool
    template: str
    after_hours: int
    last_run_at: str | None = Field(description="When the scheduler's sender last applied it.")
    last_queued: list[int] = Field(description="The notices that run queued.")
    last_skipped: list[SkippedCase] = Field(description="The cases it skipped, and why (no "
                                            "known abuse contact, say).")


class ContactOut(BaseModel):
    source: str = Field(description="staff, rdap-domain or rdap-ip")
    subject: str = Field(description="What was looked up (domain or IP address).")
    outcome: str = Field(description="set, found, none or failed")
    email: str | None
    detail: str | None
    looked_up_at: str


def notice_out(session: Session, notice: Notice) -> NoticeOut:
    urls = list(session.scalars(select(NoticeUrl.url).where(NoticeUrl.notice_id == notice.id)
                                .order_by(NoticeUrl.id)))
    return NoticeOut(**notice_row(notice), urls=urls)


async def app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Config = Annotated[Settings, Depends(app_settings)]


@router.post("/cases/{case_id}/notices", response_model=NoticeOut, status_code=201)
def create_notice(case_id: PathId, body: NoticeIn, session: DbSession, caller: Caller,
                  settings: Config) -> NoticeOut:
    """Render a notice naming every confirmed hit of the case, each URL with the sha256 of
    its evidence, and record it (sent, or queued for email). Staff only."""
    require_staff(caller)
    get_case(session, caller, case_id)
    sender = None
    if body.email:
        if settings.smtp is None:
            raise Unavailable("no mail server is configured (SWORDNET_SMTP_HOST, "
                              "SWORDNET_SMTP_FROM); record the notice with email: false")
        sender = settings.smtp.sender
    recipient = body.recipient if body.recipient is not None else \
        suggested_recipient(session, case_id)
    notice = record_notice(session, case_id, recipient, body.template, caller.username,
                           settings.templates_dir, sender=sender)
    session.flush()
    return notice_out(session, notice)


@router.get("/notices", response_model=list[NoticeOut], summary="List notices")
def list_notices(session: DbSession, caller: Caller, case_id: QueryId = None,
                 campaign_id: QueryId = None,
                 status: Annotated[str | None, choice_param(NOTICE_STATUSES,
                                                            "Delivery state.")] = None,
                 ) -> list[NoticeOut]:
    """Notices, newest first (at most 500); with ``campaign_id``, the notices its report
    counts (sent within its window for cases on its sites). Staff only."""
    require_staff(caller)
    query = select(Notice).order_by(Notice.id.desc()).limit(500)
    if case_id is not None:
        query = query.where(Notice.case_id == case_id)
    if campaign_id is not None:
        if session.get(Campaign, campaign_id) is None:
            raise NotFound(f"no campaign with id {campaign_id}")
        query = query.where(notice_condition(campaign_id))
    if status is not None:
        if status not in NOTICE_STATUSES:
            raise BadQuery(f"status {status!r} is not one of {', '.join(NOTICE_STATUSES)}")
        query = query.where(Notice.status == status)
    return [notice_out(session, notice) for notice in session.scalars(query)]


def _notice(session: Session, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"no notice with id {notice_id}")
    return notice


def _auto_out(session: Session) -> AutoNoticesOut:
    current = policy(session)
    ran_at, queued, skipped = last_run(session)
    return AutoNoticesOut(
        enabled=current.enabled, template=current.template, after_hours=current.after_hours,
        last_run_at=ran_at.isoformat() if ran_at is not None else None, last_queued=queued,
        last_skipped=[SkippedCase(case_id=s["case_id"], reason=s["reason"]) for s in skipped])


@router.get("/notices/auto", response_model=AutoNoticesOut)
def show_auto_notices(session: DbSession, caller: Caller) -> AutoNoticesOut:
    """The automatic-notice policy and what its last run did. Staff only."""
    require_staff(caller)
    return _auto_out(session)


@router.put("/notices/auto", response_model=AutoNoticesOut)
def put_auto_notices(body: AutoNoticesIn, session: DbSession, caller: Caller,
                     settings: Config) -> AutoNoticesOut:
    """Change the automatic-notice policy (fields left out or null stay as they are).
    Staff only."""
    require_staff(caller)
    set_policy(session, caller.username, settings.templates_dir, enabled=body.enabled,
               template=body.template, after_hours=body.after_hours)
    session.flush()
    return _auto_out(session)


@router.get("/notices/{notice_id}", response_model=NoticeOut)
def show_notice(notice_id: PathId, session: DbSession, caller: Caller) -> NoticeOut:
    """One notice and its delivery. Staff only."""
    require_staff(caller)
    return notice_out(session, _notice(session, notice_id))


@router.get("/notices/{notice_id}/text", response_class=Response,
            summary="A notice's text",
            responses={200: {"content": {"text/plain": {}},
                             "description": "The notice as it was rendered and sent."}})
def notice_text(notice_id: PathId, session: DbSession, caller: Caller) -> PlainTextResponse:
    """The notice as it was rendered and sent. Staff only."""
    require_staff(caller)
    return PlainTextResponse(_notice(session, notice_id).body or "")


@router.get("/notices/{notice_id}/urls", response_model=list[NoticeUrlOut],
            summary="A notice's URLs and their rechecks")
def notice_urls(notice_id: PathId, session: DbSession, caller: Caller) -> list[NoticeUrlOut]:
    """The URLs the notice names, what the last recheck saw of each, and every recheck
    (``swordnet notices show``). Staff only."""
    require_staff(caller)
    return [NoticeUrlOut.model_validate(row) for row in notice_url_checks(session, notice_id)]


@router.post("/notices/{notice_id}/send", response_model=NoticeOut)
def send_notice(notice_id: PathId, session: DbSession, caller: Caller, db: Db,
                settings: Config) -> NoticeOut:
    """Send a queued email notice now; the answer shows what came of it (sent, queued for a
    retry, failed or uncertain, with the server's answer or the error). Staff only."""
    require_staff(caller)
    notice = _notice(session, notice_id)
    if notice.delivery != "email" or notice.status != "queued":
        raise Conflict(f"notice {notice_id} is {notice.status} ({notice.delivery}); only a "
                       "queued email notice can be sent")
    smtp = settings.smtp
    if smtp is None:
        raise Unavailable("no mail server is configured (SWORDNET_SMTP_HOST, SWORDNET_SMTP_FROM)")
    session.rollback()  # the sender commits its own steps
    send_due(db, smtp, notice_ids=[notice_id])
    return notice_out(session, _notice(session, notice_id))


@router.post("/notices/{notice_id}/resend", response_model=NoticeOut)
def resend_notice(notice_id: PathId, session: DbSession, caller: Caller) -> NoticeOut:
    """Queue a failed or uncertain email notice again (same Message-ID). Staff only."""
    require_staff(caller)
    return notice_out(session, resend(session, notice_id, caller.username))


@router.post("/notices/{notice_id}/settle", response_model=NoticeOut)
def settle_notice(notice_id: PathId, body: SettleIn, session: DbSession,
                  caller: Caller) -> NoticeOut:
    """Record an uncertain notice as delivered (its Message-ID found accepted in the mail
    server's log). Staff only."""
    require_staff(caller)
    return notice_out(session, settle_delivered(session, notice_id, caller.username,
                                                body.evidence))


def _contacts(session: Session, domain: str) -> list[ContactOut]:
    return [ContactOut(source=c.source, subject=c.subject, outcome=c.outcome, email=c.email,
                       detail=c.detail, looked_up_at=c.looked_up_at.isoformat())
            for c in contacts(session, find_site(session, domain))]


@router.get("/contacts/{domain}", response_model=list[ContactOut])
def show_contacts(domain: Domain, session: DbSession, caller: Caller) -> list[ContactOut]:
    """A site's abuse contacts as stored, most preferred first. Staff only."""
    require_staff(caller)
    return _contacts(session, domain)


@router.post("/contacts/{domain}/lookup", response_model=list[ContactOut])
def look_up_contacts(domain: Domain, session: DbSession, caller: Caller, db: Db,
                     settings: Config) -> list[ContactOut]:
    """Ask RDAP about the site's domain and IP addresses again and store what came of each
    question. Staff only."""
    require_staff(caller)
    find_site(session, domain)
    session.rollback()
    refresh(db, domain, rdap_client(settings))
    return _contacts(session, domain)


@router.put("/contacts/{domain}", response_model=list[ContactOut])
def put_contact(domain: Domain, body: ContactIn, session: DbSession,
                caller: Caller) -> list[ContactOut]:
    """Set (or with null remove) staff's address for the site's notices. Staff only."""
    require_staff(caller)
    set_contact(session, find_site(session, domain), body.email, caller.username)
    session.flush()
    return _contacts(session, domain)
