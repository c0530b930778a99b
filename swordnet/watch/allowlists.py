"""Allowlist entries (licensed domains): adding them as a principal may, and what they cover.

A rights holder manages their own holder's entries, for all their works or one of them;
staff name the holder, or a work (whose holder it then is). The API and the console both
add entries through :func:`add_entry`. An entry covers only its holder's works (or its one
work) on its domain (:func:`allowlisted_works`): crawls skip those matches there, and
shutdown lists leave out those hits, never other holders'.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from swordnet.accounts.access import get_work
from swordnet.accounts.users import Principal
from swordnet.core.errors import BadInput, Conflict, Forbidden
from swordnet.core.models import AllowlistEntry, RightsHolder, Work
from swordnet.watch.targets import check_host


class AllowlistError(BadInput):
    """An entry that cannot be added as asked (bad domain, no such holder, wrong work)."""


class AlreadyListed(Conflict):
    """The domain is already on that allowlist."""


def entry_scope(session: Session, principal: Principal, holder: str | None,
                work_id: int | None) -> tuple[int, int | None]:
    """The holder and work a new entry is for, as this principal may name them."""
    holder = holder.strip() if holder else None
    work = get_work(session, principal, work_id) if work_id is not None else None
    if not principal.is_staff:
        own = session.get(RightsHolder, principal.holder_id)
        assert own is not None
        if holder and holder != own.name:
            raise Forbidden(f"holder: you manage the allowlist of {own.name!r} only")
        return own.id, work.id if work else None
    if work is not None:
        if holder and holder != work.holder.name:
            raise AllowlistError(f"work_id: work {work.id} belongs to {work.holder.name!r}, "
                                 f"not {holder!r}")
        return work.holder_id, work.id
    if not holder:
        raise AllowlistError("holder: name the rights holder (or give a work_id)")
    found = session.scalar(select(RightsHolder).where(RightsHolder.name == holder))
    if found is None:
        raise AllowlistError(f"holder: no rights holder named {holder!r}")
    return found.id, None


def add_entry(session: Session, principal: Principal, domain: str, holder: str | None = None,
              work_id: int | None = None) -> AllowlistEntry:
    """Put ``domain`` on a holder's allowlist (or one work's)."""
    holder_id, work_id = entry_scope(session, principal, holder, work_id)
    try:
        key = check_host(domain)
    except BadInput as exc:
        raise AllowlistError(f"domain: {exc}") from None
    existing = session.scalar(select(AllowlistEntry.id).where(
        AllowlistEntry.holder_id == holder_id, AllowlistEntry.domain == key,
        AllowlistEntry.work_id.is_(None) if work_id is None
        else AllowlistEntry.work_id == work_id))
    if existing is not None:
        raise AlreadyListed(f"{key} is already on this allowlist (entry {existing})")
    entry = AllowlistEntry(holder_id=holder_id, work_id=work_id, domain=key)
    session.add(entry)
    session.flush()
    return entry


def domain_keys(site_domain: str) -> tuple[str, ...]:
    """The entry domains that cover a site: its key, and its host without the port.

    >>> domain_keys("licensed.example:8080"), domain_keys("[::1]:81"), domain_keys("a.example")
    (('licensed.example:8080', 'licensed.example'), ('[::1]:81', '[::1]'), ('a.example',))
    """
    host = site_domain.rpartition(":")[0] if site_domain.rfind(":") > site_domain.rfind("]") \
        else site_domain
    return tuple(dict.fromkeys((site_domain, host)))


def allowlisted_works(session: Session, site_domain: str,
                      work_ids: Collection[int]) -> set[int]:
    """The works among ``work_ids`` licensed on the site ``site_domain``: by an entry for
    the work itself, or for all of its holder's works."""
    if not work_ids:
        return set()
    keys = domain_keys(site_domain.lower())
    entries = select(AllowlistEntry).where(AllowlistEntry.domain.in_(keys))
    covered = select(Work.id).where(Work.id.in_(list(work_ids)), or_(
        Work.id.in_(entries.where(AllowlistEntry.work_id.is_not(None))
                    .with_only_columns(AllowlistEntry.work_id)),
        Work.holder_id.in_(entries.where(AllowlistEntry.work_id.is_(None))
                           .with_only_columns(AllowlistEntry.holder_id))))
    return set(session.scalars(covered))
