"""The scheduler service: APScheduler 3 with a persistent SQLAlchemy job store.

Jobs live in the project database under explicit ids, written with ``replace_existing`` so
a restart never duplicates them:

- ``target:<id>``: a watch target's standing schedule (interval or cron);
- ``campaign:<cid>:target:<tid>``: a campaign's crawl of one of its targets, an interval
  trigger bounded by the campaign's start and end, so it starts and stops by itself;
- ``rechecks``: every URL under an open notice (daily by default);
- ``tips``: queued tips and complaints (every minute by default).

A sync job (in memory) makes the stored jobs match the database every
:data:`SYNC_EVERY_S` seconds, beats the scheduler's heartbeat, and settles runs whose
processes are gone (:mod:`scheduler.liveness`). Each job's name spells out its schedule; a job
is rewritten only when that changes, so its next run time survives restarts. Runs missed while no
scheduler was running are coalesced into one catch-up run (within a 6 h grace time, instead
of APScheduler's default of silently skipping anything more than a second late), and the
misses are logged. Only one scheduler may run against a database (:mod:`scheduler.lock`).

On SIGTERM or SIGINT the scheduler starts no more jobs, lets running crawls finish, and keeps
its heartbeat going while it waits for them.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from scheduler import jobs
from scheduler.executor import Executor
from scheduler.liveness import settle_gone_runs
from swordnet.core.config import SmtpSettings
from swordnet.core.db import Database
from swordnet.core.models import Campaign, WatchTarget
from swordnet.core.service_lock import ServiceLock
from swordnet.core.timeutil import utcnow
from swordnet.watch.campaigns import effective_end

log = logging.getLogger("swordnet.scheduler")

MISFIRE_GRACE_S = 6 * 3600
SYNC_EVERY_S = 30
DEFAULT_RECHECK_EVERY_S = 86400
DEFAULT_TIPS_EVERY_S = 60
DEFAULT_SEND_EVERY_S = 60  # how often due notices are emailed, with a mail server configured
STORE = "default"


@dataclass(frozen=True)
class JobSpec:
    """A job as the database says it should be."""

    job_id: str
    name: str  # says the schedule too; a change of name means the job must be rewritten
    func: Callable[..., None]
    args: tuple[Any, ...]
    trigger: BaseTrigger
    run_at_once: bool  # a new interval job runs now rather than one interval from now


def _target_spec(target: WatchTarget) -> JobSpec:
    if target.cron:
        return JobSpec(f"target:{target.id}", f"crawl target {target.id} cron '{target.cron}'",
                       jobs.crawl_target, (target.id,),
                       CronTrigger.from_crontab(target.cron, timezone="UTC"), False)
    seconds = target.every_seconds or 0
    return JobSpec(f"target:{target.id}", f"crawl target {target.id} every {seconds} s",
                   jobs.crawl_target, (target.id,), IntervalTrigger(seconds=seconds), True)


def _campaign_specs(campaign: Campaign, now: datetime) -> list[JobSpec]:
    """One job per target; a campaign already under way crawls at once when first seen."""
    end = effective_end(campaign)
    trigger = IntervalTrigger(seconds=campaign.every_seconds, start_date=campaign.starts_at,
                              end_date=end, timezone="UTC")
    window = (f"every {campaign.every_seconds} s from {campaign.starts_at.isoformat()} "
              f"to {end.isoformat()}")
    return [JobSpec(f"campaign:{campaign.id}:target:{t.id}",
                    f"campaign {campaign.id} crawls target {t.id} {window}",
                    jobs.crawl_target, (t.id, campaign.id), trigger, campaign.starts_at <= now)
            for t in campaign.targets]


def wanted_jobs(db: Database, recheck_every_s: int, tips_every_s: int,
                now: datetime, send_every_s: int | None = None) -> list[JobSpec]:
    """Every job the database asks for at ``now`` (with ``send_every_s``, a sender run that
    often)."""
    with db.session() as session:
        targets = session.scalars(select(WatchTarget).where(
            WatchTarget.enabled.is_(True),
            WatchTarget.every_seconds.is_not(None) | WatchTarget.cron.is_not(None))).all()
        specs = [_target_spec(t) for t in targets]
        for campaign in session.scalars(select(Campaign)):
            if effective_end(campaign) > now:
                specs.extend(_campaign_specs(campaign, now))
    specs.append(JobSpec("rechecks", f"recheck URLs under notice every {recheck_every_s} s",
                         jobs.run_rechecks, (), IntervalTrigger(seconds=recheck_every_s), True))
    specs.append(JobSpec("tips", f"check queued tips every {tips_every_s} s", jobs.check_tips,
                         (), IntervalTrigger(seconds=tips_every_s), True))
    if send_every_s is not None:
        specs.append(JobSpec("notices", f"email due notices every {send_every_s} s",
                             jobs.send_notices, (), IntervalTrigger(seconds=send_every_s), True))
    return specs


def sync_jobs(scheduler: BackgroundScheduler, specs: list[JobSpec], now: datetime) -> None:
    """Make the stored jobs match ``specs``: add new, rewrite changed, remove stale ones (a
    new job that runs at once runs at ``now``)."""
    wanted = {spec.job_id: spec for spec in specs}
    for job in scheduler.get_jobs(jobstore=STORE):
        if job.id not in wanted:
            job.remove()
            log.info("removed job %s", job.id)
    for spec in specs:
        existing = scheduler.get_job(spec.job_id, jobstore=STORE)
        if existing is not None and existing.name == spec.name:
            continue
        options: dict[str, Any] = {}
        if existing is None and spec.run_at_once:
            options["next_run_time"] = now
        scheduler.add_job(spec.func, spec.trigger, args=spec.args, id=spec.job_id,
                          name=spec.name, jobstore=STORE, replace_existing=True, **options)
        log.info("scheduled %s: %s", spec.job_id, spec.name)


def missed_runs(job: Job, now: datetime) -> list[datetime]:
    """The run times of ``job`` that fell due before ``now`` (while no scheduler ran)."""
    missed: list[datetime] = []
    due = job.next_run_time
    while due is not None and due <= now and len(missed) < 10_000:
        missed.append(due)
        due = job.trigger.get_next_fire_time(due, now)
    return missed


def report_misfires(scheduler: BackgroundScheduler, now: datetime) -> None:
    """Log, per job, the runs missed before ``now`` while the scheduler was down (one
    catch-up run follows if the last was within the grace time)."""
    for job in scheduler.get_jobs(jobstore=STORE):
        missed = missed_runs(job, now)
        if len(missed) < 2 and (not missed or now - missed[0] < timedelta(seconds=SYNC_EVERY_S)):
            continue
        late = now - missed[-1]
        action = ("one catch-up run now" if late.total_seconds() <= MISFIRE_GRACE_S
                  else f"no catch-up run (the last was due more than {MISFIRE_GRACE_S} s ago)")
        log.warning("misfire: job %s missed %d run(s) while no scheduler was running "
                    "(due %s to %s); %s", job.id, len(missed),
                    missed[0].isoformat(timespec="seconds"),
                    missed[-1].isoformat(timespec="seconds"), action)


class _Scheduler(BackgroundScheduler):
    """APScheduler's background scheduler, with two fixes to how it shuts down.

    - It never hands a due job to its executors once shutting down: APScheduler checks its
      state before it waits for the job-store lock, which ``shutdown`` holds while it shuts
      the executors down, so a job that fell due meanwhile went to a closed executor
      ("cannot schedule new futures after shutdown").
    - It waits for running jobs before it takes that lock: APScheduler waits while holding
      it, so a running job that reads the job store (the sync job does) waited for the lock
      and the shutdown for the job, for ever.
    """

    def _process_jobs(self) -> float | None:
        with self._jobstores_lock:  # reentrant
            if self.state == STATE_STOPPED:
                return None
            return super()._process_jobs()

    def shutdown(self, wait: bool = True) -> None:
        if wait and self.state != STATE_STOPPED:
            self.pause()  # no job starts from now on
            with self._executors_lock:
                executors = list(self._executors.values())
            for executor in executors:
                executor.shutdown(wait=True)  # a second shutdown (APScheduler's) is a no-op
        super().shutdown(wait)


# How often the main thread wakes to run signal handlers that arrived on another thread.
SIGNAL_CHECK_S = 0.5


def build_scheduler(db: Database, max_concurrent: int) -> BackgroundScheduler:
    return _Scheduler(
        jobstores={STORE: SQLAlchemyJobStore(engine=db.engine), "internal": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=max_concurrent),
                   "internal": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_S,
                      "max_instances": 1},
        timezone="UTC",
    )


def _beat_until(done: threading.Event, lock: ServiceLock, every_s: float) -> None:
    """Beat the scheduler's heartbeat every ``every_s`` seconds until ``done`` is set."""
    while not done.wait(every_s):
        try:
            lock.heartbeat()
        except SQLAlchemyError as exc:  # a busy database: the next beat may get through
            log.warning("heartbeat failed: %s", exc)


