"""The live checker: each due candidate stream sampled, fingerprinted and matched against its
event's rolling reference, every outcome recorded as a LiveCheck.

One check of a stream: no reference (the feed is not live) → ``no_reference``, retried at the
event's interval without fetching anything; otherwise the stream is sampled (the sampler's
failure outcomes are recorded as they are: offline, not_found, encrypted, refused, ...), its
newest segment fingerprinted and matched. The first match is written evidence first: the
playlists' and the segment's WARC records (with IP and time, fsynced), their Capture rows,
then the Hit (the event's work, algorithm ``live``, the delay measured), the stream matched;
then the event's auto-confirm rule is applied. Later matches of a matched or listed stream
refresh its hit's and its blocking-list entries' last-seen time. The sample's network work and
fingerprinting happen outside any database transaction. A stream whose check fails in any
way gets a ``failed`` check and is retried: it never stops the checker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from matching.live import LiveMatch, SegmentPrint, print_segment
from matching.live_signal import LiveSignal
from matching.signal import ContentRejected
from swordnet.core.db import Database
from swordnet.core.models import (
    LIVE_CHECK_OUTCOMES,
    Hit,
    LiveCheck,
    LiveEvent,
    LiveStream,
    Site,
)
from swordnet.evidence.warc import WarcRef
from swordnet.live.blocklist import auto_confirm, record_seen
from swordnet.live.evidence import LiveEvidence
from swordnet.live.reference import NoReference
from swordnet.live.sampler import Fetched, Sample
from swordnet.live.streams import due_streams
from swordnet.watch.allowlists import allowlisted_works

log = logging.getLogger(__name__)

ALGORITHM = LiveSignal.name
# Outcomes saying the stream could not be sampled; this many in a row mark it offline.
FAILURES = frozenset(("offline", "not_found", "too_large", "looping", "bad_playlist",
                      "failed"))
OFFLINE_AFTER = 3
# This many no_match checks in a row (with the feed live) mark a stream unmatched; it is
# still checked, in case it starts showing the event.
UNMATCHED_AFTER = 3
# Offline and encrypted streams are checked this many times less often.
SLOW_FACTOR = 4
# States a sample's outcome does not undo (only going offline does, for matched or listed).
CONFIRMED_STATES = ("matched", "listed", "withdrawn")


class Sampling(Protocol):
    """What the checker needs of :class:`swordnet.live.sampler.StreamSampler`."""

    def sample(self, url: str, *, last_sequence: int | None = None) -> Sample: ...


class References(Protocol):
    """What the checker needs of :class:`swordnet.live.reference.ReferenceIngest`."""

    def problem(self, event_id: int) -> str | None: ...

    def match(self, event_id: int, segment: SegmentPrint, edge: float) -> LiveMatch | None: ...


DueStreams = Callable[[Session, datetime, int], Sequence[LiveStream]]
AutoConfirm = Callable[..., object]  # blocklist.auto_confirm(session, stream_id, *, at)


def _exchanges(sample: Sample) -> list[Fetched]:
    """What a matched sample's evidence records: its playlists, the segment's initialisation
    section if it has one, and the segment (last)."""
    assert sample.segment is not None
    return [*sample.playlists, *([sample.init] if sample.init else []), sample.segment]


@dataclass(frozen=True)
class _Job:
    """What a check needs to know of its stream, read before sampling."""

    stream_id: int
    event_id: int
    url: str
    interval_s: int
    last_sequence: int | None
    first_match_due: bool  # no hit yet: a match now is written with its evidence
    allowlisted: bool


@dataclass(frozen=True)
class _Found:
    """What sampling and matching found (no database involved)."""

    outcome: str
    reason: str | None
    sample: Sample | None = None
    match: LiveMatch | None = None
    refs: list[WarcRef] = field(default_factory=list)  # playlists', then the segment's


class LiveChecker:
    """Checks due candidate streams; :meth:`check` never raises."""

    def __init__(self, db: Database, references: References, *, sampler: Sampling,
                 evidence: LiveEvidence, clock: Callable[[], datetime],
                 printer: Callable[[bytes], SegmentPrint] = print_segment,
                 due: DueStreams = due_streams, confirm: AutoConfirm = auto_confirm,
                 cpu_clock: Callable[[], float] = time.thread_time) -> None:
        self.db = db
        self.references = references
        self.sampler = sampler
        self.evidence = evidence
        self.clock = clock
        self.printer = printer
        self.due_streams = due
        self.confirm = confirm
        self.cpu_clock = cpu_clock

    def due(self, now: datetime, limit: int) -> list[int]:
        """Ids of up to ``limit`` streams due for a check at ``now``."""
        with self.db.session() as session:
            return [stream.id for stream in self.due_streams(session, now, limit)]

    def check(self, stream_id: int, now: datetime) -> str:
        """Sample, match and record one stream; returns the outcome recorded."""
        started = self.cpu_clock()
        try:
            job = self._job(stream_id)
            if job is None:
                return "failed"
            found = self._examine(job)
            first_match = self._record(job, found, now, started)
        except Exception as exc:  # a bug or a broken stream: recorded, and the checker goes on
            log.exception("live stream %d: check failed", stream_id)
            self._record_crash(stream_id, now, exc, self.cpu_clock() - started)
            return "failed"
        if first_match:
            self._auto_confirm(stream_id, now)
        return found.outcome

    # --- before sampling ---------------------------------------------------------------------

    def _job(self, stream_id: int) -> _Job | None:
        with self.db.session() as session:
            stream = session.get(LiveStream, stream_id)
            if stream is None:
                return None
            event = stream.event
            detail = session.scalar(select(LiveCheck.detail).where(
                LiveCheck.stream_id == stream_id, LiveCheck.detail["sequence"].is_not(None))
                .order_by(LiveCheck.id.desc()).limit(1))
            sequence = detail.get("sequence") if detail else None
            allowlisted = bool(allowlisted_works(session, stream.site.domain, [event.work_id]))
            return _Job(stream.id, event.id, stream.url, event.check_every_s,
                        sequence if isinstance(sequence, int) else None,
                        stream.hit_id is None, allowlisted)

    # --- sampling and matching (no database) ---------------------------------------------------

    def _examine(self, job: _Job) -> _Found:
        problem = self.references.problem(job.event_id)
        if problem is not None:
            return _Found("no_reference", problem)
        sample = self.sampler.sample(job.url, last_sequence=job.last_sequence)
        if sample.outcome != "ok" or sample.segment is None:
            outcome = sample.outcome if sample.outcome in LIVE_CHECK_OUTCOMES else "failed"
            return _Found(outcome, sample.reason or "no segment", sample)
        try:
            printed = self.printer(sample.media)
        except ContentRejected as exc:
            return _Found("failed", f"segment {sample.segment.url}: {exc}", sample)
        edge = sample.edge if sample.edge is not None else sample.segment.fetched_at.timestamp()
        try:
            match = self.references.match(job.event_id, printed, edge)
        except NoReference as exc:
            return _Found("no_reference", str(exc), sample)
        if match is None:
            return _Found("no_match", None, sample)
        refs: list[WarcRef] = []
        if job.first_match_due and not job.allowlisted:  # evidence first
            refs = [self.evidence.record(fetched) for fetched in _exchanges(sample)]
        return _Found("matched", None, sample, match, refs)

    # --- recording -------------------------------------------------------------------------

    def _record(self, job: _Job, found: _Found, now: datetime, started: float) -> bool:
        """Write the check and what it changes; True when it made the stream's first hit."""
        with self.db.session() as session:
            stream = session.get(LiveStream, job.stream_id)
            if stream is None:
                return False
            checked_at = self.clock()
            detail: dict[str, Any] = {}
            if found.reason:
                detail["reason"] = found.reason
            sample, match = found.sample, found.match
            if sample is not None and sample.sequence is not None:
                detail["sequence"] = sample.sequence
            if sample is not None and sample.outcome == "ok":
                _note_site_seen(stream.site, sample, checked_at)
            playlist_id = segment_id = None
            made_hit = False
            if match is not None:
                detail.update(match_detail(match))
                if job.allowlisted:
                    detail["allowlisted"] = stream.site.domain
                elif found.refs and sample is not None and sample.segment is not None:
                    playlist_id, segment_id = self._first_hit(session, stream, sample, match,
                                                              found.refs, checked_at)
                    made_hit = True
                else:
                    _seen_again(session, stream, checked_at)
                if not job.allowlisted:
                    stream.delay_s, stream.score = match.delay_s, match.score
            session.add(LiveCheck(
                stream_id=stream.id, checked_at=checked_at, outcome=found.outcome,
                delay_s=match.delay_s if match else None, score=match.score if match else None,
                detail=detail, playlist_capture_id=playlist_id,
                segment_capture_id=segment_id, cpu_s=self.cpu_clock() - started))
            stream.checks += 1
            stream.last_checked_at, stream.last_outcome = checked_at, found.outcome
            stream.last_error = found.reason if found.outcome != "matched" else None
            session.flush()
            if not job.allowlisted:
                stream.state = _next_state(session, stream, found.outcome)
            stream.next_check_at = _next_check(stream.state, found.outcome, now,
                                               job.interval_s)
            return made_hit

    def _first_hit(self, session: Session, stream: LiveStream, sample: Sample,
                   match: LiveMatch, refs: list[WarcRef],
                   at: datetime) -> tuple[int | None, int]:
        """The captures of the recorded exchanges, and the stream's hit."""
        captures = [self.evidence.capture(session, fetched, ref)
                    for fetched, ref in zip(_exchanges(sample), refs, strict=True)]
        segment = captures[-1]
        playlist = captures[len(sample.playlists) - 1] if sample.playlists else None
        event = stream.event
        hit = session.scalar(select(Hit).where(Hit.work_id == event.work_id,
                                               Hit.url == stream.url))
        if hit is None:
            hit = Hit(work_id=event.work_id, site_id=stream.site_id, run_id=stream.run_id,
                      media_capture_id=segment.id, page_capture_id=stream.page_capture_id,
                      url=stream.url, page_url=stream.page_url, algorithm=ALGORITHM,
                      score=match.score, detail=match_detail(match), status="pending",
                      created_at=at, last_seen_at=at)
            session.add(hit)
            session.flush()
        else:
            hit.last_seen_at = at
        stream.hit_id = hit.id
        stream.matched_at = stream.matched_at or at
        return (playlist.id if playlist else None), segment.id

    def _record_crash(self, stream_id: int, now: datetime, exc: Exception,
                      cpu_s: float) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:2000]
        try:
            with self.db.session() as session:
                stream = session.get(LiveStream, stream_id)
                if stream is None:
                    return
                checked_at = self.clock()
                session.add(LiveCheck(stream_id=stream_id, checked_at=checked_at,
                                      outcome="failed", detail={"reason": reason},
                                      cpu_s=cpu_s))
                stream.checks += 1
                stream.last_checked_at, stream.last_outcome = checked_at, "failed"
                stream.last_error = reason
                interval = session.scalar(select(LiveEvent.check_every_s)
                                          .where(LiveEvent.id == stream.event_id)) or 60
                stream.next_check_at = now + timedelta(seconds=interval)
        except Exception:
            log.exception("live stream %d: the failed check could not be recorded", stream_id)

    def _auto_confirm(self, stream_id: int, now: datetime) -> None:
        """The event's auto-confirm rule, applied after the hit is committed (a failure here
        leaves the hit pending for review)."""
        try:
            with self.db.session() as session:
                self.confirm(session, stream_id, at=now)
        except Exception:
            log.exception("live stream %d: auto-confirm failed; the hit waits for review",
                          stream_id)


