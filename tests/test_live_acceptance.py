"""Issue 19's acceptance: a live event's pirate restreams found, matched and listed for
blocking while the event runs, against the local live world (tests/live_world.py).

One event is run once for the module, on the world's clock, ticking every 5 s: the reference
ingest takes in the official feed, the event campaign crawls its watch target (the pirate
site, a real ``scrapy crawl``) every 20 s while the restreams' pages appear, the checker
samples every due candidate, and staff confirm and list each stream as soon as it is
matched. The feed drops from 140 s to 180 s. Tips bring in a stream with each fault. The
tests then read what a user would see in the database: the streams, their checks, hits and
evidence (captures of the playlist and segment, with address and time), the event's feed
health and gaps, and the blocking list.

A crawl subprocess stamps what it records with the real time, and the clock cannot be
injected into it: the world's clock therefore runs half an hour ahead of real time (the
event's bounds hold both), so a candidate a crawl records is due for checking at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from scheduler.executor import CrawlRequest
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import (
    BlockEntry,
    Campaign,
    Capture,
    Hit,
    InfrastructureRange,
    LiveCheck,
    LiveEvent,
    LiveFeedGap,
    LiveStream,
)
from swordnet.live.blocklist import confirm_and_list
from swordnet.live.events import register_event
from swordnet.live.sampler import StreamSampler
from swordnet.live.service import LiveService
from swordnet.live.streams import record_candidate
from swordnet.watch.campaigns import update_campaign
from swordnet.watch.targets import add_target, get_target
from swordnet.works.registry import holder_by_name
from tests.conftest import TEST_NETWORKS
from tests.live_world import (
    CDN_ADDRESS,
    CDN_HOSTS,
    EVENT_TITLE,
    TEST_POLICY,
    LiveWorld,
    WorldClock,
    WorldMedia,
    session_media,
)
from tests.pirate_sites import run_crawl

# One xdist worker runs this whole module, so the event is run once, not once per worker.
pytestmark = pytest.mark.xdist_group("live_acceptance")

TICK_S, CRAWL_EVERY_S, CHECK_EVERY_S = 5, 20, 30
RUN_S = 230  # how long the event is followed (the programme lasts 240 s)
CRAWL_UNTIL_S = 160  # both restreams' pages have appeared by then
DROP = (140.0, 180.0)  # the official feed is down
DELAY_TOLERANCE_S = 3.0
GRACE_S = 15  # the service may wait up to three segment lengths before calling a drop
AHEAD = timedelta(minutes=30)  # the world's clock runs ahead of real time (see above)


@dataclass
class EventRun:
    """What following the event produced, and what was seen while it ran."""

    db: Database
    world: LiveWorld
    event_id: int
    confirmed_at: dict[int, datetime] = field(default_factory=dict)  # stream id -> when
    feed_states: dict[float, str] = field(default_factory=dict)  # seconds -> feed state
    fault_urls: dict[str, str] = field(default_factory=dict)  # url -> expected outcome
    crawls: list[str] = field(default_factory=list)  # each crawl's outcome

    def stream(self, url: str) -> LiveStream:
        with self.db.session() as session:
            stream = session.scalar(select(LiveStream).where(
                LiveStream.event_id == self.event_id, LiveStream.url == url))
            assert stream is not None, f"{url} was never recorded as a candidate"
            session.expunge(stream)
            return stream

    def checks(self, stream_id: int) -> list[LiveCheck]:
        with self.db.session() as session:
            checks = list(session.scalars(select(LiveCheck).where(
                LiveCheck.stream_id == stream_id).order_by(LiveCheck.checked_at, LiveCheck.id)))
            session.expunge_all()
            return checks

    def block_list(self) -> list[BlockEntry]:
        """The blocking list as exported: every entry listed and not withdrawn."""
        with self.db.session() as session:
            entries = list(session.scalars(select(BlockEntry).where(
                BlockEntry.event_id == self.event_id, BlockEntry.listed_at.is_not(None),
                BlockEntry.withdrawn_at.is_(None))))
            session.expunge_all()
            return entries


def start_service(db: Database, settings: Settings, world: LiveWorld) -> LiveService:
    """The live service as a node runs it, on the world's clock, resolver and loopback-only
    outbound policy."""
    sampler = StreamSampler(TEST_POLICY, clock=world.clock, resolve=world.resolve)
    return LiveService(settings, world.clock, db=db, sampler=sampler)


def crawl(db: Database, settings: Settings, target_id: int, campaign_id: int) -> str:
    """One crawl of the event campaign's target, as the scheduler starts it."""
    with db.session() as session:
        request = CrawlRequest.for_target(get_target(session, target_id), purpose="campaign",
                                          campaign_id=campaign_id)
    return run_crawl(db, settings, request).outcome


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> WorldMedia:
    return session_media(tmp_path_factory)


