"""The ``tips`` commands: complaints and public tips, single URLs checked within minutes."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.cli.util import ID, console, database, emit, fail, in_unit, json_option
from swordnet.core.models import Tip
from swordnet.core.timeutil import utcnow
from swordnet.live.streams import add_event_tip
from swordnet.watch.tips import add_tip


@click.group()
def tips() -> None:
    """Complaints and public tips: single URLs checked within minutes."""


@tips.command("add")
@click.argument("url")
@click.option("--work", "work_id", type=ID, help="The work the reporter says is infringed.")
@click.option("--event", "event_id", type=ID,
              help="The live event the URL restreams: a stream URL (.m3u8, .mpd) is checked "
                   "at once, a page is checked for the streams it embeds.")
@click.option("--reporter", help="Who reported it (name, e-mail or reference).")
def tips_add(url: str, work_id: int | None, event_id: int | None,
             reporter: str | None) -> None:
    """Queue URL for a check by the scheduler (its tips job runs every minute)."""
    if event_id is not None:
        if work_id is not None:
            fail("give --work or --event, not both (an event's tip is on the event's work)")
        _event_tip(url, event_id, reporter)
        return
    tip_id = in_unit(lambda session: add_tip(session, url, work_id, reporter).id)
    console().print(f"Tip {tip_id} queued: {url}")


def _event_tip(url: str, event_id: int, reporter: str | None) -> None:
    def add(session: Session) -> tuple[int, int | None]:
        added = add_event_tip(session, event_id, url, reporter=reporter, at=utcnow())
        return added.tip.id, added.stream.id if added.stream is not None else None

    tip_id, stream_id = in_unit(add)
    if stream_id is not None:
        console().print(f"Tip {tip_id}: stream {stream_id} of live event {event_id}, checked "
                        f"at once: {url}")
    else:
        console().print(f"Tip {tip_id} queued for live event {event_id}: {url}")


def tip_row(tip: Tip) -> dict[str, Any]:
    result = tip.result or {}
    return {"id": tip.id, "url": tip.url, "work_id": tip.work_id, "reporter": tip.reporter,
            "status": tip.status, "created_at": tip.created_at.isoformat(timespec="seconds"),
            "checked_at": tip.checked_at.isoformat(timespec="seconds") if tip.checked_at
            else None, "run_id": tip.run_id, "hits": result.get("hits"),
            "named_work_found": result.get("named_work_found"),
            "live_streams": result.get("live_streams")}


@tips.command("list")
@click.option("--status", type=click.Choice(["queued", "checking", "checked", "failed",
                                             "dismissed"]))
@json_option
def tips_list(status: str | None, as_json: bool) -> None:
    """List tips, newest first, with what their check found."""
    with database() as db, db.session() as session:
        query = select(Tip).order_by(Tip.id.desc())
        if status:
            query = query.where(Tip.status == status)
        data = [tip_row(t) for t in session.scalars(query)]
    emit(data, as_json, "Tips", ["id", "url", "status", "work_id", "checked_at", "run_id",
                                 "hits", "named_work_found"])
