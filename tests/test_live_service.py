"""The live service: events registered (and refused), the official feed's health as it runs,
drops and returns, and the checker's outcomes, hits and evidence.

The sampler, the matcher's fingerprints and rolling reference, the candidate query and the
auto-confirm rule belong to other modules; here they are small fakes passed in. A "segment"
is a few bytes naming what it shows; it matches the reference when the feed aired the same
bytes. The clock is the test's: each round is ``service.step(now)``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefiles.captures import capture_record, warc_path
from matching.live import LiveMatch, SegmentPrint
from matching.signal import ContentRejected
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import (
    Campaign,
    Capture,
    Hit,
    LiveCheck,
    LiveEvent,
    LiveFeedGap,
    LiveStream,
    ServiceInstance,
    WarcFile,
    Work,
)
from swordnet.core.service_lock import ServiceAlreadyRunning, ServiceLock
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import read_record
from swordnet.live.checker import LiveChecker
from swordnet.live.events import register_event, running_events, set_auto_confirm, update_event
from swordnet.live.evidence import LiveEvidence
from swordnet.live.reference import ReferenceIngest, push_capture, spool_dir
from swordnet.live.sampler import Fetched, Sample
from swordnet.live.service import LiveService
from swordnet.watch.targets import site_for_url
from swordnet.works.registry import holder_by_name
from tests import warm_cli
from tests.conftest import run_cli

T0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
FEED = "https://tv.example/final/master.m3u8"


# --- fakes for the other helpers' parts ------------------------------------------------------

def fake_print(content: bytes) -> SegmentPrint:
    """A segment's "fingerprint": its bytes' hash; empty bytes cannot be decoded."""
    if not content:
        raise ContentRejected("segment: no video stream")
    frame = np.frombuffer(sha256(content).digest()[:8], dtype=np.uint64)
    return SegmentPrint(duration=6.0, frames=frame, audio=np.zeros(0, dtype=np.uint32))


class FakeReference:
    """A rolling reference that matches a segment the feed aired with the same bytes."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.aired: list[tuple[float, SegmentPrint]] = []

    def add(self, start: float, segment: SegmentPrint) -> None:
        self.aired.append((start, segment))

    def trim(self, now: float) -> None:
        self.aired = [(s, p) for s, p in self.aired if s >= now - self.window_s]

    def span(self) -> tuple[float, float] | None:
        if not self.aired:
            return None
        return self.aired[0][0], self.aired[-1][0] + self.aired[-1][1].duration

    def match(self, segment: SegmentPrint, edge: float) -> LiveMatch | None:
        for start, aired in self.aired:
            if np.array_equal(aired.frames, segment.frames):
                return LiveMatch(score=0.93, delay_s=edge - start, reference_start=start,
                                 seconds=segment.duration, audio_similarity=0.9,
                                 frame_similarity=0.95)
        return None


def fetched(url: str, body: bytes, at: datetime, content_type: str) -> Fetched:
    return Fetched(url=url, status=200, headers=[("Content-Type", content_type)], body=body,
                   ip="127.0.0.1", fetched_at=at, request_headers=[("User-Agent", "test")])


def ok_sample(url: str, content: bytes, sequence: int, at: datetime,
              edge: float | None = None) -> Sample:
    base = url.rsplit("/", 1)[0]
    playlist = f"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:{sequence}\n#EXTINF:6,\nseg{sequence}.ts\n"
    return Sample("ok", "", [fetched(url, playlist.encode(), at, "application/x-mpegurl")],
                  fetched(f"{base}/seg{sequence}.ts", content, at, "video/mp2t"), sequence,
                  6.0, at.timestamp() if edge is None else edge)


def failed_sample(outcome: str, reason: str) -> Sample:
    return Sample(outcome, reason, [], None, None, None, None)


class FakeSampler:
    """The feed's new segments and each stream's sample, as the test sets them."""

    def __init__(self) -> None:
        self.feed: list[Sample] | Exception = []
        self.streams: dict[str, Sample | Exception] = {}
        self.sampled: list[str] = []

    def new_segments(self, url: str, *, after_sequence: int | None,
                     limit: int = 10) -> list[Sample]:
        if isinstance(self.feed, Exception):
            raise self.feed
        new = [s for s in self.feed if after_sequence is None or (s.sequence or 0) >
               after_sequence]
        return new[:limit]

    def sample(self, url: str, *, last_sequence: int | None = None) -> Sample:
        self.sampled.append(url)
        found = self.streams[url]
        if isinstance(found, Exception):
            raise found
        return found


