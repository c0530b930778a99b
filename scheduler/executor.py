"""What a crawl is asked to do, and the local executor: one ``scrapy crawl`` subprocess per
run, with a fresh JOBDIR.

A Twisted reactor cannot be restarted, so a long-lived process never crawls in-process.
Every executor creates the CrawlRun before launching (so a run is recorded exactly once,
whatever happens to the crawl); the crawl's store pipeline fills in its statistics; if the
crawl dies or times out, the executor marks the run failed with the tail of its log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select

from swordnet.config import Settings
from swordnet.db import Database
from swordnet.models import CrawlRun, WatchTarget
from swordnet.timeutil import utcnow

DEFAULT_TIMEOUT_S = 3600.0
LOG_TAIL_LINES = 5


@dataclass(frozen=True)
class CrawlRequest:
    site_id: int
    start_url: str
    depth: int = 2
    max_pages: int = 200
    spider: str = "site"
    target_id: int | None = None
    campaign_id: int | None = None
    purpose: str = "manual"
    # Spider arguments of a spider that takes neither a target nor a URL (``recheck``).
    spider_args: dict[str, str] = field(default_factory=dict)

    def arguments(self) -> dict[str, str]:
        """Spider arguments: the watch target (whose settings the spider reads), the given
        ones, or the URL with depth and page cap."""
        if self.target_id is not None:
            return {"target_id": str(self.target_id)}
        if self.spider_args:
            return dict(self.spider_args)
        return {"url": self.start_url, "depth": str(self.depth),
                "max_pages": str(self.max_pages)}

    def spider_arguments(self) -> list[str]:
        """The arguments as ``scrapy crawl`` options."""
        return [option for name, value in self.arguments().items()
                for option in ("-a", f"{name}={value}")]

    @classmethod
    def for_target(cls, target: WatchTarget, purpose: str = "manual",
                   campaign_id: int | None = None) -> CrawlRequest:
        return cls(site_id=target.site_id, start_url=target.start_urls[0],
                   depth=target.depth, max_pages=target.max_pages, spider=target.spider,
                   target_id=target.id, campaign_id=campaign_id, purpose=purpose)


class Executor(Protocol):
    """Runs a crawl to completion and returns its CrawlRun id, whatever the outcome."""

    def run(self, request: CrawlRequest) -> int: ...

    def describe(self) -> str: ...

    def begin_shutdown(self) -> None:
        """The scheduler is stopping: a crawl that now ends without recording its outcome
        (it got the stop signal too) is marked interrupted, not failed."""


def create_run(db: Database, request: CrawlRequest, retry_of: int | None = None) -> int:
    """The CrawlRun a crawl will record into, created before the crawl is launched."""
    with db.session() as session:
        run = CrawlRun(site_id=request.site_id, target_id=request.target_id,
                       campaign_id=request.campaign_id, spider=request.spider,
                       start_url=request.start_url, outcome="running",
                       purpose=request.purpose, retry_of=retry_of)
        session.add(run)
        session.flush()
        return run.id


def settle_run(db: Database, run_id: int, failure: str | None, log_tail: str,
               stopping: bool = False) -> None:
    """Mark the run failed if the crawl died or never recorded its outcome (interrupted
    instead, if that happened while the scheduler was stopping)."""
    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        if run.outcome != "running" and (failure is None or stopping):
            return
        run.finished_at = run.finished_at or utcnow()
        if stopping:
            run.outcome, run.finish_reason = "interrupted", "shutdown"
            run.error = "stopped with the scheduler before the crawl recorded its outcome"
            return
        run.outcome = "failed"
        reason = failure or "crawl process ended without recording its outcome"
        run.error = f"{reason}\n{log_tail}".strip() if log_tail else reason


def fail_stale_runs(db: Database, older_than_s: float = DEFAULT_TIMEOUT_S + 600) -> list[int]:
    """Mark failed the runs still ``running`` long after any executor would have ended them
    (their crawl and the process watching it both died, e.g. a machine lost power)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    with db.session() as session:
        runs = session.scalars(select(CrawlRun).where(CrawlRun.outcome == "running",
                                                      CrawlRun.started_at < cutoff)).all()
        for run in runs:
            run.outcome, run.finished_at = "failed", utcnow()
            run.error = (f"no outcome recorded {older_than_s:.0f} s after it started: its "
                         "crawl and the scheduler or command watching it are gone")
        return [run.id for run in runs]


def log_tail(text: str) -> str:
    """The last few non-blank lines of a crawl log."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _log_file_tail(path: os.PathLike[str]) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return log_tail(fh.read())
    except OSError:
        return ""


class LocalExecutor:
    """Runs crawls as local subprocesses and records each as a CrawlRun."""

    def __init__(self, db: Database, settings: Settings,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.db = db
        self.settings = settings
        self.timeout_s = timeout_s
        self.stopping = threading.Event()

    def describe(self) -> str:
        return "local"

    def begin_shutdown(self) -> None:
        self.stopping.set()

    def run(self, request: CrawlRequest) -> int:
        """Crawl to completion; returns the CrawlRun id whatever the outcome."""
        run_id = create_run(self.db, request)
        jobdir = self.settings.jobs_dir / f"run-{run_id}"
        log_path = self.settings.logs_dir / f"run-{run_id}.log"
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "scrapy", "crawl", request.spider,
                   *request.spider_arguments(), "-a", f"run_id={run_id}",
                   "-s", f"JOBDIR={jobdir}",
                   "-s", f"SWORDNET_ALLOW_NETWORKS={self.settings.allow_networks}"]
        env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings",
               "SWORDNET_HOME": str(self.settings.home),
               "SWORDNET_DATABASE_URL": self.settings.database_url}
        failure: str | None = None
        with open(log_path, "wb") as log:
            try:
                result = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, timeout=self.timeout_s,
                                        check=False)
                if result.returncode != 0:
                    failure = f"crawl process exited with status {result.returncode}"
            except subprocess.TimeoutExpired:
                failure = f"crawl timed out after {self.timeout_s:.0f} s and was killed"
        settle_run(self.db, run_id, failure, _log_file_tail(log_path), self.stopping.is_set())
        if failure is None:
            shutil.rmtree(jobdir, ignore_errors=True)
        return run_id
