"""What a principal may see: every query the console and the API make goes through here.

Staff and admins see everything. A rights holder sees their own holder's works, the hits on
those works, the cases holding such hits (with only their own hits in them), their
allowlist and their tips. Anything else is reported as not found, the same as an id that
does not exist, so ids of other holders' data leak nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.orm import Session, selectinload

from swordnet.accounts.users import Principal
from swordnet.core.campaign_scope import case_condition, hit_condition
from swordnet.core.categories import CATEGORIES
from swordnet.core.errors import BadRequest, Forbidden, NotFound
from swordnet.core.models import (
    CASE_STATUSES,
    TIP_STATUSES,
    WORK_KINDS,
    AllowlistEntry,
    Campaign,
    Capture,
    Case,
    CaseEvent,
    Hit,
    RightsHolder,
    Site,
    Tip,
    Work,
)

Model = TypeVar("Model")


class BadQuery(BadRequest):
    """A list request with an unknown sort field or an impossible filter."""


def require_staff(principal: Principal) -> None:
    if not principal.is_staff:
        raise Forbidden("this needs a staff or admin account")


def works_query(principal: Principal) -> Select[Work]:
    query = select(Work)
    if not principal.is_staff:
        query = query.where(Work.holder_id == principal.holder_id)
    return query


def hits_query(principal: Principal) -> Select[Hit]:
    query = select(Hit)
    if not principal.is_staff:
        query = query.join(Work, Work.id == Hit.work_id).where(
            Work.holder_id == principal.holder_id)
    return query


def _own_hit_in_case(principal: Principal) -> Any:
    return exists().where(Hit.case_id == Case.id, Hit.work_id == Work.id,
                          Work.holder_id == principal.holder_id)


def cases_query(principal: Principal) -> Select[Case]:
    query = select(Case)
    if not principal.is_staff:
        query = query.where(_own_hit_in_case(principal))
    return query


def allowlist_query(principal: Principal) -> Select[AllowlistEntry]:
    query = select(AllowlistEntry)
    if not principal.is_staff:
        query = query.outerjoin(Work, Work.id == AllowlistEntry.work_id).where(
            (AllowlistEntry.holder_id == principal.holder_id)
            | (Work.holder_id == principal.holder_id))
    return query


def tips_query(principal: Principal) -> Select[Tip]:
    query = select(Tip)
    if not principal.is_staff:
        query = query.join(Work, Work.id == Tip.work_id).where(
            Work.holder_id == principal.holder_id)
    return query


def captures_query(principal: Principal) -> Select[Capture]:
    """Captures; for a rights holder, the page and media captures of their own hits and the
    screenshots of those pages taken in the same run."""
    query = select(Capture)
    if principal.is_staff:
        return query
    own = hits_query(principal).subquery()
    page = select(Capture.run_id, Capture.url).where(
        Capture.id.in_(select(own.c.page_capture_id))).subquery()
    screenshot = (Capture.kind == "screenshot") & exists().where(
        page.c.run_id == Capture.run_id, page.c.url == Capture.url)
    return query.where(Capture.id.in_(select(own.c.page_capture_id))
                       | Capture.id.in_(select(own.c.media_capture_id)) | screenshot)


def _one(session: Session, query: Select[Model], what: str, object_id: int) -> Model:
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


def get_tip(session: Session, principal: Principal, tip_id: int) -> Tip:
    return _one(session, tips_query(principal).where(Tip.id == tip_id), "tip", tip_id)


def get_allowlist_entry(session: Session, principal: Principal,
                        entry_id: int) -> AllowlistEntry:
    return _one(session, allowlist_query(principal).where(AllowlistEntry.id == entry_id),
                "allowlist entry", entry_id)


def get_capture(session: Session, principal: Principal, capture_id: int) -> Capture:
    return _one(session, captures_query(principal).where(Capture.id == capture_id), "capture",
                capture_id)


def case_hits(session: Session, principal: Principal, case: Case) -> list[Hit]:
    """The case's hits this principal may see, in the order they were confirmed."""
    query = hits_query(principal).where(Hit.case_id == case.id)
    return list(session.scalars(query.order_by(Hit.reviewed_at, Hit.id)))


