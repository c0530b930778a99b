"""The custody log: append-only, hash-chained case events.

Each event's hash is ``sha256(prev_hash || canonical JSON of the event)``; the first event's
``prev_hash`` is 64 zeros. Changing, removing or reordering any event breaks every hash
after it, which :func:`first_broken_link` finds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.models import Case, CaseEvent
from swordnet.timeutil import utcnow

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8.

    >>> canonical_json({"b": 1, "a": "é"})
    b'{"a":"\\xc3\\xa9","b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(
    prev_hash: str, case_id: int, seq: int, type_: str, payload: dict[str, Any], actor: str,
    at: datetime,
) -> str:
    body = canonical_json({"case_id": case_id, "seq": seq, "type": type_, "payload": payload,
                           "actor": actor, "at": at.isoformat()})
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


def append_event(
    session: Session, case: Case, type_: str, payload: dict[str, Any], actor: str
) -> CaseEvent:
    """Append one event to ``case``'s log, chained to the previous one."""
    last = session.execute(
        select(CaseEvent.seq, CaseEvent.hash)
        .where(CaseEvent.case_id == case.id)
        .order_by(CaseEvent.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS_HASH)
    at = utcnow()
    event = CaseEvent(case_id=case.id, seq=seq, type=type_, payload=payload, actor=actor, at=at,
                      prev_hash=prev_hash,
                      hash=event_hash(prev_hash, case.id, seq, type_, payload, actor, at))
    session.add(event)
    session.flush()
    return event


def first_broken_link(events: Sequence[CaseEvent]) -> int | None:
    """The seq of the first event that does not chain correctly, or None if all do."""
    prev_hash = GENESIS_HASH
    for expected_seq, event in enumerate(sorted(events, key=lambda e: e.seq), start=1):
        recomputed = event_hash(prev_hash, event.case_id, event.seq, event.type, event.payload,
                                event.actor, event.at)
        if event.seq != expected_seq or event.prev_hash != prev_hash or event.hash != recomputed:
            return event.seq
        prev_hash = event.hash
    return None

