"""Crawl statistics kept in Scrapy's stats collector, and the summary stored on the CrawlRun."""

from __future__ import annotations

from typing import Any

from scrapy.statscollectors import StatsCollector

from crawlers.health import BLOCKING_STATUSES

PREFIX = "swordnet/"
MAX_ERROR_SAMPLES = 200


def count(stats: StatsCollector, key: str, n: int = 1) -> None:
    stats.inc_value(PREFIX + key, n)


def note_error(stats: StatsCollector, kind: str, url: str, message: str) -> None:
    """Record a failed page or media fetch; the crawl carries on."""
    stats.inc_value(f"{PREFIX}errors/{kind}")
    _sample(stats, {"kind": kind, "url": url, "message": message})


def note_start(stats: StatsCollector, reachable: bool) -> None:
    """Record whether a start URL could be fetched (a site unreachable run after run goes
    down)."""
    stats.set_value(PREFIX + "start_reachable", int(reachable))


def note_start_page(stats: StatsCollector, template: str | None,
                    redirected_to: str | None) -> None:
    """Record the start page's template (:mod:`matching.page_template`) and the site it
    redirected to, if another: what mirror proposals compare with cases' sites."""
    if template is not None:
        stats.set_value(PREFIX + "start_template", template)
    if redirected_to is not None:
        stats.set_value(PREFIX + "start_redirected_to", redirected_to)


def note_trap(stats: StatsCollector, reason: str, url: str, message: str | None = None) -> None:
    """Record a link not followed because it looks like a crawler trap."""
    stats.inc_value(f"{PREFIX}traps/{reason}")
    _sample(stats, {"kind": f"trap_{reason}", "url": url,
                    "message": message or f"crawler trap: {reason}"})


def note_not_stored(stats: StatsCollector, url: str, hits: int, reason: str) -> None:
    """Record a matched item (its ``hits`` matches) or a recheck that could not be stored."""
    count(stats, "store_failures")
    count(stats, "hits_not_stored", hits)
    note_error(stats, "not_stored", url, reason)


def _sample(stats: StatsCollector, sample: dict[str, str]) -> None:
    samples: list[dict[str, str]] = stats.get_value(PREFIX + "error_samples") or []
    if len(samples) < MAX_ERROR_SAMPLES:
        samples.append(sample)
        stats.set_value(PREFIX + "error_samples", samples)


def summary(stats: dict[str, Any]) -> dict[str, Any]:
    """The run statistics a user reads: counts, errors by type, responses by blocking status,
    file links by kind, crawler traps, bytes. (The store adds the duration.)"""
    ours = {k[len(PREFIX):]: v for k, v in stats.items() if k.startswith(PREFIX)}
    errors = {k.split("/", 1)[1]: v for k, v in ours.items() if k.startswith("errors/")}
    statuses = {code: stats.get(f"downloader/response_status_count/{code}", 0)
                for code in BLOCKING_STATUSES}
    return {
        "pages": ours.get("pages", 0),
        "pages_ok": ours.get("pages_ok", 0),
        "pages_capped": ours.get("pages_capped", 0),
        "pages_refetched": ours.get("pages_refetched", 0),  # reached by a shorter path later
        "links_found": ours.get("links_found", 0),
        "links_to_media": ours.get("links_to_media", 0),  # followed, and a file was served
        "sitemaps": ours.get("sitemaps", 0),          # sitemap files read (site spider)
        "sitemap_urls": ours.get("sitemap_urls", 0),  # page URLs they listed
        "sitemaps_refused": {k.removeprefix("sitemaps_"): v for k, v in ours.items()
                             if k.startswith("sitemaps_")},  # reason -> sitemaps not read
        "responses": stats.get("downloader/response_count", 0),
        "blocked": sum(statuses.values()),
        "status_counts": {str(code): n for code, n in statuses.items() if n},
        "files": {k.removeprefix("files_"): v for k, v in ours.items()
                  if k.startswith("files_")},
        "traps": {k.removeprefix("traps/"): v for k, v in ours.items()
                  if k.startswith("traps/")},
        "session_ids_stripped": ours.get("session_ids_stripped", 0),
        "search_queries": ours.get("search_queries", 0),
        "feed_entries": ours.get("feed_entries", 0),
        "feed_entries_unchanged": ours.get("feed_entries_unchanged", 0),
        "start_reachable": ours.get("start_reachable"),
        "start_template": ours.get("start_template"),            # mirror proposals
        "start_redirected_to": ours.get("start_redirected_to"),  # another site, if so
        "media": ours.get("media", 0),
        "media_skipped": ours.get("media_skipped", 0),    # quality gate: tiny, blank, smooth
        "media_animated": ours.get("media_animated", 0),  # first frame matched
        "media_stage2": ours.get("media_stage2", 0),      # not settled by stage 1
        "media_reused": ours.get("media_reused", 0),  # same bytes as a file matched before
        "matcher_restarts": ours.get("matcher_restarts", 0),  # a worker process died
        "hits_new": ours.get("hits_new", 0),
        "hits_seen": ours.get("hits_seen", 0),
        "matches_allowlisted": ours.get("matches_allowlisted", 0),  # licensed there: skipped
        "hits_known_copies": ours.get("hits_known_copies", 0),  # already confirmed in a case
        "hits_auto_confirmed": ours.get("hits_auto_confirmed", 0),  # of those, by staydown
        "streams_found": ours.get("streams_found", 0),  # live events' runs: stream URLs seen
        "stream_embeds": ours.get("stream_embeds", 0),  # pages embedded in pages, read
        "stream_candidates_new": ours.get("stream_candidates_new", 0),  # new to an event
        "store_failures": ours.get("store_failures", 0),    # items whose storing failed
        "hits_not_stored": ours.get("hits_not_stored", 0),  # their matches, new or known
        "rechecks": {k.removeprefix("rechecks_"): v for k, v in ours.items()
                     if k.startswith("rechecks_")},            # outcome -> URLs under notice
        "errors": sum(errors.values()),
        "errors_by_type": errors,
        "bytes": stats.get("downloader/response_bytes", 0),
    }


def error_samples(stats: dict[str, Any]) -> list[dict[str, str]]:
    return list(stats.get(PREFIX + "error_samples") or [])