def case_events(session: Session, principal: Principal, case: Case) -> list[CaseEvent]:
    """The case's custody log; a rights holder does not see events about other holders'
    hits (their work ids, URLs and scores), nor notices naming other holders' URLs, nor
    other holders' consent to publishing."""
    events = list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                  .order_by(CaseEvent.seq)))
    if principal.is_staff:
        return events
    own = set(session.scalars(select(Work.id).where(Work.holder_id == principal.holder_id)))
    hit_ids = {e.payload["hit_id"] for e in events if isinstance(e.payload.get("hit_id"), int)}
    urls = {url for e in events for url in e.payload.get("urls") or () if isinstance(url, str)}
    own_hits = set(session.scalars(
        select(Hit.id).join(Work, Work.id == Hit.work_id)
        .where(Hit.id.in_(hit_ids), Work.holder_id == principal.holder_id))) if hit_ids else set()
    own_urls = set(session.scalars(
        select(Hit.url).join(Work, Work.id == Hit.work_id)
        .where(Hit.url.in_(urls), Work.holder_id == principal.holder_id))) if urls else set()

    def visible(event: CaseEvent) -> bool:
        payload = event.payload
        if "work_id" in payload and payload["work_id"] not in own:
            return False
        if "hit_id" in payload and payload["hit_id"] not in own_hits:
            return False  # e.g. a recheck of another holder's URL under notice
        if "holder_id" in payload and payload["holder_id"] != principal.holder_id:
            return False  # another holder's consent to publishing
        return all(url in own_urls for url in payload.get("urls") or ())

    return [e for e in events if visible(e)]


def visible_tip_hits(session: Session, principal: Principal,
                     tips: Sequence[Tip]) -> set[int]:
    """Of the hits the tips' checks found, those this principal may see (a check records
    every hit at the URL, whoever's work it is)."""
    found = {hit_id for tip in tips for hit_id in (tip.result or {}).get("hits", [])}
    if not found:
        return set()
    return set(session.scalars(hits_query(principal).where(Hit.id.in_(found))
                               .with_only_columns(Hit.id)))


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
    """``field`` or ``-field`` (descending) from ``fields`` (which must hold ``id``, the
    tiebreak); BadQuery names an unknown one.

    >>> sort_clause("-score", HIT_SORTS)[0].compile().string.endswith("DESC")
    True
    """
    name = sort.removeprefix("-")
    if name not in fields:
        raise BadQuery(f"unknown sort field {name!r}; sort by one of {', '.join(fields)}")
    column, key = fields[name], fields["id"]
    primary = column.desc() if sort.startswith("-") else column.asc()
    tiebreak = key.desc() if sort.startswith("-") else key.asc()
    return [primary, tiebreak] if name != "id" else [primary]


def with_hit_details(query: Select[Hit]) -> Select[Hit]:
    """``query`` loading what a hit list shows (work and holder, site, both captures) in a
    few statements for the whole page, instead of several per hit."""
    return query.options(selectinload(Hit.work).selectinload(Work.holder),
                         selectinload(Hit.site), selectinload(Hit.media_capture),
                         selectinload(Hit.page_capture))


def filtered_hits(principal: Principal, filters: HitFilters) -> Select[Hit]:
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
    if filters.campaign_id is not None:  # what the campaign's report counts
        conditions.append(hit_condition(filters.campaign_id))
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


def case_hit_counts(session: Session, principal: Principal,
                    case_ids: list[int]) -> dict[int, int]:
    """Confirmed hits per case, counting only hits this principal may see."""
    hits = hits_query(principal).where(Hit.case_id.in_(case_ids)).subquery()
    rows = session.execute(select(hits.c.case_id, func.count()).group_by(hits.c.case_id))
    return {case_id: n for case_id, n in rows}


