"""``/hits``: list and filter hits, look at one, confirm, reject or undo (one or in bulk).

Rights holders see hits on their own works; deciding hits is staff work. The found copy is
served only as a PNG re-encoded from the capture (never the crawled bytes), and a page only
as its main text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast, get_args

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from casefiles.captures import RecordUnreadable, capture_record
from casefiles.review import confirm_hit, reject_hit, undo_decision
from matching.registry import describe_match
from swordnet.accounts.access import (
    HIT_SORTS,
    HitFilters,
    filtered_hits,
    get_hit,
    require_staff,
    sort_clause,
    with_hit_details,
)
from swordnet.accounts.users import Principal
from swordnet.core.db import lock_for_writing
from swordnet.core.errors import NotFound, SwordnetError
from swordnet.core.models import HIT_STATUSES, Capture, Hit
from swordnet.evidence.store import EvidenceStore
from swordnet.web.deps import Caller, DbSession, Store
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.pagination import Page, PageParams, page_params, paginate
from swordnet.web.params import BodyId, PathId, QueryId, sort_param
from swordnet.works.previews import NoPreview, readable_text, thumbnail_png

router = APIRouter(prefix="/hits", tags=["hits"], responses=ERROR_RESPONSES)
HitStatus = Literal["pending", "confirmed", "rejected", "auto_confirmed"]
assert set(get_args(HitStatus)) == set(HIT_STATUSES)


class HitOut(BaseModel):
    id: int
    work_id: int
    work_title: str
    work_kind: str
    site: str
    url: str
    page_url: str | None
    page_title: str | None
    algorithm: str
    variant: str
    stage: int
    score: float
    match: str = Field(description="How it matched, for people: method, score and where.")
    detail: dict[str, Any]
    quarantined: bool
    status: HitStatus
    reviewer: str | None
    reviewed_at: datetime | None
    created_at: datetime
    captured_at: datetime | None
    case_id: int | None
    run_id: int | None
    known_case_id: int | None = Field(
        description="Staydown: the case this copy is already confirmed in (a known copy).")
    known_by: Literal["sha256", "score"] | None = Field(
        description="How it is known: the same file, or the same work at a score as close.")


def hit_out(hit: Hit) -> HitOut:
    page = hit.page_capture
    return HitOut(
        id=hit.id, work_id=hit.work_id, work_title=hit.work.title, work_kind=hit.work.kind,
        site=hit.site.domain, url=hit.url, page_url=hit.page_url,
        page_title=page.title if page else None, algorithm=hit.algorithm, variant=hit.variant,
        stage=hit.stage, score=hit.score,
        match=describe_match(hit.algorithm, hit.variant, hit.score, hit.detail),
        detail=hit.detail, quarantined=hit.quarantined,
        status=cast(HitStatus, hit.status),  # the column holds HIT_STATUSES: asserted above
        reviewer=hit.reviewer, reviewed_at=hit.reviewed_at, created_at=hit.created_at,
        captured_at=hit.captured_at,
        case_id=hit.case_id, run_id=hit.run_id, known_case_id=hit.known_case_id,
        known_by=cast(Literal["sha256", "score"] | None, hit.known_by))


def hit_filters(
    status: HitStatus | None = None,
    site: Annotated[str | None, Query(max_length=255, description="Site domain.")] = None,
    work_id: QueryId = None,
    campaign_id: QueryId = None,
    algorithm: Annotated[str | None, Query(max_length=40)] = None,
    min_score: float | None = None,
    max_score: float | None = None,
    case_id: QueryId = None,
) -> HitFilters:
    return HitFilters(status=status, site=site, work_id=work_id, campaign_id=campaign_id,
                      algorithm=algorithm, min_score=min_score, max_score=max_score,
                      case_id=case_id)


@router.get("", response_model=Page[HitOut])
def list_hits(session: DbSession, caller: Caller,
              filters: Annotated[HitFilters, Depends(hit_filters)],
              page: Annotated[PageParams, Depends(page_params)],
              sort: Annotated[str, sort_param(HIT_SORTS)] = "-id",
              ) -> Page[HitOut]:
    """Hits you may see, filtered and sorted, one page at a time."""
    query = with_hit_details(filtered_hits(caller, filters)).order_by(
        *sort_clause(sort, HIT_SORTS))
    return paginate(session, query, page, hit_out)


@router.get("/{hit_id}", response_model=HitOut)
def show_hit(hit_id: PathId, session: DbSession, caller: Caller) -> HitOut:
    """One hit you may see, with how it matched."""
    return hit_out(get_hit(session, caller, hit_id))


def _payload(session: Session, store: EvidenceStore, capture: Capture | None,
             hit_id: int) -> bytes:
    if capture is None:
        raise NotFound(f"hit {hit_id} has no stored capture")
    try:
        return capture_record(session, store, capture, check_file=False).payload
    except RecordUnreadable as exc:
        raise NotFound(f"hit {hit_id}: {exc}") from None


@router.get("/{hit_id}/copy.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def copy_thumbnail(hit_id: PathId, session: DbSession, store: Store, caller: Caller) -> Response:
    """The found copy as a PNG thumbnail re-encoded from the evidence capture."""
    hit = get_hit(session, caller, hit_id)
    payload = _payload(session, store, hit.media_capture, hit_id)
    try:
        png = thumbnail_png(payload)
    except NoPreview as exc:
        raise NotFound(f"hit {hit_id}: the copy has no image preview ({exc})") from None
    return Response(png, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


class PageText(BaseModel):
    hit_id: int
    url: str | None
    title: str | None
    text: str


@router.get("/{hit_id}/page-text", response_model=PageText)
def page_text(hit_id: PathId, session: DbSession, store: Store, caller: Caller) -> PageText:
    """The main text of the page the copy was found on (as text; never rendered as HTML)."""
    hit = get_hit(session, caller, hit_id)
    page = hit.page_capture
    try:
        text = readable_text(_payload(session, store, page, hit_id))
    except NoPreview as exc:
        raise NotFound(f"hit {hit_id}: the page has no readable text ({exc})") from None
    return PageText(hit_id=hit.id, url=page.url if page else None,
                    title=page.title if page else None, text=text)


# --- decisions -------------------------------------------------------------------------------

class Decision(BaseModel):
    accept_quarantined: bool = Field(
        False, description="Confirm even though the hit's work is quarantined.")


def _decide(session: Session, caller: Principal, hit_id: int, action: str,
            accept_quarantined: bool = False) -> Hit:
    require_staff(caller)
    hit = get_hit(session, caller, hit_id)
    if action == "confirm":
        confirm_hit(session, hit.id, caller.username, accept_quarantined=accept_quarantined)
    elif action == "reject":
        reject_hit(session, hit.id, caller.username)
    else:
        undo_decision(session, hit.id, caller.username)
    session.flush()
    return hit


@router.post("/{hit_id}/confirm", response_model=HitOut)
def confirm(hit_id: PathId, session: DbSession, caller: Caller,
            body: Decision | None = None) -> HitOut:
    """Confirm a pending hit: it joins (or opens) its site's case. Staff only."""
    accept = body.accept_quarantined if body else False
    return hit_out(_decide(session, caller, hit_id, "confirm", accept))


