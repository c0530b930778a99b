"""Spiders run in the test's process over fixture sites, without sockets: a spider built with
:func:`scrapy.utils.test.get_crawler` is fed the responses its requests ask for, answered by
:class:`~swordnet.demo.site.DemoSite` objects by host, breadth first.

This is how crawl *rules* are tested (which links are followed, at what depth, what the
trap guard stops, which media are fetched, what is counted); a few tests in test_crawl.py
and elsewhere still crawl over HTTP in a real ``scrapy crawl`` subprocess.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.http import Headers, Response
from scrapy.responsetypes import responsetypes
from scrapy.utils.test import get_crawler

from crawlers.analysis import analyse
from crawlers.database import CrawlDatabase
from crawlers.items import MediaItem
from crawlers.runstats import count, error_samples, summary
from crawlers.spiders.site import SiteSpider
from crawlers.store import Stored, finish_run, open_run, store_matches
from crawlers.watch_spider import WatchSpider
from scheduler.executor import CrawlRequest, create_run
from swordnet.core.config import Settings, load_settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import CrawlRun, WatchTarget
from swordnet.demo.site import DemoSite
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import WarcRecorder
from swordnet.watch.targets import get_target, scrapy_settings
from swordnet.works.quarantine import QuarantineWatch
from swordnet.works.registry import load_match_index
from tests.pirate_sites import add_watch_target


def make_spider(spidercls: type[WatchSpider], **args: Any) -> WatchSpider:
    """A spider as an executor starts ``scrapy crawl NAME -a KEY=VALUE...``, with a crawler
    and stats of its own. A ``target_id`` crawl also gets the crawl's database
    (:class:`CrawlDatabase`, the one ``SWORDNET_HOME`` or ``SWORDNET_DATABASE_URL`` name),
    which its target is read from, and the target's Scrapy settings."""
    settings: dict[str, Any] = {}
    if "target_id" in args:
        settings["EXTENSIONS"] = {CrawlDatabase: 0}
        db = open_database(load_settings())
        try:
            with db.session() as session:
                settings.update(scrapy_settings(get_target(session, int(args["target_id"]))))
        finally:
            db.dispose()
    spider = spidercls.from_crawler(get_crawler(spidercls, settings), **args)
    assert isinstance(spider, WatchSpider)
    return spider


@dataclass
class SpiderRun:
    """What an in-process crawl asked for and produced."""

    spider: WatchSpider
    requests: dict[str, list[str]] = field(default_factory=dict)  # host -> paths, in order
    items: list[MediaItem] = field(default_factory=list)

    def paths(self, host: str) -> list[str]:
        """The paths (with their query) requested on ``host``."""
        return self.requests.get(host, [])

    @property
    def stats(self) -> dict[str, Any]:
        """The run statistics as ``runs show`` would show them (see crawlers/runstats.py)."""
        return summary(self.spider.crawler.stats.get_stats())

    @property
    def errors(self) -> list[dict[str, str]]:
        return error_samples(self.spider.crawler.stats.get_stats())


async def _all(requests: AsyncIterator[Request]) -> list[Request]:
    return [request async for request in requests]


def _respond(sites: dict[str, DemoSite], request: Request) -> Response:
    parts = urlsplit(request.url)
    site = sites.get(parts.netloc)
    resource = site.respond(parts.path or "/", parts.query) if site else None
    if resource is None:
        return Response(request.url, status=404, request=request)
    headers = Headers(dict(resource.headers))
    if resource.content_type:
        headers["Content-Type"] = resource.content_type
    cls = responsetypes.from_args(headers=headers, url=request.url, body=resource.body)
    return cls(request.url, status=resource.status, headers=headers, body=resource.body,
               request=request)


