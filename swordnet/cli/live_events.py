"""The ``live`` commands that manage live events: ``live events add|list|show|edit``,
``live auto-confirm``, ``live streams`` and ``live add-stream``.

They act as staff (the command line is the operator's), through the same services and the
same views as the ``/api/v1/live`` endpoints. :data:`LIVE_COMMANDS` are the commands the
``live`` group holds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.cli.util import (
    ID,
    actor_option,
    console,
    current_settings,
    emit,
    in_unit,
    interval_option,
    json_option,
)
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import LIVE_STREAM_STATES, LiveEvent
from swordnet.core.timeutil import utcnow
from swordnet.live import events as live_events
from swordnet.live.reference import MAX_PUSH_BYTES, push_capture, spool_dir
from swordnet.live.streams import record_candidate
from swordnet.watch.campaigns import parse_time
from swordnet.works.registry import holder_by_name

if TYPE_CHECKING:
    from swordnet.web.api_live import LiveEventOut


def _time(_ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """Click callback: an ISO date-time, UTC unless it names an offset."""
    if value is None:
        return None
    try:
        return parse_time(value)
    except BadInput as exc:
        raise click.BadParameter(str(exc)) from None


def _event(session: Session, event_id: int) -> LiveEvent:
    event = session.get(LiveEvent, event_id)
    if event is None:
        raise NotFound(f"EVENT: no live event with id {event_id}")
    return event


def _row(out: LiveEventOut) -> dict[str, Any]:
    streams = ", ".join(f"{n} {state}" for state, n in sorted(out.streams.items()))
    return {"id": out.id, "title": out.title, "holder": out.holder,
            "starts_at": out.starts_at.isoformat(timespec="seconds"),
            "ends_at": out.ends_at.isoformat(timespec="seconds"),
            "feed": out.feed.url or "pushed capture", "feed_state": out.feed.state,
            "auto_confirm": "off" if out.auto_confirm_score is None
            else f">= {out.auto_confirm_score:g}", "streams": streams or "none"}


@click.group("events")
def events() -> None:
    """Register, list, show and edit live events."""


feed_options = [
    click.option("--feed", "feed_url", metavar="URL",
                 help="The official feed's HLS/DASH URL."),
    click.option("--pushed", is_flag=True,
                 help="Captures of the feed are pushed in (no feed URL)."),
]


def _feed(feed_url: str | None, pushed: bool) -> str | None:
    if feed_url and pushed:
        raise click.UsageError("give --feed URL or --pushed, not both")
    return None if pushed else feed_url


@events.command("add")
@click.option("--holder", required=True, help="Rights holder name (created on first use).")
@click.option("--title", required=True, help="The event's title.")
@click.option("--alias", "aliases", multiple=True, help="Another name (repeatable).")
@click.option("--starts", "starts_at", required=True, callback=_time, metavar="TIME",
              help="Start, e.g. 2026-12-06T20:00 (UTC unless an offset is given).")
@click.option("--ends", "ends_at", required=True, callback=_time, metavar="TIME",
              help="End, after the start.")
@feed_options[0]
@feed_options[1]
@click.option("--window", "window_s", default="10m", show_default=True,
              callback=interval_option, help="How much of the feed the reference keeps.")
@click.option("--check-every", "check_every_s", default="30s", show_default=True,
              callback=interval_option, help="How often each candidate stream is sampled.")
@actor_option
def events_add(holder: str, title: str, aliases: tuple[str, ...], starts_at: datetime,
               ends_at: datetime, feed_url: str | None, pushed: bool, window_s: int,
               check_every_s: int, actor: str) -> None:
    """Register a live event, its official feed and its event campaign."""
    if not feed_url and not pushed:
        raise click.UsageError("give the official feed: --feed URL, or --pushed")
    feed = _feed(feed_url, pushed)

    def add(session: Session) -> tuple[int, int | None]:
        event = live_events.register_event(
            session, holder_id=holder_by_name(session, holder).id, title=title,
            aliases=list(aliases), starts_at=starts_at, ends_at=ends_at, feed_url=feed,
            window_s=window_s, check_every_s=check_every_s, actor=actor)
        return event.id, event.campaign_id

    event_id, campaign_id = in_unit(add)
    console().print(f"Live event {event_id} registered: {title}"
                    + (f" (event campaign {campaign_id})" if campaign_id else ""))


@events.command("list")
@json_option
def events_list(as_json: bool) -> None:
    """List live events, latest start first, with their feeds' health and streams."""
    from swordnet.web.api_live import event_out  # the web API: only the commands showing it

    def rows(session: Session) -> list[dict[str, Any]]:
        found = session.scalars(select(LiveEvent).order_by(LiveEvent.starts_at.desc(),
                                                          LiveEvent.id.desc()))
        return [_row(event_out(session, e)) for e in found]

    emit(in_unit(rows), as_json, "Live events",
         ["id", "title", "holder", "starts_at", "ends_at", "feed_state", "streams",
          "auto_confirm"])


