"""Is a finished crawl run healthy? The rules a run is judged by, from its statistics.

A run is unhealthy when the site blocked it (most responses 403/429/503), it found no
readable page, it hit its time cap, it was interrupted, matched items could not be stored
(evidence store or database failed), one link space used up its page cap
(``/page/1 -> /page/2 -> ...``, so the rest of the site may be missed), or its pages
suddenly held no links where the last healthy run of the same target found many (a changed
layout or a block page the parser cannot read).

Those are the rules of a *site crawl* (a watch target's schedule, a campaign, a crawl by
hand). A tip check or a recheck fetches a few given URLs; what each URL answered (gone,
blocked, no links) is that tip's or notice URL's outcome, not the run's health, so such a
run is judged only by whether it ran: interrupted, time cap, matches not stored. It is never
the baseline a site crawl's link count is compared with.
"""

from __future__ import annotations

from typing import Any

from crawlers.traps import CAP_EXHAUSTED

BLOCKING_STATUSES = (403, 429, 503)
BLOCKED_SHARE = 0.5
MANY_LINKS = 10
# A site whose start page failed this many runs in a row is marked ``down``.
DOWN_AFTER_RUNS = 3
# Runs that crawl a site (judged by every rule); the others check given URLs.
SITE_CRAWL_PURPOSES = ("watch", "campaign", "manual")


def is_site_crawl(purpose: str) -> bool:
    """Whether a run of this purpose crawls the site (rather than checking given URLs).

    >>> is_site_crawl("campaign"), is_site_crawl("tip"), is_site_crawl("recheck")
    (True, False, False)
    """
    return purpose in SITE_CRAWL_PURPOSES


def health_problems(summary: dict[str, Any], finish_reason: str,
                    previous_links: int | None, purpose: str = "manual") -> list[str]:
    """What was wrong with a run (empty when healthy).

    ``summary`` is the run's statistics (see :func:`crawlers.runstats.summary`);
    ``previous_links`` is what the last healthy site crawl of the same target found, if any;
    a run whose ``purpose`` is not a site crawl (a tip check, a recheck) is judged only by
    whether it ran to its end and stored what it found.

    >>> health_problems({"responses": 10, "blocked": 9, "pages_ok": 1, "links_found": 3},
    ...                 "finished", None)
    ['blocked: 9 of 10 responses were 403/429/503']
    >>> health_problems({"responses": 5, "pages_ok": 5, "links_found": 0}, "finished", 40)
    ['no links found where the last healthy run found 40']
    >>> health_problems({"responses": 5, "pages_ok": 5, "links_found": 9, "store_failures": 2,
    ...                  "hits_not_stored": 3}, "evidence_store_failed", None)
    ['not stored: 3 hits of 2 matched items or rechecks', 'interrupted (evidence_store_failed)']
    >>> health_problems({"responses": 1, "blocked": 1, "links_found": 0}, "finished", 11, "tip")
    []
    """
    if not is_site_crawl(purpose):
        return _run_problems(summary, finish_reason)
    problems = []
    responses, blocked = summary.get("responses", 0), summary.get("blocked", 0)
    if responses and blocked >= BLOCKED_SHARE * responses:
        problems.append(f"blocked: {blocked} of {responses} responses were "
                        + "/".join(map(str, BLOCKING_STATUSES)))
    if not summary.get("pages_ok"):
        problems.append("no pages: no readable page was fetched")
    problems += _run_problems(summary, finish_reason)
    if summary.get("traps", {}).get(CAP_EXHAUSTED):
        problems.append("page cap used up by a link space that looks endless "
                        "(the rest of the site may be missed)")
    if (summary.get("pages_ok") and not summary.get("links_found")
            and previous_links is not None and previous_links >= MANY_LINKS):
        problems.append(f"no links found where the last healthy run found {previous_links}")
    return problems


def _run_problems(summary: dict[str, Any], finish_reason: str) -> list[str]:
    """Whether the run itself went wrong: matches not stored, cut by its time cap or
    interrupted (the rules every run is judged by)."""
    problems = []
    if summary.get("store_failures"):
        problems.append(f"not stored: {summary.get('hits_not_stored', 0)} hits of "
                        f"{summary['store_failures']} matched items or rechecks")
    if finish_reason == "closespider_timeout":
        problems.append("time cap reached before the crawl finished")
    elif finish_reason != "finished":
        problems.append(f"interrupted ({finish_reason})")
    return problems
