"""Adding and removing allowlist entries (licensed domains) as a principal may.

A rights holder manages their own holder's entries, for all their works or one of them;
staff name the holder, or a work (whose holder it then is). The API and the console both
add entries through :func:`add_entry`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.accounts.access import get_work
from swordnet.accounts.users import Principal
from swordnet.core.errors import BadInput, Conflict, Forbidden
from swordnet.core.models import AllowlistEntry, RightsHolder
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