@events.command("show")
@click.argument("event_id", metavar="EVENT", type=ID)
@json_option
def events_show(event_id: int, as_json: bool) -> None:
    """Show an event: its feed's health and gaps, its streams by state, its timeline."""
    from swordnet.web.api_live import event_out, timeline

    def show(session: Session) -> dict[str, Any]:
        event = _event(session, event_id)
        data = event_out(session, event).model_dump(mode="json")
        data["timeline"] = [e.model_dump(mode="json") for e in timeline(session, event)]
        return data

    data = in_unit(show)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    feed = data["feed"]
    console().print(f"[bold]Live event {data['id']}: {data['title']}[/bold] ({data['holder']})",
                    markup=True)
    for label, value in (
            ("Aliases", ", ".join(data["aliases"]) or "—"),
            ("From", data["starts_at"]), ("To", data["ends_at"]),
            ("Feed", f"{feed['url'] or 'pushed capture'}: {feed['state']}"),
            ("Last segment", feed["last_segment_at"] or "—"),
            ("Feed problem", feed["error"] or "—"),
            ("Window", f"{data['window_s']} s; streams checked every {data['check_every_s']} s"),
            ("Auto-confirm", "off" if data["auto_confirm_score"] is None
             else f"score >= {data['auto_confirm_score']:g} (set by "
                  f"{data['auto_confirm_set_by']})"),
            ("Streams", ", ".join(f"{n} {s}" for s, n in sorted(data["streams"].items()))
             or "none")):
        console().print(f"{label}: {value}", markup=False)
    for gap in feed["gaps"]:
        console().print(f"Gap: {gap['started_at']} to {gap['ended_at'] or 'now'}: {gap['reason']}",
                        markup=False)
    for entry in data["timeline"]:
        console().print(f"  {entry['at']}  {entry['text']}", markup=False)


@events.command("edit")
@click.argument("event_id", metavar="EVENT", type=ID)
@click.option("--title", help="A new title.")
@click.option("--alias", "aliases", multiple=True,
              help="The aliases, replacing the present ones (repeatable).")
@click.option("--no-aliases", is_flag=True, help="Remove every alias.")
@click.option("--starts", "starts_at", callback=_time, metavar="TIME", help="A new start.")
@click.option("--ends", "ends_at", callback=_time, metavar="TIME", help="A new end.")
@feed_options[0]
@feed_options[1]
@click.option("--window", "window_s", callback=interval_option,
              help="How much of the feed the reference keeps.")
@click.option("--check-every", "check_every_s", callback=interval_option,
              help="How often each candidate stream is sampled.")
