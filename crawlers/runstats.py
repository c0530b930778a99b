"""Crawl statistics kept in Scrapy's stats collector, and the summary stored on the CrawlRun."""

from __future__ import annotations

from typing import Any

from scrapy.statscollectors import StatsCollector

PREFIX = "swordnet/"
MAX_ERROR_SAMPLES = 200


def count(stats: StatsCollector, key: str, n: int = 1) -> None:
    stats.inc_value(PREFIX + key, n)


def note_error(stats: StatsCollector, kind: str, url: str, message: str) -> None:
    """Record a failed page or media fetch; the crawl carries on."""
    stats.inc_value(f"{PREFIX}errors/{kind}")
    samples: list[dict[str, str]] = stats.get_value(PREFIX + "error_samples") or []
    if len(samples) < MAX_ERROR_SAMPLES:
        samples.append({"kind": kind, "url": url, "message": message})
        stats.set_value(PREFIX + "error_samples", samples)


def summary(stats: dict[str, Any]) -> dict[str, Any]:
    """The run statistics a user reads: counts, errors by type, bytes, duration."""
    ours = {k[len(PREFIX):]: v for k, v in stats.items() if k.startswith(PREFIX)}
    errors = {k.split("/", 1)[1]: v for k, v in ours.items() if k.startswith("errors/")}
    return {
        "pages": ours.get("pages", 0),
        "media": ours.get("media", 0),
        "media_skipped": ours.get("media_skipped", 0),    # quality gate: tiny, blank, smooth
        "media_animated": ours.get("media_animated", 0),  # first frame matched
        "media_stage2": ours.get("media_stage2", 0),      # not settled by stage 1
        "hits_new": ours.get("hits_new", 0),
        "hits_seen": ours.get("hits_seen", 0),
        "errors": sum(errors.values()),
        "errors_by_type": errors,
        "bytes": stats.get("downloader/response_bytes", 0),
    }


def error_samples(stats: dict[str, Any]) -> list[dict[str, str]]:
    return list(stats.get(PREFIX + "error_samples") or [])
