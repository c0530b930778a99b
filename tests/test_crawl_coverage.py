"""Crawl coverage (issue 16): links that turn out to be media files are matched as media, and
the ``site`` spider reads the sitemaps robots.txt names (or ``/sitemap.xml``), within the
crawl's caps. Rules in-process (tests/spider_harness.py); the whole path once in a real
crawl."""

from __future__ import annotations

import gzip

import pytest
from sqlalchemy import select

from crawlers.served import served_kind
from crawlers.sitemaps import (
    MAX_SITEMAPS,
    named_sitemaps,
    read_sitemap,
    sitemap_body,
    sitemap_refusal,
)
from crawlers.spiders.site import SiteSpider
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Hit
from swordnet.demo.site import DemoSite, serve_site
from tests.images import jpeg_bytes
from tests.pirate_sites import (
    HTML,
    add_watch_target,
    coverage_site,
    crawl_target,
    hit_set,
    page,
    planted_set,
    register_samples,
    sitemap_index,
    urlset,
)
from tests.spider_harness import make_spider, run_spider

HOST = "pirate.example"
SITE = f"http://{HOST}/"
THREAD = SITE + "forum/thread-1.html"

# --- the rules, pure ---------------------------------------------------------------------------


def test_a_response_is_media_by_its_signature_first_then_by_its_content_type() -> None:
    jpeg = jpeg_bytes()
    assert served_kind("image/jpeg", jpeg) == "image"
    assert served_kind("application/octet-stream", jpeg) == "image"
    assert served_kind("text/html", jpeg) == "image"       # a server that labels all HTML
    assert served_kind("", b"\x7fELF\x02\x01\x01" + bytes(64)) == "software"
    assert served_kind("image/jpeg", page("Liar", "<p>x</p>")) is None  # a page, mislabelled
    assert served_kind("text/html; charset=utf-8", page("Page", "<p>x</p>")) is None
    assert served_kind("application/x-bittorrent", b"d8:announce3:udp") is None  # no matcher


def test_sitemap_rules() -> None:
    robots = b"User-agent: *\nDisallow: /admin\nSitemap: /a.xml\nSITEMAP: http://x.example/b.xml\n"
    assert named_sitemaps(robots, SITE + "robots.txt") == [SITE + "a.xml",
                                                            "http://x.example/b.xml"]
    assert named_sitemaps(b"User-agent: *\n", SITE + "robots.txt") == []
    hosts = {HOST}
    assert sitemap_refusal(SITE + "a.xml", hosts, 0, 0) is None
    assert sitemap_refusal("http://x.example/b.xml", hosts, 0, 0) == "off_site"
    assert sitemap_refusal(SITE + "a.xml", hosts, 0, MAX_SITEMAPS) == "too_many_sitemaps"
    assert sitemap_body(gzip.compress(b"<urlset/>"), 100) == b"<urlset/>"
    with pytest.raises(ValueError, match="larger than 100 bytes"):
        sitemap_body(gzip.compress(bytes(1000)), 100)
    with pytest.raises(ValueError, match="cannot gunzip"):
        sitemap_body(b"\x1f\x8b\x08garbage", 100)
    assert read_sitemap(urlset("http://a.example", ["/1.html"])) == (
        False, [("http://a.example/1.html", "")])
    assert read_sitemap(sitemap_index("http://a.example", ["/s.xml"]))[0] is True
    with pytest.raises(ValueError, match="not a sitemap"):
        read_sitemap(b"\x00\x01binary")


# --- media at followed links, in-process -------------------------------------------------------


