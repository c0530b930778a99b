"""The watch spiders' stream finding: in a run that works for a live event, every page read is
scanned for stream URLs, and so are the pages it embeds.

A run works for a live event when its campaign is the event's and the event is on (read once,
when the spider is prepared). Then each page the spider reads is scanned
(:func:`crawlers.stream_links.find_streams`) and its streams handed on as a
:class:`~crawlers.live_streams.StreamsItem`; its iframes are fetched wherever they are hosted
(players sit on other hosts), up to :data:`MAX_EMBED_NESTING` frames deep, and scanned too,
their streams credited to the page that embeds them. Other runs scan nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from scrapy import Request
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from crawlers.database import CrawlDatabase
from crawlers.failures import failure_reason
from crawlers.items import MediaItem, PageInfo
from crawlers.live_streams import StreamsItem, works_for_live_event
from crawlers.runstats import count, note_error
from crawlers.stream_links import find_streams
from crawlers.watch_spider import SIZE_CAPS, WatchSpider, exchange_of
from swordnet.core.timeutil import utcnow

MAX_EMBED_NESTING = 2  # a page's player frame, and one frame inside it


class StreamFindingSpider(WatchSpider):
    """A watch spider that finds streams for the live events its run works for."""

    finds_streams = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._live: asyncio.Future[bool] | None = None
        self._embeds: set[str] = set()  # embedded pages requested (each once a crawl)

    async def prepare(self) -> None:
        """Also read, once, whether the run works for a live event."""
        await super().prepare()
        if self._live is None:
            self._live = asyncio.ensure_future(self._works_for_live_event())
        self.finds_streams = await self._live

    async def _works_for_live_event(self) -> bool:
        if self.run_id is None:  # a crawl of a URL by hand records a run of its own
            return False
        return await CrawlDatabase.of(self.crawler).run(works_for_live_event, self.run_id,
                                                        utcnow())

    def parse_page(self, response: Response, page_url: str) -> Iterator[Any]:
        for result in super().parse_page(response, page_url):
            yield result
            if self.finds_streams and isinstance(result, MediaItem) and result.is_page:
                yield from self._scan(response, result.page, [])

    def _scan(self, response: Response, page: PageInfo,
              frames: list[PageInfo]) -> Iterator[Request | StreamsItem]:
        """The streams of a page (or of a frame of ``page``), and requests for its frames."""
        assert isinstance(response, TextResponse)
        try:
            found = find_streams(response.text.replace("\x00", ""), response.url)
        except Exception as exc:  # noqa: BLE001 (hostile markup must never end a crawl)
            note_error(self.crawler.stats, "bad_html", response.url,
                       f"{type(exc).__name__}: {exc}")
            return
        if found.streams:
            count(self.crawler.stats, "streams_found", len(found.streams))
            yield StreamsItem(page=page, urls=found.streams, frames=frames)
        if len(frames) >= MAX_EMBED_NESTING:
            return
        for url in found.embeds:
            if url in self._embeds:
                continue
            self._embeds.add(url)
            # outside the duplicate filter: a page crawled as a page too is still crawled
            yield Request(url, callback=self.parse_embed, errback=self.embed_failed,
                          dont_filter=True, priority=1,
                          cb_kwargs={"page": page, "frames": frames},
                          meta={"download_maxsize": SIZE_CAPS["page"]})

    def parse_embed(self, response: Response, page: PageInfo,
                    frames: list[PageInfo]) -> Iterator[Request | StreamsItem]:
        """A page embedded in ``page`` (through ``frames``): scanned for streams."""
        if response.status >= 400:
            note_error(self.crawler.stats, f"http_{response.status}", response.url,
                       f"HTTP {response.status}")
            return
        if not isinstance(response, TextResponse):
            return
        count(self.crawler.stats, "stream_embeds")
        frame = PageInfo(exchange=exchange_of(response), title=None)
        yield from self._scan(response, page, [*frames, frame])

    def embed_failed(self, failure: Failure) -> None:
        """An embedded page could not be fetched: recorded, the crawl goes on."""
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on errbacks
        kind, reason = failure_reason(failure, SIZE_CAPS["page"])
        note_error(self.crawler.stats, kind, request.url, reason)
