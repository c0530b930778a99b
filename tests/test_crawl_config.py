"""A crawl's configuration is passed in: Scrapy settings first, the environment only for what
they lack; one database per crawl process; components a crawl does not need stay off.

In-process (``scrapy.utils.test.get_crawler``): no crawl is run, no network is used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from scrapy.crawler import Crawler
from scrapy.utils.test import get_crawler

from crawlers import database as crawl_database
from crawlers.browser_proxy import JsRendering
from crawlers.config import crawl_settings
from crawlers.database import CrawlDatabase
from crawlers.outbound import policy_of
from crawlers.pipelines import StorePipeline
from crawlers.playwright_handler import PolicyPlaywrightHandler
from crawlers.spiders.site import SiteSpider
from scheduler import executor as executor_module
from scheduler.executor import CrawlRequest, LocalExecutor
from swordnet.core.config import Settings, SettingsError
from swordnet.core.db import Database, head_revision, open_database, schema_revision
from swordnet.core.models import WatchTarget
from tests.pirate_sites import add_watch_target

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_NAMES = ("SWORDNET_HOME", "SWORDNET_DATABASE_URL", "SWORDNET_ALLOW_NETWORKS")


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Swordnet setting in the environment."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def _crawler(settings: Settings | None = None, **extra: Any) -> Crawler:
    given = {} if settings is None else {"SWORDNET_HOME": str(settings.home),
                                         "SWORDNET_DATABASE_URL": settings.database_url}
    return get_crawler(SiteSpider, {"EXTENSIONS": {CrawlDatabase: 0}, **given, **extra})


def test_the_extension_opens_the_database_the_scrapy_settings_name_once_off_the_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the environment names another database: the crawl's settings win
    monkeypatch.setenv("SWORDNET_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("SWORDNET_DATABASE_URL", raising=False)
    settings = Settings(tmp_path / "home", f"sqlite:///{tmp_path / 'crawl.db'}")
    seed = open_database(settings)
    target = add_watch_target(seed, "https://pirate.example/", depth=3)
    seed.dispose()
    opened: list[str] = []

    def counting_open(settings: Settings) -> Database:
        opened.append(threading.current_thread().name)
        return open_database(settings)

    monkeypatch.setattr(crawl_database, "open_database", counting_open)
    crawler = _crawler(settings, ITEM_PIPELINES={})
    extension = CrawlDatabase.of(crawler)
    spider = SiteSpider.from_crawler(crawler, target_id=str(target))
    pipeline = StorePipeline.from_crawler(crawler)

    async def use() -> tuple[Database, Database]:
        await spider.prepare()  # reads the target through the crawl's database
        return await extension.database(), await pipeline.crawl_db.database()

    first, second = asyncio.run(use())
    try:
        assert first is second
        assert opened == [opened[0]] and opened[0] != threading.current_thread().name
        assert str(first.engine.url) == settings.database_url
        assert schema_revision(first.engine) == head_revision()  # migrated when opened
        assert spider.start_url == "https://pirate.example/" and spider.max_depth == 3
        assert extension.settings.evidence_dir == tmp_path / "home" / "evidence"
        assert not (tmp_path / "elsewhere").exists()
    finally:
        extension.close()


def test_a_crawl_without_a_database_fails_with_one_line_naming_the_setting(
        bare_env: None) -> None:
    with pytest.raises(SettingsError) as raised:
        _crawler()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("no database for this crawl: pass -s SWORDNET_DATABASE_URL=URL")


def test_scrapy_crawl_by_hand_without_a_database_exits_non_zero_naming_it(
        tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name not in ENV_NAMES}
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", "url=http://127.0.0.1:9/"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "no database for this crawl: pass -s SWORDNET_DATABASE_URL=URL" in result.stderr


def test_the_environment_fills_in_only_what_the_scrapy_settings_lack(
        bare_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWORDNET_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("SWORDNET_ALLOW_NETWORKS", "10.0.0.0/8")
    by_hand = get_crawler(SiteSpider)
    assert crawl_settings(by_hand.settings).database_url == \
        f"sqlite:///{tmp_path / 'env-home' / 'swordnet.db'}"
    assert policy_of(by_hand).refusal("10.1.2.3") is None  # allowed by the environment
    # an executor's empty setting means "no networks", whatever the environment says
    started = get_crawler(SiteSpider, {"SWORDNET_ALLOW_NETWORKS": "",
                                       "SWORDNET_HOME": str(tmp_path / "given")})
    assert policy_of(started).refusal("10.1.2.3") is not None
    assert crawl_settings(started.settings).home == tmp_path / "given"


def test_a_bad_network_setting_is_one_line_naming_it(bare_env: None, tmp_path: Path) -> None:
    crawler = get_crawler(SiteSpider, {"SWORDNET_HOME": str(tmp_path),
                                       "SWORDNET_ALLOW_NETWORKS": "intranet"})
    with pytest.raises(SettingsError, match=r"^SWORDNET_ALLOW_NETWORKS: not a network: "
                                            r"'intranet'"):
        crawl_settings(crawler.settings)


@pytest.mark.parametrize("render", [False, True])
def test_javascript_rendering_is_installed_only_for_a_crawl_that_asks_for_it(
        bare_env: None, tmp_path: Path, render: bool) -> None:
    crawler = get_crawler(SiteSpider, {"ADDONS": {JsRendering: 0},
                                       "SWORDNET_RENDER_JS": render})
    handler = f"{PolicyPlaywrightHandler.__module__}.{PolicyPlaywrightHandler.__name__}"
    enabled = [type(addon) for addon in crawler.addons.addons]
    assert (JsRendering in enabled) is render
    assert (crawler.settings.getdict("DOWNLOAD_HANDLERS").get("https") == handler) is render


def test_a_target_crawled_without_its_settings_says_which(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(tmp_path / "home", f"sqlite:///{tmp_path / 'crawl.db'}")
    seed = open_database(settings)
    target = add_watch_target(seed, "https://pirate.example/", obey_robots=True, delay_s=1.5)
    seed.dispose()
    crawler = _crawler(settings, ROBOTSTXT_OBEY=False)
    spider = SiteSpider.from_crawler(crawler, target_id=str(target))
    with caplog.at_level(logging.WARNING):
        asyncio.run(spider.prepare())
    CrawlDatabase.of(crawler).close()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"watch target {target} asks for settings this crawl was not started with: " \
           "ROBOTSTXT_OBEY=True DOWNLOAD_DELAY=1.5 " in warning


class _FakeCrawl:
    """Stands in for the crawl subprocess: remembers how it was started, exits at once."""

    started: list[tuple[list[str], dict[str, str]]] = []

    def __init__(self, command: list[str], *, env: dict[str, str], **_: Any) -> None:
        self.started.append((command, env))
        self.pid = os.getpid()

    def __enter__(self) -> _FakeCrawl:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def wait(self, timeout: float | None = None) -> int:
        return 0


def test_the_local_executor_passes_settings_with_s_and_the_password_apart(
        sqlite_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    db = open_database(sqlite_home)
    target_id = add_watch_target(db, "https://pirate.example/", obey_robots=True,
                                 render_js=True)
    with db.session() as session:
        target = session.get(WatchTarget, target_id)
        assert target is not None
        request = CrawlRequest.for_target(target)
    monkeypatch.setattr(executor_module.subprocess, "Popen", _FakeCrawl)
    _FakeCrawl.started.clear()
    # a crawl started as a subprocess (the warm launcher forks from the same command line)
    elsewhere = Settings(sqlite_home.home, "postgresql+psycopg://sn:s3cret@db.internal/sn",
                         allow_networks="10.0.0.0/8", warm_crawls=False)
    LocalExecutor(db, elsewhere).run(request)
    db.dispose()
    [(command, env)] = _FakeCrawl.started
    options = {command[i + 1] for i, arg in enumerate(command) if arg == "-s"}
    assert {f"SWORDNET_HOME={sqlite_home.home}",
            "SWORDNET_DATABASE_URL=postgresql+psycopg://sn@db.internal/sn",
            "SWORDNET_ALLOW_NETWORKS=10.0.0.0/8", "ROBOTSTXT_OBEY=True",
            "SWORDNET_RENDER_JS=True"} <= options
    assert not any("s3cret" in arg for arg in command)  # `ps` shows the command line
    assert env["PGPASSWORD"] == "s3cret"