def test_a_followed_link_that_serves_an_image_is_matched_as_media_of_the_linking_page() -> None:
    site = coverage_site()
    run = run_spider(make_spider(SiteSpider, url=SITE), {HOST: site})
    attachments = [i for i in run.items if "attachment.php" in i.url]
    assert [(i.kind, i.url, i.page.url) for i in attachments] == [
        ("image", SITE + "attachment.php?aid=1", THREAD),
        ("image", SITE + "attachment.php?aid=2", THREAD)]  # octet-stream: sniffed
    assert all(i.page.title == "Scans thread" and b"scan 1.jpg" in i.page.exchange.body
               for i in attachments)
    stats = run.spider.crawler.stats
    assert stats.get_value("swordnet/pages_not_html") is None
    assert run.stats["links_to_media"] == 2
    # pages: home, the thread, the two pages only the sitemaps list; not the attachments
    assert run.stats["pages"] == run.stats["pages_ok"] == 4
    # the thread is fetched once more, for the evidence of both attachments
    assert run.paths(HOST).count("/forum/thread-1.html") == 2
    assert not run.errors


def test_an_attachment_also_shown_as_an_image_is_fetched_once() -> None:
    site = coverage_site()
    site.add("/forum/thread-1.html", page("Scans thread", '<img src="/attachment.php?aid=1">'
                                          '<a href="/attachment.php?aid=1">scan 1.jpg</a>'),
             HTML)
    run = run_spider(make_spider(SiteSpider, url=SITE), {HOST: site})
    assert run.paths(HOST).count("/attachment.php?aid=1") == 1
    assert [i.page.url for i in run.items if "attachment.php" in i.url] == [THREAD]


# --- sitemaps, in-process ----------------------------------------------------------------------


def test_pages_listed_only_in_sitemaps_are_crawled() -> None:
    run = run_spider(make_spider(SiteSpider, url=SITE), {HOST: coverage_site()})
    paths = run.paths(HOST)
    assert {"/robots.txt", "/sitemap_index.xml", "/sitemaps/a.xml", "/sitemaps/b.xml.gz",
            "/hidden/1.html", "/hidden/2.html"} <= set(paths)
    assert "/sitemap.xml" not in paths  # robots.txt names the sitemaps
    assert paths.count("/") == 1        # listed in a sitemap too: still one page
    assert {(i.url, i.page.url) for i in run.items if "/h/" in i.url} == {
        (SITE + "h/1.jpg", SITE + "hidden/1.html"), (SITE + "h/2.jpg", SITE + "hidden/2.html")}
    assert (run.stats["sitemaps"], run.stats["sitemap_urls"]) == (3, 3)


def test_without_a_sitemap_in_robots_txt_the_sitemap_xml_is_read_quietly_if_there() -> None:
    site = DemoSite()
    site.add("/", page("Home", ""), HTML)
    site.add("/only-listed.html", page("Listed", ""), HTML)
    run = run_spider(make_spider(SiteSpider, url=SITE), {HOST: site})  # no robots.txt at all
    assert run.paths(HOST) == ["/", "/robots.txt", "/sitemap.xml"]
    assert not run.errors  # neither is there: nothing is wrong
    site.add("/sitemap.xml", urlset("http://pirate.example", ["/only-listed.html"]), "text/xml")
    run = run_spider(make_spider(SiteSpider, url=SITE), {HOST: site})
    assert run.paths(HOST) == ["/", "/robots.txt", "/sitemap.xml", "/only-listed.html"]


def _big_sitemap_site(pages: int) -> DemoSite:
    site = DemoSite()
    site.add("/", page("Home", ""), HTML)
    for n in range(pages):
        site.add(f"/p/{n}.html", page(f"P{n}", ""), HTML)
    site.add("/robots.txt", b"Sitemap: http://pirate.example/big.xml\n", "text/plain")
    site.add("/big.xml", urlset("http://pirate.example", [f"/p/{n}.html" for n in range(pages)]),
             "application/xml")
    return site


def test_a_sitemap_listing_more_pages_than_the_cap_is_read_up_to_the_cap() -> None:
    run = run_spider(make_spider(SiteSpider, url=SITE, max_pages="10"),
                     {HOST: _big_sitemap_site(50)})
    assert run.stats["pages"] == 10  # the start page and the first 9 listed
    assert [p for p in run.paths(HOST) if p.startswith("/p/")] == [
        f"/p/{n}.html" for n in range(9)]
    assert run.stats["sitemap_urls"] == 50 and run.stats["pages_capped"] == 41


