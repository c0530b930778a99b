"""Takedown notices sent by email over SMTP: the message, the sender's run and its retries.

A notice queued for email (:func:`casefiles.notices.record_notice` with a sender) moves
through these states, each change committed before the next step::

    queued --claim--> sending --server accepts DATA--> sent   (case: notice_sent)
                         |----temporary failure------> queued (next attempt later)
                         |----permanent failure------> failed (custody-log event)
    sending, its sender dead, never handed over -----> queued (it never reached the server)
    sending, its sender dead after handing over -----> uncertain (custody-log event)
    failed | uncertain --staff: resend--> queued;  uncertain --staff: delivered--> sent

A sender claims one notice at a time (an UPDATE that succeeds for one sender only), so a
sender killed mid-batch leaves at most one notice ``sending``. The Message-ID is fixed when
the notice is queued, and ``handed_over_at`` is committed just before the message's DATA
goes to the server. A notice found ``sending`` under a dead sender is therefore either
certainly undelivered (no hand-over: it is queued again and sent once) or possibly
delivered (handed over, answer never recorded). Swordnet never resends the second kind by
itself: it is ``uncertain``, and staff look the Message-ID up in the mail server's log and
settle it (``notices settle``). No notice is sent twice by Swordnet, none is lost.

Temporary failures (a 4xx answer, a server that cannot be reached, a timeout) are retried
at growing intervals (:data:`BACKOFF_S`) through ``next_attempt_at``, which the next sender
run picks up; after the last one the notice fails. Permanent failures (a 5xx answer: a
refused recipient, a message over the size limit; a failed login; a malformed address) fail
the notice at once, with the server's answer on the notice and in the case's custody log.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from casefiles.custody import append_event, case_log_problem
from casefiles.notices import email_address, mark_sent
from swordnet.core.config import SmtpSettings
from swordnet.core.db import Database, lock_for_writing
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import Notice, NoticeUrl
from swordnet.core.processes import ProcessRef, this_process
from swordnet.core.timeutil import utcnow

# Waits after the 1st, 2nd, ... temporary failure; the attempt after the last wait is the
# last (about
# two days of trying in all).
BACKOFF_S = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)
# A claim is taken back at once when its sender is dead, and after this long in any case (a
# sender on another host cannot be checked from here, and one that hit a bug mid-send lives
# on in a web server); one send takes a few server answers of at most the SMTP timeout.
CLAIM_LEASE = timedelta(minutes=15)
SENDER_ACTOR = "mailer"

Clock = Callable[[], datetime]


class DeliveryError(Exception):
    """Why one attempt to send a notice did not end in the server's acceptance."""

    def __init__(self, message: str, *, permanent: bool, stop_batch: bool = False,
                 uncertain: bool = False) -> None:
        super().__init__(message)
        self.permanent, self.stop_batch, self.uncertain = permanent, stop_batch, uncertain


@dataclass
class SendReport:
    """What one sender run did, notice ids by outcome."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    uncertain: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)  # left queued: their case's log is broken
    stopped: str | None = None  # why the run stopped before the queue was empty


def build_message(notice: Notice) -> EmailMessage:
    """The email of a queued notice, the same bytes whenever it is built (dry run or send).

    The rendered notice's first line gives the subject (``Subject: ...`` or its title)."""
    if notice.sender is None or notice.message_id is None:
        raise Conflict(f"notice {notice.id} is not an email notice (it was recorded as sent)")
    body = notice.body or ""
    first, _, rest = body.partition("\n")
    if first.startswith("Subject:"):
        subject, body = first.removeprefix("Subject:").strip(), rest.lstrip("\n")
    else:
        subject = first.strip() or f"Notice {notice.id} (case {notice.case_id})"
    message = EmailMessage(policy=SMTP)
    message["From"] = notice.sender
    message["To"] = notice.recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(notice.created_at)
    message["Message-ID"] = notice.message_id
    message["X-Swordnet-Case"] = str(notice.case_id)
    message["X-Swordnet-Notice"] = str(notice.id)
    message.set_content(body)
    return message


