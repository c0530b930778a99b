"""Takedown notices as sent, the URLs each one names, and what rechecks of those URLs saw.

Recording a notice snapshots the case's confirmed hits as the notice's URLs. The recheck
job fetches every URL under an open notice; each check is kept (with the capture of the
response) and a change of state (a copy removed, or back after removal) is a custody-log
event on the case, so the case file shows when the site complied and with what evidence.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.custody import append_event
from casefiles.lifecycle import allowed_next, transition
from casefiles.templates import check_template, notice_context, render_notice
from matching.registry import signal_type
from swordnet.core.db import lock_for_writing
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import Capture, Case, Hit, Notice, NoticeUrl, RecheckResult
from swordnet.core.timeutil import utcnow

# Notices whose URLs are rechecked: those that went out.
OPEN_NOTICE_STATUSES = ("sent", "answered")
# HTTP statuses that mean the copy was taken down (gone, not found, unavailable for legal
# reasons); any other failure leaves the question open ("undecided").
REMOVED_STATUSES = (404, 410, 451)
RECHECK_ACTOR = "recheck"


def record_notice(session: Session, case_id: int, recipient: str, template: str,
                  actor: str, templates: Path | None = None, *, sender: str | None = None,
                  now: datetime | None = None) -> Notice:
    """Render ``template`` for every confirmed hit of the case and record the notice to
    ``recipient`` (``templates``: a directory whose files override the built-in ones).

    Without ``sender`` the notice was sent through staff's own channel: it is recorded as
    sent and the case becomes ``notice_sent``. With ``sender`` (the From address) it is
    queued for email (:mod:`casefiles.delivery`), with its Message-ID fixed now; the case
    becomes ``notice_sent`` once the mail server accepts it. The case is locked before its
    hits are read, so an undo comes wholly before or after."""
    lock_for_writing(session)
    case = session.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        raise NotFound(f"no case with id {case_id} (see `swordnet cases list`)")
    check_template(templates, template)
    if case.status == "closed":
        raise Conflict(f"case {case_id} is closed; no notice can be sent for it")
    if not recipient.strip():
        raise BadInput("a notice needs a recipient (--recipient abuse@host.example)")
    recipient = recipient.strip() if sender is None else email_address(recipient, "recipient")
    hits = session.scalars(select(Hit).where(Hit.case_id == case_id, Hit.status == "confirmed")
                           .order_by(Hit.id)).all()
    if not hits:
        raise Conflict(f"case {case_id} has no confirmed hits to name in a notice")
    now = now or utcnow()
    notice = Notice(case_id=case_id, template=template, recipient=recipient, created_at=now,
                    delivery="manual" if sender is None else "email")
    if sender is None:
        notice.status, notice.sent_at = "sent", now
    else:
        sender = email_address(sender, "sender (SWORDNET_SMTP_FROM)")
        notice.status, notice.next_attempt_at, notice.sender = "queued", now, sender
    session.add(notice)
    session.flush()
    if sender is not None:
        notice.message_id = (f"<swordnet.{case_id}.{notice.id}.{secrets.token_hex(6)}"
                             f"@{sender.rpartition('@')[2]}>")
    body = render_notice(templates, template, notice_context(session, case, notice, hits))
    notice.body = body
    for hit in hits:
        session.add(NoticeUrl(notice_id=notice.id, hit_id=hit.id, url=hit.url,
                              status="unchecked"))
    payload = {"notice_id": notice.id, "recipient": notice.recipient, "template": template,
               "urls": [hit.url for hit in hits],
               "body_sha256": sha256(body.encode()).hexdigest()}
    if sender is None:
        mark_sent(session, notice, actor, payload | {"delivery": "manual"})
    else:
        append_event(session, case, "notice_queued",
                     payload | {"message_id": notice.message_id, "sender": notice.sender},
                     actor)
    return notice


def mark_sent(session: Session, notice: Notice, actor: str, payload: dict[str, Any]) -> None:
    """The ``notice_sent`` event for a notice that went out, and the case moved to
    ``notice_sent`` where its status allows: the only way a case gets there."""
    case = notice.case
    append_event(session, case, "notice_sent", payload, actor)
    if "notice_sent" in allowed_next(case.status):
        transition(session, case, "notice_sent", actor, f"notice {notice.id} sent to "
                   f"{notice.recipient}", {"notice_id": notice.id}, via_notice=True)


def email_address(text: str, what: str) -> str:
    """``text`` as a normalised email address, or BadInput naming ``what`` and the reason.

    >>> email_address(" abuse@Host.Example ", "recipient")
    'abuse@host.example'
    >>> email_address("abuse at host", "recipient")
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: recipient 'abuse at host' is not an email address: An email \
address must have an @-sign.
    """
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadInput(f"{what} {text.strip()!r} is not an email address: {exc}") from None


def due_rechecks(session: Session) -> dict[int, list[int]]:
    """The URLs under open notices of cases still open, grouped by site: {site: [url ids]}."""
    rows = session.execute(
        select(NoticeUrl.id, Hit.site_id).join(Hit, NoticeUrl.hit_id == Hit.id)
        .join(Notice, NoticeUrl.notice_id == Notice.id).join(Case, Notice.case_id == Case.id)
        .where(Notice.status.in_(OPEN_NOTICE_STATUSES), Case.status != "closed")
        .order_by(NoticeUrl.id)).all()
    by_site: dict[int, list[int]] = defaultdict(list)
    for url_id, site_id in rows:
        by_site[site_id].append(url_id)
    return dict(by_site)


@dataclass(frozen=True)
class RecheckTarget:
    """What the recheck spider needs to know about one URL under notice."""

    notice_url_id: int
    url: str
    work_id: int
    kind: str
    # The thresholds in force when the hit was confirmed, which the recheck judges it by.
    thresholds: dict[str, float] | None = None


def recheck_targets(session: Session, notice_url_ids: list[int]) -> list[RecheckTarget]:
    rows = session.scalars(select(NoticeUrl).where(NoticeUrl.id.in_(notice_url_ids))
                           .order_by(NoticeUrl.id)).all()
    if len(rows) != len(set(notice_url_ids)):
        missing = set(notice_url_ids) - {row.id for row in rows}
        raise NotFound(f"no URL under notice with id {', '.join(map(str, sorted(missing)))}")
    return [RecheckTarget(row.id, row.url, row.hit.work_id, _recheck_kind(row.hit),
                          row.hit.confirmed_thresholds) for row in rows]


def _recheck_kind(hit: Hit) -> str:
    """How a recheck reads the URL: as a page (text and link hits) or as the work's kind."""
    return "page" if signal_type(hit.algorithm).matches_pages else hit.work.kind


