"""The ``feed`` spider: crawls only the new or changed entries of a sitemap or an RSS/Atom feed.

``scrapy crawl feed -a target_id=N`` (or ``-a url=SITEMAP_OR_FEED_URL``). Sitemap indexes
are followed to their sitemaps (gzip-compressed ones too). An entry is crawled when its URL
was never crawled from this site's feeds, or its version changed (``<lastmod>`` in a
sitemap; ``updated``/``published`` or the id in a feed). Entry pages are read for media
but their links are not followed. The versions of the entries crawled are remembered when
the spider closes, so a killed crawl only means those entries are crawled again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Self

import feedparser
from scrapy import Request, signals
from scrapy.http import Response

from crawlers.database import CrawlDatabase
from crawlers.live_spider import StreamFindingSpider
from crawlers.runstats import count, note_error, note_start
from crawlers.sitemaps import MAX_NESTING, is_sitemap, read_sitemap, sitemap_body
from crawlers.store import feed_versions, remember_feed_entries
from crawlers.watch_spider import SIZE_CAPS
from swordnet.watch.targets import site_key


def feed_entries(body: bytes) -> list[tuple[str, str]]:
    """(URL, version) of each entry of an RSS or Atom feed."""
    parsed = feedparser.parse(body)
    entries = []
    for entry in parsed.entries:
        url = entry.get("link")
        if url:
            version = entry.get("updated") or entry.get("published") or entry.get("id") or ""
            entries.append((url, str(version)[:100]))
    return entries


class FeedSpider(StreamFindingSpider):
    name = "feed"
    follows_links = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.known: dict[str, str] = {}
        self.crawled: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.remember, signal=signals.spider_closed)
        return spider

    async def loaded(self) -> None:
        self.site = site_key(self.start_url)
        self.known = await CrawlDatabase.of(self.crawler).run(feed_versions, self.site)

    async def start(self) -> AsyncIterator[Request]:
        await self.prepare()
        for url in self.config.start_urls:
            yield self._feed_request(url, 0, start=True)

    def _feed_request(self, url: str, nesting: int, start: bool = False) -> Request:
        return Request(url, callback=self.parse_feed, errback=self.on_error,
                       cb_kwargs={"nesting": nesting},
                       meta={"start": start, "download_maxsize": SIZE_CAPS["page"]})

    def parse_feed(self, response: Response, nesting: int) -> Iterator[Request]:
        stats = self.crawler.stats
        if response.meta.get("start"):
            note_start(stats, response.status < 500)
        if response.status >= 400:
            note_error(stats, f"http_{response.status}", response.url, f"HTTP {response.status}")
            return
        try:
            body = sitemap_body(response.body, SIZE_CAPS["page"])
        except ValueError as exc:
            note_error(stats, "bad_feed", response.url, str(exc))
            return
        if is_sitemap(body):
            try:
                index, entries = read_sitemap(body)
            except ValueError as exc:
                note_error(stats, "bad_feed", response.url, str(exc))
                return
            if index:
                if nesting < MAX_NESTING:
                    for url, _version in entries:
                        yield self._feed_request(url, nesting + 1)
                return
        else:
            entries = feed_entries(body)
            if not entries:
                note_error(stats, "bad_feed", response.url, "neither a sitemap nor a feed")
                return
        count(stats, "feed_entries", len(entries))
        for url, version in entries:
            if url in self.known and self.known[url] == version:
                count(stats, "feed_entries_unchanged")
                continue
            request = self.page_request(url, 0, meta={"feed_version": version, "feed_url": url})
            if request is not None:
                yield request

    def page_crawled(self, response: Response) -> None:
        if "feed_url" in response.meta:
            self.crawled[response.meta["feed_url"]] = response.meta["feed_version"]

    async def remember(self) -> None:
        if self.crawled:
            await CrawlDatabase.of(self.crawler).run(remember_feed_entries, self.site,
                                                     self.crawled)