def run_spider(spider: WatchSpider, sites: dict[str, DemoSite], *,
               hold: dict[str, str] | None = None, max_requests: int = 10_000) -> SpiderRun:
    """Crawl ``sites`` (by host, e.g. ``pirate.example``) with ``spider``: requests are
    answered one at a time, in the order they were made, except that a URL in ``hold`` is
    answered only once the URL it maps to was requested (a slow page overtaken by others).
    A URL already requested is dropped unless the request says ``dont_filter`` (as Scrapy's
    duplicate filter does)."""
    run = SpiderRun(spider)
    queue = deque(asyncio.run(_all(spider.start())))
    held = dict(hold or {})
    seen: set[str] = set()
    while queue:
        request = queue.popleft()
        if request.url in held:
            assert any(r.url not in held for r in queue), f"{request.url} is held for ever"
            queue.append(request)
            continue
        if request.url in seen and not request.dont_filter:
            continue
        held = {url: after for url, after in held.items() if after != request.url}
        seen.add(request.url)
        parts = urlsplit(request.url)
        run.requests.setdefault(parts.netloc, []).append(
            parts.path + (f"?{parts.query}" if parts.query else ""))
        assert sum(map(len, run.requests.values())) <= max_requests, "the crawl did not end"
        response = _respond(sites, request)
        assert request.callback is not None
        for result in request.callback(response, **request.cb_kwargs) or ():
            if isinstance(result, Request):
                queue.append(result)
            else:
                run.items.append(result)
    asyncio.run(spider.crawler.signals.send_catch_log_async(  # the spider's own close work
        signal=signals.spider_closed, spider=spider, reason="finished"))
    if spider.crawler.settings.getdict("EXTENSIONS"):
        CrawlDatabase.of(spider.crawler).close()  # as when the engine stops
    return run


def crawl_recorded(db: Database, request: CrawlRequest, sites: dict[str, DemoSite]) -> CrawlRun:
    """``request`` (a site spider's) crawled in-process over ``sites`` and recorded as a
    crawl records its run: created, opened, finished with the crawl's statistics and errors
    (which judges its health)."""
    assert request.spider == "site"
    run_id = create_run(db, request)
    crawl = run_spider(make_spider(SiteSpider, **request.arguments()), sites)
    with db.session() as session:
        ref = open_run(session, run_id, request.start_url, request.spider)
        finish_run(session, ref, "finished", crawl.stats, crawl.errors)
    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        return run


def target_request(db: Database, target_id: int) -> CrawlRequest:
    """The request that crawls the watch target, as the scheduler makes it."""
    with db.session() as session:
        target = session.get(WatchTarget, target_id)
        assert target is not None
        return CrawlRequest.for_target(target)


def crawl_in_process(db: Database, settings: Settings, host: str, site: DemoSite) -> Stored:
    """Crawl ``site`` served at ``host`` (:func:`run_spider`), match what it found with
    the registered works and store it as the crawl's pipelines do; the totals."""
    target = add_watch_target(db, f"http://{host}/")
    crawl = run_spider(make_spider(SiteSpider, target_id=str(target)), {host: site})
    items = crawl.items
    with db.session() as session:
        index = load_match_index(session)
        ref = open_run(session, None, f"http://{host}/", "site")
    recorder = WarcRecorder(EvidenceStore(settings.evidence_dir), f"test-run{ref.run_id}", {})
    watch = QuarantineWatch(ref.run_id)
    totals = [0] * 5
    for item in items:
        item.matches = analyse(item.kind, item.analysed, index, item.url).matches
        if item.matches:
            with db.session() as session:
                stored = store_matches(session, ref, item, watch, recorder)
            totals = [a + b for a, b in zip(totals, stored, strict=True)]
    recorder.close()
    for key, n in zip(("hits_new", "hits_seen", "matches_allowlisted", "hits_known_copies",
                       "hits_auto_confirmed"), totals, strict=True):
        count(crawl.spider.crawler.stats, key, n)  # as the store pipeline counts them
    with db.session() as session:
        finish_run(session, ref, "finished", crawl.stats, crawl.errors)
    return Stored(*totals)
