"""The ``notices`` commands: takedown notices recorded as sent or emailed, their delivery,
and the rechecks of the URLs they name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.auto_notices import last_run, policy, set_policy
from casefiles.contacts import suggested_recipient
from casefiles.delivery import due_notices, resend, send_due, settle_delivered, write_eml
from casefiles.notices import notice_row, notice_url_checks, record_notice
from swordnet.cli.util import (
    ID,
    actor_option,
    campaign_option,
    console,
    current_settings,
    database,
    emit,
    fail,
    in_unit,
    json_option,
)
from swordnet.core.campaign_scope import notice_condition
from swordnet.core.errors import NotFound
from swordnet.core.models import NOTICE_STATUSES, Notice, NoticeUrl
from swordnet.core.timeutil import utcnow
from swordnet.watch.campaigns import find_campaign


@click.group()
def notices() -> None:
    """Takedown notices sent, and rechecks of the URLs they name."""


@notices.command("record")
@click.argument("case_id", type=ID)
@click.option("--recipient", help="Who the notice goes to (e.g. abuse@host); default: the "
              "site's abuse contact (`swordnet contacts show DOMAIN`).")
@click.option("--template", default="dmca-en", show_default=True,
              help="Notice template: dmca-en (English, DMCA-style), admin-zh (Chinese "
                   "administrative notice), or notice-NAME.txt in $SWORDNET_HOME/templates.")
@click.option("--email", "by_email", is_flag=True,
              help="Queue it to be emailed by `swordnet notices send` (SWORDNET_SMTP_*); "
                   "without it, the notice is recorded as sent through your own channel.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the rendered notice to this file.")
@actor_option
def notices_record(case_id: int, recipient: str | None, template: str, by_email: bool,
                   output: Path | None, actor: str) -> None:
    """Render a notice naming every confirmed hit of CASE_ID (each URL with the sha256 of its
    evidence) and record it: as sent, or queued for email with --email. Its URLs are
    rechecked by the scheduler once it is sent."""
    if output is not None and output.exists():
        fail(f"{output} already exists; choose another --output")
    settings = current_settings()
    if by_email and settings.smtp is None:
        fail("--email needs a mail server: set SWORDNET_SMTP_HOST and SWORDNET_SMTP_FROM "
             "(docs/operations.md)")
    sender = settings.smtp.sender if by_email and settings.smtp is not None else None

    def record(session: Session) -> tuple[int, int, str, str, str]:
        to = recipient if recipient is not None else suggested_recipient(session, case_id)
        notice = record_notice(session, case_id, to, template, actor, settings.templates_dir,
                               sender=sender)
        count = len(session.scalars(select(NoticeUrl.id)
                                    .where(NoticeUrl.notice_id == notice.id)).all())
        return notice.id, count, notice.body or "", notice.recipient, notice.status

    notice_id, count, body, to, status = in_unit(record)
    if output is not None:
        output.write_text(body, encoding="utf-8")
    if status == "queued":
        console().print(f"Notice {notice_id} to {to} queued for email for case {case_id}: "
                        f"{count} URL(s); `swordnet notices send` sends it.")
    else:
        console().print(f"Notice {notice_id} to {to} recorded for case {case_id}: "
                        f"{count} URL(s) under notice.")


@notices.command("auto")
@click.option("--on/--off", "enabled", default=None,
              help="Queue a case's first notice automatically (default: off).")
@click.option("--template", help="The template automatic notices use (default: dmca-en).")
@click.option("--after-hours", type=click.IntRange(0), help="Wait this many hours after a "
              "case opened before its notice is queued (time to reject hits); default 0.")
@actor_option
def notices_auto(enabled: bool | None, template: str | None, after_hours: int | None,
                 actor: str) -> None:
    """Show or set automatic notices: when on, the scheduler's sender queues and emails a
    notice for every open case with confirmed hits and no notice yet, to its site's known
    abuse contact; cases without one are skipped and listed here."""
    settings = current_settings()

    def apply(session: Session) -> list[str]:
        if enabled is None and template is None and after_hours is None:
            current = policy(session)
        else:
            current = set_policy(session, actor, settings.templates_dir, enabled=enabled,
                                 template=template, after_hours=after_hours)
        lines = [f"Automatic notices: {'on' if current.enabled else 'off'}, template "
                 f"{current.template}, {current.after_hours} hour(s) after a case opens."]
        ran_at, queued, skipped = last_run(session)
        if ran_at is not None:
            lines.append(f"Last run {ran_at.isoformat(timespec='seconds')}: queued "
                         f"{', '.join(f'notice {n}' for n in queued) or 'nothing'}; "
                         f"{len(skipped)} case(s) skipped.")
            lines += [f"  case {s['case_id']}: {s['reason']}" for s in skipped]
        return lines

    lines = in_unit(apply)
    if enabled and settings.smtp is None:
        lines.append("No mail server is configured (SWORDNET_SMTP_HOST, SWORDNET_SMTP_FROM): "
                     "nothing is queued until the scheduler has one.")
    for line in lines:
        console().print(line, markup=False, highlight=False)


@notices.command("send")
@click.argument("notice_ids", nargs=-1, type=ID)
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path),
              help="Write each notice's email to DIR/notice-ID.eml instead of sending it "
                   "(the notices stay queued).")
def notices_send(notice_ids: tuple[int, ...], dry_run: Path | None) -> None:
    """Email every queued notice whose next attempt is due (or NOTICE_IDS), once each;
    exits 1 if any failed, is uncertain, or the run had to stop."""
    settings = current_settings()
    wanted = list(notice_ids) or None
    if dry_run is not None:
        def write(session: Session) -> list[Path]:
            return [write_eml(n, dry_run) for n in due_notices(session, utcnow(), wanted)]

        for path in in_unit(write):
            console().print(f"Wrote {path}")
        return
    if settings.smtp is None:
        fail("no mail server: set SWORDNET_SMTP_HOST and SWORDNET_SMTP_FROM "
             "(docs/operations.md), or use --dry-run DIR")
    with database() as db:
        report = send_due(db, settings.smtp, notice_ids=wanted)
    for label, ids in (("sent", report.sent), ("to retry later", report.retrying),
                       ("failed", report.failed), ("uncertain", report.uncertain)):
        if ids:
            console().print(f"{label}: notice(s) {', '.join(map(str, ids))}")
    if not (report.sent or report.retrying or report.failed or report.uncertain
            or report.blocked):
        console().print("No notice was due.")
    if report.blocked:
        console().print(f"not sent, their case's custody log is broken: notice(s) "
                        f"{', '.join(map(str, report.blocked))}")
    if report.stopped:
        fail(f"stopped: {report.stopped}")
    if report.failed or report.uncertain or report.blocked:
        fail("some notices were not delivered; see `swordnet notices list`")


@notices.command("list")
@click.option("--case", "case_id", type=ID, help="Only this case's notices.")
@campaign_option
@click.option("--status", type=click.Choice(NOTICE_STATUSES), help="Only notices in this state.")
@json_option
def notices_list(case_id: int | None, campaign: str | None, status: str | None,
                 as_json: bool) -> None:
    """Notices, their delivery (state, attempts, Message-ID, the server's answer) and how many
    of their URLs are gone (with --campaign, the notices its report counts: sent within its
    window for cases on its sites)."""
    def rows(session: Session) -> list[dict[str, Any]]:
        query = select(Notice).order_by(Notice.id)
        if case_id is not None:
            query = query.where(Notice.case_id == case_id)
        if campaign is not None:
            query = query.where(notice_condition(find_campaign(session, campaign).id))
        if status is not None:
            query = query.where(Notice.status == status)
        data = []
        for notice in session.scalars(query):
            urls = session.scalars(select(NoticeUrl.status)
                                   .where(NoticeUrl.notice_id == notice.id)).all()
            data.append({**notice_row(notice), "urls": len(urls),
                         "removed": urls.count("removed")})
        return data

    emit(in_unit(rows), as_json, "Notices", ["id", "case_id", "recipient", "delivery", "status",
                                             "attempts", "sent_at", "next_attempt_at",
                                             "server_answer", "last_error", "urls", "removed"])


@notices.command("resend")
@click.argument("notice_id", type=ID)
@actor_option
def notices_resend(notice_id: int, actor: str) -> None:
    """Queue a failed or uncertain email notice again (same Message-ID)."""
    in_unit(resend, notice_id, actor)
    console().print(f"Notice {notice_id} queued again; `swordnet notices send` sends it.")


@notices.command("settle")
@click.argument("notice_id", type=ID)
@click.option("--evidence", required=True,
              help="Where its delivery was confirmed (e.g. the mail server's log line).")
@actor_option
def notices_settle(notice_id: int, evidence: str, actor: str) -> None:
    """Record an uncertain notice as delivered, once the mail server's log shows its
    Message-ID accepted (otherwise: `swordnet notices resend`)."""
    in_unit(settle_delivered, notice_id, actor, evidence)
    console().print(f"Notice {notice_id} recorded as delivered.")


@notices.command("text")
@click.argument("notice_id", type=ID)
def notices_text(notice_id: int) -> None:
    """Print a notice as it was rendered and sent."""
    def text(session: Session) -> str:
        notice = session.get(Notice, notice_id)
        if notice is None:
            raise NotFound(f"no notice with id {notice_id}")
        return notice.body or ""

    click.echo(in_unit(text), nl=False)


@notices.command("show")
@click.argument("notice_id", type=ID)
@json_option
def notices_show(notice_id: int, as_json: bool) -> None:
    """Show a notice's URLs, what the last recheck saw, and every recheck."""
    data = in_unit(notice_url_checks, notice_id)
    for row in data:
        row["last_check"] = row["checks"][-1]["reason"] if row["checks"] else None
    emit(data, as_json, f"URLs under notice {notice_id}",
         ["id", "url", "status", "removed_at", "last_checked_at", "last_check"])
