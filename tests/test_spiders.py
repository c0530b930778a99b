"""Each spider kind and the per-target settings, over fixture sites: rules in-process
(tests/spider_harness.py), and the search and feed spiders once each in a real crawl."""

from __future__ import annotations

import gzip
from urllib.parse import quote_plus, urlsplit

import pytest
from sqlalchemy import select

from crawlers.spiders.feed import FeedSpider
from crawlers.spiders.search import SearchSpider
from crawlers.spiders.site import SiteSpider
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import FeedEntry
from swordnet.demo.site import DemoSite, serve_site
from tests.pirate_sites import (
    HTML,
    FeedSite,
    add_watch_target,
    crawl_target,
    hit_set,
    page,
    plant,
    planted_set,
    register_samples,
    sample_works,
    search_site,
)
from tests.spider_harness import make_spider, run_spider

# In-process crawls (tests/spider_harness.py) of a site served under this name.
HOST = "pirate.example"
SITE = f"http://{HOST}/"


def test_search_spider_finds_copies_only_reachable_through_the_site_search(
        sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    site = search_site()
    with serve_site(site) as running:
        target = add_watch_target(db, running.url, spider="search",
                                  search_template=running.url + "search?q={query}")
        run = crawl_target(db, sqlite_home, target)
        searched = [p for p in running.requests if p == "/search"]
    assert run.outcome == "finished" and run.healthy, run.health_problems
    assert hit_set(db) == planted_set(site)
    assert len(searched) == len(sample_works()) == run.stats["search_queries"]
    db.dispose()


def test_search_spider_queries_only_the_works_in_scope(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    site = search_site()
    target = add_watch_target(db, SITE, spider="search", work_ids=[1],
                              search_template=SITE + "search?q={query}")
    run = run_spider(make_spider(SearchSpider, target_id=str(target)), {HOST: site})
    first = site.planted[0]
    assert run.stats["search_queries"] == 1
    assert [p for p in run.paths(HOST) if p.startswith("/search")] == [
        "/search?q=" + quote_plus(first.work_title)]
    assert [i.exchange.url for i in run.items if i.kind == "image"] == [SITE + first.image_path[1:]]
    db.dispose()


def test_feed_spider_crawls_only_new_or_changed_sitemap_entries(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    works = sample_works()
    feed = FeedSite()
    feed.post("/posts/1.html", "2026-11-01", plant(feed.site, works[0], "/i/1.jpg",
                                                   "/posts/1.html"))
    feed.post("/posts/2.html", "2026-11-02", "<p>nothing here</p>")
    feed.post("/posts/3.html", "2026-11-03", plant(feed.site, works[1], "/i/3.jpg",
                                                   "/posts/3.html"))
    with serve_site(feed.site) as running:
        feed.serve_feeds(running.url)
        target = add_watch_target(db, running.url + "sitemap.xml", spider="feed")
        first = crawl_target(db, sqlite_home, target)
        first_pages = sorted(p for p in running.requests if p.startswith("/posts/"))
        assert first_pages == ["/posts/1.html", "/posts/2.html", "/posts/3.html"]
        assert "/sitemaps/posts.xml.gz" in running.requests  # index -> gzipped sitemap
        assert hit_set(db) == planted_set(feed.site)

        # Post 2 is edited (new lastmod, now with a copy); post 4 is new.
        feed.post("/posts/2.html", "2026-11-20", plant(feed.site, works[2], "/i/2.jpg",
                                                       "/posts/2.html"))
        feed.post("/posts/4.html", "2026-11-21", plant(feed.site, works[3], "/i/4.jpg",
                                                       "/posts/4.html"))
        assert first.healthy
        # The second crawl runs in-process: what the real one remembered decides what it asks.
        host = urlsplit(running.url).netloc
        second = run_spider(make_spider(FeedSpider, target_id=str(target)), {host: feed.site})
    assert sorted(p for p in second.paths(host) if p.startswith("/posts/")) == [
        "/posts/2.html", "/posts/4.html"]
    assert sorted(i.exchange.url for i in second.items if i.kind == "image") == [
        running.url + "i/2.jpg", running.url + "i/4.jpg"]
    assert second.stats["feed_entries"] == 4 and second.stats["feed_entries_unchanged"] == 2
    db.dispose()


def test_feed_spider_reads_rss(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    feed = FeedSite()
    feed.post("/p/a.html", "Sat, 21 Nov 2026 08:00:00 GMT",
              plant(feed.site, sample_works()[4], "/i/a.jpg", "/p/a.html"))
    feed.serve_feeds(SITE)
    target = add_watch_target(db, SITE + "feed.xml", spider="feed")
    first = run_spider(make_spider(FeedSpider, target_id=str(target)), {HOST: feed.site})
    assert [p for p in first.paths(HOST) if p.startswith("/p/")] == ["/p/a.html"]
    assert [i.exchange.url for i in first.items if i.kind == "image"] == [SITE + "i/a.jpg"]
    again = run_spider(make_spider(FeedSpider, target_id=str(target)), {HOST: feed.site})
    assert again.stats["feed_entries_unchanged"] == 1 and again.stats["pages"] == 0
    assert again.paths(HOST) == ["/feed.xml"]
    with db.session() as session:
        entries = session.scalars(select(FeedEntry)).all()
        assert [(e.url.rsplit("/", 1)[1], e.version) for e in entries] == [
            ("a.html", "Sat, 21 Nov 2026 08:00:00 GMT")]
    db.dispose()


def _gallery_site() -> DemoSite:
    """Three gallery pages, each with one planted copy, a robots.txt closing page 3."""
    site = DemoSite()
    works = sample_works()
    links = "".join(f'<a href="/gallery/{n}.html">{n}</a>' for n in (1, 2, 3))
    site.add("/", page("Home", links), HTML)
    for n in (1, 2, 3):
        path = f"/gallery/{n}.html"
        site.add(path, page(f"Gallery {n}", plant(site, works[n], f"/g/{n}.jpg", path)), HTML)
    site.add("/robots.txt", b"User-agent: *\nDisallow: /gallery/3.html\n", "text/plain")
    return site


def _planted_on(site: DemoSite, *pages: int) -> set[tuple[str, str]]:
    return {(p.work_title, p.image_path) for p in site.planted
            if p.page_path in {f"/gallery/{n}.html" for n in pages}}


def test_allow_and_deny_patterns_choose_the_pages_followed(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    target = add_watch_target(db, SITE, allow_patterns=[r"/gallery/"],
                              deny_patterns=[r"/gallery/2\.html$"])
    run = run_spider(make_spider(SiteSpider, target_id=str(target)), {HOST: _gallery_site()})
    # home (the start URL is always fetched), 1 and 3, and the copies on them (robots.txt
    # names no sitemap: /sitemap.xml is tried, and is not there)
    assert run.paths(HOST) == ["/", "/robots.txt", "/gallery/1.html", "/gallery/3.html",
                               "/sitemap.xml", "/g/1.jpg", "/g/3.jpg"]
    assert run.stats["pages"] == 3
    db.dispose()


@pytest.mark.parametrize("obey", [True, False])
def test_robots_txt_is_obeyed_only_when_the_target_says_so(sqlite_home: Settings,
                                                           obey: bool) -> None:
    """The target's policy reaches Scrapy's setting before Scrapy builds its robots.txt
    middleware from it (the middleware does the obeying)."""
    db = open_database(sqlite_home)
    target = add_watch_target(db, SITE, obey_robots=obey)
    spider = make_spider(SiteSpider, target_id=str(target))
    assert spider.crawler.settings.getbool("ROBOTSTXT_OBEY") is obey
    db.dispose()


def test_mirror_domains_are_followed_and_other_sites_are_not(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    works = sample_works()
    mirror, other, main = DemoSite(), DemoSite(), DemoSite()
    mirror.add("/m.html", page("Mirror", plant(mirror, works[0], "/m.jpg", "/m.html")), HTML)
    other.add("/o.html", page("Other", plant(other, works[1], "/o.jpg", "/o.html")), HTML)
    main.add("/", page("Main", '<a href="http://mirror.example/m.html">mirror</a>'
                               '<a href="http://other.example/o.html">other</a>'), HTML)
    target = add_watch_target(db, SITE, mirror_domains=["mirror.example"])
    run = run_spider(make_spider(SiteSpider, target_id=str(target)),
                     {HOST: main, "mirror.example": mirror, "other.example": other})
    assert run.paths("other.example") == []
    assert run.paths("mirror.example") == ["/m.html", "/m.jpg"]
    assert run.stats["pages"] == 2
    db.dispose()


def test_gzip_sitemap_that_expands_past_the_cap_is_dropped(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    site = DemoSite()
    bomb = gzip.compress(b"<urlset>" + b" " * (12 * 1024 * 1024) + b"</urlset>")
    site.add("/sitemap.xml.gz", bomb, "application/gzip")
    target = add_watch_target(db, SITE + "sitemap.xml.gz", spider="feed")
    run = run_spider(make_spider(FeedSpider, target_id=str(target)), {HOST: site})
    assert run.paths(HOST) == ["/sitemap.xml.gz"] and run.items == []
    assert run.stats["errors_by_type"] == {"bad_feed": 1}
    db.dispose()


def test_file_links_are_counted_and_only_kinds_with_a_matcher_are_fetched() -> None:
    site = DemoSite()
    links = ('<a href="magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a">m</a>'
             '<a href="/dl/film.torrent">t</a><a href="/dl/film.mkv">v</a>'
             '<a href="/full/1.jpg">full size</a>')
    site.add("/", page("Downloads", links), HTML)
    plant(site, sample_works()[0], "/full/1.jpg", "/")
    run = run_spider(make_spider(SiteSpider, url=SITE), {HOST: site})
    assert run.stats["files"] == {"magnet": 1, "torrent": 1, "video": 1}
    assert "/dl/film.torrent" not in run.paths(HOST)  # no matcher for torrent files
    assert "/dl/film.mkv" in run.paths(HOST)  # video: fetched for the video matcher
    # the linked full-size image is media for the image matcher, not a page
    assert [(i.kind, i.exchange.url) for i in run.items if i.kind != "page"] == [
        ("image", SITE + "full/1.jpg")]
    assert run.stats["pages"] == 1