def judge(http_status: int | None, still_matches: bool | None) -> tuple[str, str]:
    """A recheck's outcome and reason from the response status and whether its content
    still matches the work (None: the matcher could not tell).

    >>> judge(404, False)
    ('removed', 'HTTP 404')
    >>> judge(200, False)
    ('removed', 'HTTP 200 but the content no longer matches the work')
    >>> judge(None, False)
    ('undecided', 'no response')
    >>> judge(200, None)
    ('undecided', 'HTTP 200 but the matcher could not analyse the content')
    """
    if http_status is None:
        return "undecided", "no response"
    if http_status in REMOVED_STATUSES:
        return "removed", f"HTTP {http_status}"
    if http_status >= 400:
        return "undecided", f"HTTP {http_status}"
    if still_matches is None:
        return "undecided", f"HTTP {http_status} but the matcher could not analyse the content"
    if still_matches:
        return "present", f"HTTP {http_status}, content still matches the work"
    return "removed", f"HTTP {http_status} but the content no longer matches the work"


def record_recheck(session: Session, notice_url_id: int, run_id: int | None, outcome: str,
                   http_status: int | None, reason: str,
                   capture: Capture | None) -> RecheckResult:
    """Keep one recheck; a change of state becomes an event in the case's custody log."""
    notice_url = session.get(NoticeUrl, notice_url_id, with_for_update=True)
    assert notice_url is not None
    now = utcnow()
    result = RecheckResult(notice_url_id=notice_url_id, run_id=run_id, checked_at=now,
                           outcome=outcome, http_status=http_status, reason=reason,
                           capture_id=capture.id if capture is not None else None)
    session.add(result)
    notice_url.last_checked_at = now
    event = None
    if outcome == "removed" and notice_url.status != "removed":
        notice_url.status, notice_url.removed_at = "removed", now
        event = "copy_removed"
    elif outcome == "present":
        if notice_url.status == "removed":
            notice_url.status = "reappeared"
            event = "copy_reappeared"
        elif notice_url.status == "unchecked":
            notice_url.status = "present"
    if event is not None:
        session.flush()
        case = notice_url.notice.case
        append_event(session, case, event, {
            "notice_id": notice_url.notice_id, "hit_id": notice_url.hit_id,
            "url": notice_url.url, "reason": reason, "http_status": http_status,
            "recheck_id": result.id,
            "capture_id": capture.id if capture is not None else None,
            "capture_sha256": capture.sha256 if capture is not None else None,
            "captured_at": capture.fetched_at.isoformat() if capture is not None else None,
        }, RECHECK_ACTOR)
        _follow_rechecks(session, case, notice_url, result)
    return result


