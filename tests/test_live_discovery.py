"""Finding a live event's candidate restreams: crawls and searches of its campaign read pages
(and the players they embed) for stream URLs, tips name pages or streams; each candidate is
recorded once per event, with its page kept as evidence, and due for the checker at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
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
            assert stream.next_check_at == stream.found_at  # due at once
            assert before <= stream.found_at <= utcnow()
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


def test_the_same_site_crawled_for_no_event_records_no_stream(
        sqlite_home: Settings, sdb: Database, sites: Sites) -> None:
    make_event(sdb)  # on now, but the crawl is not of its campaign
    run = crawl_for(sdb, sqlite_home, add_watch_target(sdb, sites.pirate), None)
    assert run.outcome == "finished", run.error
    assert run.stats["pages_ok"] == 5
    assert (run.stats["streams_found"], run.stats["stream_embeds"]) == (0, 0)  # not even read
    assert streams_of(sdb) == {}


# --- searches --------------------------------------------------------------------------------

def search_site(cdn: str) -> DemoSite:
    """A site whose live pages are found only through its search box."""
    site = DemoSite()
    lives = {TITLE: "/live/final.html", "Tennis Open Day 3": "/live/tennis.html"}
    site.add("/live/final.html", page(f"{TITLE} LIVE", '<script>var player = new Clappr.Player('
                                      f'{{source: "{cdn}live/search.m3u8"}});</script>'), HTML)
    site.add("/live/tennis.html", page("Tennis", f'<video src="{cdn}live/tennis.m3u8">'), HTML)
    site.add("/", page("StreamHub", '<form action="/search"><input name="q"></form>'), HTML)

    def search(_path: str, query: str) -> Resource:
        q = " ".join(parse_qs(query).get("q", [""])[0].split()).casefold()
        found = "".join(f'<li><a href="{path}">{title}</a></li>'
                        for title, path in lives.items() if q and q in title.casefold())
        return Resource(200, HTML, page("Search", f"<ul>{found}</ul>"))

    site.routes["/search"] = search
    return site


def test_a_search_for_the_event_finds_its_result_pages_streams(
        sqlite_home: Settings, sdb: Database) -> None:
    event = make_event(sdb)
    with serve_site(cdn_site()) as cdn, serve_site(search_site(cdn.url)) as hub:
        with sdb.session() as session:
            target = add_target(session, hub.url, depth=1, max_pages=20, every_seconds=None,
                                spider="search", search_template=hub.url + "search?q={query}",
                                work_ids=[event.work_id]).id
        run = crawl_for(sdb, sqlite_home, target, event.campaign_id)
    assert run.outcome == "finished", run.error
    assert run.stats["search_queries"] == 1
    [(url, stream)] = streams_of(sdb).items()
    assert url == f"{cdn.url}live/search.m3u8"
    assert (stream.found_by, stream.page_url, stream.run_id) == (
        "search", f"{hub.url}live/final.html", run.id)


# --- tips --------------------------------------------------------------------------------------

def test_a_tipped_stream_url_is_a_candidate_at_once(sdb: Database) -> None:
    event = make_event(sdb)
    url = "https://cdn.pirate.example/live/Final.m3u8?token=7"
    before = utcnow()
    first = run_cli("tips", "add", url, "--event", str(event.id), "--reporter", "fan@example")
    assert first.exit_code == 0, first.output
    [stream] = streams_of(sdb).values()
    assert (stream.url, stream.page_url, stream.found_by, stream.state) == (
        url, None, "tip", "checking")
    assert stream.next_check_at == stream.found_at and before <= stream.found_at <= utcnow()
    again = run_cli("tips", "add", url, "--event", str(event.id))
    assert again.exit_code == 0
    assert list(streams_of(sdb)) == [url]  # the same stream, tipped twice
    tips = json.loads(run_cli("tips", "list", "--json").output)
    assert [(t["status"], t["reporter"], t["work_id"], t["live_streams"], t["run_id"])
            for t in tips] == [("checked", None, event.work_id, [stream.id], None),
                               ("checked", "fan@example", event.work_id, [stream.id], None)]
    assert first.output.strip() == (f"Tip {tips[1]['id']}: stream {stream.id} of live event "
                                    f"{event.id}, checked at once: {url}")


@pytest.mark.parametrize("args, message", [
    (["https://cdn.example/a.m3u8", "--event", "99"], "no live event with id 99"),
    (["ftp://cdn.example/a.m3u8", "--event", "1"], "not an http(s) URL: 'ftp://cdn.example/a.m3u8'"),
    (["https://cdn.example/" + "a" * MAX_URL_LENGTH + ".m3u8", "--event", "1"],
     f"stream URL longer than {MAX_URL_LENGTH} characters"),
    (["https://p.example/", "--event", "1", "--work", "1"], "give --work or --event, not both"),
    (["https://cdn.example/a.m3u8", "--event", "2"], "live event 2 ended at"),
    (["https://p.example/watch", "--event", "3"], "live event 3 starts at"),
])
def test_a_tip_for_an_event_is_refused_with_a_reason(sdb: Database, args: list[str],
                                                      message: str) -> None:
    make_event(sdb, "On now")
    make_event(sdb, "Over", starts=timedelta(hours=-3), ends=timedelta(hours=-1))
    make_event(sdb, "Tomorrow", starts=timedelta(hours=20), ends=timedelta(hours=22))
    result = run_cli("tips", "add", *args)
    assert result.exit_code != 0 and message in result.output
    assert streams_of(sdb) == {}
    with sdb.session() as session:
        assert session.scalar(select(func.count()).select_from(Tip)) == 0


def test_a_tipped_page_is_checked_for_the_event_and_its_streams_recorded(
        sqlite_home: Settings, sdb: Database, sites: Sites) -> None:
    event = make_event(sdb)
    make_event(sdb, "Another match")  # on now too: the tip is for the other one
    tipped = f"{sites.pirate}watch/3.html"
    added = run_cli("tips", "add", tipped, "--event", str(event.id))
    assert added.exit_code == 0 and added.output.startswith("Tip "), added.output
    assert run_cli("tips", "add", f"{sites.pirate}watch/1.html").exit_code == 0  # no event
    jobs.install(jobs.JobContext(sdb, LocalExecutor(sdb, with_test_sites(sqlite_home)),
                                 max_concurrent=1))
    try:
        jobs.check_tips()
    finally:
        jobs.install(None)
    [(url, stream)] = streams_of(sdb).items()
    assert url == f"{sites.player}hls/ch3"
    assert (stream.event_id, stream.found_by, stream.page_url) == (event.id, "tip", tipped)
    with sdb.session() as session:
        tip = session.scalars(select(Tip).where(Tip.url == tipped)).one()
        assert (tip.status, tip.work_id, tip.result["live_streams"]) == (
            "checked", event.work_id, [stream.id])
        run = session.get(CrawlRun, tip.run_id)
        assert run is not None and (run.purpose, run.campaign_id) == ("tip", event.campaign_id)
        assert stream.run_id == run.id
        plain = session.scalars(select(Tip).where(Tip.url != tipped)).one()
        assert plain.status == "checked" and plain.result["live_streams"] == []


# --- the candidates' store ----------------------------------------------------------------------

def test_a_candidate_is_recorded_once_per_event_and_url(db: Database) -> None:
    event, other = make_event(db), make_event(db, "Another match")
    at = utcnow()
    url = "https://CDN.pirate.example/live/ch1.m3u8"
    with db.session() as session:
        first = record_candidate(session, event_id=event.id, url=url, page_url=None,
                                 found_by="tip", at=at)
        session.flush()
        later = record_candidate(session, event_id=event.id, url=url,
                                 page_url="https://pirate.example/watch/1", found_by="crawl",
                                 at=at + timedelta(minutes=5))
        assert later is first  # the same stream: its page now known, nothing else changed
        assert (first.url, first.found_by, first.found_at, first.next_check_at) == (
            "https://cdn.pirate.example/live/ch1.m3u8", "tip", at, at)
        assert first.page_url == "https://pirate.example/watch/1"
        third = record_candidate(session, event_id=event.id, url=url,
                                 page_url="https://mirror.example/watch/1", found_by="crawl",
                                 at=at)
        assert third is first and first.page_url == "https://pirate.example/watch/1"
        for_other = record_candidate(session, event_id=other.id, url=url, page_url=None,
                                     found_by="staff", at=at)
        session.flush()
        assert for_other.id != first.id and for_other.site_id == first.site_id
        assert first.site.domain == "cdn.pirate.example"


@pytest.mark.parametrize("url, found_by, error", [
    ("rtmp://cdn.example/live/ch1", "crawl", BadInput),
    ("/live/ch1.m3u8", "crawl", BadInput),
    ("https://cdn.example/" + "a" * MAX_URL_LENGTH, "crawl", BadInput),
    ("https://cdn.example/a.m3u8", "guess", BadInput),
])
def test_a_bad_candidate_is_refused_and_nothing_stored(db: Database, url: str, found_by: str,
                                                       error: type[Exception]) -> None:
    event = make_event(db)
    with db.session() as session, pytest.raises(error):
        record_candidate(session, event_id=event.id, url=url, page_url=None,
                         found_by=found_by, at=utcnow())
    with db.session() as session, pytest.raises(NotFound):
        record_candidate(session, event_id=event.id + 1, url="https://cdn.example/a.m3u8",
                         page_url=None, found_by="crawl", at=utcnow())
    assert streams_of(db) == {}


def test_a_run_works_for_the_running_events_of_its_campaign(db: Database) -> None:
    now = utcnow()
    on = make_event(db)
    over = make_event(db, "Over", starts=timedelta(hours=-3), ends=timedelta(hours=-1))
    with db.session() as session:
        def run_of(campaign_id: int | None) -> CrawlRun:
            return CrawlRun(site_id=1, start_url="https://p.example/", campaign_id=campaign_id)

        assert [e.id for e in events_of_run(session, run_of(on.campaign_id), now)] == [on.id]
        assert events_of_run(session, run_of(over.campaign_id), now) == []
        assert events_of_run(session, run_of(None), now) == []
        assert [e.id for e in events_of_run(session, run_of(over.campaign_id),
                                            now - timedelta(hours=2))] == [over.id]


def test_due_streams_are_those_of_running_events_still_checked_oldest_first(
        db: Database) -> None:
    now = utcnow()
    on, over = make_event(db), make_event(db, "Over", starts=timedelta(hours=-3),
                                          ends=timedelta(hours=-1))
    with db.session() as session:
        def add(event: Event, name: str, due_in_s: float | None, state: str = "checking") -> None:
            stream = record_candidate(session, event_id=event.id, url=f"https://c.example/{name}",
                                      page_url=None, found_by="crawl", at=now)
            stream.state = state
            stream.next_check_at = None if due_in_s is None else now + timedelta(seconds=due_in_s)

        add(on, "late", -60)
        add(on, "later", -120, "matched")
        add(on, "listed", -30, "listed")
        add(on, "now", 0)
        add(on, "soon", 30)
        add(on, "never", None)
        add(on, "offline", -300, "offline")  # sampled less often, as the checker schedules
        add(on, "unmatched", -200, "unmatched")  # a stream may switch to the event later
        add(on, "withdrawn", -300, "withdrawn")
        add(on, "refused", -300, "refused")
        add(over, "over", -300)
        session.flush()
        due = [s.url.rsplit("/", 1)[1] for s in due_streams(session, now, 10)]
        assert due == ["offline", "unmatched", "later", "late", "listed", "now"]
        assert [s.url for s in due_streams(session, now, 2)] == [
            "https://c.example/offline", "https://c.example/unmatched"]
