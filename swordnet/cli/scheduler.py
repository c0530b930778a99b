"""The ``scheduler`` commands: run the crawl scheduler, and what it runs when."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import click
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from scheduler.executor import Executor, LocalExecutor
from scheduler.liveness import settle_gone_runs
from scheduler.lock import SchedulerLock, last_instance
from scheduler.scrapyd import ScrapydExecutor
from scheduler.service import run_scheduler
from swordnet.cli.util import (
    console,
    current_settings,
    database,
    emit,
    fail,
    interval_option,
    json_option,
)
from swordnet.core.db import Database
from swordnet.core.models import CrawlRun

NODES_ENV = "SWORDNET_SCRAPYD_NODES"


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
    executor = ScrapydExecutor(db, current_settings(), urls,
                               node_lost_after_s=node_lost_after_s)
    executor.check_nodes()
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
        run_scheduler(db, executor, max_concurrent=max_concurrent,
                      recheck_every_s=recheck_every, tips_every_s=tips_every,
                      sync_every_s=sync_every, smtp=current_settings().smtp,
                      templates=current_settings().templates_dir)


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
