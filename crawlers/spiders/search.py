"""The ``search`` spider: types each registered work's title and aliases into a site's search.

``scrapy crawl search -a target_id=N``. The target's ``search_template`` (e.g.
``https://pirate.example/search?q={query}``) gets each title of the works in the target's
scope (every work when none is named), URL-encoded; the result pages are crawled like the
site spider's pages, following links to the target's depth (1 by default: the result
pages and the pages they list).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote_plus

from scrapy import Request

from crawlers.database import CrawlDatabase
from crawlers.live_spider import StreamFindingSpider
from crawlers.runstats import count
from swordnet.watch.targets import SEARCH_PLACEHOLDER
from swordnet.works.registry import search_queries


class SearchSpider(StreamFindingSpider):
    name = "search"

    async def loaded(self) -> None:
        if not self.config.search_template:
            raise ValueError("the search spider needs a target with a search template "
                             "(swordnet sites add URL --spider search --search-template ...)")
        self.template = self.config.search_template

    async def start(self) -> AsyncIterator[Request]:
        await self.prepare()
        queries = await CrawlDatabase.of(self.crawler).run(search_queries,
                                                           self.config.work_ids)
        count(self.crawler.stats, "search_queries", len(queries))
        for query in queries:
            url = self.template.replace(SEARCH_PLACEHOLDER, quote_plus(query))
            request = self.page_request(url, 0, start=True)
            if request is not None:
                yield request