@pytest.fixture(scope="module")
def event_run(media: WorldMedia, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventRun]:
    folder: Path = tmp_path_factory.mktemp("live-event")
    settings = Settings(home=folder / "home", database_url=f"sqlite:///{folder / 'sn.db'}",
                        allow_networks=TEST_NETWORKS)
    real_now = datetime.now(UTC).replace(microsecond=0)
    start = real_now + AHEAD
    clock = WorldClock(start)
    db = open_database(settings)
    with LiveWorld(media, clock, start) as world:
        world.drop_feed(*DROP)
        with db.session() as session:
            holder = holder_by_name(session, "Cup Organiser")
            event = register_event(
                session, holder_id=holder.id, title=EVENT_TITLE, aliases=["The Cup Final"],
                starts_at=real_now - timedelta(minutes=10), ends_at=real_now + timedelta(hours=3),
                feed_url=world.feed_url, window_s=600, check_every_s=CHECK_EVERY_S,
                actor="staff:ana")
            campaign = session.get(Campaign, event.campaign_id)
            assert campaign is not None
            target = add_target(session, world.pirate_url, depth=2, max_pages=50,
                                every_seconds=None)
            update_campaign(session, campaign, target_ids=[target.id])
            # The CDN's network as the shipped provider ranges list it.
            session.add(InfrastructureRange(provider="Example CDN", network=f"{CDN_ADDRESS}/128",
                                            as_of=date(2026, 11, 1)))
            run = EventRun(db, world, event.id)
            for key, url in world.faults.items():
                record_candidate(session, event_id=event.id, url=url, page_url=None,
                                 found_by="tip", at=clock())
                run.fault_urls[url] = key.removesuffix("_declared")
            target_id, campaign_id = target.id, campaign.id

        service = start_service(db, settings, world)
        for elapsed in range(0, RUN_S + 1, TICK_S):
            clock.set(world.at(elapsed))
            if elapsed % CRAWL_EVERY_S == 0 and elapsed <= CRAWL_UNTIL_S:
                run.crawls.append(crawl(db, settings, target_id, campaign_id))
            service.step(clock())  # the feed taken in, then every due stream checked
            with db.session() as session:
                live_event = session.get(LiveEvent, run.event_id)
                assert live_event is not None
                run.feed_states[elapsed] = live_event.feed_state
                matched = session.scalars(select(LiveStream.id).where(
                    LiveStream.event_id == run.event_id, LiveStream.state == "matched")).all()
            for stream_id in matched:
                if stream_id not in run.confirmed_at:  # staff press "confirm and list"
                    with db.session() as session:
                        confirm_and_list(session, stream_id, actor="staff:ana", at=clock())
                    run.confirmed_at[stream_id] = clock()
        yield run
    db.dispose()


def test_the_campaign_crawls_ran(event_run: EventRun) -> None:
    assert event_run.crawls and set(event_run.crawls) == {"finished"}


def test_each_restream_is_a_hit_within_60_s_of_its_page_appearing(event_run: EventRun) -> None:
    world = event_run.world
    with event_run.db.session() as session:
        event = session.get(LiveEvent, event_run.event_id)
        assert event is not None
        work_id = event.work_id
    for restream in world.restreams:
        stream = event_run.stream(restream.url)
        assert stream.found_by == "crawl"
        assert stream.page_url is not None and stream.page_url.startswith(world.pirate_url)
        assert stream.matched_at is not None and stream.hit_id is not None, restream.url
        assert stream.matched_at - restream.appears_at <= timedelta(seconds=60)
        assert stream.delay_s == pytest.approx(restream.delay_s, abs=DELAY_TOLERANCE_S)
        with event_run.db.session() as session:
            hit = session.get(Hit, stream.hit_id)
            assert hit is not None
            assert (hit.work_id, hit.url) == (work_id, restream.url)
        matched = [c for c in event_run.checks(stream.id) if c.outcome == "matched"]
        assert matched and all(c.delay_s == pytest.approx(restream.delay_s,
                                                          abs=DELAY_TOLERANCE_S)
                               for c in matched)


def test_a_match_is_evidenced_by_the_playlist_and_segment_as_served(event_run: EventRun) -> None:
    world = event_run.world
    for restream, media in zip(world.restreams, world.media.pirates, strict=True):
        stream = event_run.stream(restream.url)
        check = next(c for c in event_run.checks(stream.id) if c.outcome == "matched")
        assert check.playlist_capture_id is not None and check.segment_capture_id is not None
        with event_run.db.session() as session:
            playlist = session.get(Capture, check.playlist_capture_id)
            segment = session.get(Capture, check.segment_capture_id)
            assert playlist is not None and segment is not None
            media_playlist = restream.url.replace("master.m3u8", "index.m3u8")
            assert playlist.url in (restream.url, media_playlist)
            assert playlist.http_status == 200
            assert urlsplit(segment.url).hostname == restream.host
            name = segment.url.rsplit("/", 1)[1]
            assert segment.sha256 == hashlib.sha256(media.files[name]).hexdigest()
            assert segment.ip == world.resolve(restream.host, 80)[0]
            assert segment.warc_file and segment.warc_offset is not None
            assert check.checked_at - timedelta(seconds=TICK_S) <= segment.fetched_at \
                <= check.checked_at + timedelta(seconds=TICK_S)


