"""``/allowlist``: licensed domains, for a rights holder's works or one work: crawls skip those
works there and shutdown lists leave out their hits (not other holders'). Rights holders
manage their own entries; staff name the holder or the work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.accounts.access import (
    ALLOWLIST_SORTS,
    allowlist_query,
    get_allowlist_entry,
    sort_clause,
)
from swordnet.core.models import AllowlistEntry, RightsHolder
from swordnet.watch import allowlists
from swordnet.web.deps import Caller, DbSession
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.pagination import Page, PageParams, page_params, paginate
from swordnet.web.params import BodyId, PathId, QueryId, sort_param

router = APIRouter(prefix="/allowlist", tags=["allowlist"], responses=ERROR_RESPONSES)


class AllowlistOut(BaseModel):
    id: int
    domain: str
    holder: str | None
    work_id: int | None
    created_at: datetime


class AllowlistIn(BaseModel):
    domain: str = Field(min_length=1, max_length=255, description="A host, or host:port.",
                        json_schema_extra={"format": "hostname"})
    holder: str | None = Field(None, max_length=200, description="The rights holder who "
                               "licensed it (staff, when no work is given).")
    work_id: BodyId | None = Field(None, description="Only for this work (default: all of the "
                                "holder's works).")


def _holder_names(session: Session, entries: list[AllowlistEntry]) -> dict[int, str]:
    ids = {e.holder_id for e in entries if e.holder_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(RightsHolder.id, RightsHolder.name)
                                .where(RightsHolder.id.in_(ids))).all())


def entry_out(session: Session, entry: AllowlistEntry) -> AllowlistOut:
    names = _holder_names(session, [entry])
    return AllowlistOut(id=entry.id, domain=entry.domain,
                        holder=names.get(entry.holder_id) if entry.holder_id else None,
                        work_id=entry.work_id, created_at=entry.created_at)


@router.get("", response_model=Page[AllowlistOut])
def list_allowlist(session: DbSession, caller: Caller,
                   page: Annotated[PageParams, Depends(page_params)],
                   domain: Annotated[str | None, Query(max_length=255)] = None,
                   work_id: QueryId = None,
                   sort: Annotated[str, sort_param(ALLOWLIST_SORTS)] = "id",
                   ) -> Page[AllowlistOut]:
    """Allowlisted domains you may see."""
    query = allowlist_query(caller)
    if domain is not None:
        query = query.where(AllowlistEntry.domain == domain.strip().lower())
    if work_id is not None:
        query = query.where(AllowlistEntry.work_id == work_id)
    query = query.order_by(*sort_clause(sort, ALLOWLIST_SORTS))
    return paginate(session, query, page, lambda entry: entry_out(session, entry))


@router.post("", response_model=AllowlistOut, status_code=201)
def add_entry(body: AllowlistIn, session: DbSession, caller: Caller) -> AllowlistOut:
    """Put a domain on a holder's allowlist (or one work's)."""
    entry = allowlists.add_entry(session, caller, body.domain, body.holder, body.work_id)
    return entry_out(session, entry)


@router.get("/{entry_id}", response_model=AllowlistOut)
def show_entry(entry_id: PathId, session: DbSession, caller: Caller) -> AllowlistOut:
    """One allowlist entry you may see."""
    return entry_out(session, get_allowlist_entry(session, caller, entry_id))


@router.delete("/{entry_id}", status_code=204, response_class=Response)
def delete_entry(entry_id: PathId, session: DbSession, caller: Caller) -> Response:
    """Take a domain off the allowlist."""
    session.delete(get_allowlist_entry(session, caller, entry_id))
    return Response(status_code=204)
