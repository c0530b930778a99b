"""What one crawl is asked to do: a watch target's settings, or an ad-hoc URL's defaults.

A spider gets ``-a target_id=N`` (settings read from the watch target) or ``-a url=...``
(with optional ``depth`` and ``max_pages``). The per-target Scrapy settings (robots policy,
politeness, time cap, JavaScript rendering) are applied by :meth:`CrawlConfig.apply_to`
while the crawler's settings can still change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scrapy.settings import Settings as ScrapySettings
from sqlalchemy.orm import Session

from swordnet.core.config import load_settings
from swordnet.core.db import in_session
from swordnet.core.models import WatchTarget
from swordnet.watch.targets import check_url, site_key

CHROMIUM_PATH = "/usr/bin/chromium"


@dataclass(frozen=True)
class CrawlConfig:
    start_urls: list[str]
    depth: int = 2
    max_pages: int = 200
    target_id: int | None = None
    mirror_domains: list[str] = field(default_factory=list)
    allow_patterns: list[str] = field(default_factory=list)
    deny_patterns: list[str] = field(default_factory=list)
    obey_robots: bool = False
    delay_s: float = 0.0
    concurrency: int = 8
    time_cap_s: int = 3600
    render_js: bool = False
    screenshot: bool = False
    search_template: str | None = None
    work_ids: list[int] = field(default_factory=list)

    @classmethod
    def from_target(cls, target: WatchTarget) -> CrawlConfig:
        return cls(
            start_urls=list(target.start_urls), depth=target.depth, max_pages=target.max_pages,
            target_id=target.id, mirror_domains=list(target.mirror_domains),
            allow_patterns=list(target.allow_patterns), deny_patterns=list(target.deny_patterns),
            obey_robots=target.obey_robots, delay_s=target.delay_s,
            concurrency=target.concurrency, time_cap_s=target.time_cap_s,
            render_js=target.render_js, screenshot=target.screenshot,
            search_template=target.search_template, work_ids=list(target.work_ids))

    @classmethod
    def from_args(cls, url: str | None, target_id: str | int | None, depth: Any = None,
                  max_pages: Any = None) -> CrawlConfig:
        """The config a spider's ``-a`` arguments ask for; raises ValueError if they are bad."""
        if target_id is not None:
            return load_target_config(int(target_id))
        if not url:
            raise ValueError("a spider needs -a target_id=N or a start URL: -a url=https://...")
        return cls(start_urls=[check_url(url)],
                   depth=int(depth) if depth is not None else 2,
                   max_pages=int(max_pages) if max_pages is not None else 200)

    @property
    def hosts(self) -> set[str]:
        """Sites whose pages may be followed: the start URLs' and the mirrors'."""
        return {site_key(u) for u in self.start_urls} | {m.lower() for m in self.mirror_domains}

    def apply_to(self, settings: ScrapySettings) -> None:
        """Set this target's robots policy, politeness, time cap and rendering on a crawler."""
        settings.set("ROBOTSTXT_OBEY", self.obey_robots, priority="spider")
        settings.set("DOWNLOAD_DELAY", self.delay_s, priority="spider")
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", self.concurrency, priority="spider")
        settings.set("CLOSESPIDER_TIMEOUT", self.time_cap_s, priority="spider")
        if self.render_js:
            handler = "crawlers.browser_proxy.PolicyPlaywrightHandler"  # the outbound policy
            settings.set("DOWNLOAD_HANDLERS", {**settings.getdict("DOWNLOAD_HANDLERS"),
                                               "http": handler, "https": handler},
                         priority="spider")
            settings.set("PLAYWRIGHT_BROWSER_TYPE", "chromium", priority="spider")
            settings.set("PLAYWRIGHT_LAUNCH_OPTIONS",
                         {"executable_path": CHROMIUM_PATH, "headless": True,
                          "args": ["--no-sandbox"]}, priority="spider")
            settings.set("PLAYWRIGHT_MAX_CONTEXTS", 1, priority="spider")
            settings.set("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT", 4, priority="spider")


def _target_config(session: Session, target_id: int) -> CrawlConfig:
    target = session.get(WatchTarget, target_id)
    if target is None:
        raise ValueError(f"no watch target with id {target_id}")
    return CrawlConfig.from_target(target)


def load_target_config(target_id: int) -> CrawlConfig:
    return in_session(load_settings(), _target_config, target_id)