def due_now(session: Session, now: datetime, limit: int) -> Sequence[LiveStream]:
    """The candidate query: streams whose next check has come."""
    return session.scalars(select(LiveStream).where(LiveStream.next_check_at <= now)
                           .order_by(LiveStream.id).limit(limit)).all()


class Confirmations:
    """The auto-confirm rule, noting which streams it was asked about."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def __call__(self, session: Session, stream_id: int, *, at: datetime) -> None:
        self.asked.append(stream_id)


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture
def live_db(sqlite_home: Settings) -> Iterator[Database]:
    database = open_database(sqlite_home)
    yield database
    database.dispose()


class Rig:
    """A live service over fakes, and the test's clock."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db
        self.now = T0
        self.sampler = FakeSampler()
        self.confirm = Confirmations()
        self.references = ReferenceIngest(db, sampler=self.sampler,
                                          spool=spool_dir(settings), printer=fake_print,
                                          reference_factory=FakeReference)
        self.checker = LiveChecker(db, self.references, sampler=self.sampler,
                                   evidence=LiveEvidence(EvidenceStore(settings.evidence_dir)),
                                   clock=lambda: self.now, printer=fake_print, due=due_now,
                                   confirm=self.confirm)
        self.service = LiveService(settings, lambda: self.now, db=db,
                                   references=self.references, checker=self.checker,
                                   workers=4, tick_s=0.01)

    def step(self, seconds: float = 0) -> dict[int, str]:
        self.now += timedelta(seconds=seconds)
        return self.service.step(self.now)

    def event(self, feed_url: str | None = FEED, **values: Any) -> int:
        with self.db.session() as session:
            holder = holder_by_name(session, "Broadcaster")
            event = register_event(session, holder_id=holder.id, title="Cup Final",
                                   aliases=["The Final"], starts_at=T0,
                                   ends_at=T0 + timedelta(hours=2), feed_url=feed_url,
                                   actor="ann", **values)
            return event.id

    def stream(self, event_id: int, url: str) -> int:
        with self.db.session() as session:
            site = site_for_url(session, url)
            stream = LiveStream(event_id=event_id, url=url, page_url=url + ".html",
                                site_id=site.id, found_by="crawl", found_at=self.now,
                                next_check_at=self.now)
            session.add(stream)
            session.flush()
            return stream.id

    def air(self, *contents: bytes, first: int) -> None:
        """The feed lists these segments now (sequence ``first`` on)."""
        self.sampler.feed = [ok_sample(FEED, c, first + i, self.now) for i, c in
                             enumerate(contents)]


@pytest.fixture
def rig(home: Settings, db: Database) -> Rig:
    """On SQLite and PostgreSQL."""
    return Rig(home, db)


def one(db: Database, model: Any, ident: int) -> Any:
    with db.session() as session:
        row = session.get(model, ident)
        assert row is not None
        session.expunge(row)
        return row


def checks(db: Database, stream_id: int) -> list[LiveCheck]:
    with db.session() as session:
        rows = session.scalars(select(LiveCheck).where(LiveCheck.stream_id == stream_id)
                               .order_by(LiveCheck.id)).all()
        session.expunge_all()
        return list(rows)


# --- events ------------------------------------------------------------------------------

def test_an_event_is_a_video_work_with_its_own_campaign(rig: Rig) -> None:
    event_id = rig.event(window_s=300, check_every_s=20)
    with rig.db.session() as session:
        event = session.get(LiveEvent, event_id)
        assert event is not None
        assert (event.feed_state, event.feed_url, event.window_s, event.check_every_s) == \
            ("waiting", FEED, 300, 20)
        work = session.get(Work, event.work_id)
        assert work is not None
        assert (work.kind, work.title, work.aliases, work.holder.name) == \
            ("video", "Cup Final", ["The Final"], "Broadcaster")
        campaign = session.get(Campaign, event.campaign_id)
        assert campaign is not None
        assert (campaign.starts_at, campaign.ends_at, campaign.every_seconds) == \
            (T0, T0 + timedelta(hours=2), 60)
        assert [e.id for e in running_events(session, T0 + timedelta(minutes=5))] == [event_id]
        assert running_events(session, T0 - timedelta(seconds=1)) == []
        assert running_events(session, T0 + timedelta(hours=2)) == []


