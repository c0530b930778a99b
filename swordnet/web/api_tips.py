"""``/tips``: complaints and public tips, single URLs the scheduler checks within minutes.

A rights holder's tip names one of their own works (so they see it, and its result,
afterwards); staff may name any work or none. Each principal may queue
:data:`~swordnet.web.throttle.TIPS_PER_HOUR` tips an hour (429 with ``Retry-After`` past it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from swordnet.accounts.access import (
    TIP_SORTS,
    filtered_tips,
    get_tip,
    sort_clause,
    visible_tip_hits,
)
from swordnet.accounts.users import Principal
from swordnet.core.errors import TooMany
from swordnet.core.models import TIP_STATUSES, Tip
from swordnet.watch.tips import submit_tip
from swordnet.web.deps import Caller, DbSession
from swordnet.web.errors import ERROR_RESPONSES, ErrorOut
from swordnet.web.pagination import Page, PageParams, page_params, paginate_rows
from swordnet.web.params import BodyId, PathId, choice_param, sort_param
from swordnet.web.throttle import TIPS_PER_HOUR, SlidingWindowLimit

router = APIRouter(prefix="/tips", tags=["tips"], responses=ERROR_RESPONSES)


class TooManyTips(TooMany):
    """The principal queued their hourly share of tips; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: int, limit: SlidingWindowLimit) -> None:
        super().__init__(f"too many tips: at most {limit.max_events} in "
                         f"{limit.window_s / 60:.0f} min; try again in {retry_after} s",
                         retry_after)


def submit_within_limit(request: Request, session: DbSession, principal: Principal, url: str,
                        work_id: int | None, reporter: str | None) -> Tip:
    """:func:`~swordnet.watch.tips.submit_tip`, if the principal has tips left this hour (the app's
    ``tip_limit``); raises TooManyTips otherwise. Only queued tips count."""
    limit: SlidingWindowLimit = request.app.state.tip_limit
    key = [f"tips:{principal.user_id}"]
    wait = limit.retry_after(key)
    if wait:
        raise TooManyTips(wait, limit)
    tip = submit_tip(session, principal, url, work_id, reporter)
    limit.record(key)
    return tip


class TipOut(BaseModel):
    id: int
    url: str
    work_id: int | None
    reporter: str | None
    status: str = Field(description="queued, checking, checked, failed or dismissed.")
    created_at: datetime
    checked_at: datetime | None
    run_id: int | None
    hits: list[int] | None = Field(description="Hits the check found at the URL.")
    named_work_found: bool | None
    error: str | None


def tip_out(tip: Tip, visible_hits: set[int]) -> TipOut:
    """The tip, with only the found hits in ``visible_hits`` (the caller's)."""
    result: dict[str, Any] = tip.result or {}
    hits = result.get("hits")
    return TipOut(id=tip.id, url=tip.url, work_id=tip.work_id, reporter=tip.reporter,
                  status=tip.status, created_at=tip.created_at, checked_at=tip.checked_at,
                  run_id=tip.run_id,
                  hits=None if hits is None else [h for h in hits if h in visible_hits],
                  named_work_found=result.get("named_work_found"), error=result.get("error"))


@router.get("", response_model=Page[TipOut])
def list_tips(session: DbSession, caller: Caller,
              page: Annotated[PageParams, Depends(page_params)],
              status: Annotated[str | None, choice_param(TIP_STATUSES, "A tip status.")] = None,
              sort: Annotated[str, sort_param(TIP_SORTS)] = "-id",
              ) -> Page[TipOut]:
    """Tips you may see, newest first by default, with what their check found."""
    query = filtered_tips(caller, status).order_by(*sort_clause(sort, TIP_SORTS))

    def items(tips: Sequence[Tip]) -> list[TipOut]:
        visible = visible_tip_hits(session, caller, tips)
        return [tip_out(tip, visible) for tip in tips]

    return paginate_rows(session, query, page, items)


class TipIn(BaseModel):
    url: str = Field(min_length=1, max_length=4000, description="An http(s) URL to check.",
                     json_schema_extra={"format": "uri"})
    work_id: BodyId | None = Field(None, description="The work the reporter says is infringed "
                                   "(required for rights holders: one of theirs).")
    reporter: str | None = Field(None, max_length=200, description="Who reported it "
                                 "(default: you).")


@router.post("", response_model=TipOut, status_code=201, responses={
    429: {"model": ErrorOut, "description": f"More than {TIPS_PER_HOUR} tips in an hour; "
          "the Retry-After header says when to try again."}})
def create_tip(body: TipIn, request: Request, session: DbSession, caller: Caller) -> TipOut:
    """Queue a URL for a check by the scheduler (URLs whose host is not a valid name or
    address, with a user name or password, or port 0 are refused)."""
    tip = submit_within_limit(request, session, caller, body.url, body.work_id, body.reporter)
    return tip_out(tip, set())


@router.get("/{tip_id}", response_model=TipOut)
def show_tip(tip_id: PathId, session: DbSession, caller: Caller) -> TipOut:
    """One tip you may see, and what its check found."""
    tip = get_tip(session, caller, tip_id)
    return tip_out(tip, visible_tip_hits(session, caller, [tip]))
