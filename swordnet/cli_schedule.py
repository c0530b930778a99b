"""The ``scheduler``, ``campaigns``, ``tips``, ``notices`` and ``scrapyd`` commands, and
``sites schedule``: what runs when, and where."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from casefiles.notices import record_notice
from casefiles.reports import FORMATS, campaign_report, render_rows, shutdown_rows
from scheduler.executor import Executor, LocalExecutor
from scheduler.liveness import settle_gone_runs
from scheduler.lock import SchedulerAlreadyRunning, SchedulerLock, last_instance
from scheduler.scrapyd import NodeError, NodeUnreachable, ScrapydExecutor, ScrapydNode, node_config
from scheduler.service import run_scheduler
from swordnet.campaigns import (
    campaign_summary,
    create_campaign,
    find_campaign,
    parse_time,
    stop_campaign,
)
from swordnet.cliutil import (
    ID,
    actor_option,
    console,
    current_settings,
    database,
    emit,
    fail,
    in_unit,
    interval_option,
    json_option,
)
from swordnet.db import Database
from swordnet.models import Campaign, CrawlRun, Notice, NoticeUrl, RecheckResult, Tip
from swordnet.tips import add_tip
from swordnet.watchlist import set_schedule

NODES_ENV = "SWORDNET_SCRAPYD_NODES"


def _time(_ctx: click.Context, _param: click.Parameter, value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _ids(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"give watch target ids separated by commas, not {value!r}") \
            from None



# --- sites schedule --------------------------------------------------------------------------

@click.command("schedule")
@click.argument("target_id", type=ID)
@click.option("--every", callback=interval_option, help="Crawl on an interval, e.g. 6h.")
@click.option("--cron", help="Crawl on a crontab expression in UTC, e.g. '0 3 * * *'.")
@click.option("--off", is_flag=True, help="Take the target off the schedule.")
def sites_schedule(target_id: int, every: int | None, cron: str | None, off: bool) -> None:
    """Set when the scheduler crawls watch target TARGET_ID."""
    if off == (every is not None or cron is not None):
        fail("give one of --every, --cron or --off")

    def apply(session: Session) -> str:
        target = set_schedule(session, target_id, every, cron)
        return (f"is crawled every {target.every_seconds} s" if target.every_seconds
                else f"is crawled on cron '{target.cron}'" if target.cron
                else "is off the schedule (crawl it by hand with `swordnet crawl --target "
                f"{target_id}`)")

    console.print(f"Target {target_id} {in_unit(apply)}.")


# --- campaigns -------------------------------------------------------------------------------

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
    console.print(f"Campaign {summary['id']} ({summary['name']}) crawls targets "
                  f"{', '.join(map(str, summary['targets']))} every {every} s from "
                  f"{summary['from']} to {summary['to']} ({summary['state']}).")


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
    """Enforcement statistics of campaign NAME: cases, URLs, shutdowns, notices, removals."""
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
    """The sites of campaign NAME's cases, for site-shutdown requests (allowlisted sites
    never appear)."""
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
    console.print(f"Wrote {len(rows)} site(s) to {output}.")


@campaigns.command("stop")
@click.argument("name")
def campaigns_stop(name: str) -> None:
    """End campaign NAME now: its crawls are no longer scheduled; its history stays."""
    stopped = in_unit(lambda session: stop_campaign(session, name).name)
    console.print(f"Campaign {stopped} stopped; the scheduler drops its jobs within 30 s.")


# --- tips ------------------------------------------------------------------------------------

@click.group()
def tips() -> None:
    """Complaints and public tips: single URLs checked within minutes."""


@tips.command("add")
@click.argument("url")
@click.option("--work", "work_id", type=ID, help="The work the reporter says is infringed.")
@click.option("--reporter", help="Who reported it (name, e-mail or reference).")
def tips_add(url: str, work_id: int | None, reporter: str | None) -> None:
    """Queue URL for a check by the scheduler (its tips job runs every minute)."""
    tip_id = in_unit(lambda session: add_tip(session, url, work_id, reporter).id)
    console.print(f"Tip {tip_id} queued: {url}")


def tip_row(tip: Tip) -> dict[str, Any]:
    result = tip.result or {}
    return {"id": tip.id, "url": tip.url, "work_id": tip.work_id, "reporter": tip.reporter,
            "status": tip.status, "created_at": tip.created_at.isoformat(timespec="seconds"),
            "checked_at": tip.checked_at.isoformat(timespec="seconds") if tip.checked_at
            else None, "run_id": tip.run_id, "hits": result.get("hits"),
            "named_work_found": result.get("named_work_found")}


@tips.command("list")
@click.option("--status", type=click.Choice(["queued", "checking", "checked", "failed",
                                             "dismissed"]))
@json_option
def tips_list(status: str | None, as_json: bool) -> None:
    """List tips, newest first, with what their check found."""
    with database() as db, db.session() as session:
        query = select(Tip).order_by(Tip.id.desc())
        if status:
            query = query.where(Tip.status == status)
        data = [tip_row(t) for t in session.scalars(query)]
    emit(data, as_json, "Tips", ["id", "url", "status", "work_id", "checked_at", "run_id",
                                 "hits", "named_work_found"])


# --- notices ---------------------------------------------------------------------------------

@click.group()
def notices() -> None:
    """Takedown notices sent, and rechecks of the URLs they name."""


@notices.command("record")
@click.argument("case_id", type=ID)
@click.option("--recipient", required=True, help="Who the notice went to (e.g. abuse@host).")
@click.option("--template", default="dmca-en", show_default=True,
              help="Notice template: dmca-en (English, DMCA-style), admin-zh (Chinese "
                   "administrative notice), or notice-NAME.txt in $SWORDNET_HOME/templates.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the rendered notice to this file.")
@actor_option
def notices_record(case_id: int, recipient: str, template: str, output: Path | None,
                   actor: str) -> None:
    """Render a notice naming every confirmed hit of CASE_ID and record it as sent; its URLs
    are rechecked by the scheduler from now on."""
    if output is not None and output.exists():
        fail(f"{output} already exists; choose another --output")
    templates = current_settings().templates_dir

    def record(session: Session) -> tuple[int, int, str]:
        notice = record_notice(session, case_id, recipient, template, actor, templates)
        count = len(session.scalars(select(NoticeUrl.id)
                                    .where(NoticeUrl.notice_id == notice.id)).all())
        return notice.id, count, notice.body or ""

    notice_id, count, body = in_unit(record)
    if output is not None:
        output.write_text(body, encoding="utf-8")
    console.print(f"Notice {notice_id} to {recipient} recorded for case {case_id}: "
                  f"{count} URL(s) under notice.")


@notices.command("text")
@click.argument("notice_id", type=ID)
def notices_text(notice_id: int) -> None:
    """Print a notice as it was rendered and sent."""
    def text(session: Session) -> str:
        notice = session.get(Notice, notice_id)
        if notice is None:
            raise LookupError(f"no notice with id {notice_id}")
        return notice.body or ""

    click.echo(in_unit(text), nl=False)


@notices.command("show")
@click.argument("notice_id", type=ID)
@json_option
def notices_show(notice_id: int, as_json: bool) -> None:
    """Show a notice's URLs, what the last recheck saw, and every recheck."""
    def show(session: Session) -> list[dict[str, Any]]:
        if session.get(Notice, notice_id) is None:
            raise LookupError(f"no notice with id {notice_id}")
        rows = []
        for url in session.scalars(select(NoticeUrl).where(NoticeUrl.notice_id == notice_id)
                                   .order_by(NoticeUrl.id)):
            checks = session.scalars(select(RecheckResult).where(
                RecheckResult.notice_url_id == url.id).order_by(RecheckResult.id)).all()
            rows.append({"id": url.id, "url": url.url, "hit_id": url.hit_id,
                         "status": url.status, "removed_at": url.removed_at,
                         "last_checked_at": url.last_checked_at, "checks": [
                             {"at": c.checked_at.isoformat(timespec="seconds"),
                              "outcome": c.outcome, "reason": c.reason,
                              "capture_id": c.capture_id} for c in checks]})
        return rows

    data = in_unit(show)
    for row in data:
        row["last_check"] = row["checks"][-1]["reason"] if row["checks"] else None
    emit(data, as_json, f"URLs under notice {notice_id}",
         ["id", "url", "status", "removed_at", "last_checked_at", "last_check"])