@pytest.mark.parametrize(("values", "field"), [
    ({"title": "  "}, "title"),
    ({"ends_at": T0 - timedelta(minutes=1)}, "ends_at"),
    ({"feed_url": "rtmp://tv.example/live"}, "feed_url"),
    ({"feed_url": "https:///no-host.m3u8"}, "feed_url"),
    ({"window_s": 59}, "window_s"),
    ({"window_s": 3601}, "window_s"),
    ({"check_every_s": 9}, "check_every_s"),
    ({"check_every_s": 601}, "check_every_s"),
    ({"aliases": ["Final", " "]}, "aliases"),
])
def test_a_bad_event_is_refused_naming_the_field_and_nothing_is_stored(
        live_db: Database, values: dict[str, Any], field: str) -> None:
    given: dict[str, Any] = {"title": "Cup Final", "aliases": [], "starts_at": T0,
                             "ends_at": T0 + timedelta(hours=2), "feed_url": FEED,
                             "window_s": 600, "check_every_s": 30, **values}
    with pytest.raises(BadInput, match=f"^{field}: |^{field} "), live_db.session() as session:
        holder = holder_by_name(session, "Broadcaster")
        register_event(session, holder_id=holder.id, actor="ann", **given)
    with live_db.session() as session:
        assert session.scalar(select(func.count()).select_from(LiveEvent)) == 0
        assert session.scalar(select(func.count()).select_from(Work)) == 0
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_an_unknown_holder_is_refused(live_db: Database) -> None:
    with pytest.raises(NotFound, match="holder_id"), live_db.session() as session:
        register_event(session, holder_id=99, title="Final", aliases=[], starts_at=T0,
                       ends_at=T0 + timedelta(hours=1), feed_url=None, actor="ann")


def test_an_event_is_changed_and_its_auto_confirm_rule_set_by_someone(rig: Rig) -> None:
    event_id = rig.event()
    later = T0 + timedelta(hours=3)
    with rig.db.session() as session:
        update_event(session, event_id, actor="ann", title="Cup Final (replay)", ends_at=later,
                     feed_url=None)
        set_auto_confirm(session, event_id, 0.9, actor="bob")
    with rig.db.session() as session:
        event = session.get(LiveEvent, event_id)
        assert event is not None
        assert (event.work.title, event.ends_at, event.feed_url) == \
            ("Cup Final (replay)", later, None)
        assert (event.auto_confirm_score, event.auto_confirm_set_by) == (0.9, "bob")
        campaign = session.get(Campaign, event.campaign_id)
        assert campaign is not None and campaign.ends_at == later
    bad_changes: list[tuple[dict[str, Any], str]] = [
        ({"window_s": 5000}, "window_s"), ({"colour": "red"}, "colour"),
        ({"starts_at": later}, "ends_at")]
    for bad, field in bad_changes:
        with pytest.raises(BadInput, match=f"^{field}"), rig.db.session() as session:
            update_event(session, event_id, actor="ann", **bad)
    with pytest.raises(BadInput, match="auto_confirm_score"), rig.db.session() as session:
        set_auto_confirm(session, event_id, 1.5, actor="bob")
    with rig.db.session() as session:
        set_auto_confirm(session, event_id, None, actor="carol")
    event = one(rig.db, LiveEvent, event_id)
    assert (event.auto_confirm_score, event.auto_confirm_set_by, event.window_s) == \
        (None, "carol", 600)


# --- the feed's health -------------------------------------------------------------------