def write_eml(notice: Notice, directory: Path) -> Path:
    """Dry run: write the notice's email to ``directory/notice-ID.eml`` instead of sending
    it; the notice stays queued."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"notice-{notice.id}.eml"
    path.write_bytes(build_message(notice).as_bytes())
    return path


def due_notices(session: Session, now: datetime, notice_ids: list[int] | None = None
                ) -> list[Notice]:
    """Queued email notices whose next attempt is due, oldest first (or just ``notice_ids``)."""
    query = select(Notice).where(Notice.delivery == "email", Notice.status == "queued")
    if notice_ids is not None:
        query = query.where(Notice.id.in_(notice_ids))
    else:
        query = query.where(Notice.next_attempt_at <= now)
    return list(session.scalars(query.order_by(Notice.next_attempt_at, Notice.id)))


def send_due(db: Database, smtp: SmtpSettings, clock: Clock = utcnow,
             notice_ids: list[int] | None = None,
             connect: Callable[[SmtpSettings], smtplib.SMTP] | None = None) -> SendReport:
    """One sender run: take back notices abandoned by dead senders, then send each due
    notice (or each of ``notice_ids`` still queued) once, committing every step."""
    report = SendReport()
    with db.session() as session:
        recover_abandoned(session, clock(), report)
    with db.session() as session:
        queue = [n.id for n in due_notices(session, clock(), notice_ids)]
    me = this_process()
    for notice_id in queue:
        with db.session() as session:
            problem = _custody_problem(session, notice_id)
            if problem is not None:  # nothing could be recorded on the case: not sent
                report.blocked.append(notice_id)
                continue
            notice = claim(session, notice_id, me, clock())
            if notice is None:
                continue  # another sender has it
            message = build_message(notice)
            recipient = notice.recipient
        try:
            answer = deliver(db, notice_id, message, recipient, smtp, clock, connect)
        except DeliveryError as exc:
            with db.session() as session:
                _record_failure(session, notice_id, exc, clock(), report)
            if exc.stop_batch:
                report.stopped = str(exc)
                break
            continue
        with db.session() as session:
            _record_sent(session, notice_id, answer, clock())
        report.sent.append(notice_id)
    return report


def _custody_problem(session: Session, notice_id: int) -> str | None:
    """Why the notice's case cannot take custody events (its log is broken), recorded on the
    notice; None if it can."""
    notice = session.get(Notice, notice_id)
    assert notice is not None
    problem = case_log_problem(session, notice.case)
    if problem is not None:
        notice.last_error = (f"not sent: the custody log of case {notice.case_id} {problem}; "
                             "restore it first")
    return problem


def claim(session: Session, notice_id: int, me: ProcessRef, now: datetime) -> Notice | None:
    """Claim a queued notice for this sender; None if another sender claimed it first."""
    claimed = session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.status == "queued")
        .values(status="sending", claimed_at=now, handed_over_at=None,
                claimed_by={"host": me.host, "pid": me.pid, "started_at": me.started_at},
                attempts=Notice.attempts + 1)
        .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(Notice, notice_id, populate_existing=True)


def deliver(db: Database, notice_id: int, message: EmailMessage, recipient: str,
            smtp: SmtpSettings, clock: Clock,
            connect: Callable[[SmtpSettings], smtplib.SMTP] | None = None) -> str:
    """Send one message; the server's final answer (``250 ...``), or DeliveryError.

    MAIL and RCPT are sent first; ``handed_over_at`` is committed before DATA, so that a
    crash from then on is known to be ambiguous. Nothing after the server's answer to DATA
    can turn a delivered notice into a failed one (QUIT's troubles are ignored)."""
    try:
        email_address(recipient, "recipient")
    except BadInput as exc:
        raise DeliveryError(str(exc), permanent=True) from None
    data = message.as_bytes()
    with _classified(before_data=True):
        client = (connect or open_smtp)(smtp)
    try:
        with _classified(before_data=True):
            options = [f"SIZE={len(data)}"] if client.has_extn("size") else []
            code, text = client.mail(str(message["From"]), options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, text, str(message["From"]))
            code, text = client.rcpt(recipient)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({recipient: (code, text)})
        with db.session() as session:
            session.execute(update(Notice).where(Notice.id == notice_id)
                            .values(handed_over_at=clock())
                            .execution_options(synchronize_session=False))
        with _classified(before_data=False):
            code, text = client.data(data)  # raises SMTPDataError unless 250
        return _answer(code, text)
    finally:
        _close_quietly(client)


def _close_quietly(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        client.close()


def open_smtp(smtp: SmtpSettings) -> smtplib.SMTP:
    """A connection to the mail server, encrypted as configured (the certificate always
    verified) and logged in if a user is set."""
    context = ssl.create_default_context(
        cafile=str(smtp.ca_file) if smtp.ca_file is not None else None)
    client: smtplib.SMTP
    if smtp.security == "tls":
        client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s,
                                  context=context)
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)
    try:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.user is not None:
            client.login(smtp.user, smtp.password or "")
    except BaseException:
        client.close()
        raise
    return client


