"""The crawl frontier: a crawl to depth D covers exactly what a breadth-first crawl reaches
within D links, whatever order the site's responses arrive in (issue 21, finding 4)."""

from __future__ import annotations

import random
import threading
from collections import deque

import pytest

from crawlers.frontier import Frontier
from crawlers.spiders.site import SiteSpider
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.demo.site import DemoSite, Resource, serve_site
from tests.images import jpeg_bytes
from tests.pirate_sites import (
    HTML,
    add_watch_target,
    crawl_target,
    hit_set,
    page,
    plant,
    planted_set,
    register_samples,
    sample_works,
)
from tests.spider_harness import make_spider, run_spider

HOST = "pirate.example"
SITE = f"http://{HOST}/"

# --- the rule, in-process ----------------------------------------------------------------------


def test_a_new_url_is_fetched_once_at_its_first_depth() -> None:
    frontier = Frontier()
    assert frontier.reach("/a", 2) is True
    assert [frontier.reach("/a", d) for d in (2, 3, 9)] == [False, False, False]
    assert len(frontier) == 1 and "/a" in frontier and frontier.depth("/a") == 2


def test_a_shorter_path_to_a_due_page_lowers_the_depth_it_is_read_at() -> None:
    frontier = Frontier()
    frontier.reach("/x", 3)
    assert frontier.reach("/x", 2) is False  # the request in flight will do
    assert frontier.expand("/x") == 2
    assert frontier.reach("/x", 2) is False  # read at depth 2 already


def test_a_page_read_too_deep_is_fetched_again_from_the_shorter_depth() -> None:
    frontier = Frontier()
    frontier.reach("/x", 3)
    assert frontier.expand("/x") == 3
    assert frontier.reach("/x", 3) is False
    assert frontier.reach("/x", 2) is True
    assert frontier.reach("/x", 1) is False  # due again already; read at depth 1
    assert frontier.expand("/x") == 1
    assert frontier.reach("/x", 0) is True
    assert len(frontier) == 1


def test_a_dropped_page_is_never_fetched_again() -> None:
    frontier = Frontier()
    frontier.reach("/gone", 3)
    frontier.drop("/gone")
    assert frontier.reach("/gone", 1) is False
    assert frontier.depth("/gone") == 1


def test_negative_depths_are_refused() -> None:
    with pytest.raises(ValueError, match="depth must not be negative, not -1"):
        Frontier().reach("/a", -1)


def _bfs(links: dict[str, list[str]], start: str, max_depth: int) -> dict[str, int]:
    """Breadth-first reference: every page within ``max_depth`` links, at its depth."""
    depth = {start: 0}
    queue = deque([start])
    while queue:
        url = queue.popleft()
        if depth[url] < max_depth:
            for link in links[url]:
                if link not in depth:
                    depth[link] = depth[url] + 1
                    queue.append(link)
    return depth


def _crawl_in_random_order(links: dict[str, list[str]], start: str, max_depth: int,
                           rnd: random.Random) -> tuple[list[str], dict[str, int]]:
    """Drive the frontier as the spider does, answering due requests in a random order
    (a fast page overtakes a slow one); returns the fetches and the depth each page was
    last read at."""
    frontier = Frontier()
    frontier.reach(start, 0)
    due = [start]
    fetched, read_at = [], {}
    while due:
        url = due.pop(rnd.randrange(len(due)))
        fetched.append(url)
        depth = read_at[url] = frontier.expand(url)
        if depth < max_depth:
            due.extend(link for link in links[url] if frontier.reach(link, depth + 1))
    return fetched, read_at


@pytest.mark.parametrize("seed", range(20))
def test_any_response_order_covers_the_breadth_first_set_at_breadth_first_depths(
        seed: int) -> None:
    rnd = random.Random(seed)
    pages = [f"/p{n}" for n in range(300)]
    links = {url: rnd.sample(pages, 3) for url in pages}
    reference = _bfs(links, "/p0", 4)
    fetched, read_at = _crawl_in_random_order(links, "/p0", 4, rnd)
    assert read_at == reference
    assert set(fetched) == set(reference)


# --- the crawl -------------------------------------------------------------------------------


def _links_page(url: str, links: list[str]) -> bytes:
    return page(url, "".join(f'<a href="{link}">{link}</a>' for link in links))