def test_a_feed_that_drops_mid_event_is_shown_and_matching_resumes_when_it_returns(
        rig: Rig) -> None:
    event_id = rig.event()
    pirate = rig.stream(event_id, "http://pirate.example/live/index.m3u8")
    rig.now = T0 + timedelta(minutes=1)
    rig.sampler.streams["http://pirate.example/live/index.m3u8"] = \
        ok_sample("http://pirate.example/live/index.m3u8", b"kick-off", 1, rig.now)

    rig.sampler.feed = []  # the feed lists nothing yet
    assert rig.step() == {pirate: "no_reference"}
    assert one(rig.db, LiveEvent, event_id).feed_state == "waiting"
    assert rig.sampler.sampled == []  # nothing fetched without a reference

    rig.air(b"kick-off", b"first minute", first=1)
    rig.step(30)  # the stream is due again 30 s later
    event = one(rig.db, LiveEvent, event_id)
    assert (event.feed_state, event.feed_last_segment_at) == ("live", rig.now)
    assert checks(rig.db, pirate)[-1].outcome == "matched"

    # the feed fails: after three failed fetches in a row it has dropped
    rig.sampler.feed = RuntimeError("connection reset")
    rig.step(6)
    rig.step(6)
    assert one(rig.db, LiveEvent, event_id).feed_state == "live"
    rig.step(6)
    event = one(rig.db, LiveEvent, event_id)
    assert event.feed_state == "dropped"
    assert "connection reset" in (event.feed_error or "")
    with rig.db.session() as session:
        gap = session.scalars(select(LiveFeedGap)).one()
        assert (gap.started_at, gap.ended_at) == (T0 + timedelta(seconds=90), None)
        assert "connection reset" in gap.reason
    rig.step(12)  # the stream is due: no match is claimed while the feed is down
    assert checks(rig.db, pirate)[-1].outcome == "no_reference"
    assert "not live" in (checks(rig.db, pirate)[-1].detail["reason"])

    rig.air(b"second half", first=40)
    rig.sampler.streams["http://pirate.example/live/index.m3u8"] = \
        ok_sample("http://pirate.example/live/index.m3u8", b"second half", 7, rig.now)
    rig.step(30)
    event = one(rig.db, LiveEvent, event_id)
    assert (event.feed_state, event.feed_error) == ("live", None)
    with rig.db.session() as session:
        gap = session.scalars(select(LiveFeedGap)).one()
        assert gap.ended_at == rig.now
    assert checks(rig.db, pirate)[-1].outcome == "matched"

    rig.now = T0 + timedelta(hours=2)
    rig.sampler.feed = []
    rig.step()
    assert one(rig.db, LiveEvent, event_id).feed_state == "ended"


def test_captures_pushed_in_make_the_reference_of_an_event_without_a_feed(rig: Rig) -> None:
    event_id = rig.event(feed_url=None)
    pirate = rig.stream(event_id, "http://pirate.example/p.m3u8")
    rig.now = T0 + timedelta(minutes=10)
    rig.sampler.streams["http://pirate.example/p.m3u8"] = \
        ok_sample("http://pirate.example/p.m3u8", b"pushed minute", 3, rig.now)
    with rig.db.session() as session:
        push_capture(session, spool_dir(rig.settings), event_id, b"pushed minute",
                     at=rig.now - timedelta(seconds=40), printer=fake_print)
    assert rig.step() == {pirate: "matched"}
    assert one(rig.db, LiveEvent, event_id).feed_state == "live"
    assert checks(rig.db, pirate)[-1].delay_s == pytest.approx(40)
    assert list(spool_dir(rig.settings).glob("*/*.npz")) == []  # taken in once

    rig.step(19)  # nothing pushed for more than three captures' length
    event = one(rig.db, LiveEvent, event_id)
    assert event.feed_state == "dropped"
    with rig.db.session() as session:
        assert session.scalars(select(LiveFeedGap.reason)).one() == "no new segment for 19 s"
    with rig.db.session() as session:
        push_capture(session, spool_dir(rig.settings), event_id, b"later", at=rig.now,
                     printer=fake_print)
    rig.step(1)
    assert one(rig.db, LiveEvent, event_id).feed_state == "live"

    feed_event = rig.event(feed_url=FEED)
    with pytest.raises(Conflict, match="feed URL"), rig.db.session() as session:
        push_capture(session, spool_dir(rig.settings), feed_event, b"x", at=rig.now,
                     printer=fake_print)
    with pytest.raises(BadInput, match="^at: "), rig.db.session() as session:
        push_capture(session, spool_dir(rig.settings), event_id, b"x",
                     at=T0 - timedelta(hours=1), printer=fake_print)
    with pytest.raises(ContentRejected, match="no video"), rig.db.session() as session:
        push_capture(session, spool_dir(rig.settings), event_id, b"noise", at=rig.now,
                     printer=lambda content: fake_print(b""))


# --- the checker -------------------------------------------------------------------------

