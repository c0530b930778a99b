"""Item pipelines: fingerprint -> match -> store.

Hashing and the stage-2 matcher run in worker threads and every database call on one writer
thread per crawl, so none of them blocks the reactor. The store pipeline also owns the
crawl's CrawlRun and its WARC recorder: it opens both when the spider opens (first sealing
WARC files that a killed crawl left open) and writes the outcome, statistics and health, and
seals the last WARC file, when the spider closes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from hashlib import sha256
from typing import Any, TypeVar

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from sqlalchemy.orm import Session

from casefiles.evidence import EvidenceStore
from casefiles.warc import WarcRecorder, recover_open_files
from crawlers import runstats
from crawlers.items import MediaItem
from crawlers.store import RunRef, finish_run, note_sealed, open_run, store_matches
from matching.decode import animation_note
from matching.match_index import MatchIndex
from matching.signal import ContentRejected, ContentSkipped
from matching.stages import (
    first_stage_fingerprints,
    first_stage_matches,
    needs_later_stages,
    settle,
)
from swordnet.config import load_settings
from swordnet.db import Database, open_database
from swordnet.quarantine import QuarantineWatch
from swordnet.registry import IndexedFingerprint, extend_match_index, fingerprints_since

T = TypeVar("T")


class FingerprintPipeline:
    """Computes stage-1 fingerprints of each media item's original bytes, off the reactor.

    Media the quality gate skips (tiny, near-blank, featureless) is counted and dropped;
    media that cannot be decoded is recorded as a ``bad_media`` error with its reason.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FingerprintPipeline:
        return cls(crawler)

    async def process_item(self, item: MediaItem) -> MediaItem:
        stats = self.crawler.stats
        assert stats is not None
        runstats.count(stats, "media")
        item.sha256 = sha256(item.body).hexdigest()
        try:
            item.fingerprints = await asyncio.to_thread(first_stage_fingerprints, item.kind,
                                                        item.body)
        except ContentSkipped as exc:
            runstats.count(stats, "media_skipped")
            raise DropItem(f"{item.url}: {exc}", log_level="DEBUG") from None
        except ContentRejected as exc:
            runstats.note_error(stats, "bad_media", item.url, str(exc))
            raise DropItem(f"{item.url}: {exc}") from None
        item.note = await asyncio.to_thread(animation_note, item.body)
        if item.note:
            runstats.count(stats, "media_animated")
        return item


class MatchPipeline:
    """Looks each item up in the match index: stage 1, then later stages if stage 1 left any
    doubt (no match, or only a marginal one).

    The index is loaded when the spider opens and extended with works registered since, at
    most every :attr:`refresh_s` seconds, so a long crawl sees new works without a rebuild.
    """

    refresh_s = 10.0

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.index = MatchIndex()
        self.newest_fingerprint_id = 0
        self.refreshed_at = 0.0
        self.db: Database | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MatchPipeline:
        return cls(crawler)

    async def open_spider(self) -> None:
        self.db = await asyncio.to_thread(open_database, load_settings())
        await self._refresh()

    async def close_spider(self) -> None:
        if self.db is not None:
            self.db.dispose()

    async def _refresh(self) -> None:
        """Read new fingerprints in a thread; extend the index here, where queries run."""
        def read() -> list[IndexedFingerprint]:
            assert self.db is not None
            with self.db.session() as session:
                return fingerprints_since(session, self.newest_fingerprint_id)

        self.refreshed_at = time.monotonic()
        new = await asyncio.to_thread(read)
        extend_match_index(self.index, new)
        if new:
            self.newest_fingerprint_id = max(self.newest_fingerprint_id, new[-1].id)

    async def process_item(self, item: MediaItem) -> MediaItem:
        if time.monotonic() - self.refreshed_at > self.refresh_s:
            await self._refresh()
        first = first_stage_matches(self.index, item.fingerprints)
        item.matches = first
        if needs_later_stages(first):
            stats = self.crawler.stats
            assert stats is not None
            runstats.count(stats, "media_stage2")
            try:
                item.matches = await asyncio.to_thread(settle, self.index, item.kind, item.body,
                                                       first)
            except ContentRejected as exc:
                runstats.note_error(stats, "bad_media", item.url, str(exc))
        return item


class StorePipeline:
    """Records the crawl run and stores captures (WARC records) and pending hits for matched
    items."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swordnet-db")
        self.db: Database | None = None
        self.run: RunRef | None = None
        self.watch: QuarantineWatch | None = None
        self.recorder: WarcRecorder | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    async def _write(self, work: Callable[..., T], *args: Any) -> T:
        def in_session() -> T:
            assert self.db is not None
            with self.db.session() as session:
                return work(session, *args)

        return await asyncio.get_running_loop().run_in_executor(self.writer, in_session)

    async def open_spider(self) -> None:
        spider = self.crawler.spider
        settings = load_settings()
        self.db = await asyncio.get_running_loop().run_in_executor(
            self.writer, lambda: open_database(settings))
        self.run = await self._write(open_run, getattr(spider, "run_id", None),
                                     getattr(spider, "start_url", ""), spider.name)
        self.watch = QuarantineWatch(self.run.run_id)
        store = EvidenceStore(settings.evidence_dir)
        await self._write(lambda session: note_sealed(session, recover_open_files(store)))
        config = getattr(spider, "config", None)
        info = {"crawl-run": str(self.run.run_id), "spider": spider.name,
                "start-url": getattr(spider, "start_url", ""),
                "crawl-settings": repr(config) if config is not None else ""}
        self.recorder = WarcRecorder(store, f"swordnet-run{self.run.run_id}", info,
                                     self.crawler.settings.getint("SWORDNET_WARC_MAX_BYTES"))

    def _store(self, session: Session, item: MediaItem) -> tuple[int, int]:
        assert self.run is not None and self.watch is not None and self.recorder is not None
        result = store_matches(session, self.run, item, self.watch, self.recorder)
        note_sealed(session, self.recorder.take_sealed())
        return result

    def _seal_last(self, session: Session) -> None:
        assert self.recorder is not None
        self.recorder.close()
        note_sealed(session, self.recorder.take_sealed())

    async def process_item(self, item: MediaItem) -> MediaItem:
        if item.matches:
            new, seen = await self._write(self._store, item)
            stats = self.crawler.stats
            assert stats is not None
            runstats.count(stats, "hits_new", new)
            runstats.count(stats, "hits_seen", seen)
        return item

    async def spider_closed(self, reason: str) -> None:
        stats = self.crawler.stats
        assert stats is not None
        try:
            if self.recorder is not None:
                await self._write(self._seal_last)
            if self.run is not None:
                values = stats.get_stats()
                await self._write(finish_run, self.run, reason, runstats.summary(values),
                                  runstats.error_samples(values))
        finally:
            if self.db is not None:
                self.db.dispose()
            self.writer.shutdown(wait=False)
