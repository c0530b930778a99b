"""Honest crawl statistics (issue 21, finding 8): a link space that uses up the page cap is
reported as a trap and makes the run unhealthy; a redirect loop and a body cut off at its
size cap are recorded as errors with their reasons."""

from __future__ import annotations

import json

from crawlers.health import health_problems
from crawlers.watch_spider import SIZE_CAPS
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.demo.site import DemoSite, Resource, serve_site
from tests.conftest import run_cli
from tests.pirate_sites import HTML, add_watch_target, crawl_target, page
from tests.spider_harness import crawl_recorded, target_request


def _numbered(path: str, _query: str) -> Resource:
    n = int(path.rsplit("/", 1)[1])
    return Resource(200, HTML, page(f"Page {n}", f'<a href="/page/{n + 1}">next</a>'))


def test_an_endless_numbered_link_space_that_uses_up_the_page_cap_is_a_trap(
        sqlite_home: Settings) -> None:
    site = DemoSite()
    site.add("/", page("Home", '<a href="/about.html">about</a> <a href="/page/1">new</a>'),
             HTML)
    site.add("/about.html", page("About", "<p>hello</p>"), HTML)
    site.routes["/page/"] = _numbered
    db = open_database(sqlite_home)
    host = "127.0.0.1:8001"  # crawled in-process (tests/spider_harness.py)
    target = add_watch_target(db, f"http://{host}/", depth=50, max_pages=40)
    run = crawl_recorded(db, target_request(db, target), {host: site})
    assert run.outcome == "finished"
    assert run.stats["pages"] == 40 and run.stats["pages_capped"] == 1
    assert run.stats["traps"] == {"exhausted_page_cap": 1}
    assert {"kind": "trap_exhausted_page_cap", "url": f"{host}/page/{{n}}",
            "message": f"page cap of 40 used up: 38 pages were {host}/page/{{n}}"} in run.errors
    assert not run.healthy
    assert run.health_problems == ["page cap used up by a link space that looks endless "
                                   "(the rest of the site may be missed)"]
    listed = json.loads(run_cli("runs", "list", "--unhealthy", "--json").output)
    assert [r["id"] for r in listed] == [run.id]
    db.dispose()


def _redirect(to: str) -> Resource:
    return Resource(302, HTML, b"", headers=(("Location", to),))


def test_redirect_loops_and_cut_off_bodies_are_recorded_with_their_reasons(
        sqlite_home: Settings) -> None:
    site = DemoSite()
    site.add("/", page("Home", "".join(f'<a href="{path}">{path}</a>' for path in (
        "/loop-a", "/self", "/moved", "/big.html", "/sized.html"))), HTML)
    site.files["/loop-a"] = _redirect("/loop-b")
    site.files["/loop-b"] = _redirect("/loop-a")
    site.files["/self"] = _redirect("/self")
    site.files["/moved"] = _redirect("/")  # to a page crawled already: no error
    big = b"<p>" + b"x" * (50 * 1024 * 1024)
    site.files["/big.html"] = Resource(200, HTML, big, sized=False)
    site.files["/sized.html"] = Resource(200, HTML, big)
    db = open_database(sqlite_home)
    with serve_site(site) as running:
        run = crawl_target(db, sqlite_home, add_watch_target(db, running.url))
        url = running.url
    cap = SIZE_CAPS["page"]
    assert run.outcome == "finished"
    assert run.stats["errors_by_type"] == {"redirect_loop": 2, "too_large": 2}
    by_url = {e["url"].removeprefix(url): (e["kind"], e["message"]) for e in run.errors}
    assert by_url["loop-a"] == ("redirect_loop", f"redirect loop: {url}loop-a -> {url}loop-b "
                                                 f"-> {url}loop-a")
    assert by_url["self"] == ("redirect_loop", f"redirect loop: {url}self -> {url}self")
    assert by_url["big.html"] == ("too_large", f"body larger than {cap} bytes cut off "
                                               "(no Content-Length sent)")
    assert by_url["sized.html"] == ("too_large", f"body larger than {cap} bytes "
                                                 "(its Content-Length)")
    assert "moved" not in by_url
    db.dispose()


def test_the_health_rule_for_an_exhausted_page_cap() -> None:
    summary = {"responses": 40, "pages_ok": 40, "links_found": 40,
               "traps": {"exhausted_page_cap": 1}}
    assert health_problems(summary, "finished", None) == [
        "page cap used up by a link space that looks endless "
        "(the rest of the site may be missed)"]
    assert health_problems({**summary, "traps": {"calendar": 1}}, "finished", None) == []
