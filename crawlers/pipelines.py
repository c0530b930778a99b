"""Item pipelines: analyse (fingerprint + match) -> store, for crawled media and for
rechecks of URLs under notice.

Fingerprinting and matching run in worker processes (:mod:`crawlers.analysis`) and every
database call on one writer thread per crawl, so none of them blocks the reactor. Both get
the crawl's settings and database from :class:`~crawlers.database.CrawlDatabase`. The store
pipeline also owns the crawl's CrawlRun and its WARC recorder: it opens both when the spider
opens (first sealing WARC files that a killed crawl left open) and writes the outcome,
statistics and health, and seals the last WARC file, when the spider closes.

No hit is lost silently: when storing an item fails (a full or read-only evidence store, a
database lock held past its timeout), the item is counted as not stored with the reason, the
first failure stops the crawl (``evidence_store_failed``), and the run is recorded ``failed``
with that reason and the counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NoReturn, TypeVar

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from crawlers import runstats
from crawlers.analysis import Analysis, AnalysisPool, JudgedBy
from crawlers.config import match_workers
from crawlers.database import CrawlDatabase
from crawlers.items import MediaItem, RecheckItem
from crawlers.live_streams import StreamsItem, store_streams
from crawlers.match_workers import MatchWorkers
from crawlers.store import (
    RunRef,
    Stored,
    finish_run,
    note_sealed,
    open_run,
    store_matches,
    store_recheck,
)
from swordnet.core.db import Database
from swordnet.core.timeutil import utcnow
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import SealedWarc, WarcRecorder, recover_open_files
from swordnet.works.quarantine import QuarantineWatch

T = TypeVar("T")
log = logging.getLogger(__name__)

STORE_FAILED = "evidence_store_failed"  # the close reason of a crawl stopped by a store failure
# How long a crawl keeps trying to record sealed files, or its outcome, while the database is
# locked (each try waits the database's own busy timeout first).
OUTCOME_WAIT_S = 120.0


def store_failure_reason(exc: Exception) -> str:
    """One line saying why storing failed, naming the file or the database.

    >>> store_failure_reason(OSError(28, "No space left on device", "/ev/open/r1.warc.gz"))
    'evidence store: No space left on device (/ev/open/r1.warc.gz)'
    """
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"evidence store: {exc.strerror or exc}{where}"
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        return f"database: {str(orig or exc).splitlines()[0]}"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


class AnalysisPipeline:
    """Fingerprints and matches each media item in the crawl's worker processes.

    Stage 1 runs for every item, later stages only where stage 1 left doubt (no match, or
    only a marginal one). Media the quality gate skips (tiny, near-blank, featureless) is
    counted and dropped; media that cannot be decoded is recorded as a ``bad_media`` error
    with its reason.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.workers = match_workers(crawler.settings)
        self.crawl_db = CrawlDatabase.of(crawler)
        self.pool: AnalysisPool | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AnalysisPipeline:
        return cls(crawler)

    async def open_spider(self) -> None:
        await self.crawl_db.database()  # open, its schema up to date, before workers read it
        # The pool forked by the MatchWorkers extension; a crawl given EXTENSIONS without it
        # (tests, benches) starts one now.
        early = MatchWorkers.of(self.crawler)
        self.pool = early.pool if early else AnalysisPool(self.workers, self.crawl_db.settings)

    async def _analyse(self, item: MediaItem | RecheckItem) -> Analysis | None:
        """The item's analysis; None if a worker died on it twice (a file that crashes the
        decoder). A dead worker breaks the whole pool: the first item to notice starts a new
        one, and every item that was in flight is tried once more."""
        for _attempt in range(2):
            pool = self.pool
            assert pool is not None
            try:
                assert item.exchange is not None
                judged_by = None
                if isinstance(item, RecheckItem) and item.thresholds is not None:
                    judged_by = JudgedBy(item.work_id, item.thresholds)
                link_kinds = item.link_kinds if isinstance(item, MediaItem) else None
                return await asyncio.wrap_future(pool.submit(item.kind, item.analysed,
                                                             item.url, judged_by, link_kinds))
            except BrokenProcessPool:
                if self.pool is pool:
                    runstats.count(self.crawler.stats, "matcher_restarts")
                    self.pool = AnalysisPool(self.workers, self.crawl_db.settings)
                    await asyncio.to_thread(pool.shutdown)
        return None

    async def close_spider(self) -> None:
        if self.pool is not None:
            await asyncio.to_thread(self.pool.shutdown)

    async def _analysed(self, item: MediaItem) -> Analysis:
        """The item's analysis; an item that killed the matcher twice is recorded, dropped."""
        result = await self._analyse(item)
        if result is None:
            runstats.note_error(self.crawler.stats, "matcher_crashed", item.url,
                                f"the matcher's worker process died on this {item.kind}, twice")
            raise DropItem(f"{item.url}: the matcher's worker process died on it")
        return result

    async def _recheck(self, item: RecheckItem) -> RecheckItem:
        """Does the content at a URL under notice still match the work, by the thresholds
        in force when its hit was confirmed?"""
        if item.exchange is not None and item.exchange.status < 400 and item.exchange.body:
            result = await self._analyse(item)
            item.still_matches = None if result is None else any(
                match.work_id == item.work_id for match in result.matches)
        return item

    async def process_item(self, item: MediaItem | RecheckItem | StreamsItem
                           ) -> MediaItem | RecheckItem | StreamsItem:
        if isinstance(item, StreamsItem):  # nothing to match: the live checker samples them
            return item
        if isinstance(item, RecheckItem):
            return await self._recheck(item)
        stats = self.crawler.stats
        assert stats is not None and self.pool is not None
        if item.is_page:  # matched by its text and the names next to its download links
            item.matches = (await self._analysed(item)).matches
            return item
        runstats.count(stats, "media")
        result = await self._analysed(item)
        if result.outcome == "skipped":
            runstats.count(stats, "media_skipped")
            raise DropItem(f"{item.url}: {result.reason}", log_level="DEBUG")
        if result.outcome == "rejected":
            runstats.note_error(stats, "bad_media", item.url, result.reason)
            if not result.queries:
                raise DropItem(f"{item.url}: {result.reason}")
        item.note, item.matches = result.note, result.matches
        if item.note:
            runstats.count(stats, "media_animated")
        if result.later_stages:
            runstats.count(stats, "media_stage2")
        if result.reused:
            runstats.count(stats, "media_reused")
        return item


