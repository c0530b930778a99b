"""The ``runs`` commands: crawl runs, their outcome, statistics and health."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from scheduler.liveness import settle_gone_runs
from scheduler.runs import RunFilters, get_run, list_runs, run_details, run_row
from swordnet.cli.util import ID, console, database, emit, json_option


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
    console().print(table)
    if summary.get("error"):
        console().print(f"[red]{summary['error']}[/red]")


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
        with db.session() as session:
            data = [run_row(run) for run in list_runs(
                session, RunFilters(site_id, target_id, campaign_id, unhealthy), limit)]
    emit(data, as_json, "Runs", ["id", "site", "spider", "purpose", "started_at", "outcome",
                                 "health", "pages", "media", "hits_new", "errors", "problems"])


@runs.command("show")
@click.argument("run_id", type=ID)
@json_option
def runs_show(run_id: int, as_json: bool) -> None:
    """Show one run's statistics, health and error samples."""
    with database() as db:
        settle_gone_runs(db)
        with db.session() as session:
            summary = run_details(get_run(session, run_id))
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    print_run(summary)
    for sample in summary["errors_sample"][:20]:
        console().print(f"  {sample['kind']}: {sample['url']} ({sample['message']})")
