"""``/campaigns``: special campaigns (staff only): list, show with statistics, create, stop,
and their exports, the site-shutdown list (CSV, XLSX, JSON) and the enforcement report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.reports import campaign_report, render_rows, shutdown_rows
from scheduler.liveness import settle_gone_runs
from swordnet.accounts.access import CAMPAIGN_SORTS, require_staff, sort_clause
from swordnet.accounts.users import Principal
from swordnet.core.campaign_scope import hit_condition
from swordnet.core.db import Database
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import Campaign, CrawlRun, Hit
from swordnet.watch.campaigns import (
    MAX_EVERY_SECONDS,
    campaign_state,
    campaign_summary,
    create_campaign,
    effective_end,
    stop_campaign,
    update_campaign,
)
from swordnet.watch.rapid import MAX_RAPID_HOURS, rapid_response
from swordnet.web.deps import Caller, DbSession, get_db
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.pagination import Page, PageParams, page_params, paginate
from swordnet.web.params import BodyId, PathId, sort_param

router = APIRouter(prefix="/campaigns", tags=["campaigns"], responses=ERROR_RESPONSES)
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def staff(caller: Caller) -> Principal:
    """The caller, who must be staff: campaigns are enforcement work."""
    require_staff(caller)
    return caller


Staff = Annotated[Principal, Depends(staff)]


class CampaignOut(BaseModel):
    id: int
    name: str
    state: str = Field(description="planned, running, ended or stopped.")
    starts_at: datetime
    ends_at: datetime = Field(description="The planned end, or when it was stopped.")
    every_seconds: int
    focus: str | None
    targets: list[int]
    runs: int
    runs_by_outcome: dict[str, int]
    hits_found: int


class ReportOut(BaseModel):
    """What concerns the campaign's targets within its window, whichever run found a hit
    (``GET /hits?campaign_id=``, ``GET /cases?campaign_id=`` list the same hits and cases)."""

    campaign: str
    window_start: str = Field(description="The window's start: the campaign's start.")
    window_end: str = Field(description="The window's end: the campaign's end, or when it "
                                        "was stopped.")
    hits: int = Field(description="Hits on its sites (targets' and their cases' linked "
                                  "mirrors') first found by the window's end and last seen "
                                  "at or after its start, any status.")
    infringing_urls_confirmed: int = Field(description="Of those hits, the confirmed ones.")
    cases: int = Field(description="Cases on its sites (or holding a hit on one) open during "
                                   "the window.")
    cases_opened: int = Field(description="Of those cases, the ones opened within the window.")
    notices_sent: int = Field(description="Those cases' notices sent within the window.")
    urls_removed: int = Field(description="Copies found gone by rechecks within the window.")
    median_days_to_removal: float | None
    cases_removed: int = Field(description="Cases moved to removed within the window.")
    sites_shut_down: int = Field(description="Cases moved to site_shut_down within the window.")
    transferred_to_judiciary: int = Field(description="Cases moved to transferred_to_judiciary "
                                                      "within the window.")


class RunOut(BaseModel):
    id: int
    target_id: int | None
    started_at: datetime
    outcome: str
    hits_new: int | None
    error: str | None = Field(None, description="Why the run failed, when it did.")


class CampaignDetail(CampaignOut):
    report: ReportOut
    recent_runs: list[RunOut]


def campaign_out(session: Session, campaign: Campaign) -> CampaignOut:
    summary = campaign_summary(session, campaign)
    return CampaignOut(
        id=campaign.id, name=campaign.name, state=summary["state"],
        starts_at=campaign.starts_at, ends_at=effective_end(campaign),
        every_seconds=campaign.every_seconds, focus=campaign.focus,
        targets=summary["targets"], runs=summary["runs"],
        runs_by_outcome=summary["runs_by_outcome"], hits_found=summary["hits_found"])


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return campaign


@router.get("", response_model=Page[CampaignOut])
def list_campaigns(session: DbSession, _caller: Staff,
                   page: Annotated[PageParams, Depends(page_params)],
                   sort: Annotated[str, sort_param(CAMPAIGN_SORTS)] = "-id",
                   ) -> Page[CampaignOut]:
    """Campaigns with their state and crawl statistics."""
    query = select(Campaign).order_by(*sort_clause(sort, CAMPAIGN_SORTS))
    return paginate(session, query, page, lambda c: campaign_out(session, c))


@router.get("/{campaign_id}", response_model=CampaignDetail)
def show_campaign(campaign_id: PathId, session: DbSession, _caller: Staff,
                  db: Annotated[Database, Depends(get_db)]) -> CampaignDetail:
    """One campaign: statistics, enforcement report and its latest runs (those whose
    processes are gone marked interrupted first)."""
    settle_gone_runs(db)
    campaign = get_campaign(session, campaign_id)
    runs = session.scalars(select(CrawlRun).where(CrawlRun.campaign_id == campaign.id)
                           .order_by(CrawlRun.id.desc()).limit(50))
    return CampaignDetail(
        **campaign_out(session, campaign).model_dump(),
        report=ReportOut(**campaign_report(session, campaign)),
        recent_runs=[RunOut(id=r.id, target_id=r.target_id, started_at=r.started_at,
                            outcome=r.outcome, hits_new=r.stats.get("hits_new"),
                            error=r.error)
                     for r in runs])


class CampaignIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    starts_at: datetime = Field(description="Start (UTC unless an offset is given).")
    ends_at: datetime = Field(description="End, after the start and in the future.")
    target_ids: list[BodyId] = Field(min_length=1, max_length=1000,
                                  description="Watch targets crawled during the campaign.")
    every_seconds: int = Field(3600, ge=60, le=MAX_EVERY_SECONDS,
                               description="How often each target is crawled.")
    focus: str | None = Field(None, max_length=2000)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.post("", response_model=CampaignOut, status_code=201)
def add_campaign(body: CampaignIn, session: DbSession, _caller: Staff) -> CampaignOut:
    """Create a campaign; the scheduler crawls its targets between its bounds."""
    try:
        campaign = create_campaign(session, body.name, _utc(body.starts_at), _utc(body.ends_at),
                                   body.target_ids, body.every_seconds, body.focus)
    except NotFound as exc:
        raise BadInput(f"target_ids: {exc}") from None
    except OverflowError as exc:  # a bound so far out that the schedule cannot be computed
        raise BadInput(str(exc)) from None
    return campaign_out(session, campaign)


class CampaignEdit(BaseModel):
    """What to change; a field left out stays as it is."""

    name: str | None = Field(None, min_length=1, max_length=200)
    starts_at: datetime | None = Field(None, description="Only while the campaign is planned.")
    ends_at: datetime | None = Field(None, description="After the start and in the future.")
    target_ids: list[BodyId] | None = Field(None, min_length=1, max_length=1000)
    every_seconds: int | None = Field(None, ge=60, le=MAX_EVERY_SECONDS)
    focus: str | None = Field(None, max_length=2000, description="An empty text clears it.")


@router.patch("/{campaign_id}", response_model=CampaignOut)
def edit_campaign(campaign_id: PathId, body: CampaignEdit, session: DbSession,
                  _caller: Staff) -> CampaignOut:
    """Change a planned or running campaign (409 once it ended or was stopped)."""
    campaign = get_campaign(session, campaign_id)
    try:
        update_campaign(session, campaign, name=body.name,
                        starts_at=_utc(body.starts_at) if body.starts_at else None,
                        ends_at=_utc(body.ends_at) if body.ends_at else None,
                        target_ids=body.target_ids, every_seconds=body.every_seconds,
                        focus=body.focus)
    except NotFound as exc:
        raise BadInput(f"target_ids: {exc}") from None
    except OverflowError as exc:
        raise BadInput(str(exc)) from None
    return campaign_out(session, campaign)


class RapidIn(BaseModel):
    """A rapid response: starts now, crawls every 5 minutes, searches the sites for the
    works' titles and aliases through their search templates."""

    site_ids: list[BodyId] = Field(min_length=1, max_length=100,
                                   description="Sites (each with a search template).")
    work_ids: list[BodyId] = Field(min_length=1, max_length=100,
                                   description="Works searched for (titles and aliases).")
    hours: int = Field(24, ge=1, le=MAX_RAPID_HOURS, description="How long it runs.")
    name: str | None = Field(None, min_length=1, max_length=200,
                             description="Default: 'Rapid response' and the time.")


