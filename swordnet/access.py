"""What a principal may see: every query the console and the API make goes through here.

Staff and admins see everything. A rights holder sees their own holder's works, the hits on
those works, the cases holding such hits (with only their own hits in them), their
allowlist and their tips. Anything else is reported as not found, the same as an id that
does not exist, so ids of other holders' data leak nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.orm import Session

from swordnet.accounts import Principal
from swordnet.models import (
    AllowlistEntry,
    Case,
    CaseEvent,
    CrawlRun,
    Hit,
    Site,
    Tip,
    Work,
)


class NotFound(LookupError):
    """No such object, or not one this principal may see."""


class Forbidden(PermissionError):
    """The principal's role may not do this at all."""


class BadQuery(ValueError):
    """A list request with an unknown sort field or an impossible filter."""


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise Forbidden("this needs a staff or admin account")


def require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden("this needs an admin account")


def works_query(principal: Principal) -> Select[tuple[Work]]:
    query = select(Work)
    if not principal.is_staff:
        query = query.where(Work.holder_id == principal.holder_id)
    return query


def hits_query(principal: Principal) -> Select[tuple[Hit]]:
    query = select(Hit)
    if not principal.is_staff:
        query = query.join(Work, Work.id == Hit.work_id).where(
            Work.holder_id == principal.holder_id)
    return query


def _own_hit_in_case(principal: Principal) -> Any:
    return exists().where(Hit.case_id == Case.id, Hit.work_id == Work.id,
                          Work.holder_id == principal.holder_id)


def cases_query(principal: Principal) -> Select[tuple[Case]]:
    query = select(Case)
    if not principal.is_staff:
        query = query.where(_own_hit_in_case(principal))
    return query


def allowlist_query(principal: Principal) -> Select[tuple[AllowlistEntry]]:
    query = select(AllowlistEntry)
    if not principal.is_staff:
        query = query.outerjoin(Work, Work.id == AllowlistEntry.work_id).where(
            (AllowlistEntry.holder_id == principal.holder_id)
            | (Work.holder_id == principal.holder_id))
    return query


def tips_query(principal: Principal) -> Select[tuple[Tip]]:
    query = select(Tip)
    if not principal.is_staff:
        query = query.join(Work, Work.id == Tip.work_id).where(
            Work.holder_id == principal.holder_id)
    return query


def _one(session: Session, query: Select[Any], what: str, object_id: int) -> Any:
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"no {what} with id {object_id}")
    return found


def get_work(session: Session, principal: Principal, work_id: int) -> Work:
    return _one(session, works_query(principal).where(Work.id == work_id), "work", work_id)


def get_hit(session: Session, principal: Principal, hit_id: int) -> Hit:
    return _one(session, hits_query(principal).where(Hit.id == hit_id), "hit", hit_id)


def get_case(session: Session, principal: Principal, case_id: int) -> Case:
    return _one(session, cases_query(principal).where(Case.id == case_id), "case", case_id)


def case_hits(session: Session, principal: Principal, case: Case) -> list[Hit]:
    """The case's hits this principal may see, in the order they were confirmed."""
    query = hits_query(principal).where(Hit.case_id == case.id)
    return list(session.scalars(query.order_by(Hit.reviewed_at, Hit.id)))


def case_events(session: Session, principal: Principal, case: Case) -> list[CaseEvent]:
    """The case's custody log; a rights holder does not see events about other holders'
    hits (their work ids, URLs and scores)."""
    events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                  .order_by(CaseEvent.seq)))
    if principal.is_staff:
        return events
    own = set(session.scalars(select(Work.id).where(Work.holder_id == principal.holder_id)))
    return [e for e in events if "work_id" not in e.payload or e.payload["work_id"] in own]


# --- hit lists: filters and sort fields come from allowlists ---------------------------------

HIT_SORTS: dict[str, Any] = {
    "id": Hit.id,
    "created_at": Hit.created_at,
    "score": Hit.score,
    "status": Hit.status,
    "work": Hit.work_id,
    "site": Hit.site_id,
    "reviewed_at": Hit.reviewed_at,
}


@dataclass(frozen=True)
class HitFilters:
    status: str | None = None
    site: str | None = None  # the site's domain, exactly
    work_id: int | None = None
    campaign_id: int | None = None
    algorithm: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    case_id: int | None = None


def sort_clause(sort: str, fields: dict[str, Any]) -> list[Any]:
    """``field`` or ``-field`` (descending) from ``fields``; BadQuery names an unknown one.

    >>> sort_clause("-score", HIT_SORTS)[0].compile().string.endswith("DESC")
    True
    """
    name = sort.removeprefix("-")
    if name not in fields:
        raise BadQuery(f"unknown sort field {name!r}; sort by one of {', '.join(fields)}")
    column = fields[name]
    primary = column.desc() if sort.startswith("-") else column.asc()
    tiebreak = Hit.id.desc() if sort.startswith("-") else Hit.id.asc()
    return [primary, tiebreak] if name != "id" else [primary]


def filtered_hits(principal: Principal, filters: HitFilters) -> Select[tuple[Hit]]:
    """Hits this principal may see that pass every given filter (values are bound
    parameters, never formatted into SQL)."""
    query = hits_query(principal)
    conditions = []
    if filters.status is not None:
        conditions.append(Hit.status == filters.status)
    if filters.site is not None:
        conditions.append(Hit.site_id.in_(select(Site.id).where(Site.domain == filters.site)))
    if filters.work_id is not None:
        conditions.append(Hit.work_id == filters.work_id)
    if filters.campaign_id is not None:
        conditions.append(Hit.run_id.in_(
            select(CrawlRun.id).where(CrawlRun.campaign_id == filters.campaign_id)))
    if filters.algorithm is not None:
        conditions.append(Hit.algorithm == filters.algorithm)
    if filters.min_score is not None:
        conditions.append(Hit.score >= filters.min_score)
    if filters.max_score is not None:
        conditions.append(Hit.score <= filters.max_score)
    if filters.case_id is not None:
        conditions.append(Hit.case_id == filters.case_id)
    return query.where(and_(*conditions)) if conditions else query


def count(session: Session, query: Select[Any]) -> int:
    """How many rows ``query`` returns."""
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