def test_depth_zero_reads_no_sitemap() -> None:
    run = run_spider(make_spider(SiteSpider, url=SITE, depth="0"), {HOST: coverage_site()})
    assert run.paths(HOST) == ["/"]


def test_sitemap_pages_pass_the_targets_rules(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    site = _big_sitemap_site(3)
    site.add("/big.xml", urlset("", [SITE + "p/0.html", SITE + "p/1.html", SITE + "p/2.html",
                                     "http://other.example/p/9.html",
                                     SITE + "cal/2026/11/21/"]), "application/xml")
    site.add("/sitemap_index.xml", sitemap_index("http://other.example", ["/s.xml"]),
             "application/xml")
    site.add("/robots.txt", b"Sitemap: /big.xml\nSitemap: /sitemap_index.xml\n", "text/plain")
    target = add_watch_target(db, SITE, deny_patterns=[r"/p/1\.html$"])
    run = run_spider(make_spider(SiteSpider, target_id=str(target)),
                     {HOST: site, "other.example": DemoSite()})
    assert [p for p in run.paths(HOST) if p.endswith(".html") or p.endswith("/")] == [
        "/", "/p/0.html", "/p/2.html", "/cal/2026/11/21/"]
    assert run.paths("other.example") == []  # neither its page nor its sitemap
    assert run.stats["sitemaps_refused"] == {"off_site": 1}
    assert (run.stats["sitemaps"], run.stats["sitemap_urls"]) == (2, 5)
    db.dispose()


def test_a_broken_sitemap_is_a_run_problem_not_a_crash() -> None:
    site = _big_sitemap_site(1)
    site.add("/robots.txt", b"Sitemap: /big.xml\nSitemap: /bad.xml.gz\nSitemap: /gone.xml\n"
             b"Sitemap: /bomb.xml.gz\n", "text/plain")
    site.add("/bad.xml.gz", b"\x1f\x8b\x08\x00broken", "application/gzip")
    site.add("/bomb.xml.gz", gzip.compress(b"<urlset>" + b" " * (12 * 1024 * 1024)),
             "application/gzip")
    run = run_spider(make_spider(SiteSpider, url=SITE), {HOST: site})
    assert "/p/0.html" in run.paths(HOST)  # the good sitemap is read all the same
    assert run.stats["errors_by_type"] == {"bad_sitemap": 3}
    assert {e["url"].removeprefix(SITE): e["message"].split(":")[0] for e in run.errors} == {
        "bad.xml.gz": "cannot gunzip", "gone.xml": "HTTP 404", "bomb.xml.gz": "cannot gunzip"}


# --- a real crawl ------------------------------------------------------------------------------


@pytest.mark.parametrize("obey_robots", [False, True])
def test_real_crawl_finds_attachment_and_sitemap_only_copies(sqlite_home: Settings,
                                                             obey_robots: bool) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    with serve_site(DemoSite()) as running:
        site = coverage_site(running.url.rstrip("/"))
        want = planted_set(site)
        if obey_robots:  # the target's robots policy holds for pages only a sitemap lists
            robots = site.files["/robots.txt"].body
            site.add("/robots.txt", robots.replace(b"Disallow:\n", b"Disallow: /hidden/2.html\n"),
                     "text/plain")
            want = {(title, path) for title, path in want if path != "/h/2.jpg"}
        running.site.files.update(site.files)
        running.site.routes.update(site.routes)
        target = add_watch_target(db, running.url, obey_robots=obey_robots)
        run = crawl_target(db, sqlite_home, target)
    assert run.outcome == "finished" and run.healthy, run.health_problems
    assert hit_set(db) == want
    assert run.stats["links_to_media"] == 2 and run.stats["sitemaps"] == 3
    with db.session() as session:
        hits = session.scalars(select(Hit).where(Hit.url.contains("attachment.php"))).all()
        pages = {h.page_capture.url for h in hits if h.page_capture is not None}
    assert pages == {running.url + "forum/thread-1.html"}
    db.dispose()
