"""Hostile and unusual fixture sites for crawl-level tests, served like the demo site.

Each builder returns a :class:`~swordnet.demo.site.DemoSite` whose ``planted`` list says
exactly which copy of which sample work sits where, so a test can demand that hit set.
"""

from __future__ import annotations

import gzip
import html
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import parse_qs

from PIL import Image
from sqlalchemy import select

from scheduler.executor import CrawlRequest, LocalExecutor
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import CrawlRun, Hit, WatchTarget, Work
from swordnet.demo.samples import sample_files
from swordnet.demo.site import MILD_ALTERATIONS, DemoSite, PlantedCopy, Resource
from swordnet.watch.targets import add_target
from swordnet.works.registry import register_work
from tests.conftest import TEST_NETWORKS

HTML = "text/html; charset=utf-8"


def sample_works() -> list[tuple[str, Image.Image]]:
    return [(title, Image.open(path).convert("RGB")) for path, title in sample_files()]


def register_samples(db: Database) -> None:
    with db.session() as session:
        for path, title in sample_files():
            register_work(session, path.read_bytes(), title=title, holder_name="Holder")


def page(title: str, body: str) -> bytes:
    return (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>").encode()


def plant(site: DemoSite, work: tuple[str, Image.Image], image_path: str, page_path: str,
          alteration: str = "reencoded") -> str:
    """Put an altered copy of ``work`` at ``image_path``; returns an ``<img>`` tag for it."""
    title, image = work
    site.add(image_path, MILD_ALTERATIONS[alteration](image), "image/jpeg")
    site.planted.append(PlantedCopy(title, alteration, image_path, page_path, "img"))
    return f'<img src="{image_path}" alt="copy">'


def small_site(number: int) -> DemoSite:
    """Two pages, each with one planted copy of a sample work."""
    works = sample_works()
    site = DemoSite()
    links = []
    for i in range(2):
        work = works[(number + i) % len(works)]
        tag = plant(site, work, f"/img/{number}-{i}.jpg", f"/p{i}.html")
        site.add(f"/p{i}.html", page(f"Post {i}", tag), HTML)
        links.append(f'<a href="/p{i}.html">post {i}</a>')
    site.add("/", page(f"Pirate site {number}", "".join(links)), HTML)
    return site


def add_watch_target(db: Database, url: str, **options: object) -> int:
    options = {"depth": 2, "max_pages": 200, "every_seconds": None, **options}
    with db.session() as session:
        return add_target(session, url, **options).id  # type: ignore[arg-type]


def run_crawl(db: Database, settings: Settings, request: CrawlRequest,
              timeout_s: float = 180) -> CrawlRun:
    """Crawl as the scheduler does (a ``scrapy crawl`` subprocess); the finished run.

    Settings that allow no networks (built by a test rather than read from the session's
    environment) get the test sites' loopback networks (tests/conftest.py)."""
    if not settings.allow_networks:
        settings = replace(settings, allow_networks=TEST_NETWORKS)
    run_id = LocalExecutor(db, settings, timeout_s=timeout_s).run(request)
    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        return run


def crawl_target(db: Database, settings: Settings, target_id: int) -> CrawlRun:
    with db.session() as session:
        target = session.get(WatchTarget, target_id)
        assert target is not None
        request = CrawlRequest.for_target(target)
    return run_crawl(db, settings, request)


def hit_set(db: Database) -> set[tuple[str, str]]:
    """(work title, copy path) of every hit."""
    with db.session() as session:
        rows = session.execute(select(Work.title, Hit.url).join(Hit.work)).all()
    return {(title, "/" + url.split("/", 3)[3]) for title, url in rows}


def planted_set(site: DemoSite) -> set[tuple[str, str]]:
    return {(p.work_title, p.image_path) for p in site.planted}


def warcio_check(path: Path) -> str:
    """Run ``warcio check -v`` on a WARC file; returns its output (raises on failure)."""
    warcio = Path(sys.executable).with_name("warcio")
    result = subprocess.run([str(warcio), "check", "-v", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# --- a site with its own search box ---------------------------------------------------------

def search_site() -> DemoSite:
    """Film pages reachable only through ``/search?q=``; two sample works are planted."""
    site = DemoSite()
    works = sample_works()
    films: dict[str, str] = {}
    for n, work in enumerate(works[:2], start=1):
        path = f"/film/{n}.html"
        site.add(path, page(f"Watch {work[0]} free", plant(site, work, f"/img/{n}.jpg", path)),
                 HTML)
        films[work[0]] = path
    site.add("/", page("PirateFlix", '<form action="/search"><input name="q"></form>'), HTML)

    def search(_path: str, query: str) -> Resource:
        q = " ".join(parse_qs(query).get("q", [""])[0].split()).casefold()
        found = [(t, p) for t, p in films.items() if q and q in t.casefold()]
        items = "".join(f'<li><a href="{p}">{html.escape(t)}</a></li>' for t, p in found)
        body = f"<ul>{items}</ul>" if found else f"<p>No results for {html.escape(q)}</p>"
        return Resource(200, HTML, page("Search", body))

    site.routes["/search"] = search
    return site


# --- a site published through a sitemap index and an RSS feed ------------------------------

@dataclass
class FeedSite:
    """Posts with versions; the sitemap, its gzipped child and the RSS feed follow them."""

    site: DemoSite = field(default_factory=DemoSite)
    posts: dict[str, str] = field(default_factory=dict)  # path -> lastmod

    def post(self, path: str, lastmod: str, body: str) -> None:
        self.site.add(path, page(f"Post {path}", body), HTML)
        self.posts[path] = lastmod

    def serve_feeds(self, base_url: str) -> None:
        base = base_url.rstrip("/")

        def index(_path: str, _query: str) -> Resource:
            return Resource(200, "application/xml", (
                '<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
                'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{base}/sitemaps/posts.xml.gz</loc></sitemap>"
                "</sitemapindex>").encode())

        def posts(_path: str, _query: str) -> Resource:
            urls = "".join(f"<url><loc>{base}{p}</loc><lastmod>{m}</lastmod></url>"
                           for p, m in self.posts.items())
            xml = ('<?xml version="1.0" encoding="UTF-8"?><urlset '
                   f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')
            return Resource(200, "application/gzip", gzip.compress(xml.encode()))

        def rss(_path: str, _query: str) -> Resource:
            items = "".join(f"<item><title>{p}</title><link>{base}{p}</link>"
                            f"<guid>{base}{p}</guid><pubDate>{m}</pubDate></item>"
                            for p, m in self.posts.items())
            return Resource(200, "application/rss+xml", (
                '<?xml version="1.0"?><rss version="2.0"><channel><title>Posts</title>'
                f"<link>{base}/</link>{items}</channel></rss>").encode())

        self.site.routes.update({"/sitemap.xml": index, "/sitemaps/posts.xml.gz": posts,
                                 "/feed.xml": rss})


# --- a forum whose attachments are extension-less links, and pages only a sitemap lists ----

SITEMAP_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(base: str, paths: list[str]) -> bytes:
    """A sitemap listing ``paths`` under ``base``."""
    urls = "".join(f"<url><loc>{base}{html.escape(p)}</loc></url>" for p in paths)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {SITEMAP_NS}>{urls}</urlset>'.encode()


def sitemap_index(base: str, paths: list[str]) -> bytes:
    """A sitemap index naming the sitemaps at ``paths`` under ``base``."""
    maps = "".join(f"<sitemap><loc>{base}{p}</loc></sitemap>" for p in paths)
    return (f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex {SITEMAP_NS}>{maps}'
            "</sitemapindex>").encode()


def coverage_site(base: str = "http://pirate.example") -> DemoSite:
    """Copies that only a crawl reading what a site offers besides links can find.

    * A forum thread (linked from home) links two attachments as ``/attachment.php?aid=N``,
      no extension: one served as ``image/jpeg``, one as ``application/octet-stream`` with a
      ``Content-Disposition`` file name. Each is a planted copy whose page is the thread.
    * robots.txt names a sitemap index (``base`` is where the site is served, for the
      absolute URLs sitemaps hold), which names a plain sitemap and a gzip-compressed one;
      they list ``/hidden/N.html`` pages that no link leads to, each with a planted copy.
    """
    site = DemoSite()
    works = sample_works()
    site.add("/", page("Forum home", '<a href="/forum/thread-1.html">Scans thread</a>'), HTML)
    thread = "/forum/thread-1.html"
    attachments: dict[str, Resource] = {}
    for aid, (work, alteration, content_type, headers) in enumerate([
            (works[0], "reencoded", "image/jpeg", ()),
            (works[1], "watermarked", "application/octet-stream",
             (("Content-Disposition", 'attachment; filename="scan 2.jpg"'),))], start=1):
        path = f"/attachment.php?aid={aid}"
        attachments[str(aid)] = Resource(
            200, content_type, MILD_ALTERATIONS[alteration](work[1]), headers)
        site.planted.append(PlantedCopy(work[0], alteration, path, thread, "attachment"))
    links = "".join(f'<p><a href="/attachment.php?aid={aid}">scan {aid}.jpg</a></p>'
                    for aid in attachments)
    site.add(thread, page("Scans thread", links), HTML)

    def attachment(_path: str, query: str) -> Resource:
        found = attachments.get(parse_qs(query).get("aid", [""])[0])
        return found or Resource(404, "text/html", page("Forum", "<p>No such attachment</p>"))

    site.routes["/attachment.php"] = attachment
    hidden = []
    for n, work in enumerate(works[2:4], start=1):
        path = f"/hidden/{n}.html"
        site.add(path, page(f"Hidden {n}", plant(site, work, f"/h/{n}.jpg", path)), HTML)
        hidden.append(path)
    site.add("/robots.txt", f"User-agent: *\nDisallow:\nSitemap: {base}/sitemap_index.xml\n"
             .encode(), "text/plain")
    site.add("/sitemap_index.xml", sitemap_index(base, ["/sitemaps/a.xml",
                                                        "/sitemaps/b.xml.gz"]),
             "application/xml")
    site.add("/sitemaps/a.xml", urlset(base, ["/", hidden[0]]), "application/xml")
    site.add("/sitemaps/b.xml.gz", gzip.compress(urlset(base, [hidden[1]])), "application/gzip")
    return site