def _answer(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


@contextmanager
def _classified(*, before_data: bool) -> Iterator[None]:
    """Turn what smtplib and the network raise into a DeliveryError: permanent or not,
    whether the batch should stop, and (after DATA went out) whether delivery is unknown."""
    try:
        yield
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        answer = _answer(exc.smtp_code, exc.smtp_error)
        raise DeliveryError(f"the mail server refused the login ({answer})",
                            permanent=True, stop_batch=True) from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise _refusal("refused the recipient", code, text) from None
    except smtplib.SMTPResponseException as exc:
        what = "refused the sender" if isinstance(exc, smtplib.SMTPSenderRefused) else \
            "refused the message"
        raise _refusal(what, exc.smtp_code, exc.smtp_error) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"the mail server cannot do what is configured: {exc}",
                            permanent=False, stop_batch=True) from None
    except (OSError, smtplib.SMTPException) as exc:
        reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        if not before_data:
            raise DeliveryError(f"the connection failed after the message was handed over "
                                f"({reason}); it may have been delivered",
                                permanent=True, uncertain=True) from None
        raise DeliveryError(f"cannot reach the mail server ({reason})", permanent=False,
                            stop_batch=True) from None


def _refusal(what: str, code: int, text: bytes | str) -> DeliveryError:
    answer = _answer(code, text)
    if code == 552 or (code >= 500 and "size" in answer.lower()):
        return DeliveryError(f"the mail server {what}: over its size limit ({answer})",
                             permanent=True)
    return DeliveryError(f"the mail server {what} ({answer})", permanent=code >= 500)


def _case_event(session: Session, notice: Notice, type_: str, payload: dict[str, Any],
                actor: str = SENDER_ACTOR) -> None:
    urls = list(session.scalars(select(NoticeUrl.url).where(NoticeUrl.notice_id == notice.id)
                                .order_by(NoticeUrl.id)))
    append_event(session, notice.case, type_, {
        "notice_id": notice.id, "recipient": notice.recipient,
        "message_id": notice.message_id, "urls": urls} | payload, actor)


def _locked_notice(session: Session, notice_id: int) -> Notice:
    lock_for_writing(session)
    notice = session.get(Notice, notice_id, with_for_update=True, populate_existing=True)
    if notice is None:
        raise NotFound(f"no notice with id {notice_id}")
    return notice


def _record_sent(session: Session, notice_id: int, answer: str, now: datetime) -> None:
    notice = _locked_notice(session, notice_id)
    notice.status, notice.sent_at, notice.server_answer = "sent", now, answer
    notice.last_error, notice.next_attempt_at, notice.claimed_by = None, None, None
    mark_sent(session, notice, SENDER_ACTOR, {
        "notice_id": notice.id, "recipient": notice.recipient, "delivery": "email",
        "message_id": notice.message_id, "server_answer": answer,
        "urls": list(session.scalars(select(NoticeUrl.url)
                                     .where(NoticeUrl.notice_id == notice.id)
                                     .order_by(NoticeUrl.id)))})


