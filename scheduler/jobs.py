"""What the scheduler's jobs do: crawl a watch target (standing or for a campaign), check
queued tips, recheck URLs under notice, email the notices that are due.

Job functions are module-level so APScheduler's job store can refer to them by name. They
reach the database and the executor through the :class:`JobContext` the scheduler service
installs when it starts; every crawl goes through that executor (local subprocesses or
scrapyd nodes), so each is recorded as a CrawlRun exactly once. A target is never crawled
twice at once: not by two of this scheduler's jobs (its standing schedule and a campaign),
nor while a crawl left running by a previous scheduler or a command is still alive. Once the
scheduler is stopping, jobs start no crawls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from casefiles.auto_notices import queue_due
from casefiles.delivery import send_due
from casefiles.notices import due_rechecks
from scheduler.executor import CrawlRequest, Executor
from scheduler.liveness import running_run_of_target
from swordnet.core.config import SmtpSettings
from swordnet.core.db import Database
from swordnet.core.models import Campaign, CrawlRun, NoticeUrl, Tip, WatchTarget
from swordnet.core.timeutil import utcnow
from swordnet.watch.campaigns import campaign_state
from swordnet.watch.tips import claim_queued, settle_tip

log = logging.getLogger("swordnet.scheduler")

# How many URLs under notice one recheck run fetches (a site with more gets several runs).
RECHECK_BATCH = 200
TIP_DEPTH = 0


@dataclass
class JobContext:
    """The database and executor the jobs use, the limit on crawls running at once
    (shared by every job, including the several crawls of one recheck or tips job), and the
    clock a campaign's bounds are checked against."""

    db: Database
    executor: Executor
    max_concurrent: int
    clock: Callable[[], datetime] = utcnow
    smtp: SmtpSettings | None = None  # where notices are emailed (None: not configured)
    templates: Path | None = None  # notice templates overriding the built-in ones
    slots: threading.BoundedSemaphore = field(init=False)
    stopping: threading.Event = field(default_factory=threading.Event)
    _targets: set[int] = field(default_factory=set)
    _targets_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.slots = threading.BoundedSemaphore(self.max_concurrent)

    def crawl(self, request: CrawlRequest) -> int:
        """Run one crawl through the executor once a slot is free; returns its run id."""
        with self.slots:
            return self.executor.run(request)

    @contextmanager
    def claim_target(self, target_id: int) -> Iterator[bool]:
        """Whether this scheduler may crawl the target now (no job of its own is crawling
        it); the claim lasts until the block ends."""
        with self._targets_lock:
            claimed = target_id not in self._targets
            self._targets.add(target_id)
        try:
            yield claimed
        finally:
            if claimed:
                with self._targets_lock:
                    self._targets.discard(target_id)


_context: JobContext | None = None


def install(context: JobContext | None) -> None:
    """Make ``context`` the one the job functions use (None when the scheduler stops)."""
    global _context
    _context = context


def _ctx() -> JobContext:
    if _context is None:
        raise RuntimeError("scheduler jobs run only inside `swordnet scheduler run`")
    return _context


def _run_all(requests: list[CrawlRequest]) -> list[int]:
    """Run crawls through the executor, up to the scheduler's concurrency at once."""
    ctx = _ctx()
    if len(requests) <= 1:
        return [ctx.crawl(r) for r in requests]
    with ThreadPoolExecutor(max_workers=ctx.max_concurrent) as pool:
        return list(pool.map(ctx.crawl, requests))


def crawl_target(target_id: int, campaign_id: int | None = None) -> None:
    """Crawl one watch target now; for a campaign, only while the campaign is running; not
    while the target's previous crawl is still alive."""
    ctx = _ctx()
    if ctx.stopping.is_set():
        return
    with ctx.claim_target(target_id) as claimed:
        if not claimed:
            log.warning("target %s is being crawled by another job; not starting another "
                        "crawl", target_id)
            return
        running = running_run_of_target(ctx.db, target_id)
        if running is not None:
            log.warning("target %s: run %s is still running (%s); not starting another crawl",
                        target_id, running.id, _where(running))
            return
        _crawl_target(ctx, target_id, campaign_id)


