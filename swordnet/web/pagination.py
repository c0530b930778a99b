"""Paginated list responses: every list endpoint takes ``limit``/``offset`` and says ``total``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

from swordnet.accounts.access import count

T = TypeVar("T")
MAX_LIMIT = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


def paginate_rows(session: Session, query: Select[Any], params: PageParams,
                  to_items: Callable[[Sequence[Any]], list[T]]) -> Page[T]:
    """One page of ``query`` (already ordered) and the total it pages through; ``to_items``
    turns the page's rows into items all at once (to look up what they need in bulk)."""
    rows = session.scalars(query.limit(params.limit).offset(params.offset)).all()
    return Page[T](items=to_items(rows), total=count(session, query),
                   limit=params.limit, offset=params.offset)


def paginate(session: Session, query: Select[Any], params: PageParams,
             to_item: Callable[[Any], T]) -> Page[T]:
    """One page of ``query`` (already ordered), each row turned into an item."""
    return paginate_rows(session, query, params, lambda rows: [to_item(row) for row in rows])
