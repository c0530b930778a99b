"""The official feed's reference holds its sound for (nearly) all of the feed: each feed
segment is fingerprinted joined to the one before it (swordnet/live/reference.py), so a
sound-only restream segment matches wherever in the feed it starts, for MPEG-TS and fMP4
feeds and for MPEG-TS captures pushed in one after the other."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from matching.live import RollingReference, SegmentPrint, print_segment
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.live.events import register_event
from swordnet.live.reference import JOIN_MAX_S, ReferenceIngest, push_capture, spool_dir
from swordnet.live.sampler import Fetched, Sample
from swordnet.works.registry import holder_by_name
from tests.live_media import cut, programme, restream, segment_hls

# One xdist worker runs this whole module, so its media are generated once, not per worker.
pytestmark = pytest.mark.xdist_group("live_reference")

T0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
AIRED = T0 + timedelta(minutes=5)  # when the programme's first instant aired on the feed
DELAY_S = 30.0  # how far the restream runs behind
PROGRAMME_S = 48.0
SEGMENT_S = 4.0
# Where the restream's sound-only segments start in the programme: every phase of a feed
# segment (2.7 s apart), from the first segment to the last one the reference can hold.
CONTENT_AT = [4.0 + 2.7 * k for k in range(14)]


@dataclass(frozen=True)
class Feed:
    """An HLS rendition of the programme: its initialisation section and segments."""

    init: bytes
    segments: list[tuple[float, bytes]]  # (duration, bytes), in order


@dataclass(frozen=True)
class Media:
    feeds: dict[str, Feed]  # by container: "mpegts", "fmp4"
    sound: list[SegmentPrint]  # the restream's sound-only segments at CONTENT_AT, printed


def _feed(directory: Path) -> Feed:
    init = directory / "init.mp4"
    durations, names = [], []
    for line in (directory / "index.m3u8").read_text().splitlines():
        if line.startswith("#EXTINF:"):
            durations.append(float(line[8:].split(",")[0]))
        elif line and not line.startswith("#"):
            names.append(line)
    return Feed(init.read_bytes() if init.exists() else b"",
                [(d, (directory / n).read_bytes()) for d, n in zip(durations, names,
                                                                   strict=True)])


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("live-reference")
    official = programme(folder / "official.mp4", seconds=PROGRAMME_S, seed=19, fps=10)
    pirate = restream(official, folder / "pirate.mp4", crop=0.1, logo=True,
                      video_bitrate="100k")
    feeds = {"mpegts": _feed(segment_hls(official, folder / "ts", segment_s=SEGMENT_S)),
             "fmp4": _feed(segment_hls(official, folder / "fmp4", segment_s=SEGMENT_S,
                                       fmp4=True))}
    # printed once for the session: every test matches the same prints
    sound = [print_segment(cut(pirate, start=at, seconds=SEGMENT_S, video=False))
             for at in CONTENT_AT]
    return Media(feeds, sound)


class AiredFeed:
    """The feed's playlist once the whole programme has aired, as the sampler reads it."""

    def __init__(self, feed: Feed) -> None:
        self.samples, start = [], AIRED.timestamp()
        init = Fetched(url="https://tv.example/init.mp4", status=200, headers=[],
                       body=feed.init, ip="127.0.0.1", fetched_at=AIRED) if feed.init else None
        for sequence, (duration, body) in enumerate(feed.segments):
            segment = Fetched(url=f"https://tv.example/seg{sequence}", status=200, headers=[],
                              body=body, ip="127.0.0.1", fetched_at=AIRED)
            self.samples.append(Sample("ok", "", [], segment, sequence, duration, start, init))
            start += duration

    def new_segments(self, url: str, *, after_sequence: int | None,
                     limit: int = 10) -> list[Sample]:
        return [s for s in self.samples if after_sequence is None
                or (s.sequence or 0) > after_sequence][:limit]


@pytest.fixture
def live_db(sqlite_home: Settings) -> Iterator[Database]:
    database = open_database(sqlite_home)
    yield database
    database.dispose()


