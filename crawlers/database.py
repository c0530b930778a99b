"""The crawl's one database: a Scrapy extension that opens it once for the whole process.

:class:`CrawlDatabase` reads Swordnet's settings from the crawl's Scrapy settings
(:func:`crawlers.config.crawl_settings`) when the crawler is built, and opens the database
(bringing its schema up to date) on a thread of its own, so the event loop never waits for
a connection or a migration. The spider, the pipelines and the feed memory ask for it with
``await CrawlDatabase.of(crawler).database()``; it is closed when the engine stops, after
every ``spider_closed`` handler (the store pipeline records the run's outcome in one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from scrapy import signals
from scrapy.crawler import Crawler

from crawlers.config import crawl_settings
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database

T = TypeVar("T")


class CrawlDatabase:
    """Scrapy extension: the crawl's settings and its database, opened off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        opener = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swordnet-db-open")
        self._opening: Future[Database] = opener.submit(open_database, settings)
        opener.shutdown(wait=False)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlDatabase:
        extension = cls(crawl_settings(crawler.settings))
        crawler.signals.connect(extension.close, signal=signals.engine_stopped)
        return extension

    @classmethod
    def of(cls, crawler: Crawler) -> CrawlDatabase:
        """The crawler's instance; raises RuntimeError if the extension is not enabled."""
        extensions = crawler.extensions.middlewares if crawler.extensions else ()
        for extension in extensions:
            if isinstance(extension, cls):
                return extension
        raise RuntimeError("the CrawlDatabase extension is not enabled "
                           "(EXTENSIONS in crawlers/settings.py)")

    async def database(self) -> Database:
        """The database, once it is open (raises what opening it raised)."""
        return await asyncio.wrap_future(self._opening)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(session, *args)`` in one unit of work, on a thread."""
        db = await self.database()

        def in_unit() -> T:
            with db.session() as session:
                return work(session, *args)

        return await asyncio.to_thread(in_unit)

    def close(self) -> None:
        """Dispose of the database's connections (when the engine stops)."""
        if self._opening.done() and self._opening.exception() is None:
            self._opening.result().dispose()
