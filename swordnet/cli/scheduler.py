"""The ``scheduler`` commands: run the crawl scheduler, and what it runs when."""

from __future__ import annotations

import json
import logging
import os

import click

from scheduler.executor import Executor, LocalExecutor
from scheduler.liveness import settle_gone_runs
from scheduler.scrapyd import ScrapydExecutor
from scheduler.service import run_scheduler
from scheduler.status import scheduler_status as current_status
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
        console().print(f"Scheduler running against "
                        f"{db.engine.url.render_as_string(hide_password=True)} with the "
                        f"{executor.describe()} executor; Ctrl-C to stop.")
        run_scheduler(db, executor, max_concurrent=max_concurrent,
                      recheck_every_s=recheck_every, tips_every_s=tips_every,
                      sync_every_s=sync_every, smtp=current_settings().smtp,
                      templates=current_settings().templates_dir)


@scheduler.command("status")
@json_option
def scheduler_status(as_json: bool) -> None:
    """Whether a scheduler is running, and each job's next run and last outcome."""
    with database() as db:
        settle_gone_runs(db)
        status = current_status(db)
    state, rows = status["scheduler"], status["jobs"]
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    if state["running"] and "pid" in state:
        console().print(f"Scheduler running: pid {state['pid']} on {state['host']} since "
                        f"{state['started_at']} ({state['executor']} executor), last heartbeat "
                        f"{state['heartbeat_at']}.")
    else:
        console().print("No scheduler is running against this database.")
    emit(rows, False, "Jobs", ["job", "schedule", "next_run", "last_run", "last_started",
                               "last_outcome"])