def _event(db: Database, feed_url: str | None) -> int:
    with db.session() as session:
        event = register_event(session, holder_id=holder_by_name(session, "Broadcaster").id,
                               title="Cup Final", aliases=[], starts_at=T0,
                               ends_at=T0 + timedelta(hours=2), feed_url=feed_url,
                               window_s=600, actor="ann")
        return event.id


def _sound_matches(ingest: ReferenceIngest, event_id: int, media: Media) -> list[float]:
    """Where each sound-only restream segment was found on the feed (seconds into the
    programme), asserting it matched on its sound with the restream's delay."""
    found = []
    for at, printed in zip(CONTENT_AT, media.sound, strict=True):
        assert not len(printed.frames) and len(printed.audio)
        edge = AIRED.timestamp() + at + DELAY_S
        match = ingest.match(event_id, printed, edge)
        assert match is not None, f"sound from {at:.1f} s did not match"
        assert match.audio_similarity is not None and match.frame_similarity is None
        assert match.delay_s == pytest.approx(DELAY_S, abs=1.0)
        found.append(match.reference_start - AIRED.timestamp())
    return found


@pytest.mark.parametrize("container", ["mpegts", "fmp4"])
def test_the_reference_holds_the_feeds_sound_and_any_part_of_it_matches(
        media: Media, live_db: Database, sqlite_home: Settings, container: str) -> None:
    feed = media.feeds[container]
    references: list[RollingReference] = []

    def keep(window_s: float) -> RollingReference:
        references.append(RollingReference(window_s))
        return references[-1]

    event_id = _event(live_db, "https://tv.example/live.m3u8")
    ingest = ReferenceIngest(live_db, sampler=AiredFeed(feed), spool=spool_dir(sqlite_home),
                             reference_factory=keep)
    aired_until = AIRED + timedelta(seconds=PROGRAMME_S)
    for k in range(len(feed.segments) // 10 + 1):  # ten segments a poll, 3 s apart
        ingest.step(aired_until + timedelta(seconds=3 * k))
    (reference,) = references
    span = reference.span()
    assert span is not None and span[1] - span[0] == pytest.approx(PROGRAMME_S, abs=0.5)
    picture, sound = reference.held()
    assert picture >= 0.9 * PROGRAMME_S  # near-blank frames (fades) are never compared
    assert sound >= PROGRAMME_S - 3.5  # all but the newest segment's last 2.5 s

    # each segment printed on its own, as before: about a third of the sound
    alone = RollingReference(600)
    start = AIRED.timestamp()
    for duration, body in feed.segments:
        alone.add(start, print_segment(feed.init + body))
        start += duration
    assert alone.held()[1] < PROGRAMME_S / 2

    found = _sound_matches(ingest, event_id, media)
    assert found == pytest.approx(CONTENT_AT, abs=1.0)


def test_mpegts_captures_pushed_one_after_another_are_joined(
        media: Media, live_db: Database, sqlite_home: Settings) -> None:
    event_id = _event(live_db, None)
    spool = spool_dir(sqlite_home)
    feed = media.feeds["mpegts"]
    assert all(duration <= JOIN_MAX_S for duration, _ in feed.segments)
    at, taken = AIRED, []
    for duration, body in feed.segments:
        with live_db.session() as session:
            taken.append(push_capture(session, spool, event_id, body, at=at))
        at += timedelta(seconds=duration)
    # each push reports its own seconds, not the joint's
    assert taken == pytest.approx([d for d, _ in feed.segments], abs=0.3)
    references: list[RollingReference] = []

    def keep(window_s: float) -> RollingReference:
        references.append(RollingReference(window_s))
        return references[-1]

    ingest = ReferenceIngest(live_db, sampler=AiredFeed(feed), spool=spool,
                             reference_factory=keep)
    ingest.step(at)
    _picture, sound = references[0].held()
    assert sound >= PROGRAMME_S - 3.5
    assert _sound_matches(ingest, event_id, media) == pytest.approx(CONTENT_AT, abs=1.0)

    # a capture that does not follow the previous one is printed alone
    with live_db.session() as session:
        later = push_capture(session, spool, event_id, feed.segments[0][1],
                             at=at + timedelta(minutes=1))
    assert later == pytest.approx(feed.segments[0][0], abs=0.3)