def _where(run: CrawlRun) -> str:
    if run.pid is not None:
        return f"its crawl is pid {run.pid} on {run.host}"
    if run.node:
        return f"on scrapyd node {run.node}"
    return "no process recorded yet"


def _crawl_target(ctx: JobContext, target_id: int, campaign_id: int | None) -> None:
    with ctx.db.session() as session:
        target = session.get(WatchTarget, target_id)
        if target is None or (campaign_id is None and not target.enabled):
            log.warning("watch target %s is gone or disabled; skipping", target_id)
            return
        if campaign_id is not None:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign_state(campaign, ctx.clock()) != "running":
                log.info("campaign %s is not running; skipping target %s", campaign_id,
                         target_id)
                return
        request = CrawlRequest.for_target(
            target, purpose="campaign" if campaign_id else "watch", campaign_id=campaign_id)
    run_id = ctx.crawl(request)
    log.info("target %s crawled as run %s%s", target_id, run_id,
             f" for campaign {campaign_id}" if campaign_id else "")


def check_tips() -> None:
    """Check every queued tip: crawl its URL (and the media on it) and record what was found."""
    ctx = _ctx()
    if ctx.stopping.is_set():
        return
    with ctx.db.session() as session:
        checks = claim_queued(session)
    if not checks:
        return
    requests = [CrawlRequest(site_id=c.site_id, start_url=c.url, depth=TIP_DEPTH, max_pages=1,
                             campaign_id=c.campaign_id, purpose="tip") for c in checks]
    run_ids = _run_all(requests)
    with ctx.db.session() as session:
        for check, run_id in zip(checks, run_ids, strict=True):
            tip = settle_tip(session, check.tip_id, run_id)
            log.info("tip %s (%s) checked by run %s: %s, %d hit(s)", tip.id, tip.url, run_id,
                     tip.status, len(tip.result["hits"]))


def requeue_unfinished_tips(db: Database) -> int:
    """Tips left ``checking`` by a scheduler that died go back in the queue."""
    with db.session() as session:
        tips = session.scalars(select(Tip).where(Tip.status == "checking")).all()
        for tip in tips:
            tip.status = "queued"
        return len(tips)


def run_rechecks() -> None:
    """Recheck every URL under an open notice: one run per site (per batch of URLs)."""
    ctx = _ctx()
    if ctx.stopping.is_set():
        return
    with ctx.db.session() as session:
        due = due_rechecks(session)
        requests = []
        for site_id, url_ids in due.items():
            for start in range(0, len(url_ids), RECHECK_BATCH):
                batch = url_ids[start:start + RECHECK_BATCH]
                first = session.get(NoticeUrl, batch[0])
                assert first is not None
                requests.append(CrawlRequest(
                    site_id=site_id, start_url=first.url, spider="recheck", purpose="recheck",
                    spider_args={"notice_urls": ",".join(map(str, batch))}))
    if not requests:
        log.info("no URLs under open notices to recheck")
        return
    run_ids = _run_all(requests)
    log.info("rechecked %d URL(s) under notice on %d site(s): runs %s",
             sum(len(v) for v in due.values()), len(due), ", ".join(map(str, run_ids)))


def send_notices() -> None:
    """One sender run: queue the automatic notices that are due (if staff turned them on:
    :mod:`casefiles.auto_notices`), then email every queued notice whose next attempt is
    due."""
    ctx = _ctx()
    if ctx.smtp is None or ctx.stopping.is_set():
        return
    auto = queue_due(ctx.db, ctx.smtp.sender, ctx.templates, ctx.clock())
    if auto.queued or auto.skipped:
        log.info("automatic notices queued %s, %d case(s) skipped%s", auto.queued,
                 len(auto.skipped), "".join(f"; case {s['case_id']}: {s['reason']}"
                                            for s in auto.skipped))
    report = send_due(ctx.db, ctx.smtp, ctx.clock)
    if report.sent or report.retrying or report.failed or report.uncertain:
        log.info("notices sent %s, to retry %s, failed %s, uncertain %s", report.sent,
                 report.retrying, report.failed, report.uncertain)
    if report.stopped:
        log.warning("sending notices stopped: %s", report.stopped)
