"""The ``notices`` commands: takedown notices recorded as sent, and the rechecks of the
URLs they name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.notices import record_notice
from swordnet.cli.util import (
    ID,
    actor_option,
    campaign_option,
    console,
    current_settings,
    emit,
    fail,
    in_unit,
    json_option,
)
from swordnet.core.campaign_scope import notice_condition
from swordnet.core.errors import NotFound
from swordnet.core.models import Notice, NoticeUrl, RecheckResult
from swordnet.watch.campaigns import find_campaign


@click.group()
def notices() -> None:
    """Takedown notices sent, and rechecks of the URLs they name."""


@notices.command("record")
@click.argument("case_id", type=ID)
@click.option("--recipient", required=True, help="Who the notice went to (e.g. abuse@host).")
@click.option("--template", default="dmca-en", show_default=True,
              help="Notice template: dmca-en (English, DMCA-style), admin-zh (Chinese "
                   "administrative notice), or notice-NAME.txt in $SWORDNET_HOME/templates.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the rendered notice to this file.")
@actor_option
def notices_record(case_id: int, recipient: str, template: str, output: Path | None,
                   actor: str) -> None:
    """Render a notice naming every confirmed hit of CASE_ID and record it as sent; its URLs
    are rechecked by the scheduler from now on."""
    if output is not None and output.exists():
        fail(f"{output} already exists; choose another --output")
    templates = current_settings().templates_dir

    def record(session: Session) -> tuple[int, int, str]:
        notice = record_notice(session, case_id, recipient, template, actor, templates)
        count = len(session.scalars(select(NoticeUrl.id)
                                    .where(NoticeUrl.notice_id == notice.id)).all())
        return notice.id, count, notice.body or ""

    notice_id, count, body = in_unit(record)
    if output is not None:
        output.write_text(body, encoding="utf-8")
    console.print(f"Notice {notice_id} to {recipient} recorded for case {case_id}: "
                  f"{count} URL(s) under notice.")


@notices.command("list")
@click.option("--case", "case_id", type=ID, help="Only the notices of this case.")
@campaign_option
@json_option
def notices_list(case_id: int | None, campaign: str | None, as_json: bool) -> None:
    """List notices with their URLs and how many are gone (with --campaign, the notices
    its report counts: sent within its window for cases on its sites)."""
    def rows(session: Session) -> list[dict[str, Any]]:
        query = select(Notice).order_by(Notice.id)
        if case_id is not None:
            query = query.where(Notice.case_id == case_id)
        if campaign is not None:
            query = query.where(notice_condition(find_campaign(session, campaign).id))
        data = []
        for notice in session.scalars(query):
            urls = session.scalars(select(NoticeUrl.status)
                                   .where(NoticeUrl.notice_id == notice.id)).all()
            data.append({"id": notice.id, "case_id": notice.case_id,
                         "recipient": notice.recipient, "template": notice.template,
                         "status": notice.status,
                         "sent_at": notice.sent_at.isoformat(
                             timespec="auto" if as_json else "seconds")
                         if notice.sent_at else None,
                         "urls": len(urls), "removed": urls.count("removed")})
        return data

    emit(in_unit(rows), as_json, "Notices", ["id", "case_id", "recipient", "template",
                                             "status", "sent_at", "urls", "removed"])


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
    def show(session: Session) -> list[dict[str, Any]]:
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

    data = in_unit(show)
    for row in data:
        row["last_check"] = row["checks"][-1]["reason"] if row["checks"] else None
    emit(data, as_json, f"URLs under notice {notice_id}",
         ["id", "url", "status", "removed_at", "last_checked_at", "last_check"])
