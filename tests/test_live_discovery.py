"""Finding a live event's candidate restreams: crawls and searches of its campaign read pages
(and the players they embed) for stream URLs, tips name pages or streams; each candidate is
recorded once per event, with its page kept as evidence, and due for the checker at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs

import pytest
from sqlalchemy import func, select

from casefiles.captures import capture_record
from scheduler import jobs
from scheduler.executor import CrawlRequest, LocalExecutor
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import (
    Campaign,
    Capture,
    CrawlRun,
    LiveEvent,
    LiveStream,
    RightsHolder,
    Tip,
    WatchTarget,
    Work,
)
from swordnet.core.timeutil import utcnow
from swordnet.demo.site import DemoSite, Resource, serve_site
from swordnet.evidence.store import EvidenceStore
from swordnet.live.streams import (
    MAX_URL_LENGTH,
    due_streams,
    events_of_run,
    record_candidate,
)
from swordnet.watch.targets import add_target
from tests.conftest import TEST_NETWORKS, run_cli
from tests.pirate_sites import HTML, add_watch_target, page, run_crawl

TITLE = "Cup Final 2026"


@dataclass(frozen=True)
class Event:
    id: int
    work_id: int
    campaign_id: int


def make_event(db: Database, title: str = TITLE, *, starts: timedelta = timedelta(hours=-1),
               ends: timedelta = timedelta(hours=2)) -> Event:
    """A live event on now (by default), with its work and its event campaign."""
    now = utcnow()
    with db.session() as session:
        work = Work(holder=RightsHolder(name=f"League of {title}"), title=title, kind="video")
        campaign = Campaign(name=f"Live: {title}", starts_at=now + starts, ends_at=now + ends,
                            every_seconds=60)
        session.add_all([work, campaign])
        session.flush()
        event = LiveEvent(work_id=work.id, campaign_id=campaign.id, starts_at=now + starts,
                          ends_at=now + ends, feed_url=None)
        session.add(event)
        session.flush()
        return Event(event.id, work.id, campaign.id)


def streams_of(db: Database) -> dict[str, LiveStream]:
    with db.session() as session:
        rows = session.scalars(select(LiveStream).order_by(LiveStream.id)).all()
        session.expunge_all()
    return {row.url: row for row in rows}


def with_test_sites(settings: Settings) -> Settings:
    return settings if settings.allow_networks else replace(settings, allow_networks=TEST_NETWORKS)


# --- the fixture sites: a "CDN" serving playlists, a player host, a pirate site -------------

PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\nseg1.ts\n"
M3U8 = "application/vnd.apple.mpegurl"


def cdn_site() -> DemoSite:
    site = DemoSite()
    for name in ("final", "ch2", "search"):
        site.add(f"/live/{name}.m3u8", PLAYLIST, M3U8)
    return site


def player_site() -> DemoSite:
    """An embed host: its player page plays a stream of its own, typed, with no suffix."""
    site = DemoSite()
    site.add("/embed/3", page("Player", '<video controls><source src="/hls/ch3" '
                                        'type="application/x-mpegURL"></video>'), HTML)
    site.add("/hls/ch3", PLAYLIST, M3U8)
    return site


def pirate_site(cdn: str, player: str) -> DemoSite:
    """Watch pages with a video tag, a player's JSON setup and an iframe to the player host;
    an about page with a lawful video file and no stream."""
    site = DemoSite()
    escaped = json.dumps(f"{cdn}live/ch2.m3u8").replace("/", "\\/")
    site.add("/", page("LiveSports free", '<a href="/watch/1.html">Final (HD)</a> '
                                          '<a href="/watch/2.html">Final (mobile)</a> '
                                          '<a href="/watch/3.html">Final (server 3)</a> '
                                          '<a href="/about.html">About</a>'), HTML)
    site.add("/watch/1.html", page("Final live", f'<video controls autoplay '
                                                 f'src="{cdn}live/final.m3u8"></video>'), HTML)
    site.add("/watch/2.html", page("Final live 2", '<div id="player"></div><script>'
                                   f'jwplayer("player").setup({{"file": {escaped}, '
                                   '"autostart": true});</script>'), HTML)
    site.add("/watch/3.html", page("Final live 3", f'<iframe src="{player}embed/3" '
                                                   'allowfullscreen></iframe>'), HTML)
    site.add("/about.html", page("About", '<video src="/promo.mp4"></video>'), HTML)
    site.add("/promo.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    return site


@dataclass(frozen=True)
class Sites:
    pirate: str
    player: str
    cdn: str


@pytest.fixture
def sites() -> Iterator[Sites]:
    with serve_site(cdn_site()) as cdn, serve_site(player_site()) as player, \
            serve_site(pirate_site(cdn.url, player.url)) as pirate:
        yield Sites(pirate.url, player.url, cdn.url)


def crawl_for(db: Database, settings: Settings, target_id: int,
              campaign_id: int | None) -> CrawlRun:
    with db.session() as session:
        target = session.get(WatchTarget, target_id)
        assert target is not None
        request = CrawlRequest.for_target(target, purpose="campaign" if campaign_id else "watch",
                                          campaign_id=campaign_id)
    return run_crawl(db, settings, request)


# --- crawls ------------------------------------------------------------------------------------

@pytest.fixture
def sdb(sqlite_home: Settings) -> Iterator[Database]:
    """The SQLite database of the test's home (the crawl tests need one backend)."""
    database = open_database(sqlite_home)
    yield database
    database.dispose()