def _report_sweep(db: Database) -> None:
    sweep = settle_gone_runs(db)
    if sweep.interrupted:
        log.warning("runs %s: their processes are gone; marked interrupted",
                    ", ".join(map(str, sweep.interrupted)))
    if sweep.failed:
        log.warning("runs %s had no outcome long after they started; marked failed",
                    ", ".join(map(str, sweep.failed)))


def run_scheduler(db: Database, executor: Executor, *, max_concurrent: int = 2,
                  recheck_every_s: int = DEFAULT_RECHECK_EVERY_S,
                  tips_every_s: int = DEFAULT_TIPS_EVERY_S,
                  sync_every_s: float = SYNC_EVERY_S,
                  clock: Callable[[], datetime] = utcnow,
                  smtp: SmtpSettings | None = None,
                  send_every_s: int = DEFAULT_SEND_EVERY_S,
                  templates: Path | None = None) -> None:
    """Run until SIGTERM or Ctrl-C; running crawls are allowed to finish first. ``clock``
    tells the time the database's schedules (campaign bounds) are read at.

    Raises :class:`swordnet.core.service_lock.ServiceAlreadyRunning` if another scheduler
    runs against the same database.
    """
    lock = ServiceLock(db, "scheduler")
    lock.acquire(executor.describe())
    stopping = threading.Event()
    context = jobs.JobContext(db=db, executor=executor, max_concurrent=max_concurrent,
                              clock=clock, smtp=smtp, templates=templates)
    sending = send_every_s if smtp is not None else None

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s received; stopping after running crawls finish", signum)
        context.stopping.set()
        executor.begin_shutdown()
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    scheduler = build_scheduler(db, max_concurrent)
    jobs.install(context)
    try:
        requeued = jobs.requeue_unfinished_tips(db)
        if requeued:
            log.info("%d tip(s) left unchecked by a previous scheduler are queued again",
                     requeued)
        scheduler.start(paused=True)
        now = clock()
        sync_jobs(scheduler, wanted_jobs(db, recheck_every_s, tips_every_s, now, sending), now)
        report_misfires(scheduler, now)

        def sync() -> None:
            lock.heartbeat()
            now = clock()
            sync_jobs(scheduler, wanted_jobs(db, recheck_every_s, tips_every_s, now, sending), now)
            _report_sweep(db)

        scheduler.add_job(sync, "interval", seconds=sync_every_s, id="sync",
                          jobstore="internal", executor="internal", next_run_time=clock())
        scheduler.resume()
        log.info("Scheduler started with the %s executor", executor.describe())
        # Woken now and then: a signal the kernel hands to another thread only sets a flag,
        # and Python runs its handler on the main thread, which a wait with no timeout would
        # never wake for (SIGTERM to the process group, as the crawls start, was lost so).
        while not stopping.wait(SIGNAL_CHECK_S):
            pass
        waited = threading.Event()
        beating = threading.Thread(target=_beat_until, args=(waited, lock, sync_every_s),
                                   name="heartbeat", daemon=True)
        beating.start()
        try:
            scheduler.shutdown(wait=True)
        finally:
            waited.set()
            beating.join()
    finally:
        jobs.install(None)
        lock.release()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
