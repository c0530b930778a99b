"""Staff-only console pages: the watchlist (sites and their targets), crawl runs with their
health, and campaigns with their statistics and shutdown-list exports.

A rights holder gets 403 for all of them: these pages span every holder's data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from casefiles.reports import FORMATS, campaign_report
from scheduler.liveness import settle_gone_runs
from swordnet.core.db import Database
from swordnet.core.models import Campaign, CrawlRun, Hit, Site, WatchTarget
from swordnet.watch.campaigns import campaign_summary, effective_end
from swordnet.web.console_base import API, Signed, render, require_staff_page
from swordnet.web.deps import DbSession, get_db
from swordnet.web.params import QueryId

router = APIRouter(include_in_schema=False)
RUNS_SHOWN = 200
# The campaigns API renders shutdown lists in each of casefiles.reports.FORMATS.
SHUTDOWN_URL = API + "/campaigns/{id}/shutdown-list?format={fmt}"
REPORT_URL = API + "/campaigns/{id}/report"


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
def sites_page(request: Request, session: DbSession, viewer: Signed) -> Response:
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
                  last_runs=last_runs, targets=targets, schedule_text=schedule_text)


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


@router.get("/campaigns")
def campaigns_page(request: Request, session: DbSession, viewer: Signed) -> Response:
    require_staff_page(viewer)
    rows = []
    for campaign in session.scalars(select(Campaign).order_by(Campaign.starts_at.desc())):
        summary = campaign_summary(session, campaign)
        rows.append({
            "campaign": campaign, "state": summary["state"], "end": effective_end(campaign),
            "summary": summary,
            "report": campaign_report(session, campaign),
            "targets": [(t.id, t.site.domain) for t in campaign.targets],
            "exports": [(fmt, SHUTDOWN_URL.format(id=campaign.id, fmt=fmt))
                        for fmt in FORMATS],
            "report_url": REPORT_URL.format(id=campaign.id)})
    return render(request, "campaigns.html", viewer, rows=rows)