@router.post("/{hit_id}/reject", response_model=HitOut)
def reject(hit_id: PathId, session: DbSession, caller: Caller) -> HitOut:
    """Reject a pending hit as a false match. Staff only."""
    return hit_out(_decide(session, caller, hit_id, "reject"))


@router.post("/{hit_id}/undo", response_model=HitOut)
def undo(hit_id: PathId, session: DbSession, caller: Caller) -> HitOut:
    """Put a confirmed or rejected hit back to pending. Staff only."""
    return hit_out(_decide(session, caller, hit_id, "undo"))


class BulkDecision(BaseModel):
    action: Literal["confirm", "reject"]
    ids: list[BodyId] = Field(min_length=1, max_length=500)


class BulkResult(BaseModel):
    decided: list[int]
    errors: dict[int, str] = Field(description="Hit id -> why it was not decided.")


@router.post("/bulk", response_model=BulkResult)
def bulk(body: BulkDecision, session: DbSession, caller: Caller) -> BulkResult:
    """Confirm or reject several hits; each is decided on its own, and those that cannot be
    (not pending, quarantined, not found) are listed with the reason. Staff only."""
    require_staff(caller)
    lock_for_writing(session)  # before the first savepoint (see lock_for_writing)
    decided: list[int] = []
    errors: dict[int, str] = {}
    for hit_id in dict.fromkeys(body.ids):
        try:
            with session.begin_nested():
                _decide(session, caller, hit_id, body.action)
            decided.append(hit_id)
        except SwordnetError as exc:
            errors[hit_id] = str(exc)
    return BulkResult(decided=decided, errors=errors)
