"""The official feeds' rolling references, and the feeds' health.

Per running event, :class:`ReferenceIngest` takes in the feed's new segments (or the captures
pushed in for an event without a feed URL), fingerprints them and adds them to the event's
:class:`matching.live.RollingReference` at the time they aired. The references live in the
live service's memory; the feed's health is kept on the LiveEvent row:

``waiting`` (no segment yet) → ``live`` → ``dropped`` (no new segment for
:data:`DROP_AFTER_TARGETS` target durations, or :data:`DROP_AFTER_FAILURES` failed fetches in
a row: a LiveFeedGap is opened) → ``live`` again when segments return (the gap is closed) →
``ended`` once the event's end has passed. Candidate streams are matched only while the feed
is live: a sample taken while it is down would otherwise be a false "no match".

Chromaprint gives no sound items for the last 2.5 s of a clip it is given, so a 4 s feed
segment printed on its own would leave two thirds of the feed's time without sound in the
reference. Each feed segment is printed joined to the one before it (MPEG-TS segments
concatenate; fMP4 segments follow their shared initialisation section) and added at the
earlier one's air time, overwriting what that one left: the reference then holds sound for
all of the feed but its newest 2.5 s. Segments that do not follow each other (a sequence
skipped, a discontinuity, a gap in air time, another initialisation section) or whose joint
does not decode are printed alone.

A capture pushed in (:func:`push_capture`, from ``swordnet live push`` or the API) is
fingerprinted by the process pushing it and spooled under the Swordnet home, where the
service picks it up at its next step. Its first :data:`PUSH_MAX_SECONDS` are taken. An
MPEG-TS capture of at most :data:`JOIN_MAX_S` seconds is kept for the next push: a capture
that begins where it ended is printed joined to it, as feed segments are; a longer capture,
or another container, is printed on its own (losing the sound of its last 2.5 s).
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Protocol

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from matching.live import (
    MAX_SEGMENT_BYTES,
    LiveMatch,
    RollingReference,
    SegmentPrint,
    print_segment,
)
from matching.signal import ContentRejected
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.errors import BadInput, Conflict, TooLarge
from swordnet.core.models import LiveEvent, LiveFeedGap
from swordnet.live.events import get_event, running_events
from swordnet.live.sampler import Sample

log = logging.getLogger(__name__)

DROP_AFTER_TARGETS = 3
DROP_AFTER_FAILURES = 3
DEFAULT_TARGET_S = 6.0
MAX_PUSH_BYTES = MAX_SEGMENT_BYTES  # what the printer decodes at most
PUSH_MAX_SECONDS = 300.0  # of a pushed capture (with the one it is joined to) is printed
PUSH_TIMEOUT_S = 120.0
JOIN_MAX_S = 30.0  # a pushed capture this long or shorter is kept to join the next one to
SEGMENTS_PER_POLL = 10
_SPOOL_SUFFIX = ".npz"
_MPEGTS_PACKET = 188

Printer = Callable[[bytes], SegmentPrint]
print_capture: Printer = partial(print_segment, max_seconds=PUSH_MAX_SECONDS,
                                 timeout_s=PUSH_TIMEOUT_S)


class NoReference(Exception):
    """The event has no reference to match against now; the message says why."""


class Reference(Protocol):
    """What the ingest and the checker need of :class:`matching.live.RollingReference`."""

    def add(self, start: float, segment: SegmentPrint) -> None: ...

    def trim(self, now: float) -> None: ...

    def span(self) -> tuple[float, float] | None: ...

    def match(self, segment: SegmentPrint, edge: float) -> LiveMatch | None: ...


class FeedSource(Protocol):
    """What the ingest needs of :class:`swordnet.live.sampler.StreamSampler`."""

    def new_segments(self, url: str, *, after_sequence: int | None,
                     limit: int = 10) -> list[Sample]: ...


def spool_dir(settings: Settings) -> Path:
    """Where captures pushed in wait for the live service."""
    return settings.home / "live" / "pushed"


def _event_spool(spool: Path, event_id: int) -> Path:
    return spool / str(event_id)


def _is_mpegts(content: bytes) -> bool:
    """Whether ``content`` looks like an MPEG transport stream (sync bytes 188 apart)."""
    return len(content) > 2 * _MPEGTS_PACKET and all(
        content[k * _MPEGTS_PACKET] == 0x47 for k in range(3))


def push_capture(session: Session, spool: Path, event_id: int, content: bytes, *,
                 at: datetime, printer: Printer = print_capture) -> float:
    """Take in a local capture of an event's feed that aired from ``at``: fingerprinted here
    (raises ContentRejected naming why it cannot be), joined to the previous capture when it
    follows it, then spooled for the live service. Only for events without a feed URL,
    within the event's bounds. Returns the seconds of the capture taken."""
    event = get_event(session, event_id)
    if event.feed_url is not None:
        raise Conflict(f"live event {event_id} has a feed URL ({event.feed_url}); its "
                       "reference is taken from the feed, not pushed")
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if not event.starts_at <= at < event.ends_at:
        raise BadInput(f"at: {at.isoformat()} is outside live event {event_id} "
                       f"({event.starts_at.isoformat()} to {event.ends_at.isoformat()})")
    if len(content) > MAX_PUSH_BYTES:
        raise TooLarge(f"capture: {len(content)} bytes; at most {MAX_PUSH_BYTES} at a time")
    if not content:
        raise BadInput("capture: the file is empty")
    directory = _event_spool(spool, event_id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    start = at.timestamp()
    with open(directory / ".push.lock", "a") as lock:  # one push of the event at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        previous = _previous_capture(directory, start, content)
        printed, earlier = None, 0.0
        if previous is not None:
            try:
                printed = printer(previous[2] + content)
                earlier = previous[1]
                start = previous[0]
            except ContentRejected:  # the two do not decode as one: the capture alone
                printed = None
        if printed is None:
            printed = printer(content)
        taken = max(0.0, printed.duration - earlier)
        _spool(directory, start, printed, taken, at.timestamp())
        _keep_for_joining(directory, at.timestamp(), taken, content)
    return round(taken, 2)


def _spool(directory: Path, start: float, printed: SegmentPrint, seconds: float,
           pushed_at: float) -> None:
    """Spool a print for the service: it goes at ``start``; ``seconds`` of it (from
    ``pushed_at``) are new. Named so that the service takes prints in the order they aired,
    a joint after the capture it joins."""
    buffer = io.BytesIO()
    np.savez(buffer, start=np.float64(start), duration=np.float64(printed.duration),
             seconds=np.float64(seconds), frames=printed.frames, audio=printed.audio)
    name = (f"{round(start * 1000):015d}-{round(pushed_at * 1000):015d}-"
            f"{secrets.token_hex(4)}{_SPOOL_SUFFIX}")
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, directory / name)


