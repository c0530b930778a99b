"""The console dashboard's counts, each over what the principal may see."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from swordnet.accounts.access import cases_query, count, hits_query
from swordnet.accounts.users import Principal
from swordnet.core.models import Hit, Site


def hits_by_status(session: Session, principal: Principal) -> dict[str, int]:
    """How many hits this principal may see, per status."""
    hits = hits_query(principal).subquery()
    rows = session.execute(select(hits.c.status, func.count()).group_by(hits.c.status))
    return {status: n for status, n in rows}


def hits_per_day(session: Session, principal: Principal, since: datetime) -> dict[str, int]:
    """Hits found per UTC day (``YYYY-MM-DD``) since ``since``, of those this principal may
    see; days without hits are absent."""
    hits = hits_query(principal).where(Hit.created_at >= since).subquery()
    day = func.date(hits.c.created_at)
    rows = session.execute(select(day, func.count()).group_by(day))
    return {str(value)[:10]: n for value, n in rows}


def top_sites(session: Session, principal: Principal, limit: int = 8) -> list[tuple[str, int]]:
    """The sites with most hits this principal may see, with their hit counts."""
    hits = hits_query(principal).subquery()
    rows = session.execute(
        select(Site.domain, func.count()).join(hits, hits.c.site_id == Site.id)
        .group_by(Site.id, Site.domain).order_by(func.count().desc(), Site.domain).limit(limit))
    return [(domain, n) for domain, n in rows]


def oldest_pending(session: Session, principal: Principal) -> datetime | None:
    """When the oldest pending hit this principal may see was found."""
    hits = hits_query(principal).where(Hit.status == "pending").subquery()
    return session.scalar(select(func.min(hits.c.created_at)))


def quarantined_pending(session: Session, principal: Principal) -> int:
    return count(session, hits_query(principal).where(Hit.status == "pending",
                                                      Hit.quarantined.is_(True)))


def cases_by_status(session: Session, principal: Principal) -> dict[str, int]:
    """How many cases this principal may see, per status."""
    cases = cases_query(principal).subquery()
    rows = session.execute(select(cases.c.status, func.count()).group_by(cases.c.status))
    return {status: n for status, n in rows}
