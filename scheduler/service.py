"""The scheduler service: APScheduler 3 with a persistent SQLAlchemy job store.

Each enabled watch target with an interval gets one job, id ``target:<id>``, stored in the
project database (``replace_existing``, so a restart never duplicates jobs). A sync job in
memory picks up targets added or disabled while the scheduler runs. Missed runs are
coalesced into one catch-up run within a grace time, instead of APScheduler's default of
silently skipping anything more than a second late.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select

from scheduler.executor import CrawlRequest, LocalExecutor
from swordnet.config import Settings, load_settings
from swordnet.db import Database, open_database
from swordnet.models import WatchTarget
from swordnet.timeutil import utcnow

log = logging.getLogger("swordnet.scheduler")

JOB_PREFIX = "target:"
MISFIRE_GRACE_S = 6 * 3600
SYNC_EVERY_S = 30


def crawl_target(target_id: int) -> None:
    """Job body: crawl one watch target now (module-level so the job store can reference it)."""
    settings = load_settings()
    db = open_database(settings)
    try:
        with db.session() as session:
            target = session.get(WatchTarget, target_id)
            if target is None or not target.enabled:
                log.warning("watch target %s is gone or disabled; skipping", target_id)
                return
            request = CrawlRequest.for_target(target)
        run_id = LocalExecutor(db, settings).run(request)
        log.info("target %s crawled as run %s", target_id, run_id)
    finally:
        db.dispose()


def sync_jobs(scheduler: BaseScheduler, db: Database) -> None:
    """Make the stored jobs match the enabled, scheduled watch targets."""
    with db.session() as session:
        targets = session.scalars(select(WatchTarget).where(
            WatchTarget.enabled.is_(True), WatchTarget.every_seconds.is_not(None))).all()
        wanted = {f"{JOB_PREFIX}{t.id}": t.every_seconds for t in targets}
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
            job.remove()
            log.info("removed job %s", job.id)
    for job_id, seconds in wanted.items():
        existing = scheduler.get_job(job_id, jobstore="default")
        if existing is not None and existing.trigger.interval.total_seconds() == seconds:
            continue
        first_run = existing.next_run_time if existing is not None else utcnow()
        scheduler.add_job(crawl_target, "interval", seconds=seconds, id=job_id,
                          args=[int(job_id.removeprefix(JOB_PREFIX))], jobstore="default",
                          replace_existing=True, name=f"crawl {job_id}",
                          next_run_time=first_run)
        log.info("scheduled %s every %s s", job_id, seconds)


def build_scheduler(db: Database, max_concurrent_crawls: int = 2) -> BlockingScheduler:
    return BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=db.engine),
                   "internal": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=max_concurrent_crawls),
                   "internal": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_S,
                      "max_instances": 1},
        timezone="UTC",
    )


def run_scheduler(settings: Settings, max_concurrent_crawls: int = 2) -> None:
    """Run until SIGTERM or Ctrl-C; running crawls are allowed to finish first."""
    db = open_database(settings)
    scheduler = build_scheduler(db, max_concurrent_crawls)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s received; stopping after running crawls finish", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    scheduler.add_job(sync_jobs, "interval", seconds=SYNC_EVERY_S, args=[scheduler, db],
                      id="sync-targets", jobstore="internal", executor="internal",
                      next_run_time=utcnow())
    try:
        scheduler.start()
    finally:
        db.dispose()
