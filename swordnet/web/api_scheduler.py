"""``/scheduler``: whether a scheduler runs against this database, and each job's schedule,
next run and last run (``swordnet scheduler status``). Staff only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from scheduler.liveness import settle_gone_runs
from scheduler.status import scheduler_status
from swordnet.accounts.access import require_staff
from swordnet.core.db import Database
from swordnet.web.deps import Caller, get_db
from swordnet.web.errors import ERROR_RESPONSES

router = APIRouter(tags=["scheduler"], responses=ERROR_RESPONSES)
Db = Annotated[Database, Depends(get_db)]


class InstanceOut(BaseModel):
    running: bool = Field(description="Whether a scheduler holds this database's lock now.")
    host: str | None = None
    pid: int | None = None
    executor: str | None = None
    started_at: str | None = None
    heartbeat_at: str | None = None
    stopped_at: str | None = None


class JobOut(BaseModel):
    job: str = Field(description="target:N, campaign:N:target:M, rechecks, tips, ...")
    schedule: str | None
    next_run: str | None
    last_run: int | None = Field(description="The last crawl run the job started.")
    last_started: str | None
    last_outcome: str | None


class SchedulerOut(BaseModel):
    scheduler: InstanceOut = Field(description="The last scheduler instance that ran.")
    jobs: list[JobOut]


@router.get("/scheduler", response_model=SchedulerOut, summary="Scheduler status")
def show_scheduler(caller: Caller, db: Db) -> SchedulerOut:
    """Whether a scheduler is running (host, pid, executor, heartbeat), and each job's
    schedule, next run and last run. Staff only."""
    require_staff(caller)
    settle_gone_runs(db)
    return SchedulerOut.model_validate(scheduler_status(db))