class StorePipeline:
    """Records the crawl run and stores captures (WARC records) and pending hits for matched
    items."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.crawl_db = CrawlDatabase.of(crawler)
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swordnet-db")
        self.db: Database | None = None
        self.run: RunRef | None = None
        self.watch: QuarantineWatch | None = None
        self.recorder: WarcRecorder | None = None
        self.failure: str | None = None  # why storing first failed, if it did
        self._stopping: Any = None  # the Deferred closing the spider after that failure
        # Files sealed into the store whose sha256 is not yet on their WarcFile row (writer
        # thread only): kept until a commit records them, or captures could not find them.
        self._unnoted: list[SealedWarc] = []
        self.store: EvidenceStore | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    async def _write(self, work: Callable[..., T], *args: Any) -> T:
        """Runs ``work`` in one transaction on the writer thread; the same transaction records
        the files sealed since the last commit (by rollover, recovery or the close)."""
        def in_session() -> T:
            assert self.db is not None
            with self.db.session() as session:
                result = work(session, *args)
                if self.recorder is not None:
                    self._unnoted += self.recorder.take_sealed()
                note_sealed(session, self._unnoted)
            if self.store is not None:  # committed: the receipts have served
                self.store.drop_receipts([warc.filename for warc in self._unnoted])
            self._unnoted = []
            return result

        return await asyncio.get_running_loop().run_in_executor(self.writer, in_session)

    async def _write_patiently(self, what: str, work: Callable[..., T], *args: Any) -> T:
        """:meth:`_write`, tried again while the database stays locked, for up to
        OUTCOME_WAIT_S (each try first waits the database's own busy timeout)."""
        deadline = time.monotonic() + OUTCOME_WAIT_S
        while True:
            try:
                return await self._write(work, *args)
            except OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise
                log.warning("cannot record %s yet (%s); trying again", what,
                            store_failure_reason(exc))
                await asyncio.sleep(1)

    def _recover(self, store: EvidenceStore) -> None:
        """Seals the files that killed crawls left open (writer thread)."""
        self._unnoted += recover_open_files(store)

    async def open_spider(self) -> None:
        spider = self.crawler.spider
        assert spider is not None  # Scrapy opens pipelines once the crawler has its spider
        prepare = getattr(spider, "prepare", None)
        if prepare is not None:  # what the crawl is about: its start URL, its config
            await prepare()
        self.db = await self.crawl_db.database()
        self.run = run = await self._write(open_run, getattr(spider, "run_id", None),
                                           getattr(spider, "start_url", ""), spider.name)
        self.watch = QuarantineWatch(run.run_id)
        self.store = store = EvidenceStore(self.crawl_db.settings.evidence_dir)
        config = getattr(spider, "config", None)
        info = {"crawl-run": str(run.run_id), "spider": spider.name,
                "start-url": getattr(spider, "start_url", ""),
                "crawl-settings": repr(config) if config is not None else ""}
        self.recorder = WarcRecorder(store, f"swordnet-run{run.run_id}", info,
                                     self.crawler.settings.getint("SWORDNET_WARC_MAX_BYTES"))
        await asyncio.get_running_loop().run_in_executor(self.writer, self._recover, store)
        await self._write_patiently("recovered WARC files", lambda _session: None)

    def _store(self, session: Session, item: MediaItem) -> Stored:
        assert self.run is not None and self.watch is not None and self.recorder is not None
        return store_matches(session, self.run, item, self.watch, self.recorder)

    def _store_recheck(self, session: Session, item: RecheckItem) -> str:
        assert self.run is not None and self.recorder is not None
        return store_recheck(session, self.run, item, self.recorder)

    def _store_streams(self, session: Session, item: StreamsItem) -> int:
        assert self.run is not None and self.recorder is not None
        return store_streams(session, self.run, item, self.recorder, utcnow())

    async def process_item(self, item: MediaItem | RecheckItem | StreamsItem
                           ) -> MediaItem | RecheckItem | StreamsItem:
        stats = self.crawler.stats
        assert stats is not None
        if isinstance(item, StreamsItem):
            try:
                new = await self._write(self._store_streams, item)
            except Exception as exc:
                self._not_stored(item.url, 0, exc)
            runstats.count(stats, "stream_candidates_new", new)
        elif isinstance(item, RecheckItem):
            try:
                outcome = await self._write(self._store_recheck, item)
            except Exception as exc:
                self._not_stored(item.url, 0, exc)
            runstats.count(stats, f"rechecks_{outcome}")
        elif item.matches:
            try:
                stored = await self._write(self._store, item)
            except Exception as exc:
                self._not_stored(item.url, len(item.matches), exc)
            runstats.count(stats, "hits_new", stored.new)
            runstats.count(stats, "hits_seen", stored.seen)
            runstats.count(stats, "matches_allowlisted", stored.allowlisted)
            runstats.count(stats, "hits_known_copies", stored.known)
            runstats.count(stats, "hits_auto_confirmed", stored.auto_confirmed)
        return item

    def _not_stored(self, url: str, hits: int, exc: Exception) -> NoReturn:
        """Counts an item whose storing failed, with the reason; the first failure stops the
        crawl. Raises DropItem (nothing of the item was stored)."""
        reason = store_failure_reason(exc)
        log.error("not stored: %s (%d matches): %s", url, hits, reason, exc_info=exc)
        assert self.crawler.stats is not None
        runstats.note_not_stored(self.crawler.stats, url, hits, reason)
        if self.failure is None:
            self.failure = reason
            assert self.crawler.engine is not None
            self._stopping = deferred_from_coro(
                self.crawler.engine.close_spider_async(reason=STORE_FAILED))
        raise DropItem(f"{url}: not stored: {reason}") from exc

    def _failure_summary(self, values: dict[str, Any]) -> str | None:
        if self.failure is None:
            return None
        summary = runstats.summary(values)
        return (f"{self.failure}; not stored: {summary['hits_not_stored']} hits of "
                f"{summary['store_failures']} matched items or rechecks")

    def _seal_last(self) -> None:
        """Seals the last WARC file (writer thread; the outcome's transaction records it). A
        file that cannot be sealed keeps its durable records in ``open/`` for the next crawl's
        recovery: logged, not fatal."""
        assert self.recorder is not None
        try:
            self.recorder.close()
        except OSError as exc:
            log.error("cannot seal the last WARC file; it stays in open/ for recovery: %s",
                      store_failure_reason(exc), exc_info=exc)

    async def spider_closed(self, reason: str) -> None:
        stats = self.crawler.stats
        assert stats is not None
        try:
            if self.recorder is not None:
                await asyncio.get_running_loop().run_in_executor(self.writer, self._seal_last)
            if self.run is not None:
                values = stats.get_stats()
                await self._write_patiently("the run's outcome", finish_run, self.run, reason,
                                            runstats.summary(values),
                                            runstats.error_samples(values),
                                            self._failure_summary(values))
        finally:
            self.writer.shutdown(wait=False)
