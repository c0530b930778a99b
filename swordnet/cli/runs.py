"""The ``runs`` commands: crawl runs, their outcome, statistics and health."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.liveness import settle_gone_runs
from swordnet.cli.util import ID, console, database, emit, fail, json_option
from swordnet.core.db import Database
from swordnet.core.models import CrawlRun


def run_summary(session: Session, run_id: int) -> dict[str, Any]:
    run = session.get(CrawlRun, run_id)
    assert run is not None
    health = None if run.healthy is None else \
        "healthy" if run.healthy else "UNHEALTHY: " + "; ".join(run.health_problems)
    return {"run_id": run.id, "site": run.site.domain, "outcome": run.outcome,
            "finish_reason": run.finish_reason, "error": run.error, "health": health,
            **run.stats}


def print_run(summary: dict[str, Any]) -> None:
    table = Table(title=f"Crawl run {summary['run_id']}", title_justify="left", show_header=False)
    for key in ("site", "outcome", "health", "pages", "media", "media_skipped", "hits_new",
                "hits_seen", "matches_allowlisted", "hits_known_copies", "hits_auto_confirmed",
                "errors", "bytes", "duration_s"):
        if summary.get(key) is not None:
            table.add_row(key.replace("_", " "), str(summary[key]))
    for group in ("errors_by_type", "status_counts", "traps", "files"):
        for kind, n in (summary.get(group) or {}).items():
            table.add_row(f"  {group.split('_')[0]}: {kind}", str(n))
    console.print(table)
    if summary.get("error"):
        console.print(f"[red]{summary['error']}[/red]")


def run_row(run: CrawlRun) -> dict[str, Any]:
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


@click.group()
def runs() -> None:
    """Crawl runs: outcome, statistics and health."""


@runs.command("list")
@click.option("--site", "site_id", type=ID, help="Only runs of this site.")
@click.option("--target", "target_id", type=ID, help="Only runs of this watch target.")
@click.option("--campaign", "campaign_id", type=ID, help="Only runs of this campaign.")
@click.option("--unhealthy", is_flag=True,
              help="Only runs that need a look: marked unhealthy, failed or interrupted.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@json_option
def runs_list(site_id: int | None, target_id: int | None, campaign_id: int | None,
              unhealthy: bool, limit: int, as_json: bool) -> None:
    """List crawl runs, newest first; unhealthy runs say why. Runs whose processes are gone
    are marked interrupted first."""
    with database() as db:
        settle_gone_runs(db)
        data = _run_rows(db, site_id, target_id, campaign_id, unhealthy, limit)
    emit(data, as_json, "Runs", ["id", "site", "spider", "purpose", "started_at", "outcome",
                                 "health", "pages", "media", "hits_new", "errors", "problems"])


def _run_rows(db: Database, site_id: int | None, target_id: int | None,
              campaign_id: int | None, unhealthy: bool, limit: int) -> list[dict[str, Any]]:
    with db.session() as session:
        query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
        if site_id is not None:
            query = query.where(CrawlRun.site_id == site_id)
        if target_id is not None:
            query = query.where(CrawlRun.target_id == target_id)
        if campaign_id is not None:
            query = query.where(CrawlRun.campaign_id == campaign_id)
        if unhealthy:
            query = query.where(CrawlRun.unhealthy())
        return [run_row(run) for run in session.scalars(query)]


@runs.command("show")
@click.argument("run_id", type=ID)
@json_option
def runs_show(run_id: int, as_json: bool) -> None:
    """Show one run's statistics, health and error samples."""
    with database() as db:
        settle_gone_runs(db)
        summary = _run_details(db, run_id)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    print_run(summary)
    for sample in summary["errors_sample"][:20]:
        console.print(f"  {sample['kind']}: {sample['url']} ({sample['message']})")


def _run_details(db: Database, run_id: int) -> dict[str, Any]:
    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        if run is None:
            fail(f"no crawl run with id {run_id}")
        return {**run_summary(session, run_id), "errors_sample": run.errors}