def hit_sites(session: Session, principal: Principal) -> list[str]:
    """Domains of the sites holding hits this principal may see (for filters)."""
    hits = hits_query(principal).subquery()
    return list(session.scalars(select(Site.domain).where(Site.id.in_(select(hits.c.site_id)))
                                .order_by(Site.domain)))


# --- other lists: the same rules ----------------------------------------------------------------

WORK_SORTS: dict[str, Any] = {
    "id": Work.id,
    "title": Work.title,
    "kind": Work.kind,
    "category": Work.category,
    "created_at": Work.created_at,
    "holder": Work.holder_id,
}
CASE_SORTS: dict[str, Any] = {
    "id": Case.id,
    "status": Case.status,
    "opened_at": Case.opened_at,
    "closed_at": Case.closed_at,
    "site": Case.site_id,
    "campaign": Case.campaign_id,
}
TIP_SORTS: dict[str, Any] = {
    "id": Tip.id,
    "created_at": Tip.created_at,
    "checked_at": Tip.checked_at,
    "status": Tip.status,
    "work": Tip.work_id,
}
ALLOWLIST_SORTS: dict[str, Any] = {
    "id": AllowlistEntry.id,
    "domain": AllowlistEntry.domain,
    "created_at": AllowlistEntry.created_at,
    "work": AllowlistEntry.work_id,
}
CAMPAIGN_SORTS: dict[str, Any] = {
    "id": Campaign.id,
    "name": Campaign.name,
    "starts_at": Campaign.starts_at,
    "ends_at": Campaign.ends_at,
    "created_at": Campaign.created_at,
}


def _one_of(what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadQuery(f"unknown {what} {value!r}; use one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class WorkFilters:
    kind: str | None = None
    category: str | None = None
    title: str | None = None  # a substring of the title, any case
    holder: str | None = None  # the rights holder's name, exactly


def filtered_works(principal: Principal, filters: WorkFilters) -> Select[Work]:
    """Works this principal may see that pass every given filter (``title`` is matched as
    a literal substring: ``%`` and ``_`` in it are not wildcards).

    >>> q = filtered_works(Principal(1, "x", "staff", None), WorkFilters(title="50%_off"))
    >>> "LIKE" in str(q) and "ESCAPE" in str(q)
    True
    """
    query = works_query(principal)
    if filters.kind is not None:
        query = query.where(Work.kind == _one_of("kind", filters.kind, WORK_KINDS))
    if filters.category is not None:
        query = query.where(Work.category == _one_of("category", filters.category, CATEGORIES))
    if filters.title is not None:
        query = query.where(Work.title.icontains(filters.title, autoescape=True))
    if filters.holder is not None:
        query = query.where(Work.holder_id.in_(
            select(RightsHolder.id).where(RightsHolder.name == filters.holder)))
    return query


@dataclass(frozen=True)
class CaseFilters:
    status: str | None = None
    site: str | None = None  # the site's domain, exactly
    campaign_id: int | None = None


def filtered_cases(principal: Principal, filters: CaseFilters) -> Select[Case]:
    """Cases this principal may see that pass every given filter."""
    query = cases_query(principal)
    if filters.status is not None:
        query = query.where(Case.status == _one_of("case status", filters.status,
                                                   CASE_STATUSES))
    if filters.site is not None:
        query = query.where(Case.site_id.in_(select(Site.id).where(Site.domain == filters.site)))
    if filters.campaign_id is not None:  # what the campaign's report counts
        query = query.where(case_condition(filters.campaign_id))
    return query


def filtered_tips(principal: Principal, status: str | None) -> Select[Tip]:
    query = tips_query(principal)
    if status is not None:
        query = query.where(Tip.status == _one_of("tip status", status, TIP_STATUSES))
    return query