@actor_option
def events_edit(event_id: int, title: str | None, aliases: tuple[str, ...], no_aliases: bool,
                starts_at: datetime | None, ends_at: datetime | None, feed_url: str | None,
                pushed: bool, window_s: int | None, check_every_s: int | None,
                actor: str) -> None:
    """Change an event's title, aliases, bounds, feed, window or check interval."""
    changes: dict[str, object] = {name: value for name, value in (
        ("title", title), ("starts_at", starts_at), ("ends_at", ends_at),
        ("window_s", window_s), ("check_every_s", check_every_s)) if value is not None}
    if aliases and no_aliases:
        raise click.UsageError("give --alias or --no-aliases, not both")
    if aliases or no_aliases:
        changes["aliases"] = list(aliases)
    if feed_url or pushed:
        changes["feed_url"] = _feed(feed_url, pushed)
    if not changes:
        raise click.UsageError("nothing to change: give at least one option")

    def edit(session: Session) -> None:
        live_events.update_event(session, _event(session, event_id).id, actor=actor, **changes)

    in_unit(edit)
    console().print(f"Live event {event_id} changed: {', '.join(sorted(changes))}")


@click.command("auto-confirm")
@click.argument("event_id", metavar="EVENT", type=ID)
@click.option("--score", type=click.FloatRange(0, 1),
              help="Confirm and list at once matches scoring at least this (0..1).")
@click.option("--off", is_flag=True, help="Switch the rule off: every match waits for review.")
@actor_option
def auto_confirm(event_id: int, score: float | None, off: bool, actor: str) -> None:
    """Set or switch off an event's auto-confirm rule."""
    if (score is None) == (not off):
        raise click.UsageError("give --score S or --off")

    def apply(session: Session) -> None:
        live_events.set_auto_confirm(session, _event(session, event_id).id, score, actor=actor)

    in_unit(apply)
    console().print(f"Live event {event_id}: auto-confirm "
                    + ("off" if score is None else f"at score >= {score:g}"))


@click.command("streams")
@click.argument("event_id", metavar="EVENT", type=ID)
@click.option("--state", type=click.Choice(LIVE_STREAM_STATES), help="Only this state.")
@json_option
def streams(event_id: int, state: str | None, as_json: bool) -> None:
    """List an event's candidate streams, in the order they were found."""
    from swordnet.web.api_live import stream_out, streams_query

    def rows(session: Session) -> list[dict[str, Any]]:
        event = _event(session, event_id)
        return [stream_out(s).model_dump(mode="json")
                for s in session.scalars(streams_query(event.id, state))]

    emit(in_unit(rows), as_json, "Streams",
         ["id", "state", "site", "url", "page_url", "delay_s", "score", "to_match_s",
          "to_list_s", "last_outcome"])


@click.command("add-stream")
@click.argument("event_id", metavar="EVENT", type=ID)
@click.argument("url")
@click.option("--page", "page_url", metavar="URL", help="The page that embeds or links it.")
def add_stream(event_id: int, url: str, page_url: str | None) -> None:
    """Add a candidate stream (its playlist URL) by hand: it is checked at once."""
    def add(session: Session) -> int:
        stream = record_candidate(session, event_id=_event(session, event_id).id, url=url,
                                  page_url=page_url, found_by="staff", at=utcnow())
        return stream.id

    console().print(f"Stream {in_unit(add)} of live event {event_id}: {url}")


@click.command("push")
@click.argument("event_id", type=ID)
@click.argument("capture", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--at", "at", callback=_time, metavar="TIME",
              help="When the capture began to air (default: now).")
def push(event_id: int, capture: str, at: datetime | None) -> None:
    """Push a local capture of an event's official feed (a segment or a few minutes of it,
    any container ffmpeg reads; its first 5 minutes are taken) into the event's reference,
    for events registered with --pushed; the running live service takes it in. Short
    MPEG-TS captures pushed one after the other are fingerprinted joined, so their sound
    is matched across their boundaries."""
    with open(capture, "rb") as fh:
        content = fh.read(MAX_PUSH_BYTES + 1)
    now = utcnow()

    def take(session: Session) -> float:
        return push_capture(session, spool_dir(current_settings()), event_id, content,
                            at=at or now)

    seconds = in_unit(take)
    console().print(f"{capture}: {seconds:g} s of live event {event_id}'s feed pushed")


LIVE_COMMANDS: tuple[click.Command, ...] = (events, auto_confirm, streams, add_stream, push)
