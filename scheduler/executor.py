"""What a crawl is asked to do, and the local executor: one ``scrapy crawl`` subprocess per
run, with a fresh JOBDIR.

A Twisted reactor cannot be restarted, so a long-lived process never crawls in-process.
Every executor creates the CrawlRun before launching (so a run is recorded exactly once,
whatever happens to the crawl), naming itself as the process that watches it, and the local
executor names the crawl's process as soon as it has launched it; the crawl's store pipeline
fills in its statistics; if the crawl dies or times out, the executor marks the run failed
with the tail of its log. A crawl stopped by SIGTERM or SIGINT before it could record that
itself (as it starts) is marked interrupted, as the crawl would have done: the same signal
gives the same outcome whenever it arrives.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import dataclass, field
from typing import IO, Protocol

from sqlalchemy import URL, make_url

from scheduler.launcher import Launcher, LauncherUnavailable, launcher_failed, shared_launcher
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import CrawlRun, WatchTarget
from swordnet.core.processes import ProcessRef, this_process
from swordnet.core.timeutil import utcnow
from swordnet.watch.targets import scrapy_settings

DEFAULT_TIMEOUT_S = 3600.0
LOG_TAIL_LINES = 5
# Signals that stop a crawl on purpose (a service manager or an operator): its run was
# interrupted, not failed.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SCHEDULER_STOPPING = "with the scheduler"


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
    # Scrapy settings of the watch target (robots, politeness, time cap, rendering).
    settings: dict[str, bool | int | float] = field(default_factory=dict)

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
                   target_id=target.id, campaign_id=campaign_id, purpose=purpose,
                   settings=scrapy_settings(target))


def crawl_settings(settings: Settings, request: CrawlRequest) -> tuple[dict[str, str], str | None]:
    """The Scrapy settings a crawl process is started with (Swordnet's, then the target's),
    and the database password taken out of them (None if the URL has none): command lines
    and scrapyd job lists are readable by others, so the password travels separately
    (``PGPASSWORD`` for PostgreSQL, which libpq reads).

    >>> from pathlib import Path
    >>> crawl_settings(Settings(Path("/srv/sn"), "postgresql://sn:secret@db/sn"),
    ...                CrawlRequest(site_id=1, start_url="http://x.example/"))
    ({'SWORDNET_HOME': '/srv/sn', 'SWORDNET_DATABASE_URL': 'postgresql://sn@db/sn', \
'SWORDNET_ALLOW_NETWORKS': ''}, 'secret')
    """
    url = make_url(settings.database_url)
    without_password = URL.create(url.drivername, url.username, None, url.host, url.port,
                                  url.database, url.query)
    values = {"SWORDNET_HOME": str(settings.home),
              "SWORDNET_DATABASE_URL": without_password.render_as_string(hide_password=False),
              "SWORDNET_ALLOW_NETWORKS": settings.allow_networks,
              **{name: str(value) for name, value in request.settings.items()}}
    return values, url.password


class Executor(Protocol):
    """Runs a crawl to completion and returns its CrawlRun id, whatever the outcome."""

    def run(self, request: CrawlRequest) -> int: ...

    def describe(self) -> str: ...

    def begin_shutdown(self) -> None:
        """The scheduler is stopping: a crawl that now ends without recording its outcome
        (it got the stop signal too) is marked interrupted, not failed."""


def create_run(db: Database, request: CrawlRequest, retry_of: int | None = None) -> int:
    """The CrawlRun a crawl will record into, created before the crawl is launched, with the
    calling process as the one watching it."""
    watcher = this_process()
    with db.session() as session:
        run = CrawlRun(site_id=request.site_id, target_id=request.target_id,
                       campaign_id=request.campaign_id, spider=request.spider,
                       start_url=request.start_url, outcome="running",
                       purpose=request.purpose, retry_of=retry_of,
                       watcher_host=watcher.host, watcher_pid=watcher.pid,
                       watcher_started_at=watcher.started_at)
        session.add(run)
        session.flush()
        return run.id


def name_crawl_process(db: Database, run_id: int, process: ProcessRef | None) -> None:
    """Record which process crawls the run (None: it is gone already)."""
    if process is None:
        return
    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        run.host, run.pid, run.pid_started_at = process.host, process.pid, process.started_at


def settle_run(db: Database, run_id: int, failure: str | None, log_tail: str,
               interrupted_by: str | None = None) -> None:
    """Mark the run failed if the crawl died or never recorded its outcome; interrupted
    instead if it was stopped (``interrupted_by`` says by what: a signal's name, or
    :data:`SCHEDULER_STOPPING`) before it could record it."""
    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        if run.outcome != "running" and (failure is None or interrupted_by):
            return
        run.finished_at = run.finished_at or utcnow()
        if interrupted_by:
            run.outcome, run.finish_reason = "interrupted", "shutdown"
            run.error = f"stopped {interrupted_by} before the crawl recorded its outcome"
            return
        run.outcome = "failed"
        reason = failure or "crawl process ended without recording its outcome"
        run.error = f"{reason}\n{log_tail}".strip() if log_tail else reason


def exit_failure(returncode: int) -> str | None:
    """How a crawl process's exit status reads in its run (None: it exited cleanly).

    >>> exit_failure(1)
    'crawl process exited with status 1'
    >>> exit_failure(-9)
    'crawl process was killed by SIGKILL'
    """
    if returncode == 0:
        return None
    if returncode < 0:
        return f"crawl process was killed by {signal.Signals(-returncode).name}"
    return f"crawl process exited with status {returncode}"


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


class CrawlProcess(Protocol):
    """A launched crawl: a subprocess, or a child of the warm launcher."""

    @property
    def process(self) -> ProcessRef | None: ...

    def wait(self, timeout: float | None = None) -> int | None: ...

    def kill(self) -> None: ...

    def close(self) -> None: ...


class PlainCrawl:
    """A crawl started as a ``python -m scrapy crawl`` subprocess."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self.popen = popen
        self.process = ProcessRef.of(popen.pid)

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def kill(self) -> None:
        self.popen.kill()

    def close(self) -> None:
        self.popen.__exit__(None, None, None)