def test_a_crawl_for_an_event_records_the_streams_of_its_pages_and_their_players(
        sqlite_home: Settings, sdb: Database, sites: Sites) -> None:
    event = make_event(sdb)
    target = add_watch_target(sdb, sites.pirate)
    before = utcnow()
    run = crawl_for(sdb, sqlite_home, target, event.campaign_id)
    assert run.outcome == "finished", run.error
    found = streams_of(sdb)
    pages = {f"{sites.cdn}live/final.m3u8": ("watch/1.html", b"live/final.m3u8"),
             f"{sites.cdn}live/ch2.m3u8": ("watch/2.html", b"live\\/ch2.m3u8"),
             f"{sites.player}hls/ch3": ("watch/3.html", b"embed/3")}
    assert {url: s.page_url for url, s in found.items()} == {
        url: sites.pirate + path for url, (path, _shows) in pages.items()}
    assert (run.stats["streams_found"], run.stats["stream_candidates_new"],
            run.stats["stream_embeds"]) == (3, 3, 1)
    store = EvidenceStore(sqlite_home.evidence_dir)
    with sdb.session() as session:
        for url, stream in found.items():
            assert (stream.event_id, stream.found_by, stream.run_id, stream.state) == (
                event.id, "crawl", run.id, "checking")
            assert before <= stream.found_at == stream.next_check_at <= utcnow()
            capture = session.get(Capture, stream.page_capture_id)
            assert capture is not None and (capture.kind, capture.url, capture.run_id) == (
                "page", stream.page_url, run.id)
            assert pages[url][1] in capture_record(session, store, capture).payload
            row = session.get(LiveStream, stream.id)
            assert row is not None and row.site.domain == url.split("/")[2]
        # the player's page is kept too: the page that holds the stream itself
        frame = session.scalars(select(Capture).where(
            Capture.url == f"{sites.player}embed/3")).one()
        assert b'src="/hls/ch3"' in capture_record(session, store, frame).payload
        assert [s.url for s in due_streams(session, utcnow(), 10)] == list(found)

    again = crawl_for(sdb, sqlite_home, target, event.campaign_id)  # the event's next round
    assert again.outcome == "finished", again.error
    assert (again.stats["streams_found"], again.stats["stream_candidates_new"]) == (3, 0)
    assert {url: (s.id, s.run_id) for url, s in streams_of(sdb).items()} == {
        url: (s.id, run.id) for url, s in found.items()}
    with sdb.session() as session:  # nothing new to show: no page kept again
        assert session.scalar(select(func.count()).select_from(Capture).where(
            Capture.run_id == again.id)) == 0