def test_each_stream_gets_its_outcome_and_a_match_its_hit_and_evidence(rig: Rig) -> None:
    event_id = rig.event()
    waiting = rig.event(feed_url=None)  # nothing is pushed in: it has no reference
    urls = {name: f"http://{name}.example/live.m3u8"
            for name in ("restream", "lawful", "gone", "locked", "broken", "early")}
    ids = {name: rig.stream(waiting if name == "early" else event_id, url)
           for name, url in urls.items()}
    rig.now = T0 + timedelta(minutes=20)
    rig.air(b"goal!", first=200)
    rig.sampler.streams.update({
        urls["restream"]: ok_sample(urls["restream"], b"goal!", 17, rig.now,
                                    edge=rig.now.timestamp() + 35),
        urls["lawful"]: ok_sample(urls["lawful"], b"cooking show", 4, rig.now),
        urls["gone"]: failed_sample("offline", "connection refused"),
        urls["locked"]: failed_sample("encrypted", "segments are AES-128 encrypted"),
        urls["broken"]: RuntimeError("sampler crashed"),
    })

    outcomes = rig.step()

    assert outcomes == {ids["restream"]: "matched", ids["lawful"]: "no_match",
                        ids["gone"]: "offline", ids["locked"]: "encrypted",
                        ids["broken"]: "failed", ids["early"]: "no_reference"}
    for name, stream_id in ids.items():  # one check each, recorded, and due again
        recorded = checks(rig.db, stream_id)
        assert [c.outcome for c in recorded] == [outcomes[stream_id]]
        assert recorded[0].cpu_s is not None and recorded[0].cpu_s >= 0
        stream = one(rig.db, LiveStream, stream_id)
        assert stream.checks == 1 and stream.last_checked_at == rig.now
        factor = 4 if name == "locked" else 1
        assert stream.next_check_at == rig.now + timedelta(seconds=30 * factor)
    assert "sampler crashed" in (one(rig.db, LiveStream, ids["broken"]).last_error or "")
    assert one(rig.db, LiveStream, ids["locked"]).state == "encrypted"

    stream = one(rig.db, LiveStream, ids["restream"])
    assert (stream.state, stream.matched_at, stream.score) == ("matched", rig.now, 0.93)
    assert stream.delay_s == pytest.approx(35)
    assert rig.confirm.asked == [ids["restream"]]
    check = checks(rig.db, ids["restream"])[0]
    with rig.db.session() as session:
        hit = session.get(Hit, stream.hit_id)
        assert hit is not None
        assert (hit.algorithm, hit.url, hit.page_url, hit.status, hit.site.domain) == \
            ("live", urls["restream"], urls["restream"] + ".html", "pending",
             "restream.example")
        event = session.get(LiveEvent, event_id)
        assert event is not None and hit.work_id == event.work_id
        assert set(hit.detail) == {"delay_s", "reference_start", "seconds",
                                   "audio_similarity", "frame_similarity"}
        assert hit.media_capture_id == check.segment_capture_id
        captures = {c.id: c for c in session.scalars(select(Capture))}
        assert {c.kind for c in captures.values()} == {"media"}
        assert check.segment_capture_id and check.playlist_capture_id
        segment = captures[check.segment_capture_id]
        playlist = captures[check.playlist_capture_id]
        assert (segment.url, segment.ip, segment.sha256) == \
            ("http://restream.example/seg17.ts", "127.0.0.1", sha256(b"goal!").hexdigest())
        assert playlist.url == urls["restream"]
        store = EvidenceStore(rig.settings.evidence_dir)
        assert segment.warc_file is not None and segment.warc_offset is not None
        record = read_record(warc_path(session, store, segment.warc_file), segment.warc_offset)
        assert record.payload == b"goal!"
        assert record.headers["WARC-IP-Address"] == "127.0.0.1"
        assert record.headers["WARC-Target-URI"] == "http://restream.example/seg17.ts"
        assert b"EXT-X-MEDIA-SEQUENCE:17" in capture_record(session, store, playlist).payload
        assert session.scalar(select(func.count()).select_from(Hit)) == 1  # no other hit


