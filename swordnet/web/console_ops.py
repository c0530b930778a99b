"""Staff-only console pages: the watchlist (sites and their targets) and crawl runs with
their health (the watchlist's forms are in ``console_targets``, campaigns in
``console_campaigns``).

A rights holder gets 403 for all of them: these pages span every holder's data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from scheduler.liveness import settle_gone_runs
from swordnet.core.db import Database
from swordnet.core.models import Campaign, CrawlRun, Hit, Site, WatchTarget
from swordnet.web.console_base import Signed, render, require_staff_page
from swordnet.web.deps import DbSession, get_db
from swordnet.web.params import QueryId

router = APIRouter(include_in_schema=False)
RUNS_SHOWN = 200


def schedule_text(target: WatchTarget) -> str:
    """A watch target's schedule, in a few words.

    >>> schedule_text(WatchTarget(cron="0 3 * * *", every_seconds=None))
    'cron 0 3 * * *'
    >>> schedule_text(WatchTarget(cron=None, every_seconds=21600))
    'every 6h'
    >>> schedule_text(WatchTarget(cron=None, every_seconds=None))
    'by hand'
    """
    if target.cron:
        return f"cron {target.cron}"
    if not target.every_seconds:
        return "by hand"
    seconds = target.every_seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"every {seconds // size}{unit}"
    return f"every {seconds}s"


@router.get("/sites")
def sites_page(request: Request, session: DbSession, viewer: Signed,
               added: QueryId = None) -> Response:
    require_staff_page(viewer)
    sites = list(session.scalars(select(Site).order_by(Site.domain)))
    hits = dict(session.execute(select(Hit.site_id, func.count()).group_by(Hit.site_id)).all())
    pending = dict(session.execute(select(Hit.site_id, func.count())
                                   .where(Hit.status == "pending").group_by(Hit.site_id)).all())
    latest = select(CrawlRun.site_id, func.max(CrawlRun.id).label("run_id")).group_by(
        CrawlRun.site_id).subquery()
    last_runs = {run.site_id: run for run in session.scalars(
        select(CrawlRun).join(latest, latest.c.run_id == CrawlRun.id))}
    targets: dict[int, list[WatchTarget]] = {}
    for target in session.scalars(select(WatchTarget).order_by(WatchTarget.id)):
        targets.setdefault(target.site_id, []).append(target)
    return render(request, "sites.html", viewer, sites=sites, hits=hits, pending=pending,
                  last_runs=last_runs, targets=targets, schedule_text=schedule_text,
                  added=added)


def run_row(run: CrawlRun) -> dict[str, Any]:
    stats = run.stats or {}
    return {"run": run, "pages": stats.get("pages_ok", stats.get("pages")),
            "media": stats.get("media"), "hits_new": stats.get("hits_new"),
            "allowlisted": stats.get("matches_allowlisted"),
            "known": stats.get("hits_known_copies"), "auto": stats.get("hits_auto_confirmed"),
            "errors": stats.get("errors", len(run.errors or [])),
            "duration": stats.get("duration_s"),
            "health": "running" if run.outcome == "running" else
            "healthy" if run.healthy else "unknown" if run.healthy is None else "unhealthy"}


@router.get("/runs")
def runs_page(request: Request, session: DbSession, viewer: Signed,
              db: Annotated[Database, Depends(get_db)],
              unhealthy: Annotated[bool, Query()] = False,
              site: QueryId = None) -> Response:
    """Runs, newest first (those whose processes are gone marked interrupted first);
    ``unhealthy``: only those marked unhealthy, failed or interrupted."""
    require_staff_page(viewer)
    settle_gone_runs(db)
    query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(RUNS_SHOWN)
    if unhealthy:
        query = query.where(CrawlRun.unhealthy())
    if site is not None:
        query = query.where(CrawlRun.site_id == site)
    runs = [run_row(run) for run in session.scalars(query)]
    campaigns = dict(session.execute(select(Campaign.id, Campaign.name)).all())
    return render(request, "runs.html", viewer, runs=runs, unhealthy=unhealthy,
                  campaigns=campaigns, site=site)
