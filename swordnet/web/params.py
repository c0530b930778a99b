"""Shared request parameters: ids within the database's integer range, documented sort
fields and filter choices, and no NUL characters or lone surrogates in query strings.

Ids are 32-bit integers on PostgreSQL; a bigger number in a path or filter is refused as a
bad request instead of reaching the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Path, Query, Request
from pydantic import Field

from swordnet.accounts.access import BadQuery
from swordnet.core.models import MAX_ID
from swordnet.core.text import text_problem

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="The object's id.")]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]


def sort_param(fields: Iterable[str]) -> Any:
    """A ``sort`` query parameter, documented as one of ``fields`` or ``-field``
    (descending). It is not validated here: an unknown field reaches
    :func:`swordnet.accounts.access.sort_clause`, whose 400 names it."""
    names = list(fields)
    return Query(max_length=40, description=f"One of {', '.join(names)}; prefix with - for "
                 "descending.", json_schema_extra={"enum": [
                     value for name in names for value in (name, f"-{name}")]})


def choice_param(values: Iterable[str], description: str) -> Any:
    """A filter documented as one of ``values``; others get a 400 naming them."""
    return Query(max_length=40, description=description,
                 json_schema_extra={"enum": list(values)})


async def refuse_unusable_query(request: Request) -> None:
    """Refuse a NUL character or a lone surrogate in a query parameter's name or value
    (PostgreSQL cannot compare text with a NUL); a router-wide dependency."""
    for name, value in request.query_params.multi_items():
        if problem := text_problem(name) or text_problem(value):
            raise BadQuery(f"query parameter {name.replace(chr(0), '')!r} {problem}")
