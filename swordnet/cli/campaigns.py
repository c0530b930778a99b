"""The ``campaigns`` commands: time-boxed campaigns, their targets, frequency,
statistics and shutdown lists."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.reports import FORMATS, campaign_report, render_rows, shutdown_rows
from scheduler.liveness import settle_gone_runs
from swordnet.cli.util import console, database, emit, fail, in_unit, interval_option, json_option
from swordnet.core.errors import BadInput
from swordnet.core.models import Campaign, CrawlRun
from swordnet.watch.campaigns import (
    campaign_summary,
    create_campaign,
    find_campaign,
    parse_time,
    stop_campaign,
    update_campaign,
)
from swordnet.watch.rapid import MAX_RAPID_HOURS, rapid_response


def _time(_ctx: click.Context, _param: click.Parameter, value: str) -> datetime:
    try:
        return parse_time(value)
    except BadInput as exc:
        raise click.BadParameter(str(exc)) from None


def _ids(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"give watch target ids separated by commas, not {value!r}") \
            from None


def _optional_time(ctx: click.Context, param: click.Parameter,
                   value: str | None) -> datetime | None:
    return None if value is None else _time(ctx, param, value)


def _optional_ids(ctx: click.Context, param: click.Parameter,
                  value: str | None) -> list[int] | None:
    return None if value is None else _ids(ctx, param, value)


@click.group()
def campaigns() -> None:
    """Special campaigns: time-boxed, their own targets, frequency and statistics."""


@campaigns.command("create")
@click.argument("name")
@click.option("--from", "starts_at", required=True, callback=_time,
              help="Start: a date or date-time (UTC unless an offset is given).")
@click.option("--to", "ends_at", required=True, callback=_time, help="End, after --from.")
@click.option("--targets", "target_ids", required=True, callback=_ids,
              help="Watch target ids, comma-separated (see `swordnet sites list`).")
@click.option("--every", callback=interval_option, default="1h", show_default=True,
              help="How often each target is crawled while the campaign runs.")
@click.option("--focus", help="What the campaign is about (free text).")
def campaigns_create(name: str, starts_at: datetime, ends_at: datetime, target_ids: list[int],
                     every: int, focus: str | None) -> None:
    """Create campaign NAME; the scheduler crawls its targets between --from and --to."""
    def create(session: Session) -> dict[str, Any]:
        campaign = create_campaign(session, name, starts_at, ends_at, target_ids, every, focus)
        return campaign_summary(session, campaign)

    summary = in_unit(create)
    console().print(f"Campaign {summary['id']} ({summary['name']}) crawls targets "
                    f"{', '.join(map(str, summary['targets']))} every {every} s from "
                    f"{summary['from']} to {summary['to']} ({summary['state']}).")


@campaigns.command("rapid")
@click.option("--sites", "site_ids", required=True, callback=_ids,
              help="Site ids, comma-separated, each with a search template "
                   "(see `swordnet sites list`).")
@click.option("--works", "work_ids", required=True, callback=_ids,
              help="Work ids, comma-separated: their titles and aliases are searched for.")
@click.option("--hours", type=click.IntRange(1, MAX_RAPID_HOURS), default=24,
              show_default=True, help="How long the campaign runs from now.")
@click.option("--name", help="Campaign name (default: 'Rapid response' and the time).")
def campaigns_rapid(site_ids: list[int], work_ids: list[int], hours: int,
                    name: str | None) -> None:
    """Start a rapid-response campaign now: the sites are checked every 5 minutes for
    --hours, and their search is queried for the works' titles and aliases."""
    def create(session: Session) -> dict[str, Any]:
        return campaign_summary(session, rapid_response(session, site_ids, work_ids, hours,
                                                        name))

    summary = in_unit(create)
    console().print(f"Campaign {summary['id']} ({summary['name']}) checks targets "
                    f"{', '.join(map(str, summary['targets']))} every 5 min until "
                    f"{summary['to']}; the scheduler starts it within 30 s.")


@campaigns.command("edit")
@click.argument("name")
@click.option("--rename", help="A new name.")
@click.option("--from", "starts_at", callback=_optional_time,
              help="A new start (only while it is planned).")
@click.option("--to", "ends_at", callback=_optional_time, help="A new end.")
@click.option("--targets", "target_ids", callback=_optional_ids,
              help="Its watch targets, comma-separated (replacing the current ones).")
