"""What one crawl is asked to do: a watch target's settings, or an ad-hoc URL's defaults.

A spider gets ``-a target_id=N`` (the scope read from the watch target when the crawl
starts: start URLs, mirrors, patterns, depth and caps, search template, works) or
``-a url=...`` (with optional ``depth`` and ``max_pages``). The target's Scrapy-level
settings (robots policy, politeness, time cap, JavaScript rendering) come as Scrapy settings
from the executors (:func:`swordnet.watch.targets.scrapy_settings`); the config keeps them only
to say which the crawl was started without.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scrapy.settings import BaseSettings
from sqlalchemy.orm import Session

from swordnet.core.models import WatchTarget
from swordnet.watch.targets import check_url, scrapy_settings, site_key


@dataclass(frozen=True)
class CrawlConfig:
    start_urls: list[str]
    depth: int = 2
    max_pages: int = 200
    target_id: int | None = None
    mirror_domains: list[str] = field(default_factory=list)
    allow_patterns: list[str] = field(default_factory=list)
    deny_patterns: list[str] = field(default_factory=list)
    screenshot: bool = False
    search_template: str | None = None
    work_ids: list[int] = field(default_factory=list)
    # the target's Scrapy settings (robots, politeness, time cap, rendering)
    scrapy_settings: dict[str, bool | int | float] = field(default_factory=dict)

    @classmethod
    def from_target(cls, target: WatchTarget) -> CrawlConfig:
        return cls(
            start_urls=list(target.start_urls), depth=target.depth, max_pages=target.max_pages,
            target_id=target.id, mirror_domains=list(target.mirror_domains),
            allow_patterns=list(target.allow_patterns), deny_patterns=list(target.deny_patterns),
            screenshot=target.screenshot, search_template=target.search_template,
            work_ids=list(target.work_ids), scrapy_settings=scrapy_settings(target))

    @classmethod
    def from_url(cls, url: str | None, depth: Any = None, max_pages: Any = None) -> CrawlConfig:
        """The config of a crawl of ``url`` (``-a url=...``); raises ValueError if the
        arguments are bad."""
        if not url:
            raise ValueError("a spider needs -a target_id=N or a start URL: -a url=https://...")
        return cls(start_urls=[check_url(url)],
                   depth=int(depth) if depth is not None else 2,
                   max_pages=int(max_pages) if max_pages is not None else 200)

    @property
    def hosts(self) -> set[str]:
        """Sites whose pages may be followed: the start URLs' and the mirrors'."""
        return {site_key(u) for u in self.start_urls} | {m.lower() for m in self.mirror_domains}

    def missing_settings(self, settings: BaseSettings) -> list[str]:
        """``NAME=value`` of each of the target's Scrapy settings the crawl runs without
        (a crawl of a target started by hand without ``-s``)."""
        getters = {bool: settings.getbool, int: settings.getint, float: settings.getfloat}
        return [f"{name}={value}" for name, value in self.scrapy_settings.items()
                if getters[type(value)](name) != value]


def load_target_config(session: Session, target_id: int) -> CrawlConfig:
    """The config of watch target ``target_id``; raises ValueError if there is none."""
    target = session.get(WatchTarget, target_id)
    if target is None:
        raise ValueError(f"no watch target with id {target_id}")
    return CrawlConfig.from_target(target)
