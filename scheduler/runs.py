"""Crawl runs as the CLI and the API report them: filtered lists, and one run's summary
with its health and error samples. Runs whose processes are gone are settled (marked
interrupted) by the callers first, with :func:`scheduler.liveness.settle_gone_runs`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.errors import NotFound
from swordnet.core.models import CrawlRun


@dataclass(frozen=True)
class RunFilters:
    site_id: int | None = None
    target_id: int | None = None
    campaign_id: int | None = None
    unhealthy: bool = False  # marked unhealthy, failed or interrupted


def run_row(run: CrawlRun) -> dict[str, Any]:
    """What a list of runs shows of one."""
    stats = run.stats
    return {"id": run.id, "site": run.site.domain, "target_id": run.target_id,
            "spider": run.spider, "purpose": run.purpose, "campaign_id": run.campaign_id,
            "node": run.node, "retry_of": run.retry_of,
            "started_at": run.started_at.isoformat(timespec="seconds"),
            "outcome": run.outcome, "finish_reason": run.finish_reason,
            "health": "-" if run.healthy is None else "ok" if run.healthy else "UNHEALTHY",
            "problems": "; ".join([*run.error.splitlines()[:1], *run.health_problems]
                                  if run.error else run.health_problems),
            "pages": stats.get("pages"),
            "media": stats.get("media"), "hits_new": stats.get("hits_new"),
            "errors": stats.get("errors"), "blocked": stats.get("blocked"),
            "duration_s": stats.get("duration_s"), "error": run.error}


def list_runs(session: Session, filters: RunFilters, limit: int) -> list[CrawlRun]:
    """Runs passing every filter, newest first, at most ``limit``."""
    query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
    if filters.site_id is not None:
        query = query.where(CrawlRun.site_id == filters.site_id)
    if filters.target_id is not None:
        query = query.where(CrawlRun.target_id == filters.target_id)
    if filters.campaign_id is not None:
        query = query.where(CrawlRun.campaign_id == filters.campaign_id)
    if filters.unhealthy:
        query = query.where(CrawlRun.unhealthy())
    return list(session.scalars(query))


def get_run(session: Session, run_id: int) -> CrawlRun:
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise NotFound(f"no crawl run with id {run_id}")
    return run


def run_summary(run: CrawlRun) -> dict[str, Any]:
    """One run's outcome, health (``healthy`` or ``UNHEALTHY: why``) and statistics."""
    health = None if run.healthy is None else \
        "healthy" if run.healthy else "UNHEALTHY: " + "; ".join(run.health_problems)
    return {"run_id": run.id, "site": run.site.domain, "outcome": run.outcome,
            "finish_reason": run.finish_reason, "error": run.error, "health": health,
            **run.stats}


def run_details(run: CrawlRun) -> dict[str, Any]:
    """:func:`run_summary` and the run's error samples."""
    return {**run_summary(run), "errors_sample": run.errors}
