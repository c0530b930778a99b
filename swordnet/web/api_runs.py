"""``/runs``: crawl runs with their health, statistics and error samples. Runs whose
processes are gone are marked interrupted first, as ``swordnet runs`` does. Staff only:
runs span every holder's data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from scheduler.liveness import settle_gone_runs
from scheduler.runs import RunFilters, get_run, list_runs, run_row
from swordnet.accounts.access import require_staff
from swordnet.core.db import Database
from swordnet.web.deps import Caller, DbSession, get_db
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.params import PathId, QueryId

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)
Db = Annotated[Database, Depends(get_db)]
MAX_RUNS = 500


class RunOut(BaseModel):
    id: int
    site: str = Field(description="The crawled site's domain.")
    target_id: int | None
    spider: str = Field(description="site, search, feed or recheck")
    purpose: str = Field(description="manual, watch, campaign, recheck or tip")
    campaign_id: int | None
    node: str | None = Field(description="The scrapyd node it ran on, if any.")
    retry_of: int | None = Field(description="The run this one retries.")
    started_at: str
    outcome: str = Field(description="running, finished, failed or interrupted")
    finish_reason: str | None
    health: str = Field(description="ok, UNHEALTHY, or - (not judged yet)")
    problems: str = Field(description="Why it is unhealthy or failed, in one line.")
    pages: int | None
    media: int | None
    hits_new: int | None
    errors: int | None
    blocked: int | None
    duration_s: float | None
    error: str | None


class ErrorSample(BaseModel):
    kind: str
    url: str
    message: str


class RunDetail(RunOut):
    health_problems: list[str] = Field(description="Each rule the run broke.")
    stats: dict[str, Any] = Field(description="Every counter the crawl kept (pages, media, "
                                  "status_counts, errors_by_type, traps, ...).")
    errors_sample: list[ErrorSample] = Field(description="Failed fetches, a sample.")


def run_filters(site_id: QueryId = None, target_id: QueryId = None,
                campaign_id: QueryId = None,
                unhealthy: Annotated[bool, Query(description=(
                    "Only runs that need a look: unhealthy, failed or interrupted."))] = False,
                ) -> RunFilters:
    return RunFilters(site_id, target_id, campaign_id, unhealthy)


@router.get("/runs", response_model=list[RunOut], summary="List crawl runs")
def list_crawl_runs(session: DbSession, caller: Caller, db: Db,
                    filters: Annotated[RunFilters, Depends(run_filters)],
                    limit: Annotated[int, Query(ge=1, le=MAX_RUNS)] = 50) -> list[RunOut]:
    """Crawl runs, newest first; unhealthy ones say why. Staff only."""
    require_staff(caller)
    settle_gone_runs(db)
    return [RunOut(**run_row(run)) for run in list_runs(session, filters, limit)]


@router.get("/runs/{run_id}", response_model=RunDetail, summary="Show a crawl run")
def show_crawl_run(run_id: PathId, session: DbSession, caller: Caller, db: Db) -> RunDetail:
    """One run's outcome, health, statistics and error samples. Staff only."""
    require_staff(caller)
    settle_gone_runs(db)
    run = get_run(session, run_id)
    samples = [ErrorSample(kind=str(e.get("kind", "")), url=str(e.get("url", "")),
                           message=str(e.get("message", ""))) for e in run.errors]
    return RunDetail(**run_row(run), health_problems=[str(p) for p in run.health_problems],
                     stats=run.stats, errors_sample=samples)
