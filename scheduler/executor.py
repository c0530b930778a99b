"""The local executor: one ``scrapy crawl`` subprocess per run, with a fresh JOBDIR.

A Twisted reactor cannot be restarted, so a long-lived process never crawls in-process.
The executor creates the CrawlRun before launching; the crawl's store pipeline fills in its
statistics; if the subprocess dies or times out, the executor marks the run failed with the
tail of its log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

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

    def spider_arguments(self) -> list[str]:
        """``-a`` options: the watch target (whose settings the spider reads), or the URL."""
        if self.target_id is not None:
            return ["-a", f"target_id={self.target_id}"]
        return ["-a", f"url={self.start_url}", "-a", f"depth={self.depth}",
                "-a", f"max_pages={self.max_pages}"]

    @classmethod
    def for_target(cls, target: WatchTarget) -> CrawlRequest:
        return cls(site_id=target.site_id, start_url=target.start_urls[0],
                   depth=target.depth, max_pages=target.max_pages, spider=target.spider,
                   target_id=target.id)


def _log_tail(path: os.PathLike[str]) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = [line.rstrip() for line in fh if line.strip()]
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


class LocalExecutor:
    """Runs crawls as local subprocesses and records each as a CrawlRun."""

    def __init__(self, db: Database, settings: Settings,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.db = db
        self.settings = settings
        self.timeout_s = timeout_s

    def run(self, request: CrawlRequest) -> int:
        """Crawl to completion; returns the CrawlRun id whatever the outcome."""
        with self.db.session() as session:
            run = CrawlRun(site_id=request.site_id, target_id=request.target_id,
                           campaign_id=request.campaign_id, spider=request.spider,
                           start_url=request.start_url, outcome="running")
            session.add(run)
            session.flush()
            run_id = run.id
        jobdir = self.settings.jobs_dir / f"run-{run_id}"
        log_path = self.settings.logs_dir / f"run-{run_id}.log"
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "scrapy", "crawl", request.spider,
                   *request.spider_arguments(), "-a", f"run_id={run_id}",
                   "-s", f"JOBDIR={jobdir}"]
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
        self._settle(run_id, failure, log_path)
        if failure is None:
            shutil.rmtree(jobdir, ignore_errors=True)
        return run_id

    def _settle(self, run_id: int, failure: str | None, log_path: os.PathLike[str]) -> None:
        """Mark the run failed if the crawl died or never recorded its outcome."""
        with self.db.session() as session:
            run = session.get(CrawlRun, run_id)
            assert run is not None
            if failure is None and run.outcome != "running":
                return
            run.outcome = "failed"
            run.finished_at = run.finished_at or utcnow()
            reason = failure or "crawl process ended without recording its outcome"
            tail = _log_tail(log_path)
            run.error = f"{reason}\n{tail}".strip() if tail else reason