def test_a_confirmed_stream_is_listed_by_fqdn_within_60_s(event_run: EventRun) -> None:
    listed = {(e.kind, e.value): e for e in event_run.block_list()}
    for restream in event_run.world.restreams:
        stream = event_run.stream(restream.url)
        confirmed = event_run.confirmed_at[stream.id]
        entry = listed.get(("fqdn", restream.host))
        assert entry is not None, f"{restream.host} is not on the blocking list"
        assert entry.listed_at is not None
        assert entry.listed_at - confirmed <= timedelta(seconds=60)
        assert event_run.stream(restream.url).state == "listed"


def test_the_shared_cdn_address_is_never_listed_by_ip(event_run: EventRun) -> None:
    values = {e.value for e in event_run.block_list()}
    assert CDN_ADDRESS not in values and "0:0:0:0:0:0:0:1" not in values
    with event_run.db.session() as session:
        held = session.scalars(select(BlockEntry).where(BlockEntry.value == CDN_ADDRESS)).all()
        assert all(e.shared_infrastructure and e.listed_at is None for e in held)
    # nothing else the CDN serves is listed
    assert not values & (set(CDN_HOSTS) - {"stream-two.test"})


def test_no_hit_on_the_lawful_stream(event_run: EventRun) -> None:
    stream = event_run.stream(event_run.world.lawful_url)
    checks = event_run.checks(stream.id)
    assert len(checks) >= 3  # checked all along
    outcomes = {c.outcome for c in checks}
    assert "no_match" in outcomes and outcomes <= {"no_match", "no_reference"}
    assert stream.hit_id is None and stream.state not in ("matched", "listed")
    with event_run.db.session() as session:
        assert not session.scalars(select(Hit).where(
            Hit.url == event_run.world.lawful_url)).all()


def test_a_feed_drop_shows_on_the_event_and_matching_resumes(event_run: EventRun) -> None:
    world = event_run.world
    down_from, back_at = world.at(DROP[0]), world.at(DROP[1])
    states = event_run.feed_states
    assert states[100] == "live" and states[RUN_S] == "live"
    # noticed within three segment lengths, shown until the feed is back
    noticed = int(DROP[0]) + GRACE_S
    assert {states[s] for s in range(noticed, int(DROP[1]), TICK_S)} == {"dropped"}
    with event_run.db.session() as session:
        gaps = session.scalars(select(LiveFeedGap).where(
            LiveFeedGap.event_id == event_run.event_id)).all()
        assert len(gaps) == 1
        gap = gaps[0]
        assert down_from - timedelta(seconds=TICK_S) <= gap.started_at \
            <= down_from + timedelta(seconds=GRACE_S)
        assert gap.ended_at is not None  # with the first new segment after it (at 184 s)
        assert back_at <= gap.ended_at <= back_at + timedelta(seconds=2 * TICK_S)
        assert gap.reason
    # Restream one, 20 s behind: what it showed while the feed was down cannot be matched
    # (the reference never got it), and it matches again once the feed is back.
    one = world.restreams[0]
    checks = event_run.checks(event_run.stream(one.url).id)
    blind = [c for c in checks
             if down_from + timedelta(seconds=one.delay_s + 8) <= c.checked_at
             < back_at + timedelta(seconds=one.delay_s)]
    assert blind and all(c.outcome in ("no_match", "no_reference") for c in blind)
    after = [c for c in checks if c.checked_at >= back_at + timedelta(seconds=one.delay_s + 8)]
    assert after and all(c.outcome == "matched" for c in after)


def test_each_fault_gets_its_outcome_and_the_checker_keeps_running(event_run: EventRun) -> None:
    for url, expected in event_run.fault_urls.items():
        stream = event_run.stream(url)
        outcomes = [c.outcome for c in event_run.checks(stream.id)]
        assert expected in outcomes, (url, outcomes)
        assert "matched" not in outcomes and stream.hit_id is None
        assert stream.last_error, url  # a one-line reason is kept
    # the other streams went on being checked to the end
    last = event_run.world.at(RUN_S - CHECK_EVERY_S)
    world = event_run.world
    for url in [world.lawful_url, *(r.url for r in world.restreams)]:
        stream = event_run.stream(url)
        assert stream.last_checked_at is not None and stream.last_checked_at >= last, url
