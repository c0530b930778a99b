"""Live events registered by rights holders: the event's work, its feed, its campaign.

An event is a video work of its holder (so its hits, review and cases are the usual ones)
with an official feed (an HLS/DASH URL, or None when captures of it are pushed in), the
length of the rolling reference window, how often candidate streams are sampled, and an
event campaign crawling at the event's pace between its bounds. Every value is checked
before anything is written; a bad one is a :class:`EventError` naming the field.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import Campaign, Fingerprint, LiveEvent, RightsHolder, Work
from swordnet.watch.campaigns import check_name
from swordnet.works.registry import name_fingerprints

log = logging.getLogger(__name__)

MIN_WINDOW_S, MAX_WINDOW_S = 60, 3600
MIN_CHECK_EVERY_S, MAX_CHECK_EVERY_S = 10, 600
# How often the event campaign crawls its targets while the event runs.
CAMPAIGN_EVERY_S = 60
EDITABLE = ("title", "aliases", "starts_at", "ends_at", "feed_url", "window_s", "check_every_s")


class EventError(BadInput):
    """An event value that cannot be used; the message names the field."""


def get_event(session: Session, event_id: int) -> LiveEvent:
    """The event with this id; NotFound naming it otherwise."""
    event = session.get(LiveEvent, event_id)
    if event is None:
        raise NotFound(f"no live event with id {event_id}")
    return event


def _title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise EventError("title: an event needs a title")
    if len(title) > 500:
        raise EventError("title: at most 500 characters")
    return title


def _aliases(aliases: Sequence[str]) -> list[str]:
    if isinstance(aliases, str):
        raise EventError("aliases: a list of names, not one string")
    cleaned = [" ".join(str(alias).split()) for alias in aliases]
    if any(not alias for alias in cleaned):
        raise EventError("aliases: an alias is empty")
    return list(dict.fromkeys(cleaned))


def _utc(value: object, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise EventError(f"{field}: not a date-time: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bounds(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise EventError(f"ends_at ({ends_at.isoformat()}) must be after starts_at "
                         f"({starts_at.isoformat()})")


def check_feed_url(url: str | None) -> str | None:
    """The official feed's URL, if http(s) with a host; None (captures pushed in) stays None.

    >>> check_feed_url(" https://tv.example/live/master.m3u8 ")
    'https://tv.example/live/master.m3u8'
    >>> check_feed_url("rtmp://tv.example/live")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.live.events.EventError: feed_url: not an http(s) URL: 'rtmp://tv.example/live' ...
    """
    if url is None:
        return None
    url = url.strip()
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise EventError(f"feed_url: not an http(s) URL: {url!r} (give the feed's HLS or "
                         "DASH URL, or none to push captures in)")
    return url


def _within(field: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise EventError(f"{field}: {value!r} is out of range ({low}..{high} s)")
    return value


def _checked(changes: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """Every field of an event, checked: ``changes`` over ``current``."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise EventError(f"{unknown[0]}: not a field of an event (fields: "
                         f"{', '.join(EDITABLE)})")
    values = {**current, **changes}
    title = _title(str(values["title"]))
    aliases = _aliases(values["aliases"])
    starts_at = _utc(values["starts_at"], "starts_at")
    ends_at = _utc(values["ends_at"], "ends_at")
    _bounds(starts_at, ends_at)
    return {"title": title, "aliases": aliases, "starts_at": starts_at, "ends_at": ends_at,
            "feed_url": check_feed_url(values["feed_url"]),
            "window_s": _within("window_s", values["window_s"], MIN_WINDOW_S, MAX_WINDOW_S),
            "check_every_s": _within("check_every_s", values["check_every_s"],
                                     MIN_CHECK_EVERY_S, MAX_CHECK_EVERY_S)}


def _name_fingerprints(title: str, aliases: list[str]) -> list[Fingerprint]:
    return [Fingerprint(algorithm=algorithm, variant=variant, value=value)
            for algorithm, variant, value in name_fingerprints(title, aliases)]


