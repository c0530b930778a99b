"""Crawl health: blocked runs, empty runs, runs cut by their time cap and runs whose pages
suddenly hold no links are marked unhealthy and listed as such; unreachable sites go down.
Tip checks are judged by their own rules and are never a site crawl's baseline."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from crawlers.store import finish_run, open_run
from scheduler.executor import CrawlRequest, create_run
from scheduler.jobs import TIP_DEPTH
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import CrawlRun, Site
from swordnet.demo.site import DemoSite, Resource, serve_site
from swordnet.watch.targets import site_for_url
from tests.conftest import run_cli
from tests.pirate_sites import HTML, add_watch_target, crawl_target, page
from tests.spider_harness import crawl_recorded, target_request


def _blocked(_path: str, _query: str) -> Resource:
    return Resource(403, HTML, page("Access denied", "<p>Are you a robot?</p>"))


def _listing(links: int) -> bytes:
    return page("Listing", "".join(f'<a href="/p/{n}.html">{n}</a>' for n in range(links)))


def test_runs_are_judged_and_unhealthy_ones_listed_with_their_reasons(
        sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    site = DemoSite()
    site.add("/", _listing(12), HTML)
    site.routes["/p/"] = lambda path, _q: Resource(200, HTML, page(path, "<p>post</p>"))
    with serve_site(site) as running:
        target = add_watch_target(db, running.url)
        # in-process (tests/spider_harness.py) while the site answers; a real crawl once it
        # blocks, which Scrapy's downloader statistics count
        sites = {urlsplit(running.url).netloc: site}
        healthy = crawl_recorded(db, target_request(db, target), sites)
        # the layout changes: the listing now holds no links at all
        site.add("/", page("Listing", "<div id=app></div>"), HTML)
        collapsed = crawl_recorded(db, target_request(db, target), sites)
        # the site starts blocking the crawler
        site.files.clear()
        site.routes = {"/": _blocked}
        blocked = crawl_target(db, sqlite_home, target)
        slow = DemoSite()
        slow.add("/", _listing(30), HTML)
        slow.routes["/p/"] = lambda path, _q: Resource(200, HTML, _listing(30))
    with serve_site(slow, delay_s=0.4) as running:
        capped = crawl_target(db, sqlite_home,
                              add_watch_target(db, running.url, time_cap_s=2, concurrency=1))

    assert healthy.healthy and healthy.stats["links_found"] == 12
    assert collapsed.health_problems == ["no links found where the last healthy run found 12"]
    # the start page, robots.txt and the /sitemap.xml tried when robots.txt names none
    assert blocked.health_problems == ["blocked: 3 of 3 responses were 403/429/503",
                                       "no pages: no readable page was fetched"]
    assert blocked.stats["status_counts"] == {"403": 3}
    assert capped.finish_reason == "closespider_timeout"
    assert capped.health_problems == ["time cap reached before the crawl finished"]

    listed = json.loads(run_cli("runs", "list", "--unhealthy", "--json").output)
    assert {r["id"] for r in listed} == {collapsed.id, blocked.id, capped.id}
    assert all(r["health"] == "UNHEALTHY" and r["problems"] for r in listed)
    shown = run_cli("runs", "show", str(blocked.id))
    assert shown.exit_code == 0 and "blocked: 3 of 3" in shown.output
    db.dispose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _recorded_again(db: Database, target_id: int, like: CrawlRun) -> CrawlRun:
    """Another run of the target ending as ``like`` did, recorded as a crawl records its
    run (created, opened, finished with those statistics) but without a crawl process."""
    request = target_request(db, target_id)
    run_id = create_run(db, request)
    with db.session() as session:
        ref = open_run(session, run_id, request.start_url, request.spider)
        finish_run(session, ref, like.finish_reason or "finished", like.stats, like.errors)
    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        return run


def test_a_site_unreachable_three_runs_in_a_row_is_marked_down(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    port = _closed_port()
    target = add_watch_target(db, f"http://127.0.0.1:{port}/")
    statuses = []
    # A real crawl of the closed port, then the same outcome twice more (the counting rule).
    run = crawl_target(db, sqlite_home, target)
    assert run.stats["start_reachable"] == 0
    for n in range(3):
        if n:
            run = _recorded_again(db, target, run)
        assert run.outcome == "finished" and not run.healthy
        with db.session() as session:
            statuses.append(session.get(Site, run.site_id).status)  # type: ignore[union-attr]
    assert statuses == ["active", "active", "down"]
    listed = json.loads(run_cli("sites", "list", "--json").output)
    assert listed[0]["status"] == "down"
    # the site comes back: one reachable run makes it active again
    site = DemoSite()
    site.add("/", page("Back", "<p>hello</p>"), HTML)
    with serve_site(site, port=port):
        crawl_target(db, sqlite_home, target)
    with db.session() as session:
        assert session.get(Site, run.site_id).status == "active"  # type: ignore[union-attr]
    db.dispose()


def test_tip_checks_are_not_judged_by_the_site_crawls_rules_nor_their_baseline(
        sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    site = DemoSite()
    site.add("/", _listing(11), HTML)
    site.routes["/p/"] = lambda path, _q: Resource(200, HTML, page(path, "<p>post</p>"))
    site.add("/tip/bare.html", page("A post", "<p>no links here</p>"), HTML)
    site.add("/tip/two.html", _listing(2), HTML)
    url, sites = "http://127.0.0.1:8001/", {"127.0.0.1:8001": site}  # crawled in-process
    with db.session() as session:
        site_id = site_for_url(session, url).id
    site_crawl = CrawlRequest(site_id=site_id, start_url=url, depth=1, max_pages=50)
    crawled = crawl_recorded(db, site_crawl, sites)  # a site crawl, by hand
    tips = [crawl_recorded(db, CrawlRequest(site_id=site_id, start_url=url + path,
                                            depth=TIP_DEPTH, max_pages=1, purpose="tip"), sites)
            for path in ("tip/bare.html", "tip/two.html", "tip/gone.html")]
    site.add("/", page("Listing", "<div id=app></div>"), HTML)  # the layout changes
    collapsed = crawl_recorded(db, site_crawl, sites)
    assert crawled.healthy and crawled.stats["links_found"] == 11
    assert [t.purpose for t in tips] == ["tip"] * 3
    assert [t.stats.get("links_found", 0) for t in tips[:2]] == [0, 2]
    # no links on a tip's page, or a tip's page gone, is the tip's outcome, not a sick run
    assert [(t.healthy, t.health_problems) for t in tips] == [(True, [])] * 3
    # the site crawl is still compared with the last site crawl, not with a tip's 2 links
    assert collapsed.health_problems == ["no links found where the last healthy run found 11"]
    listed = json.loads(run_cli("runs", "list", "--unhealthy", "--json").output)
    assert [r["id"] for r in listed] == [collapsed.id]
    with db.session() as session:
        assert session.get(Site, site_id).unreachable_runs == 0  # type: ignore[union-attr]
    db.dispose()
