"""The crawl's matcher workers: a worker process that dies does not stop matching."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

from crawlers import analysis
from crawlers.database import CrawlDatabase
from crawlers.items import Exchange, MediaItem, PageInfo
from crawlers.pipelines import AnalysisPipeline
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.demo.samples import sample_files
from swordnet.demo.site import MILD_ALTERATIONS
from swordnet.works.registry import register_work
from tests.pirate_sites import register_samples, sample_works


def _item(body: bytes, n: int) -> MediaItem:
    def exchange(url: str, data: bytes) -> Exchange:
        return Exchange(url, "GET", [], 200, [], data, None, datetime.now(UTC))

    page = PageInfo(exchange("http://127.0.0.1:9/p.html", b"<p>page</p>"), "page")
    return MediaItem(exchange(f"http://127.0.0.1:9/{n}.jpg", body), page)


def _samples_and_one_worker(home: Settings) -> tuple[Crawler, bytes]:
    """The sample works registered in ``home``, a crawler with one match worker on it, and a
    re-encoded copy of the first sample."""
    db = open_database(home)
    register_samples(db)
    db.dispose()
    crawler = get_crawler(settings_dict={
        "SWORDNET_MATCH_WORKERS": 1, "EXTENSIONS": {CrawlDatabase: 0},
        "SWORDNET_HOME": str(home.home), "SWORDNET_DATABASE_URL": home.database_url})
    return crawler, MILD_ALTERATIONS["reencoded"](sample_works()[0][1])


def test_matching_goes_on_after_a_worker_process_dies(sqlite_home: Settings) -> None:
    crawler, copy = _samples_and_one_worker(sqlite_home)

    async def scenario() -> list[Any]:
        pipeline = AnalysisPipeline(crawler)
        await pipeline.open_spider()
        try:
            first = await pipeline.process_item(_item(copy, 1))
            assert pipeline.pool is not None
            broken = pipeline.pool
            for process in list(broken.executor._processes.values()):
                process.kill()  # as if a hostile file had crashed the decoder
            second = await pipeline.process_item(_item(copy, 2))
            assert pipeline.pool is not broken  # a fresh pool took over
            return [first, second, pipeline.crawler.stats.get_stats()]
        finally:
            await pipeline.close_spider()

    first, second, stats = asyncio.run(scenario())
    CrawlDatabase.of(crawler).close()
    assert [m.work_id for m in first.matches] == [m.work_id for m in second.matches] == [1]
    assert stats["swordnet/matcher_restarts"] == 1
    assert "swordnet/errors/matcher_crashed" not in stats  # the file itself was fine: retried


def test_the_same_bytes_under_another_url_are_not_matched_again(sqlite_home: Settings) -> None:
    crawler, copy = _samples_and_one_worker(sqlite_home)

    async def scenario() -> list[Any]:
        pipeline = AnalysisPipeline(crawler)
        await pipeline.open_spider()
        try:
            return [await pipeline.process_item(_item(copy, n)) for n in (1, 2)]
        finally:
            await pipeline.close_spider()

    first, second = asyncio.run(scenario())
    stats = crawler.stats.get_stats()
    CrawlDatabase.of(crawler).close()
    assert [m.work_id for m in first.matches] == [m.work_id for m in second.matches] == [1]
    assert second.url != first.url
    assert stats["swordnet/media"] == 2 and stats["swordnet/media_reused"] == 1


def test_a_worker_matches_known_bytes_again_once_a_work_is_registered(
        sqlite_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis, "REFRESH_S", -1.0)  # refresh before every file
    (first_path, _), (second_path, _) = sample_files()[:2]
    db = open_database(sqlite_home)
    with db.session() as session:
        register_work(session, first_path.read_bytes(), title="first", holder_name="Holder")
    db.dispose()
    second = Image.open(second_path).convert("RGB")
    copy = MILD_ALTERATIONS["reencoded"](second)
    worker = analysis._WorkerIndex(sqlite_home)
    try:
        assert worker.analysis("image", copy).matches == []
        assert worker.analysis("image", copy).reused  # nothing registered meanwhile
        db = open_database(sqlite_home)
        with db.session() as session:
            second_id = register_work(session, second_path.read_bytes(), title="second",
                                      holder_name="Holder").work.id
        db.dispose()
        again = worker.analysis("image", copy)
        assert not again.reused
        assert [m.work_id for m in again.matches] == [second_id]
    finally:
        worker.db.dispose()
