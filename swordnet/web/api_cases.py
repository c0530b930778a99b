"""``/cases``: list and filter cases, show one with its hits and custody log, move it along
its lifecycle, and download its signed evidence bundle.

Rights holders see the cases holding hits on their works, with only their own hits and the
custody events about them; changing a case and exporting its bundle are staff work.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask

from casefiles.bundle import export_bundle
from casefiles.custody import case_log_problem
from casefiles.lifecycle import manual_next, transition
from swordnet.accounts.access import (
    CASE_SORTS,
    CaseFilters,
    case_events,
    case_hit_counts,
    case_hits,
    filtered_cases,
    get_case,
    require_staff,
    sort_clause,
)
from swordnet.accounts.users import Principal
from swordnet.core.errors import BadInput
from swordnet.core.models import CASE_STATUSES, Case
from swordnet.core.signing import load_or_create_key
from swordnet.web.api_hits import HitOut, hit_out
from swordnet.web.deps import Caller, DbSession, Store
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.pagination import Page, PageParams, page_params, paginate_rows
from swordnet.web.params import PathId, QueryId, choice_param, sort_param

router = APIRouter(prefix="/cases", tags=["cases"], responses=ERROR_RESPONSES)


class CaseOut(BaseModel):
    id: int
    site: str
    status: str
    campaign_id: int | None
    opened_at: datetime
    closed_at: datetime | None
    hits: int = Field(description="Hits in the case that you may see.")
    next: list[str] = Field(description="Statuses staff may move the case to (it becomes "
                            "notice_sent when a notice is sent: POST /cases/{id}/notices).")


class EventOut(BaseModel):
    seq: int
    type: str
    at: datetime
    actor: str
    payload: dict[str, Any]
    hash: str
    prev_hash: str


class CaseDetail(CaseOut):
    custody_log: str = Field(description="'intact', or where the hash chain is broken or "
                             "how it misses its signed head (newest events deleted).")
    hit_list: list[HitOut]
    events: list[EventOut] = Field(description="The custody log, oldest first (for rights "
                                   "holders, only events about their own hits).")


def case_out(case: Case, hits: int) -> CaseOut:
    """The case, with ``hits``: how many of its hits the caller may see."""
    return CaseOut(id=case.id, site=case.site.domain, status=case.status,
                   campaign_id=case.campaign_id, opened_at=case.opened_at,
                   closed_at=case.closed_at, hits=hits, next=list(manual_next(case.status)))


def case_detail(session: Session, caller: Principal, case: Case) -> CaseDetail:
    problem = case_log_problem(session, case)
    hits = case_hits(session, caller, case)
    return CaseDetail(
        **case_out(case, len(hits)).model_dump(),
        custody_log="intact" if problem is None else problem,
        hit_list=[hit_out(hit) for hit in hits],
        events=[EventOut(seq=e.seq, type=e.type, at=e.at, actor=e.actor, payload=e.payload,
                         hash=e.hash, prev_hash=e.prev_hash)
                for e in case_events(session, caller, case)])


def case_filters(
    status: Annotated[str | None, choice_param(CASE_STATUSES, "A case status.")] = None,
    site: Annotated[str | None, Query(max_length=255, description="Site domain.")] = None,
    campaign_id: QueryId = None,
) -> CaseFilters:
    return CaseFilters(status=status, site=site, campaign_id=campaign_id)


@router.get("", response_model=Page[CaseOut])
def list_cases(session: DbSession, caller: Caller,
               filters: Annotated[CaseFilters, Depends(case_filters)],
               page: Annotated[PageParams, Depends(page_params)],
               sort: Annotated[str, sort_param(CASE_SORTS)] = "-id",
               ) -> Page[CaseOut]:
    """Cases you may see, filtered and sorted, one page at a time."""
    query = filtered_cases(caller, filters).order_by(*sort_clause(sort, CASE_SORTS))

    def items(cases: Sequence[Case]) -> list[CaseOut]:
        counts = case_hit_counts(session, caller, [case.id for case in cases])
        return [case_out(case, counts.get(case.id, 0)) for case in cases]

    return paginate_rows(session, query, page, items)


@router.get("/{case_id}", response_model=CaseDetail)
def show_case(case_id: PathId, session: DbSession, caller: Caller) -> CaseDetail:
    """One case with its hits and custody log."""
    return case_detail(session, caller, get_case(session, caller, case_id))


class TransitionIn(BaseModel):
    to: str = Field(max_length=30, description="The next status (see the case's `next`).")
    reason: str = Field(max_length=2000, description="Why; goes into the custody log.")
    evidence: list[Annotated[str, Field(max_length=500)]] = Field(
        [], max_length=100,
        description="References the decision rests on, e.g. capture:12 or a file hash.")


@router.post("/{case_id}/transition", response_model=CaseDetail)
def transition_case(case_id: PathId, body: TransitionIn, session: DbSession,
                    caller: Caller) -> CaseDetail:
    """Move a case to its next status (a custody-log event). Staff only."""
    require_staff(caller)
    case = get_case(session, caller, case_id)
    try:
        transition(session, case, body.to, caller.username, body.reason,
                   {"references": body.evidence})
    except BadInput as exc:
        raise BadInput(f"reason: {exc}") from None
    session.flush()
    return case_detail(session, caller, case)


@router.post("/{case_id}/bundle", response_class=FileResponse,
             responses={200: {"content": {"application/zip": {}},
                              "description": "The signed evidence bundle (a zip)."}})
def export_case_bundle(case_id: PathId, request: Request, session: DbSession, store: Store,
                       caller: Caller) -> FileResponse:
    """Export the case's signed evidence bundle and download it. The export is recorded in
    the custody log (hence POST). Staff only."""
    require_staff(caller)
    case = get_case(session, caller, case_id)
    settings = request.app.state.settings
    directory = Path(tempfile.mkdtemp(prefix="swordnet-bundle-"))
    try:
        output = directory / f"case-{case.id}-evidence.zip"
        export_bundle(session, store, case, output, load_or_create_key(settings.home),
                      settings.templates_dir, caller.username)
        session.commit()  # the export is on record before the bundle leaves
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return FileResponse(output, media_type="application/zip", filename=output.name,
                        content_disposition_type="attachment",
                        background=BackgroundTask(shutil.rmtree, directory, True))
