"""The ``site`` spider: crawls a watch target's site to a depth and page cap.

``scrapy crawl site -a target_id=N`` (the target's settings) or ``scrapy crawl site -a
url=URL [-a depth=2] [-a max_pages=200]``, plus ``-a run_id=N`` to record into an existing
CrawlRun. Pages are followed on the start URLs' hosts and the target's mirror domains;
media are fetched wherever they are hosted (CDNs).

Pages no link leads to are found in the sitemaps each start host's robots.txt names (or,
when it names none, its ``/sitemap.xml``), sitemap indexes and gzip-compressed sitemaps
included (:mod:`crawlers.sitemaps`). A listed page is one link from a start page (depth 1)
and passes the same rules as a link: hosts, allow/deny patterns, page cap, trap guard, and
the target's robots.txt policy (Scrapy's middleware). A crawl of depth 0 reads no sitemap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.live_spider import StreamFindingSpider
from crawlers.runstats import count, note_error
from crawlers.sitemaps import (
    ROBOTS_MAX_BYTES,
    default_sitemap_url,
    named_sitemaps,
    read_sitemap,
    robots_url,
    sitemap_body,
    sitemap_refusal,
)
from crawlers.watch_spider import SIZE_CAPS


class SiteSpider(StreamFindingSpider):
    name = "site"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sitemaps: set[str] = set()  # sitemap URLs requested

    async def start(self) -> AsyncIterator[Request]:
        await self.prepare()
        for url in self.config.start_urls:
            request = self.page_request(url, 0, start=True)
            if request is not None:
                yield request
        if self.max_depth >= 1:
            for url in dict.fromkeys(robots_url(u) for u in self.config.start_urls):
                yield Request(url, callback=self.parse_robots, errback=self.probe_failed,
                              meta={"download_maxsize": ROBOTS_MAX_BYTES,
                                    "dont_obey_robotstxt": True})

    # --- sitemaps ----------------------------------------------------------------------------

    def parse_robots(self, response: Response) -> Iterator[Request]:
        """The sitemaps robots.txt names; its host's ``/sitemap.xml`` if it names none (or
        there is no robots.txt)."""
        named = named_sitemaps(response.body, response.url) if response.status < 400 else []
        for url in named or [default_sitemap_url(response.url)]:
            request = self._sitemap_request(url, 0, probe=not named)
            if request is not None:
                yield request

    def _sitemap_request(self, url: str, nesting: int, probe: bool = False) -> Request | None:
        """A request for a sitemap, or None (counted) when the crawl's caps refuse it. A
        ``probe`` (``/sitemap.xml`` guessed) that is not there is no problem of the run."""
        if url in self._sitemaps:
            return None
        refusal = sitemap_refusal(url, self.config.hosts, nesting, len(self._sitemaps))
        if refusal is None and len(self.frontier) >= self.max_pages:
            refusal = "page_cap"
        if refusal is not None:
            count(self.crawler.stats, f"sitemaps_{refusal}")
            return None
        self._sitemaps.add(url)
        return Request(url, callback=self.parse_sitemap,
                       errback=self.probe_failed if probe else self.on_error,
                       cb_kwargs={"nesting": nesting, "probe": probe},
                       meta={"download_maxsize": SIZE_CAPS["page"]})

    def parse_sitemap(self, response: Response, nesting: int, probe: bool) -> Iterator[Request]:
        """Requests for a sitemap index's sitemaps, or for a sitemap's pages (depth 1)."""
        stats = self.crawler.stats
        try:
            if response.status >= 400:
                raise ValueError(f"HTTP {response.status}")
            index, entries = read_sitemap(sitemap_body(response.body, SIZE_CAPS["page"]))
        except ValueError as exc:
            if not probe:  # a sitemap the site names is broken: the run says so
                self.logger.warning("sitemap %s not read: %s", response.url, exc)
                note_error(stats, "bad_sitemap", response.url, str(exc))
            return
        count(stats, "sitemaps")
        response.meta["depth"] = 0  # what Scrapy's depth (and so its priority) counts from
        if index:
            for url, _lastmod in entries:
                request = self._sitemap_request(url, nesting + 1)
                if request is not None:
                    yield request
            return
        count(stats, "sitemap_urls", len(entries))
        for url, _lastmod in entries:
            page = self.page_request(url, 1)
            if page is not None:
                yield page

    def probe_failed(self, failure: Failure) -> None:
        """robots.txt or a guessed ``/sitemap.xml`` could not be fetched: nothing lost."""
        self.logger.debug("not fetched: %s (%s)", failure.request.url,  # type: ignore[attr-defined]
                          failure.getErrorMessage())