def _record_failure(session: Session, notice_id: int, exc: DeliveryError, now: datetime,
                    report: SendReport) -> None:
    notice = _locked_notice(session, notice_id)
    notice.last_error, notice.claimed_by = str(exc), None
    if exc.uncertain:
        notice.status = "uncertain"
        _case_event(session, notice, "notice_uncertain", {"error": str(exc)})
        report.uncertain.append(notice_id)
    elif not exc.permanent and notice.attempts <= len(BACKOFF_S):
        notice.status = "queued"
        notice.next_attempt_at = now + timedelta(seconds=BACKOFF_S[notice.attempts - 1])
        report.retrying.append(notice_id)
    else:
        if not exc.permanent:
            notice.last_error = f"gave up after {notice.attempts} attempts: {exc}"
        notice.status, notice.next_attempt_at = "failed", None
        _case_event(session, notice, "notice_failed",
                    {"error": notice.last_error, "attempts": notice.attempts})
        report.failed.append(notice_id)


def recover_abandoned(session: Session, now: datetime, report: SendReport) -> None:
    """Notices ``sending`` under a sender that is gone: queued again if they never reached
    the server, ``uncertain`` if they were handed over (see the module's docstring)."""
    lock_for_writing(session)
    for notice in session.scalars(select(Notice).where(Notice.status == "sending")
                                  .with_for_update()):
        claimer = notice.claimed_by or {}
        alive = ProcessRef(str(claimer.get("host")), int(claimer.get("pid", 0)),
                           float(claimer.get("started_at", 0))).alive()
        expired = notice.claimed_at is None or now - notice.claimed_at >= CLAIM_LEASE
        if alive is not False and not expired:
            continue  # its sender may still be at it
        if notice.handed_over_at is not None and case_log_problem(session, notice.case):
            continue  # its uncertain state could not be logged; left for staff to see
        notice.claimed_by = None
        if notice.handed_over_at is None:
            notice.status, notice.next_attempt_at = "queued", now
            notice.last_error = "its sender stopped before handing it to the mail server"
            report.requeued.append(notice.id)
        else:
            notice.status = "uncertain"
            notice.last_error = (f"its sender stopped after handing it to the mail server at "
                                 f"{notice.handed_over_at.isoformat(timespec='seconds')}; "
                                 f"look for Message-ID {notice.message_id} in the server's log")
            _case_event(session, notice, "notice_uncertain", {"error": notice.last_error})
            report.uncertain.append(notice.id)


def resend(session: Session, notice_id: int, actor: str, now: datetime | None = None) -> Notice:
    """Staff: queue a failed or uncertain notice again (same Message-ID, so a copy the
    server did get is recognisable as the same notice)."""
    notice = _locked_notice(session, notice_id)
    if notice.delivery != "email" or notice.status not in ("failed", "uncertain"):
        raise Conflict(f"notice {notice_id} is {notice.status}; only a failed or uncertain "
                       "email notice can be sent again")
    _case_event(session, notice, "notice_requeued", {"previous": notice.status}, actor)
    notice.status, notice.next_attempt_at, notice.attempts = "queued", now or utcnow(), 0
    return notice


def settle_delivered(session: Session, notice_id: int, actor: str, evidence: str,
                     now: datetime | None = None) -> Notice:
    """Staff: an uncertain notice was delivered after all (the mail server's log shows its
    Message-ID accepted); ``evidence`` says where that was seen."""
    notice = _locked_notice(session, notice_id)
    if notice.status != "uncertain":
        raise Conflict(f"notice {notice_id} is {notice.status}; only an uncertain notice "
                       "can be settled as delivered")
    if not evidence.strip():
        raise BadInput("say where the delivery was confirmed (--evidence)")
    notice.status, notice.sent_at = "sent", notice.handed_over_at or now or utcnow()
    notice.server_answer = f"confirmed by {actor}: {evidence.strip()}"
    mark_sent(session, notice, actor, {
        "notice_id": notice.id, "recipient": notice.recipient, "delivery": "email",
        "message_id": notice.message_id, "server_answer": notice.server_answer,
        "urls": list(session.scalars(select(NoticeUrl.url)
                                     .where(NoticeUrl.notice_id == notice.id)))})
    return notice
