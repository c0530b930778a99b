"""Registration policy: which rights holder a principal registers a work for."""

from __future__ import annotations

from sqlalchemy.orm import Session

from swordnet.accounts.users import Principal
from swordnet.core.errors import Forbidden
from swordnet.core.models import RightsHolder
from swordnet.works.registry import RegistrationError


def registering_holder(session: Session, principal: Principal, named: str | None) -> str:
    """Whose a newly registered work is: a rights holder's own holder (naming another is
    refused), or the holder staff name (they must name one)."""
    named = named.strip() if named else None
    if principal.is_staff:
        if not named:
            raise RegistrationError("holder: staff must name the rights holder the work "
                                    "belongs to")
        return named
    own = session.get(RightsHolder, principal.holder_id)
    assert own is not None
    if named and named != own.name:
        raise Forbidden(f"holder: you register works for {own.name!r} only")
    return own.name
