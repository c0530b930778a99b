"""Automatic notices: the scheduler's sender queues a case's first notice by itself.

A staff policy, off by default (:class:`~swordnet.core.models.AutoNoticeSettings`). When it is
on, each sender run first queues an email notice, with the policy's template, for every case
that is ``open`` (the status of a newly confirmed case), has confirmed hits, has no notice
at all yet, opened at least ``after_hours`` ago (time for staff to reject hits first), and
whose site has a known recipient: staff's address or an RDAP suggestion already stored
(:func:`casefiles.contacts.suggestion`; no lookup is made here). The same run then sends it.
A notice queued this way is an ordinary :func:`~casefiles.notices.record_notice` by the actor
``auto-notice``: its ``notice_queued`` custody event says so.

Only a case's first notice is automatic. Hits confirmed after it (a case still ``open``
whose notice is queued or failed, or a case ``reopened`` by staydown) wait for staff to
record a follow-up notice (``swordnet notices record``). Each case is decided under its
row lock with the database's write lock (:func:`~swordnet.core.db.lock_for_writing`), and
"no notice yet" is read again under it, so two sender runs racing queue one notice.

A case without a recipient, or one whose notice cannot be recorded (its template is gone,
its custody log is broken), is skipped and reported: in the run's log line and on the
settings row as the last run's outcome, which ``swordnet notices auto`` shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from casefiles.contacts import suggestion
from casefiles.notices import record_notice
from casefiles.templates import check_template
from swordnet.core.db import Database, lock_for_writing
from swordnet.core.errors import BadInput, SwordnetError
from swordnet.core.models import AutoNoticeSettings, Case, Hit, Notice
from swordnet.core.timeutil import utcnow

ACTOR = "auto-notice"
DEFAULT_TEMPLATE = "dmca-en"  # the template `swordnet notices record` uses by default
MAX_AFTER_HOURS = 24 * 365


@dataclass(frozen=True)
class Policy:
    """Whether first notices are queued automatically, with which template, and how many
    hours after the case opened."""

    enabled: bool
    template: str
    after_hours: int


@dataclass
class AutoReport:
    """What one run did: notice ids queued, and cases skipped with the reason."""

    queued: list[int] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def policy(session: Session) -> Policy:
    row = session.get(AutoNoticeSettings, 1)
    if row is None:
        return Policy(False, DEFAULT_TEMPLATE, 0)
    return Policy(row.enabled, row.template, row.after_hours)


def set_policy(session: Session, actor: str, templates: Path | None, *,
               enabled: bool | None = None, template: str | None = None,
               after_hours: int | None = None) -> Policy:
    """Change the policy (None leaves a setting as it is); the template must exist."""
    if template is not None:
        check_template(templates, template)
    if after_hours is not None and not 0 <= after_hours <= MAX_AFTER_HOURS:
        raise BadInput(f"--after-hours {after_hours} must be between 0 and {MAX_AFTER_HOURS}")
    row = session.get(AutoNoticeSettings, 1, with_for_update=True)
    if row is None:
        row = AutoNoticeSettings(id=1, enabled=False, template=DEFAULT_TEMPLATE, after_hours=0)
        session.add(row)
    if enabled is not None:
        row.enabled = enabled
    if template is not None:
        row.template = template
    if after_hours is not None:
        row.after_hours = after_hours
    row.updated_by, row.updated_at = actor, utcnow()
    session.flush()
    return policy(session)


def last_run(session: Session) -> tuple[datetime | None, list[int], list[dict[str, Any]]]:
    """When the policy last ran, the notices it queued and the cases it skipped."""
    row = session.get(AutoNoticeSettings, 1)
    if row is None:
        return None, [], []
    return row.last_run_at, list(row.last_queued or []), list(row.last_skipped or [])


def candidates(session: Session, opened_by: datetime) -> list[int]:
    """Open cases opened by ``opened_by`` with confirmed hits and no notice, oldest first."""
    return list(session.scalars(
        select(Case.id).where(
            Case.status == "open", Case.opened_at <= opened_by,
            exists().where(Hit.case_id == Case.id, Hit.status == "confirmed"),
            ~exists().where(Notice.case_id == Case.id))
        .order_by(Case.id)))


def queue_due(db: Database, sender: str, templates: Path | None, now: datetime) -> AutoReport:
    """With the policy on, queue an email notice from ``sender`` for every case that is due
    one (each in its own unit of work), and record the run's outcome on the settings row."""
    report = AutoReport()
    with db.session() as session:
        current = policy(session)
        if not current.enabled:
            return report
        due = candidates(session, now - timedelta(hours=current.after_hours))
    for case_id in due:
        try:
            with db.session() as session:
                notice_id = _queue_one(session, case_id, current, sender, templates, now)
        except SwordnetError as exc:
            report.skipped.append({"case_id": case_id, "reason": str(exc)})
            continue
        if notice_id is not None:
            report.queued.append(notice_id)
    with db.session() as session:
        row = session.get(AutoNoticeSettings, 1, with_for_update=True)
        if row is not None:
            row.last_run_at, row.last_queued, row.last_skipped = (
                now, report.queued, report.skipped)
    return report


def _queue_one(session: Session, case_id: int, current: Policy, sender: str,
               templates: Path | None, now: datetime) -> int | None:
    """The queued notice's id, or None if the case is no longer due (another run queued
    its notice, staff recorded one, or its status changed); BadInput if it has no known
    recipient."""
    lock_for_writing(session)
    case = session.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None or case.status != "open" or session.scalar(
            select(Notice.id).where(Notice.case_id == case_id).limit(1)) is not None:
        return None
    found = suggestion(session, case.site)
    if found is None or found.email is None:
        raise BadInput(f"no abuse contact known for {case.site.domain} (`swordnet contacts set "
                f"{case.site.domain} ADDRESS` or `swordnet contacts show {case.site.domain}`)")
    notice = record_notice(session, case_id, found.email, current.template, ACTOR, templates,
                           sender=sender, now=now)
    return notice.id
