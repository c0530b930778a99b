"""The ``site`` spider: crawls a watch target's site to a depth and page cap.

``scrapy crawl site -a target_id=N`` (the target's settings) or ``scrapy crawl site -a
url=URL [-a depth=2] [-a max_pages=200]``, plus ``-a run_id=N`` to record into an existing
CrawlRun. Pages are followed on the start URLs' hosts and the target's mirror domains;
media are fetched wherever they are hosted (CDNs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from scrapy import Request

from crawlers.watch_spider import WatchSpider


class SiteSpider(WatchSpider):
    name = "site"

    async def start(self) -> AsyncIterator[Request]:
        await self.prepare()
        for url in self.config.start_urls:
            request = self.page_request(url, 0, start=True)
            if request is not None:
                yield request