@router.post("/rapid-response", response_model=CampaignOut, status_code=201)
def add_rapid_response(body: RapidIn, session: DbSession, _caller: Staff) -> CampaignOut:
    """Start a rapid-response campaign now; the scheduler crawls its targets at once."""
    try:
        campaign = rapid_response(session, body.site_ids, body.work_ids, body.hours, body.name)
    except NotFound as exc:
        raise BadInput(str(exc)) from None
    return campaign_out(session, campaign)


class LiveHit(BaseModel):
    id: int
    work_title: str
    site: str
    url: str
    status: str
    score: float
    created_at: datetime
    review_url: str = Field(description="The hit in the console's review queue.")


class LiveHits(BaseModel):
    items: list[LiveHit]
    state: str = Field(description="The campaign's state: planned, running, ended, stopped.")


LIVE_BATCH = 100


def review_url(campaign_id: int, hit_id: int) -> str:
    return f"/review?status=&campaign_id={campaign_id}&hit={hit_id}"


@router.get("/{campaign_id}/hits", response_model=LiveHits)
def live_hits(campaign_id: PathId, session: DbSession, _caller: Staff,
              after: Annotated[int, Query(ge=0, le=2**31 - 1,
                                          description="Only hits with a greater id.")] = 0,
              ) -> LiveHits:
    """The campaign's hits with an id above ``after``, oldest first (what the console's
    campaign page polls to show hits as they arrive)."""
    campaign = get_campaign(session, campaign_id)
    hits = session.scalars(select(Hit).where(hit_condition(campaign.id), Hit.id > after)
                           .order_by(Hit.id).limit(LIVE_BATCH))
    return LiveHits(state=campaign_state(campaign), items=[
        LiveHit(id=h.id, work_title=h.work.title, site=h.site.domain, url=h.url,
                status=h.status, score=h.score, created_at=h.created_at,
                review_url=review_url(campaign.id, h.id)) for h in hits])


