"""The crawl's match workers, forked before the crawl process starts a thread.

:class:`MatchWorkers` is the first extension Scrapy builds (EXTENSIONS in
crawlers/settings.py): it makes the crawl's :class:`~crawlers.analysis.AnalysisPool` while
the process still runs one Python thread, so the workers are forked from it and need not
import the matchers again (:mod:`crawlers.analysis` says why that is safe). The
analysis pipeline takes the pool over when the spider opens.
"""

from __future__ import annotations

from scrapy.crawler import Crawler

from crawlers.analysis import AnalysisPool
from crawlers.config import crawl_settings, match_workers


class MatchWorkers:
    """Scrapy extension: the crawl's pool of match workers, made when the crawler is built."""

    def __init__(self, pool: AnalysisPool) -> None:
        self.pool = pool

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchWorkers:
        return cls(AnalysisPool(match_workers(crawler.settings),
                                crawl_settings(crawler.settings)))

    @classmethod
    def of(cls, crawler: Crawler) -> MatchWorkers | None:
        """The crawler's instance; None if the extension is not enabled."""
        extensions = crawler.extensions.middlewares if crawler.extensions else ()
        return next((e for e in extensions if isinstance(e, cls)), None)
