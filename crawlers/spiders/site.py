"""The ``site`` spider: crawls one site to a depth and page cap and fetches every image it shows.

``scrapy crawl site -a url=URL [-a depth=2] [-a max_pages=200] [-a run_id=N]``. Pages are
followed only on the start URL's own host and port; images are fetched wherever they are
hosted (CDNs), through Scrapy itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from hashlib import sha256
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from crawlers.extract import extract_page
from crawlers.items import MediaItem, PageInfo
from crawlers.runstats import count, note_error
from swordnet.timeutil import utcnow
from swordnet.watchlist import check_url, site_key


def _ip(response: Response) -> str | None:
    return str(response.ip_address) if response.ip_address else None


def _content_type(response: Response) -> str | None:
    value = response.headers.get(b"Content-Type")
    return value.decode("latin-1") if value else None


class SiteSpider(Spider):
    name = "site"

    def __init__(
        self,
        url: str | None = None,
        depth: str | int = 2,
        max_pages: str | int = 200,
        run_id: str | int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not url:
            raise ValueError("the site spider needs a start URL: -a url=https://...")
        self.start_url = check_url(url)
        self.site = site_key(self.start_url)
        self.max_depth = int(depth)
        self.max_pages = int(max_pages)
        self.run_id = int(run_id) if run_id else None
        self._pages: set[str] = set()
        self._media: set[str] = set()

    async def start(self) -> AsyncIterator[Request]:
        yield self._page_request(self.start_url, 0)

    def _page_request(self, url: str, depth: int) -> Request:
        self._pages.add(url)
        return Request(url, callback=self.parse_page, errback=self.on_error,
                       cb_kwargs={"depth": depth})

    def parse_page(self, response: Response, depth: int) -> Iterator[Request]:
        stats = self.crawler.stats
        count(stats, "pages")
        if response.status >= 400:
            note_error(stats, f"http_{response.status}", response.url, f"HTTP {response.status}")
            return
        if not isinstance(response, TextResponse):
            count(stats, "pages_not_html")
            return
        found = extract_page(response.body, response.url)
        page = PageInfo(url=response.url, status=response.status, fetched_at=utcnow(),
                        ip=_ip(response), sha256=sha256(response.body).hexdigest(),
                        size=len(response.body), content_type=_content_type(response),
                        title=found.title)
        for image_url in found.images:
            if image_url not in self._media:
                self._media.add(image_url)
                yield Request(image_url, callback=self.parse_media, errback=self.on_error,
                              cb_kwargs={"page": page},
                              priority=1)
        if depth >= self.max_depth:
            return
        for link in found.links:
            if link in self._pages or site_key(link) != self.site:
                continue
            if len(self._pages) >= self.max_pages:
                count(stats, "pages_capped")
                break
            yield self._page_request(link, depth + 1)

    def parse_media(self, response: Response, page: PageInfo) -> Iterator[MediaItem]:
        if response.status >= 400:
            note_error(self.crawler.stats, f"http_{response.status}", response.url,
                       f"HTTP {response.status}")
            return
        yield MediaItem(url=response.url, status=response.status, fetched_at=utcnow(),
                        ip=_ip(response), content_type=_content_type(response),
                        body=response.body, page=page)

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        note_error(self.crawler.stats, failure.type.__name__, request.url,
                   failure.getErrorMessage())