@click.option("--every", callback=interval_option, help="A new crawl frequency.")
@click.option("--focus", help="A new focus ('' clears it).")
def campaigns_edit(name: str, rename: str | None, starts_at: datetime | None,
                   ends_at: datetime | None, target_ids: list[int] | None,
                   every: int | None, focus: str | None) -> None:
    """Change campaign NAME (planned or running); options left out stay as they are."""
    def edit(session: Session) -> dict[str, Any]:
        campaign = update_campaign(session, find_campaign(session, name), name=rename,
                                   starts_at=starts_at, ends_at=ends_at,
                                   target_ids=target_ids, every_seconds=every, focus=focus)
        return campaign_summary(session, campaign)

    summary = in_unit(edit)
    console().print(f"Campaign {summary['id']} ({summary['name']}) crawls targets "
                    f"{', '.join(map(str, summary['targets']))} every "
                    f"{summary['every_seconds']} s from {summary['from']} to {summary['to']}.")


@campaigns.command("list")
@json_option
def campaigns_list(as_json: bool) -> None:
    """List campaigns with their state and crawl statistics."""
    with database() as db, db.session() as session:
        data = [campaign_summary(session, c)
                for c in session.scalars(select(Campaign).order_by(Campaign.id))]
    emit(data, as_json, "Campaigns", ["id", "name", "state", "from", "to", "every_seconds",
                                      "targets", "runs", "hits_found"])


@campaigns.command("show")
@click.argument("name")
@json_option
def campaigns_show(name: str, as_json: bool) -> None:
    """Show one campaign (by name or id) and its runs."""
    with database() as db:
        settle_gone_runs(db)

    def show(session: Session) -> dict[str, Any]:
        campaign = find_campaign(session, name)
        runs = session.scalars(select(CrawlRun).where(CrawlRun.campaign_id == campaign.id)
                               .order_by(CrawlRun.id.desc()).limit(50)).all()
        return {**campaign_summary(session, campaign), "recent_runs": [
            {"id": r.id, "target_id": r.target_id, "started_at": r.started_at.isoformat(
                timespec="seconds"), "outcome": r.outcome,
             "hits_new": r.stats.get("hits_new")} for r in runs]}

    data = in_unit(show)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    emit([data], False, f"Campaign {data['id']}", ["name", "state", "from", "to",
                                                   "every_seconds", "targets", "runs",
                                                   "runs_by_outcome", "hits_found"])
    emit(data["recent_runs"], False, "Recent runs", ["id", "target_id", "started_at",
                                                     "outcome", "hits_new"])


@campaigns.command("report")
@click.argument("name")
@json_option
def campaigns_report(name: str, as_json: bool) -> None:
    """Enforcement statistics of campaign NAME: hits, cases, notices, removals, shutdowns
    and transfers to judiciary that concern its targets within its window, whichever run
    found a hit first.

    \b
    Its sites: its watch targets' sites, and mirrors linked to their cases.
    Its window: from its start to its end (or to when it was stopped).
    hits: hits on its sites first found by the window's end and last seen at or
      after its start (any status); infringing urls confirmed: those confirmed.
    cases: cases on its sites (or holding a hit on one) open during the window;
      cases opened: those opened within it.
    notices sent: those cases' notices sent within the window.
    urls removed, cases removed, sites shut down, transferred to judiciary: the
      cases' custody events within the window (copy_removed; status changed to
      removed, site_shut_down, transferred_to_judiciary).

    `hits list`, `cases list` and `notices list` with --campaign NAME list exactly
    the hits, cases and notices counted here.
    """
    data = in_unit(lambda session: campaign_report(session, find_campaign(session, name)))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    emit([{"measure": k.replace("_", " "), "value": v} for k, v in data.items()], False,
         f"Campaign report: {data['campaign']}", ["measure", "value"])


@campaigns.command("shutdown-list")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: standard output; required for xlsx).")
def campaigns_shutdown_list(name: str, fmt: str, output: Path | None) -> None:
    """The sites of campaign NAME's cases, for site-shutdown requests (hits an allowlist entry
    covers are left out: a site whose every hit is licensed does not appear)."""
    if output is None and fmt == "xlsx":
        fail("--format xlsx needs --output FILE")
    if output is not None and output.exists():
        fail(f"{output} already exists; choose another --output")
    rows = in_unit(lambda session: shutdown_rows(session, find_campaign(session, name)))
    data = render_rows(rows, fmt)
    if output is None:
        click.echo(data.decode("utf-8-sig"), nl=False)
        return
    output.write_bytes(data)
    console().print(f"Wrote {len(rows)} site(s) to {output}.")


@campaigns.command("stop")
@click.argument("name")
def campaigns_stop(name: str) -> None:
    """End campaign NAME now: its crawls are no longer scheduled; its history stays."""
    stopped = in_unit(lambda session: stop_campaign(session, name).name)
    console().print(f"Campaign {stopped} stopped; the scheduler drops its jobs within 30 s.")