# --- scheduler -------------------------------------------------------------------------------

@click.group()
def scheduler() -> None:
    """The crawl scheduler service."""


def _executor(db: Database, kind: str, nodes: tuple[str, ...],
              node_lost_after_s: float) -> Executor:
    if kind == "local":
        return LocalExecutor(db, current_settings())
    urls = list(nodes) or [u for u in os.environ.get(NODES_ENV, "").split(",") if u.strip()]
    if not urls:
        fail(f"the scrapyd executor needs nodes: --node URL (repeatable) or {NODES_ENV}")
    try:
        executor = ScrapydExecutor(db, current_settings(), urls,
                                   node_lost_after_s=node_lost_after_s)
        executor.check_nodes()
    except (ValueError, NodeUnreachable, NodeError) as exc:
        fail(str(exc))
    return executor


@scheduler.command("run")
@click.option("--max-concurrent", type=click.IntRange(1, 256), default=2, show_default=True,
              help="Crawls that may run at once (across all nodes).")
@click.option("--executor", "executor_kind", type=click.Choice(["local", "scrapyd"]),
              default="local", show_default=True,
              help="local: scrapy subprocesses on this machine; scrapyd: dispatch to nodes.")
@click.option("--node", "nodes", multiple=True,
              help=f"A scrapyd node URL (repeatable; default: ${NODES_ENV}, comma-separated).")
