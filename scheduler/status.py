"""What the scheduler is doing, as the CLI and the API report it: whether one runs against
the database (its host, pid, executor, heartbeat), and each stored job's schedule, next run
and the last run it started."""

from __future__ import annotations

from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from swordnet.core.db import Database
from swordnet.core.models import CrawlRun
from swordnet.core.service_lock import ServiceLock, last_instance


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


def scheduler_status(db: Database) -> dict[str, Any]:
    """``{"scheduler": {...}, "jobs": [...]}``: ``running``, and the last instance's host,
    pid, executor and times if one ever ran; each job's id, schedule, next run and last run
    (id, start, outcome). Call :func:`scheduler.liveness.settle_gone_runs` first."""
    running = ServiceLock(db, "scheduler").held_elsewhere()
    instance = last_instance(db, "scheduler")
    rows = []
    with db.session() as session:
        for job in _stored_jobs(db):
            last = _last_run(session, job.id)
            rows.append({
                "job": job.id, "schedule": job.name,
                "next_run": job.next_run_time.isoformat(timespec="seconds")
                if job.next_run_time else None,
                "last_run": last.id if last else None,
                "last_started": last.started_at.isoformat(timespec="seconds") if last else None,
                "last_outcome": last.outcome if last else None})
    state: dict[str, Any] = {"running": running}
    if instance is not None:
        state.update(host=instance.host, pid=instance.pid, executor=instance.executor,
                     started_at=instance.started_at.isoformat(timespec="seconds"),
                     heartbeat_at=instance.heartbeat_at.isoformat(timespec="seconds"),
                     stopped_at=instance.stopped_at.isoformat(timespec="seconds")
                     if instance.stopped_at else None)
    return {"scheduler": state, "jobs": rows}