def _previous_capture(directory: Path, start: float,
                      content: bytes) -> tuple[float, float, bytes] | None:
    """The capture pushed before (its start, seconds and bytes) when ``content`` follows it:
    both MPEG-TS, and ``content`` airing from where it ended (within half its length)."""
    try:
        kept = json.loads((directory / "previous.json").read_text())
        body = (directory / "previous.ts").read_bytes()
        begun, seconds = float(kept["at"]), float(kept["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _is_mpegts(content) or abs(start - begun - seconds) > seconds / 2:
        return None
    return begun, seconds, body


def _keep_for_joining(directory: Path, start: float, seconds: float, content: bytes) -> None:
    """Keep a short MPEG-TS capture for the next push to be joined to; forget any other."""
    if not (_is_mpegts(content) and 0 < seconds <= JOIN_MAX_S):
        (directory / "previous.json").unlink(missing_ok=True)
        return
    (directory / ".previous.ts.tmp").write_bytes(content)
    os.replace(directory / ".previous.ts.tmp", directory / "previous.ts")
    (directory / ".previous.json.tmp").write_text(json.dumps({"at": start,
                                                              "seconds": seconds}))
    os.replace(directory / ".previous.json.tmp", directory / "previous.json")


def _take_spooled(spool: Path, event_id: int) -> list[tuple[float, SegmentPrint, float] | str]:
    """The prints spooled for an event, oldest first (removed from the spool), each with
    where it goes and how many seconds of it are new; a file that cannot be read is a
    one-line reason instead."""
    directory = _event_spool(spool, event_id)
    if not directory.is_dir():
        return []
    taken: list[tuple[float, SegmentPrint, float] | str] = []
    for path in sorted(directory.glob(f"*{_SPOOL_SUFFIX}")):
        try:
            with np.load(path, allow_pickle=False) as data:
                taken.append((float(data["start"]), SegmentPrint(
                    duration=float(data["duration"]), frames=data["frames"],
                    audio=data["audio"]), float(data["seconds"])))
        except (OSError, ValueError, KeyError) as exc:
            taken.append(f"pushed capture {path.name}: unreadable ({exc})")
        path.unlink(missing_ok=True)
    return taken


@dataclass(frozen=True)
class _Aired:
    """The feed's newest segment taken in: what the next one is joined to."""

    sequence: int | None
    start: float  # when it aired (epoch s)
    duration: float
    init: bytes
    body: bytes


@dataclass
class _Feed:
    """One running event's reference and what the ingest knows of its feed."""

    reference: Reference
    feed_url: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    live: bool = False
    last_sequence: int | None = None
    target_s: float = DEFAULT_TARGET_S
    failures: int = 0
    next_poll: datetime | None = None
    previous: _Aired | None = None


@dataclass(frozen=True)
class _Taken:
    added: int
    failure: str | None


class ReferenceIngest:
    """Keeps each running event's rolling reference and its feed's health; :meth:`step` does
    one round, :meth:`match` is what the checker's threads call."""

    def __init__(self, db: Database, *, sampler: FeedSource, spool: Path,
                 printer: Printer = print_segment,
                 reference_factory: Callable[[float], Reference] = RollingReference
                 ) -> None:
        self.db = db
        self.sampler = sampler
        self.spool = spool
        self.printer = printer
        self.reference_factory = reference_factory
        self._feeds: dict[int, _Feed] = {}
        self._lock = threading.Lock()

    # --- what the checker asks --------------------------------------------------------------

    def _live_feed(self, event_id: int) -> _Feed:
        with self._lock:
            feed = self._feeds.get(event_id)
        if feed is None or not feed.live:
            raise NoReference(f"live event {event_id}: its feed is not live")
        return feed

    def problem(self, event_id: int) -> str | None:
        """Why the event cannot be matched against now, or None when it can."""
        try:
            feed = self._live_feed(event_id)
        except NoReference as exc:
            return str(exc)
        with feed.lock:
            empty = feed.reference.span() is None
        return f"live event {event_id}: its reference is empty" if empty else None

    def match(self, event_id: int, segment: SegmentPrint, edge: float) -> LiveMatch | None:
        """Match a stream's segment against the event's reference; raises NoReference when
        the feed is not live or nothing of it is held."""
        feed = self._live_feed(event_id)
        with feed.lock:
            if feed.reference.span() is None:
                raise NoReference(f"live event {event_id}: its reference is empty")
            return feed.reference.match(segment, edge)

    # --- one round --------------------------------------------------------------------------

    def step(self, now: datetime) -> None:
        """Take in what every running event's feed aired since the last step, update the
        feeds' health, and end the events whose end has passed."""
        with self.db.session() as session:
            running = [(e.id, e.feed_url, e.window_s) for e in running_events(session, now)]
            self._end_finished(session, now, {event_id for event_id, _, _ in running})
        for event_id, feed_url, window_s in running:
            try:
                self._ingest(event_id, feed_url, window_s, now)
            except Exception:  # one event's trouble never stops the others
                log.exception("live event %d: reference ingest failed", event_id)

    def _feed(self, event_id: int, feed_url: str | None, window_s: int) -> _Feed:
        with self._lock:
            feed = self._feeds.get(event_id)
            if feed is None:
                feed = self._feeds[event_id] = _Feed(self.reference_factory(window_s),
                                                     feed_url)
            elif feed.feed_url != feed_url:  # the event's feed was changed: read it afresh
                feed.feed_url, feed.last_sequence, feed.next_poll = feed_url, None, None
                feed.previous = None
            return feed

    def _ingest(self, event_id: int, feed_url: str | None, window_s: int,
                now: datetime) -> None:
        feed = self._feed(event_id, feed_url, window_s)
        if feed_url is None:
            taken = self._take_pushed(feed, event_id)
        elif feed.next_poll is not None and now < feed.next_poll:
            return
        else:
            taken = self._poll(feed, feed_url, now)
            feed.next_poll = now + timedelta(seconds=max(1.0, feed.target_s / 2))
        with feed.lock:
            feed.reference.trim(now.timestamp())
        with self.db.session() as session:
            event = session.get(LiveEvent, event_id)
            if event is not None:
                self._health(session, event, feed, now, taken)

    def _poll(self, feed: _Feed, url: str, now: datetime) -> _Taken:
        try:
            samples = self.sampler.new_segments(url, after_sequence=feed.last_sequence,
                                                limit=SEGMENTS_PER_POLL)
        except Exception as exc:  # the sampler's own failure: the feed is unreadable now
            log.warning("feed %s: %s", url, exc)
            return _Taken(0, f"feed: {type(exc).__name__}: {exc}")
        added, failure = 0, None
        for sample, aired in zip(samples, _air_times(samples, now), strict=True):
            if sample.sequence is not None:
                feed.last_sequence = (sample.sequence if feed.last_sequence is None
                                      else max(sample.sequence, feed.last_sequence))
            if sample.outcome != "ok" or sample.segment is None:
                failure = f"feed {sample.outcome}: {sample.reason}"
                feed.previous = None
                continue
            try:
                start, printed, duration = self._print(feed.previous, sample, aired)
            except ContentRejected as exc:
                failure = f"feed segment {sample.sequence}: {exc}"
                feed.previous = None
                continue
            with feed.lock:
                feed.reference.add(start, printed)
            feed.previous = _Aired(sample.sequence, aired, duration,
                                   sample.init.body if sample.init else b"",
                                   sample.segment.body)
            feed.target_s = duration or feed.target_s
            added += 1
        return _Taken(added, failure)

    def _print(self, previous: _Aired | None, sample: Sample,
               aired: float) -> tuple[float, SegmentPrint, float]:
        """A feed segment's print and where it goes (joined to the previous segment when it
        follows it), and the segment's own length; raises ContentRejected."""
        joined = _joined(previous, sample, aired)
        if previous is not None and joined is not None:
            try:
                printed = self.printer(joined)
                return (previous.start, printed,
                        sample.duration or max(0.0, printed.duration - previous.duration))
            except ContentRejected:  # the two do not decode as one: the segment alone
                pass
        printed = self.printer(sample.media)
        return aired, printed, sample.duration or printed.duration

    def _take_pushed(self, feed: _Feed, event_id: int) -> _Taken:
        added, failure = 0, None
        for item in _take_spooled(self.spool, event_id):
            if isinstance(item, str):
                failure = item
                continue
            start, printed, seconds = item
            with feed.lock:
                feed.reference.add(start, printed)
            feed.target_s = seconds or printed.duration or feed.target_s
            added += 1
        return _Taken(added, failure)

    def _health(self, session: Session, event: LiveEvent, feed: _Feed, now: datetime,
                taken: _Taken) -> None:
        event.feed_checked_at = now
        if taken.added:
            feed.failures = 0
            if event.feed_state == "dropped":
                for gap in _open_gaps(session, event.id):
                    gap.ended_at = now
                log.info("live event %d: feed back", event.id)
            event.feed_state, event.feed_last_segment_at, event.feed_error = "live", now, None
            feed.live = True
            return
        feed.failures = feed.failures + 1 if taken.failure else 0
        if taken.failure:
            event.feed_error = taken.failure
        if event.feed_state != "live":
            return
        last = event.feed_last_segment_at or now
        silent = (now - last).total_seconds()
        if silent > DROP_AFTER_TARGETS * feed.target_s or (
                feed.failures >= DROP_AFTER_FAILURES and silent > feed.target_s):
            reason = taken.failure or event.feed_error or f"no new segment for {silent:.0f} s"
            event.feed_state, feed.live = "dropped", False
            session.add(LiveFeedGap(event_id=event.id, started_at=last, reason=reason))
            log.warning("live event %d: feed dropped: %s", event.id, reason)

    def _end_finished(self, session: Session, now: datetime, running: set[int]) -> None:
        """Events past their end are ``ended`` (any gap closed at the end); references of
        events no longer running are forgotten."""
        for event in session.scalars(select(LiveEvent).where(
                LiveEvent.ends_at <= now, LiveEvent.feed_state != "ended")):
            for gap in _open_gaps(session, event.id):
                gap.ended_at = max(gap.started_at, event.ends_at)
            event.feed_state, event.feed_checked_at = "ended", now
        with self._lock:
            for event_id in [e for e in self._feeds if e not in running]:
                del self._feeds[event_id]


def _open_gaps(session: Session, event_id: int) -> Sequence[LiveFeedGap]:
    return session.scalars(select(LiveFeedGap).where(
        LiveFeedGap.event_id == event_id, LiveFeedGap.ended_at.is_(None))).all()


def _joined(previous: _Aired | None, sample: Sample, aired: float) -> bytes | None:
    """The previous feed segment and ``sample``'s as one clip, when they follow each other:
    the next sequence number, no discontinuity, the same initialisation section, airing
    where the previous ended (within half its length); None otherwise."""
    if (previous is None or sample.segment is None or sample.discontinuity
            or previous.sequence is None or sample.sequence != previous.sequence + 1
            or abs(aired - previous.start - previous.duration) > previous.duration / 2):
        return None
    init = sample.init.body if sample.init else b""
    if init != previous.init:
        return None
    return init + previous.body + sample.segment.body


def _air_times(samples: Sequence[Sample], now: datetime) -> list[float]:
    """When each sample's segment aired: its edge, or (without one) counted back from now by
    the durations of the segments after it."""
    times: list[float] = []
    end = now.timestamp()
    for sample in reversed(samples):
        duration = sample.duration or 0.0
        times.append(sample.edge if sample.edge is not None else end - duration)
        end -= duration
    return times[::-1]
