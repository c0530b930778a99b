"""Whether a crawl run is still alive, and the sweep that settles runs nobody is running.

A run names two processes (see :class:`~swordnet.core.models.CrawlRun`): the crawl, and the
executor that launched it and settles it when the crawl ends (in the scheduler, or in a
``swordnet crawl`` command). The run is alive while either is, each checked by pid and start
time (:mod:`swordnet.core.processes`). A crawl on a scrapyd node that cannot be checked from this
host is alive while its node lists its job as pending or running.

:func:`settle_gone_runs` marks ``interrupted`` every ``running`` run whose processes are all
gone (killed, or the machine stopped); every command and console page that lists runs, and
every scheduler tick, calls it first. A run that cannot be checked (its crawl on another
host and its node unreachable, or recorded before runs named their processes) is marked
``failed`` only long after any executor would have ended it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update

from scheduler.executor import DEFAULT_TIMEOUT_S
from scheduler.scrapyd import NodeError, NodeUnreachable, ScrapydNode
from swordnet.core.db import Database
from swordnet.core.models import CrawlRun
from swordnet.core.processes import ProcessRef
from swordnet.core.timeutil import utcnow

# A run that cannot be checked is failed this long after it started (an executor kills a
# crawl at its timeout, and then settles the run).
UNCHECKABLE_AFTER_S = DEFAULT_TIMEOUT_S + 600
GONE_REASON = "process_gone"


def crawl_process(run: CrawlRun) -> ProcessRef | None:
    if run.host is None or run.pid is None or run.pid_started_at is None:
        return None
    return ProcessRef(run.host, run.pid, run.pid_started_at)


def watcher_process(run: CrawlRun) -> ProcessRef | None:
    if run.watcher_host is None or run.watcher_pid is None or run.watcher_started_at is None:
        return None
    return ProcessRef(run.watcher_host, run.watcher_pid, run.watcher_started_at)


def _node_job_alive(node_url: str, job_id: str) -> bool | None:
    try:
        state = ScrapydNode(node_url).state(job_id)
    except (NodeUnreachable, NodeError, ValueError):
        return None
    return state in ("pending", "running")


def run_alive(run: CrawlRun) -> bool | None:
    """True while the run's crawl or its executor runs; False once both are gone; None if
    that cannot be told from this host."""
    watcher, crawl = watcher_process(run), crawl_process(run)
    watched = watcher.alive() if watcher is not None else None
    if watched:
        return True
    crawling = crawl.alive() if crawl is not None else None
    if crawling:
        return True
    if crawling is None and run.node and run.node_job:
        crawling = _node_job_alive(run.node, run.node_job)
    elif crawl is None and watched is False:
        # A local executor names its crawl as soon as it has launched it: none named means
        # none launched.
        crawling = False
    if watched is None and watcher is not None:
        return None
    return crawling


def _gone_message(run: CrawlRun) -> str:
    named = [f"{role} (pid {ref.pid} on {ref.host})" for role, ref in
             (("its crawl", crawl_process(run)), ("the executor watching it",
                                                  watcher_process(run))) if ref is not None]
    return (f"{' and '.join(named)} ended without recording how the run ended "
            "(killed, or the machine stopped)")


@dataclass
class Sweep:
    """The runs a sweep settled."""

    interrupted: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def settle_gone_runs(db: Database, now: datetime | None = None,
                     uncheckable_after_s: float = UNCHECKABLE_AFTER_S) -> Sweep:
    """Mark interrupted the runs left ``running`` by processes that are gone, and failed
    the uncheckable ones started more than ``uncheckable_after_s`` before ``now``.

    A run is changed only while it is still ``running`` (a conditional update), so a crawl
    that records its own outcome meanwhile keeps it.
    """
    now = now or utcnow()
    with db.session() as session:
        runs = list(session.scalars(select(CrawlRun).where(CrawlRun.outcome == "running")))
    sweep = Sweep()
    cutoff = now - timedelta(seconds=uncheckable_after_s)
    changes: list[tuple[int, dict[str, object]]] = []
    for run in runs:
        alive = run_alive(run)
        if alive is False:
            changes.append((run.id, {"outcome": "interrupted", "finish_reason": GONE_REASON,
                                     "error": _gone_message(run)}))
            sweep.interrupted.append(run.id)
        elif alive is None and run.started_at < cutoff:
            changes.append((run.id, {"outcome": "failed", "error": (
                f"no outcome recorded {uncheckable_after_s:.0f} s after it started, and "
                "its processes cannot be checked from this host: its crawl and the "
                "scheduler or command watching it are presumed gone")}))
            sweep.failed.append(run.id)
    if changes:
        with db.session() as session:  # a fresh transaction: it only writes
            for run_id, values in changes:
                session.execute(update(CrawlRun).where(
                    CrawlRun.id == run_id, CrawlRun.outcome == "running").values(
                    finished_at=now, **values))
    return sweep


def running_run_of_target(db: Database, target_id: int) -> CrawlRun | None:
    """A run of the target still running after a sweep (alive, or too recent to call
    dead), if any."""
    settle_gone_runs(db)
    with db.session() as session:
        return session.scalar(select(CrawlRun).where(CrawlRun.target_id == target_id,
                                                     CrawlRun.outcome == "running")
                              .order_by(CrawlRun.id).limit(1))