def test_matched_streams_are_resampled_and_marked_offline_after_failing(rig: Rig) -> None:
    event_id = rig.event()
    url = "http://restream.example/live.m3u8"
    stream_id = rig.stream(event_id, url)
    rig.now = T0 + timedelta(minutes=20)
    rig.air(b"minute 20", first=200)
    rig.sampler.streams[url] = ok_sample(url, b"minute 20", 1, rig.now)
    rig.step()
    hit_id = one(rig.db, LiveStream, stream_id).hit_id

    rig.air(b"minute 20", b"minute 20:30", first=200)
    rig.sampler.streams[url] = ok_sample(url, b"minute 20:30", 2, rig.now)
    assert rig.step(30) == {stream_id: "matched"}
    assert one(rig.db, LiveStream, stream_id).hit_id == hit_id
    assert one(rig.db, Hit, hit_id).last_seen_at == rig.now
    assert rig.confirm.asked == [stream_id]  # the rule is asked about the first match only
    assert checks(rig.db, stream_id)[-1].segment_capture_id is None

    rig.sampler.streams[url] = failed_sample("not_found", "playlist: 404")
    for n in range(3):
        assert one(rig.db, LiveStream, stream_id).state == "matched"
        rig.air(f"minute {21 + n}".encode(), first=202 + n)  # the feed goes on
        rig.step(30)
    stream = one(rig.db, LiveStream, stream_id)
    assert (stream.state, stream.last_outcome, stream.last_error) == \
        ("offline", "not_found", "playlist: 404")
    assert stream.next_check_at == rig.now + timedelta(seconds=120)  # checked less often
    with rig.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Hit)) == 1


def test_the_service_runs_until_stopped_and_seals_its_evidence(rig: Rig) -> None:
    event_id = rig.event()
    url = "http://restream.example/live.m3u8"
    stream_id = rig.stream(event_id, url)
    rig.now = T0 + timedelta(minutes=20)
    rig.air(b"minute 20", first=200)
    rig.references.step(rig.now)
    rig.sampler.streams[url] = ok_sample(url, b"minute 20", 1, rig.now)
    stop = threading.Event()

    class StopAfterOneCheck(LiveChecker):
        def check(self, stream_id: int, now: datetime) -> str:
            outcome = super().check(stream_id, now)
            stop.set()
            return outcome

    checker = StopAfterOneCheck(rig.db, rig.references, sampler=rig.sampler,
                                evidence=rig.checker.evidence, clock=lambda: rig.now,
                                printer=fake_print, due=due_now, confirm=rig.confirm)
    LiveService(rig.settings, lambda: rig.now, db=rig.db, references=rig.references,
                checker=checker, workers=2, tick_s=0.01).run_until(stop)

    assert [c.outcome for c in checks(rig.db, stream_id)] == ["matched"]
    with rig.db.session() as session:
        warc = session.scalars(select(WarcFile)).one()
        assert warc.sha256 is not None and warc.sealed_at is not None
        segment = session.get(Capture, checks(rig.db, stream_id)[0].segment_capture_id)
        assert segment is not None
        store = EvidenceStore(rig.settings.evidence_dir)
        assert capture_record(session, store, segment).payload == b"minute 20"
        assert Path(warc_path(session, store, warc.filename)).exists()


def test_one_live_service_per_database(rig: Rig) -> None:
    """On SQLite and PostgreSQL: a second service (another process, or this one) refuses to
    start while the first runs, naming it; the scheduler's lock is another lock."""
    stop, started = threading.Event(), threading.Event()
    first = threading.Thread(target=rig.service.run_until, args=(stop, started.set))
    first.start()
    try:
        assert started.wait(60)
        env = {**os.environ, "SWORDNET_HOME": str(rig.settings.home),
               "SWORDNET_DATABASE_URL": rig.settings.database_url}
        second = warm_cli.run(["live", "run"], env, timeout=60)
        with pytest.raises(ServiceAlreadyRunning, match="another live service is already "
                                                        "running against this database"):
            LiveService(rig.settings, lambda: rig.now, db=rig.db, references=rig.references,
                        checker=rig.checker).run_until(threading.Event())
        assert not ServiceLock(rig.db, "scheduler").held_elsewhere()
    finally:
        stop.set()
        first.join()
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1].startswith(
        "Error: another live service is already running against this database "
        f"(pid {os.getpid()} on ")
    assert "Live service running" not in second.stdout
    with rig.db.session() as session:
        instance = session.scalars(select(ServiceInstance)).one()  # the refused left none
        assert (instance.service, instance.pid, instance.executor) == (
            "live", os.getpid(), "4 checker threads")
        assert instance.stopped_at is not None
    again = threading.Event()
    again.set()  # once the first has stopped, another starts (and stops at once)
    rig.service.run_until(again)
    assert not ServiceLock(rig.db, "live").held_elsewhere()


def test_live_run_is_a_command(sqlite_home: Settings) -> None:
    result = run_cli("live", "run", "--help")
    assert result.exit_code == 0
    assert "until stopped (SIGTERM or Ctrl-C)" in result.output
    assert run_cli("live", "run", "--workers", "0").exit_code == 2