@router.post("/{campaign_id}/stop", response_model=CampaignOut)
def stop(campaign_id: PathId, session: DbSession, _caller: Staff) -> CampaignOut:
    """End a campaign now: its crawls are no longer scheduled; its history stays."""
    campaign = get_campaign(session, campaign_id)
    stop_campaign(session, campaign.name)
    session.flush()
    return campaign_out(session, campaign)


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get("/{campaign_id}/report", response_model=ReportOut)
def report(campaign_id: PathId, session: DbSession, _caller: Staff,
           response: Response) -> dict[str, Any]:
    """The campaign's enforcement statistics (a JSON download)."""
    campaign = get_campaign(session, campaign_id)
    response.headers.update(_attachment(f"campaign-{campaign.id}-report.json"))
    return campaign_report(session, campaign)


@router.get("/{campaign_id}/shutdown-list", response_class=Response,
            responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()},
                             "description": "The sites of the campaign's cases (hits an "
                                            "allowlist entry covers left out), as a file."}})
def shutdown_list(campaign_id: PathId, session: DbSession, _caller: Staff,
                  fmt: Annotated[Literal["csv", "xlsx", "json"], Query(alias="format")] = "csv",
                  ) -> Response:
    """The site-shutdown list of a campaign, as a CSV, XLSX or JSON download."""
    campaign = get_campaign(session, campaign_id)
    data = render_rows(shutdown_rows(session, campaign), fmt)
    return Response(data, media_type=MEDIA_TYPES[fmt],
                    headers=_attachment(f"campaign-{campaign.id}-shutdown-list.{fmt}"))