@click.option("--node-lost-after", callback=interval_option, default="15s", show_default=True,
              help="A node silent this long during a run has its run failed and retried on "
                   "another node.")
@click.option("--recheck-every", callback=interval_option, default="1d", show_default=True,
              help="How often URLs under notice are rechecked.")
@click.option("--tips-every", callback=interval_option, default="1m", show_default=True,
              help="How often queued tips are picked up.")
@click.option("--sync-every", callback=interval_option, default="30s", show_default=True,
              help="How often the scheduler beats its heartbeat, reads schedules from the "
                   "database and marks runs whose processes are gone interrupted.")
def scheduler_run(max_concurrent: int, executor_kind: str, nodes: tuple[str, ...],
                  node_lost_after: int, recheck_every: int, tips_every: int,
                  sync_every: int) -> None:
    """Run scheduled crawls, campaigns, rechecks and tip checks until stopped (SIGTERM or
    Ctrl-C). Only one scheduler may run against a database."""
    with database() as db:
        executor = _executor(db, executor_kind, nodes, node_lost_after)
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
        console.print(f"Scheduler running against "
                      f"{db.engine.url.render_as_string(hide_password=True)} with the "
                      f"{executor.describe()} executor; Ctrl-C to stop.")
        try:
            run_scheduler(db, executor, max_concurrent=max_concurrent,
                          recheck_every_s=recheck_every, tips_every_s=tips_every,
                          sync_every_s=sync_every)
        except SchedulerAlreadyRunning as exc:
            fail(str(exc))


