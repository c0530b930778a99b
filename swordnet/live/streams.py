"""Candidate restreams of a live event: recorded once per (event, URL), from crawls, searches,
tips or staff, and handed to the live checker when they are due.

A candidate is due for its first check the moment it is recorded; the checker then sets its
next check. A crawl run works for the events whose campaign it runs in, while they run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import LIVE_FOUND_BY, CrawlRun, LiveEvent, LiveStream, Tip
from swordnet.watch.targets import check_url, site_for_url
from swordnet.watch.tips import add_tip

MAX_URL_LENGTH = 2048
# The states in which a stream is sampled: not yet judged, or matched and still watched.
# Streams still sampled, as often as the checker's next_check_at says (less often offline or
# encrypted): all but those withdrawn from the list or refused by the outbound policy.
CHECKED_STATES = ("checking", "matched", "listed", "unmatched", "offline", "encrypted")
PLAYLIST_SUFFIXES = (".m3u8", ".mpd")
_NOT_IN_URL = re.compile(r"""[\s"'<>]""")


def _shown(url: str) -> str:
    return url if len(url) <= 200 else url[:200] + "..."


def check_stream_url(url: str) -> str:
    """``url`` normalised (see :func:`~swordnet.watch.targets.check_url`) if it is an http(s)
    URL of at most :data:`MAX_URL_LENGTH` characters; raises BadInput naming it otherwise.

    >>> check_stream_url("HTTPS://CDN.Example/live/ch1.m3u8")
    'https://cdn.example/live/ch1.m3u8'
    >>> check_stream_url("rtmp://cdn.example/live")
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: not an http(s) URL: 'rtmp://cdn.example/live'
    """
    if len(url) > MAX_URL_LENGTH:
        raise BadInput(f"stream URL longer than {MAX_URL_LENGTH} characters: {_shown(url)!r}")
    return check_url(url)


def record_candidate(session: Session, *, event_id: int, url: str, page_url: str | None,
                     found_by: str, at: datetime, run_id: int | None = None,
                     page_capture_id: int | None = None) -> LiveStream:
    """Record a candidate stream (idempotent: the same event and URL is the same stream, its
    page kept when first known); due for its first check at once. Raises BadInput for a URL
    that is not http(s)."""
    url = check_stream_url(url)
    if found_by not in LIVE_FOUND_BY:
        raise BadInput(f"found_by: {found_by!r} is not one of {', '.join(LIVE_FOUND_BY)}")
    if session.get(LiveEvent, event_id) is None:
        raise NotFound(f"no live event with id {event_id}")
    stream = _stream(session, event_id, url)
    if stream is None:
        site = site_for_url(session, url)
        try:
            with session.begin_nested():
                stream = LiveStream(event_id=event_id, url=url, page_url=page_url,
                                    site_id=site.id, found_by=found_by, found_at=at,
                                    run_id=run_id, page_capture_id=page_capture_id,
                                    state="checking", next_check_at=at)
                session.add(stream)
            return stream
        except IntegrityError:  # another crawl recorded it meanwhile
            stream = _stream(session, event_id, url)
            assert stream is not None
    if stream.page_url is None and page_url is not None:
        stream.page_url, stream.page_capture_id = page_url, page_capture_id
        stream.run_id = stream.run_id or run_id
    return stream


def _stream(session: Session, event_id: int, url: str) -> LiveStream | None:
    return session.scalar(select(LiveStream).where(LiveStream.event_id == event_id,
                                                   LiveStream.url == url))


def events_of_run(session: Session, run: CrawlRun, now: datetime) -> list[LiveEvent]:
    """The running events a crawl run works for (its campaign is their event campaign)."""
    if run.campaign_id is None:
        return []
    return list(session.scalars(select(LiveEvent).where(
        LiveEvent.campaign_id == run.campaign_id, LiveEvent.starts_at <= now,
        LiveEvent.ends_at >= now).order_by(LiveEvent.id)))


def due_streams(session: Session, now: datetime, limit: int) -> list[LiveStream]:
    """Streams of running events still sampled (:data:`CHECKED_STATES`) whose next check is
    due at ``now``, the longest overdue first, at most ``limit``."""
    return list(session.scalars(
        select(LiveStream).join(LiveEvent, LiveStream.event_id == LiveEvent.id)
        .where(LiveEvent.starts_at <= now, LiveEvent.ends_at >= now,
               LiveStream.state.in_(CHECKED_STATES), LiveStream.next_check_at <= now)
        .order_by(LiveStream.next_check_at, LiveStream.id).limit(limit)))


def is_stream_url(url: str) -> bool:
    """Whether ``url`` (absolute or relative) names an HLS or DASH playlist by its path.

    >>> is_stream_url("https://cdn.example/live/ch1.m3u8?token=a1")
    True
    >>> is_stream_url("/dash/match.MPD")
    True
    >>> is_stream_url(".m3u8"), is_stream_url("video.mp4"), is_stream_url("a b.m3u8")
    (False, False, False)
    """
    if not url or len(url) > MAX_URL_LENGTH or _NOT_IN_URL.search(url):
        return False
    try:
        name = urlsplit(url).path.lower().rsplit("/", 1)[-1]
    except ValueError:
        return False
    return name.endswith(PLAYLIST_SUFFIXES) and name not in PLAYLIST_SUFFIXES


@dataclass(frozen=True)
class EventTip:
    """What a tip for a live event became: the tip (on the event's work, with its reporter)
    and, for a playlist URL, the stream recorded at once; a page's tip is queued for the usual
    tip check, which records the streams it finds there."""

    tip: Tip
    stream: LiveStream | None


def add_event_tip(session: Session, event_id: int, url: str, *, reporter: str | None,
                  at: datetime) -> EventTip:
    """A tip for an event: a playlist URL becomes a candidate at once (found by "tip"),
    checked while the event runs; a page URL is queued as a tip on the event's work, checked
    in a run of the event's campaign, so the event must be running. Raises NotFound for an
    unknown event, BadInput for a bad URL, Conflict when the event is over (or, for a page,
    not yet on)."""
    event = session.get(LiveEvent, event_id)
    if event is None:
        raise NotFound(f"no live event with id {event_id}")
    url = check_stream_url(url)
    if at > event.ends_at:
        raise Conflict(f"live event {event_id} ended at {event.ends_at:%Y-%m-%d %H:%M} UTC")
    if not is_stream_url(url):
        if at < event.starts_at:
            raise Conflict(f"live event {event_id} starts at {event.starts_at:%Y-%m-%d %H:%M} "
                           "UTC: a page tip is checked while it runs (a stream URL may be sent "
                           "now)")
        return EventTip(add_tip(session, url, event.work_id, reporter), None)
    stream = record_candidate(session, event_id=event.id, url=url, page_url=None,
                              found_by="tip", at=at)
    session.flush()
    tip = Tip(url=url, work_id=event.work_id, reporter=reporter, status="checked",
              created_at=at, checked_at=at,
              result={"run_outcome": None, "error": None, "hits": [], "works": [],
                      "named_work_found": None, "live_streams": [stream.id]})
    session.add(tip)
    session.flush()
    return EventTip(tip, stream)