def _graph_site(links: dict[str, list[str]]) -> DemoSite:
    """A site whose page ``p`` links to the pages ``links[p]``."""
    site = DemoSite()
    for url, targets in links.items():
        site.add(url, _links_page(url, targets), HTML)
    return site


# Long enough only to end a hang: on a loaded 2-core machine, 60 s from the test's start ran
# out before the crawl had started and read /x through /b1.
HANG_S = 600


def _watched(site: DemoSite, url: str, hold: threading.Event | None = None,
             ) -> threading.Event:
    """Serve ``url`` through a route that sets the returned event when it is requested and,
    given ``hold``, answers only once ``hold`` is set."""
    resource = site.files.pop(url)
    requested = threading.Event()

    def serve(path: str, _query: str) -> Resource:
        if path != url:
            return Resource(404, "text/plain", b"not found")
        requested.set()
        if hold is not None:
            assert hold.wait(timeout=HANG_S), f"{url} was held and never released"
        return resource

    site.routes[url] = serve
    return requested


def test_a_page_first_reached_at_the_depth_limit_is_expanded_from_a_shorter_path(
        sqlite_home: Settings) -> None:
    """/ -> /a (slow) and / -> /b -> /b1 -> /x, with /a -> /x -> /y: at depth 3, /y is at
    depth 3 through /a, and holds a copy of a work. /a is answered only once /x was read
    through /b1 (at depth 3, where its links are not followed): when its image was
    requested."""
    links = {"/": ["/a", "/b"], "/a": ["/x"], "/b": ["/b1"], "/b1": ["/x"], "/x": ["/y"],
             "/y": []}
    site = _graph_site(links)
    site.add("/x", page("/x", '<a href="/y">/y</a> <img src="/i/x.jpg" alt="x">'), HTML)
    site.add("/i/x.jpg", jpeg_bytes(5001), "image/jpeg")
    site.add("/y", page("/y", plant(site, sample_works()[0], "/i/y.jpg", "/y")), HTML)
    release_a = threading.Event()
    _watched(site, "/a", hold=release_a)
    x_read = _watched(site, "/i/x.jpg")
    threading.Thread(target=lambda: x_read.wait(HANG_S) and release_a.set(),
                     daemon=True).start()
    db = open_database(sqlite_home)
    register_samples(db)
    with serve_site(site) as running:
        run = crawl_target(db, sqlite_home, add_watch_target(db, running.url, depth=3))
        requested = list(running.requests)
    release_a.set()
    assert run.outcome == "finished"
    assert "/y" in requested and hit_set(db) == planted_set(site)
    assert requested.count("/x") == 2 and run.stats["pages_refetched"] == 1
    assert run.stats["pages_ok"] == 6  # /x is read for its links, not captured again
    db.dispose()


def test_coverage_on_a_3000_page_site_equals_a_breadth_first_crawl() -> None:
    """A random site of 3,000 pages, 4 links each, crawled to depth 6 in-process
    (tests/spider_harness.py). One of the home page's links is slow: it is answered only
    once the crawl requested a page 6 links deep by other paths (after reading the few
    hundred pages up to depth 5), so pages below it are first reached, and read, by longer
    paths."""
    rnd = random.Random(21)
    pages = ["/"] + [f"/p/{n}.html" for n in range(1, 3000)]
    links = {url: rnd.sample(pages, 4) for url in pages}
    reference = _bfs(links, "/", 6)
    assert 2000 < len(reference) < 3000  # deep enough to matter, shallow enough to cut some
    slow = next(link for link in links["/"] if link != "/")
    around = _bfs({**links, slow: []}, "/", 6)
    deep = next(url for url, depth in around.items() if depth == 6 and url != slow)
    site = _graph_site(links)
    spider = make_spider(SiteSpider, url=SITE, depth="6", max_pages="5000")
    run = run_spider(spider, {HOST: site}, hold={SITE + slow[1:]: SITE + deep[1:]})
    # besides the pages: robots.txt, and /sitemap.xml as it names no sitemap (neither is there)
    requested = [p for p in run.paths(HOST) if p not in ("/robots.txt", "/sitemap.xml")]
    assert set(requested) == set(reference)
    assert run.stats["pages_ok"] == len(reference)
    refetched = run.stats["pages_refetched"]
    assert refetched > 0 and len(requested) == len(reference) + refetched