def start_crawl(launcher: Launcher | None, scrapy_args: list[str], env: dict[str, str],
                log: IO[bytes], cwd: str | None = None) -> CrawlProcess:
    """``scrapy SCRAPY_ARGS`` in ``cwd`` (default: this process's), its output to ``log``:
    forked by the warm launcher, or without one, run as a ``python -m scrapy`` subprocess."""
    if launcher is not None:
        try:
            return launcher.launch(scrapy_args, env, cwd or os.getcwd(), log.fileno())
        except LauncherUnavailable as error:
            launcher_failed(error)
    return PlainCrawl(subprocess.Popen([sys.executable, "-m", "scrapy", *scrapy_args],
                                       cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT))


class LocalExecutor:
    """Runs crawls as local processes and records each as a CrawlRun: forked by this
    process's warm launcher (:mod:`scheduler.launcher`) unless ``settings.warm_crawls`` is
    off or the launcher is gone, else as ``python -m scrapy crawl`` subprocesses."""

    def __init__(self, db: Database, settings: Settings,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.db = db
        self.settings = settings
        self.timeout_s = timeout_s
        self.stopping = threading.Event()
        # Held while a crawl is launched, and by ``begin_shutdown``: a crawl is either launched
        # before the stop signal (so it got it too, if sent to the group) or not at all.
        self._launching = threading.Lock()

    def describe(self) -> str:
        return "local"

    def begin_shutdown(self) -> None:
        with self._launching:
            self.stopping.set()

    def run(self, request: CrawlRequest) -> int:
        """Crawl to completion; returns the CrawlRun id whatever the outcome."""
        # Started (the first time) before the run is: once a run is there, its crawl is
        # launched as soon as a subprocess would have been, before or without a stop signal.
        launcher = shared_launcher() if self.settings.warm_crawls else None
        run_id = create_run(self.db, request)
        jobdir = self.settings.jobs_dir / f"run-{run_id}"
        log_path = self.settings.logs_dir / f"run-{run_id}.log"
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        settings, password = crawl_settings(self.settings, request)
        scrapy_args = ["crawl", request.spider, *request.spider_arguments(),
                       "-a", f"run_id={run_id}", "-s", f"JOBDIR={jobdir}",
                       *[option for name, value in settings.items()
                         for option in ("-s", f"{name}={value}")]]
        env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
        if password is not None:
            env["PGPASSWORD"] = password
        failure: str | None = None
        stopped_by: str | None = None
        with open(log_path, "wb") as log, self._launching:
            if self.stopping.is_set():  # stopping already: this crawl is not started
                settle_run(self.db, run_id, None, "", SCHEDULER_STOPPING)
                return run_id
            process = start_crawl(launcher, scrapy_args, env, log)
        with closing(process):
            name_crawl_process(self.db, run_id, process.process)
            try:
                returncode = process.wait(timeout=self.timeout_s)
                failure = None if returncode is None else exit_failure(returncode)
                if returncode is not None and -returncode in STOP_SIGNALS:
                    stopped_by = f"by {signal.Signals(-returncode).name}"
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                failure = f"crawl timed out after {self.timeout_s:.0f} s and was killed"
        if self.stopping.is_set():
            stopped_by = SCHEDULER_STOPPING
        settle_run(self.db, run_id, failure, _log_file_tail(log_path), stopped_by)
        if failure is None:
            shutil.rmtree(jobdir, ignore_errors=True)
        return run_id
