"""The ``recheck`` spider: is each URL named in a takedown notice gone yet, or back?

``scrapy crawl recheck -a notice_urls=3,4,9 -a run_id=N`` fetches each URL once, whatever
its status, and hands the response (or the failure to get one) to the pipelines: the
analysis pipeline checks whether the content still matches the work, the store pipeline
captures the response in the run's WARC file and records the outcome (see
:mod:`casefiles.notices`). The scheduler's recheck job starts one such run per site.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response, TextResponse
from twisted.python.failure import Failure

from casefiles.notices import RecheckTarget, recheck_targets
from crawlers.database import CrawlDatabase
from crawlers.failures import failure_reason
from crawlers.items import RecheckItem
from crawlers.runstats import count, note_error
from crawlers.watch_spider import SIZE_CAPS, exchange_of


def _ids(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"notice_urls must be comma-separated ids, got {text!r}") from None


class RecheckSpider(Spider):
    name = "recheck"

    def __init__(self, notice_urls: str = "", run_id: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.notice_url_ids = _ids(notice_urls)
        if not self.notice_url_ids:
            raise ValueError("the recheck spider needs -a notice_urls=ID[,ID...]")
        self.run_id = int(run_id) if run_id else None
        self.targets: list[RecheckTarget] = []
        self.start_url = ""
        self._prepared: asyncio.Future[None] | None = None

    async def prepare(self) -> None:
        """Read the URLs to check from the crawl's database, once (before the run is opened
        and before :meth:`start`)."""
        if self._prepared is None:
            self._prepared = asyncio.ensure_future(self._load())
        await self._prepared

    async def _load(self) -> None:
        self.targets = await CrawlDatabase.of(self.crawler).run(recheck_targets,
                                                                self.notice_url_ids)
        self.start_url = self.targets[0].url

    async def start(self) -> AsyncIterator[Request]:
        await self.prepare()
        for target in self.targets:
            yield Request(target.url, callback=self.checked, errback=self.failed,
                          dont_filter=True, cb_kwargs={"target": target},
                          meta={"handle_httpstatus_all": True,
                                "download_maxsize": SIZE_CAPS.get(target.kind,
                                                                  SIZE_CAPS["image"])})

    def _item(self, target: RecheckTarget, **values: Any) -> RecheckItem:
        return RecheckItem(notice_url_id=target.notice_url_id, work_id=target.work_id,
                           kind=target.kind, url=target.url, thresholds=target.thresholds,
                           **values)

    def checked(self, response: Response, target: RecheckTarget) -> Iterator[RecheckItem]:
        stats = self.crawler.stats
        count(stats, "pages")
        count(stats, "pages_ok")  # for a recheck, any response is a completed check
        text = response.text if target.kind == "page" and isinstance(response, TextResponse) \
            else None
        yield self._item(target, exchange=exchange_of(response), text=text)

    def failed(self, failure: Failure) -> Iterator[RecheckItem]:
        request = failure.request  # type: ignore[attr-defined]  # Scrapy sets it on errbacks
        target: RecheckTarget = request.cb_kwargs["target"]
        kind, reason = failure_reason(failure, request.meta["download_maxsize"])
        note_error(self.crawler.stats, kind, target.url, reason)
        yield self._item(target, failure=f"{kind}: {reason}")