def match_detail(match: LiveMatch) -> dict[str, Any]:
    """A live match as a hit's (and a check's) detail."""
    return {"delay_s": match.delay_s, "reference_start": match.reference_start,
            "seconds": match.seconds, "audio_similarity": match.audio_similarity,
            "frame_similarity": match.frame_similarity}


def _note_site_seen(site: Site, sample: Sample, at: datetime) -> None:
    """The stream's site was reachable: when, and at which address (its playlist's)."""
    site.last_seen_at = at
    ip = sample.playlists[0].ip if sample.playlists else None
    if ip and ip not in site.ips:
        site.ips = [*site.ips, ip]


def _seen_again(session: Session, stream: LiveStream, at: datetime) -> None:
    """A matched or listed stream still shows the event: its hit and blocking-list entries
    were seen now."""
    if stream.hit is not None:
        stream.hit.last_seen_at = at
    if stream.listed_at is not None:
        record_seen(session, stream.id, actor="live checker", at=at)


def _recent_outcomes(session: Session, stream_id: int, count: int) -> list[str]:
    return list(session.scalars(select(LiveCheck.outcome).where(
        LiveCheck.stream_id == stream_id).order_by(LiveCheck.id.desc()).limit(count)))


def _next_state(session: Session, stream: LiveStream, outcome: str) -> str:
    """A stream's state after a check with ``outcome`` (already flushed)."""
    state = stream.state
    if outcome == "matched":
        return "listed" if stream.listed_at is not None else (
            state if state in CONFIRMED_STATES else "matched")
    if outcome in FAILURES:
        recent = _recent_outcomes(session, stream.id, OFFLINE_AFTER)
        offline = len(recent) == OFFLINE_AFTER and all(o in FAILURES for o in recent)
        return "offline" if offline and state != "withdrawn" else state
    if state in CONFIRMED_STATES or outcome == "no_reference":
        return state
    if outcome in ("encrypted", "refused"):
        return outcome
    recent = _recent_outcomes(session, stream.id, UNMATCHED_AFTER)
    if len(recent) == UNMATCHED_AFTER and all(o == "no_match" for o in recent):
        return "unmatched"
    return "checking"


def _next_check(state: str, outcome: str, now: datetime, interval_s: int) -> datetime | None:
    """When the stream is due again: never once refused (the policy refused its address),
    less often while offline or encrypted."""
    if outcome == "refused" and state == "refused":
        return None
    factor = SLOW_FACTOR if state in ("offline", "encrypted") else 1
    return now + timedelta(seconds=interval_s * factor)