def register_event(session: Session, *, holder_id: int, title: str, aliases: list[str],
                   starts_at: datetime, ends_at: datetime, feed_url: str | None,
                   window_s: int = 600, check_every_s: int = 30, actor: str) -> LiveEvent:
    """Register a live event: its work (kind video, so hits and cases are the usual ones) and
    its event campaign (crawling at the event's pace between its bounds); raises BadInput
    naming the field for a bad value."""
    values = _checked({}, {"title": title, "aliases": aliases, "starts_at": starts_at,
                           "ends_at": ends_at, "feed_url": feed_url, "window_s": window_s,
                           "check_every_s": check_every_s})
    holder = session.get(RightsHolder, holder_id)
    if holder is None:
        raise NotFound(f"holder_id: no rights holder with id {holder_id}")
    work = Work(holder_id=holder.id, title=values["title"], aliases=values["aliases"],
                kind="video", source_name="live event")
    work.fingerprints.extend(_name_fingerprints(values["title"], values["aliases"]))
    session.add(work)
    session.flush()
    event = LiveEvent(work_id=work.id, starts_at=values["starts_at"],
                      ends_at=values["ends_at"], feed_url=values["feed_url"],
                      window_s=values["window_s"], check_every_s=values["check_every_s"],
                      feed_state="waiting")
    session.add(event)
    session.flush()
    campaign = Campaign(
        name=check_name(session, f"Live event {event.id}: {values['title']}"[:200]),
        starts_at=values["starts_at"], ends_at=values["ends_at"],
        every_seconds=CAMPAIGN_EVERY_S, focus=f"live event {event.id}")
    session.add(campaign)
    session.flush()
    event.campaign_id = campaign.id
    log.info("live event %d (%s) registered by %s", event.id, values["title"], actor)
    return event


def update_event(session: Session, event_id: int, *, actor: str,
                 **changes: object) -> LiveEvent:
    """Change an event's title, aliases, bounds, feed, window or check interval."""
    event = get_event(session, event_id)
    work = event.work
    values = _checked(dict(changes), {
        "title": work.title, "aliases": list(work.aliases), "starts_at": event.starts_at,
        "ends_at": event.ends_at, "feed_url": event.feed_url, "window_s": event.window_s,
        "check_every_s": event.check_every_s})
    if (values["title"], values["aliases"]) != (work.title, list(work.aliases)):
        work.title, work.aliases = values["title"], values["aliases"]
        for fingerprint in [f for f in work.fingerprints if f.algorithm == "link"]:
            work.fingerprints.remove(fingerprint)
        session.flush()
        work.fingerprints.extend(_name_fingerprints(values["title"], values["aliases"]))
    if values["feed_url"] != event.feed_url:
        event.feed_url = values["feed_url"]
        event.feed_error = None
    event.starts_at, event.ends_at = values["starts_at"], values["ends_at"]
    event.window_s, event.check_every_s = values["window_s"], values["check_every_s"]
    campaign = session.get(Campaign, event.campaign_id) if event.campaign_id else None
    if campaign is not None:
        campaign.starts_at, campaign.ends_at = event.starts_at, event.ends_at
    session.flush()
    log.info("live event %d changed by %s: %s", event.id, actor, ", ".join(sorted(changes)))
    return event


def set_auto_confirm(session: Session, event_id: int, score: float | None, *,
                     actor: str) -> LiveEvent:
    """Set (or clear, None) the event's auto-confirm rule: matches scoring at least ``score``
    are confirmed and listed at once."""
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)
                              or not 0.0 <= score <= 1.0):
        raise EventError(f"auto_confirm_score: {score!r} is out of range (0..1, or none to "
                         "clear the rule)")
    event = get_event(session, event_id)
    event.auto_confirm_score = None if score is None else float(score)
    event.auto_confirm_set_by = actor
    session.flush()
    return event


def running_events(session: Session, now: datetime) -> list[LiveEvent]:
    """Events whose bounds contain ``now``."""
    return list(session.scalars(select(LiveEvent).where(
        LiveEvent.starts_at <= now, LiveEvent.ends_at > now).order_by(LiveEvent.id)))