def _last_run(session: Session, job_id: str) -> CrawlRun | None:
    query = select(CrawlRun)
    parts = job_id.split(":")
    if parts[0] == "target":
        query = query.where(CrawlRun.target_id == int(parts[1]), CrawlRun.campaign_id.is_(None))
    elif parts[0] == "campaign":
        query = query.where(CrawlRun.campaign_id == int(parts[1]),
                            CrawlRun.target_id == int(parts[3]))
    elif job_id == "rechecks":
        query = query.where(CrawlRun.purpose == "recheck")
    elif job_id == "tips":
        query = query.where(CrawlRun.purpose == "tip")
    else:
        return None
    return session.scalar(query.order_by(CrawlRun.id.desc()).limit(1))


def _stored_jobs(db: Database) -> list[Any]:
    try:
        return SQLAlchemyJobStore(engine=db.engine).get_all_jobs()
    except SQLAlchemyError:
        return []  # no scheduler has run against this database yet


@scheduler.command("status")
@json_option
def scheduler_status(as_json: bool) -> None:
    """Whether a scheduler is running, and each job's next run and last outcome."""
    with database() as db:
        settle_gone_runs(db)
        running = SchedulerLock(db).held_elsewhere()
        instance = last_instance(db)
        jobs = _stored_jobs(db)
        rows = []
        with db.session() as session:
            for job in jobs:
                last = _last_run(session, job.id)
                rows.append({
                    "job": job.id, "schedule": job.name,
                    "next_run": job.next_run_time.isoformat(timespec="seconds")
                    if job.next_run_time else None,
                    "last_run": last.id if last else None,
                    "last_started": last.started_at.isoformat(timespec="seconds")
                    if last else None,
                    "last_outcome": last.outcome if last else None})
    state: dict[str, Any] = {"running": running}
    if instance is not None:
        state.update(host=instance.host, pid=instance.pid, executor=instance.executor,
                     started_at=instance.started_at.isoformat(timespec="seconds"),
                     heartbeat_at=instance.heartbeat_at.isoformat(timespec="seconds"),
                     stopped_at=instance.stopped_at.isoformat(timespec="seconds")
                     if instance.stopped_at else None)
    if as_json:
        click.echo(json.dumps({"scheduler": state, "jobs": rows}, indent=2))
        return
    if running and instance is not None:
        console.print(f"Scheduler running: pid {instance.pid} on {instance.host} since "
                      f"{state['started_at']} ({instance.executor} executor), last heartbeat "
                      f"{state['heartbeat_at']}.")
    else:
        console.print("No scheduler is running against this database.")
    emit(rows, False, "Jobs", ["job", "schedule", "next_run", "last_run", "last_started",
                               "last_outcome"])


# --- scrapyd ---------------------------------------------------------------------------------

@click.group()
def scrapyd() -> None:
    """scrapyd nodes that run crawls for the scheduler (see docs/operations.md)."""


@scrapyd.command("config")
@click.option("--data-dir", required=True, help="Absolute directory for the node's logs/dbs.")
@click.option("--port", type=click.IntRange(1, 65535), default=6800, show_default=True)
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (the scheduler must reach it).")
@click.option("--max-proc", type=click.IntRange(0), default=0, show_default=True,
              help="Crawls at once on the node (0: 4 per CPU).")
def scrapyd_config(data_dir: str, port: int, bind: str, max_proc: int) -> None:
    """Print a scrapyd.conf that runs the installed Swordnet project (no eggs)."""
    if not os.path.isabs(data_dir):
        fail(f"--data-dir must be an absolute path, got {data_dir!r}")
    click.echo(node_config(data_dir.rstrip("/"), port, bind, max_proc), nl=False)


@scrapyd.command("check")
@click.argument("urls", nargs=-1, required=True)
def scrapyd_check(urls: tuple[str, ...]) -> None:
    """Check that each node answers and runs the Swordnet project and spiders."""
    problems = 0
    for url in urls:
        try:
            node = ScrapydNode(url)
            node.check()
            console.print(f"{node.url}: ready ({node.load()} job(s) running or pending)")
        except (ValueError, NodeUnreachable, NodeError) as exc:
            click.echo(str(exc), err=True)
            problems += 1
    if problems:
        sys.exit(1)
