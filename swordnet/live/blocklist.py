"""The blocking list: confirmed restreams' FQDNs and addresses, listed, held back as shared
infrastructure, overridden or withdrawn, and exported as blocking platforms ingest them.

INTERFACE SEED (owner: blocking-list helper): signatures fixed, bodies to be written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from swordnet.core.models import BlockEntry


def confirm_and_list(session: Session, stream_id: int, *, actor: str,
                     at: datetime) -> list[BlockEntry]:
    """Confirm a matched stream's hit (the usual review: case, custody log) and list its FQDN
    and its IPs (IPs of shared infrastructure held back); raises Conflict when the stream has
    no match."""
    raise NotImplementedError


def auto_confirm(session: Session, stream_id: int, *, at: datetime) -> list[BlockEntry] | None:
    """Apply the event's auto-confirm rule to a stream just matched: confirm and list it when
    its score reaches the rule's; None when the rule does not apply."""
    raise NotImplementedError