def _follow_rechecks(session: Session, case: Case, notice_url: NoticeUrl,
                     result: RecheckResult) -> None:
    """Every URL of the notice gone: the case is ``removed``; a removed copy back on the
    site (or a mirror): the case is ``reopened``."""
    evidence = {"recheck_id": result.id, "capture_id": result.capture_id}
    if notice_url.status == "reappeared":
        if "reopened" in allowed_next(case.status):
            transition(session, case, "reopened", RECHECK_ACTOR,
                       f"removed copy is back: {notice_url.url}", evidence)
        return
    statuses = session.scalars(select(NoticeUrl.status)
                               .where(NoticeUrl.notice_id == notice_url.notice_id)).all()
    if all(status == "removed" for status in statuses) and "removed" in allowed_next(
            case.status):
        transition(session, case, "removed", RECHECK_ACTOR,
                   f"every URL of notice {notice_url.notice_id} is gone", evidence)


def notice_row(notice: Notice) -> dict[str, Any]:
    """What lists and pages show of a notice and its delivery."""
    def at(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value is not None else None

    return {"id": notice.id, "case_id": notice.case_id, "recipient": notice.recipient,
            "template": notice.template, "delivery": notice.delivery, "status": notice.status,
            "message_id": notice.message_id, "created_at": at(notice.created_at),
            "sent_at": at(notice.sent_at), "attempts": notice.attempts,
            "next_attempt_at": at(notice.next_attempt_at),
            "server_answer": notice.server_answer, "last_error": notice.last_error}


def notice_url_checks(session: Session, notice_id: int) -> list[dict[str, Any]]:
    """The URLs a notice names, each with its state and every recheck of it, oldest first."""
    if session.get(Notice, notice_id) is None:
        raise NotFound(f"no notice with id {notice_id}")
    rows = []
    for url in session.scalars(select(NoticeUrl).where(NoticeUrl.notice_id == notice_id)
                               .order_by(NoticeUrl.id)):
        checks = session.scalars(select(RecheckResult).where(
            RecheckResult.notice_url_id == url.id).order_by(RecheckResult.id)).all()
        rows.append({"id": url.id, "url": url.url, "hit_id": url.hit_id,
                     "status": url.status, "removed_at": url.removed_at,
                     "last_checked_at": url.last_checked_at, "checks": [
                         {"at": c.checked_at.isoformat(timespec="seconds"),
                          "outcome": c.outcome, "reason": c.reason,
                          "capture_id": c.capture_id} for c in checks]})
    return rows
