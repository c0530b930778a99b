"""The custody log: append-only, hash-chained case events.

Each event's hash is ``sha256(prev_hash || canonical JSON of the event)``; the first event's
``prev_hash`` is 64 zeros. Changing, removing or reordering any event breaks every hash
after it, which :func:`first_broken_link` finds. Deleting the newest events leaves a chain
that still links, so every append also signs the log's head (last seq and hash) with the
instance's key (:func:`sign_head`); :func:`log_problem` checks the chain ends at that head,
and :func:`append_event` refuses to sign over a log that does not (:func:`head_problem`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.errors import Conflict
from swordnet.core.models import Case, CaseEvent, CustodyHead
from swordnet.core.signing import SIGNING_KEY, fingerprint, sign, signature_valid
from swordnet.core.timeutil import utcnow

GENESIS_HASH = "0" * 64
HEAD_FORMAT = "swordnet-custody-head/1"


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


class CustodyBroken(Conflict):
    """A case's custody log does not end at its signed head."""


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
    key = signing_key(session)
    head = session.get(CustodyHead, case.id)
    if seq > 1 or head is not None:  # never re-sign over deleted or forged events
        problem = head_problem(head, (seq - 1, prev_hash), key.public_key())
        if problem is not None:
            raise CustodyBroken(f"case {case.id}: custody log {problem}; nothing is appended "
                                "to it until it is restored")
    at = utcnow()
    event = CaseEvent(case_id=case.id, seq=seq, type=type_, payload=payload, actor=actor, at=at,
                      prev_hash=prev_hash,
                      hash=event_hash(prev_hash, case.id, seq, type_, payload, actor, at))
    session.add(event)
    session.flush()
    sign_head(session, case.id, seq, event.hash, key)
    return event


def signing_key(session: Session) -> Ed25519PrivateKey:
    """The instance key this session signs custody heads with."""
    load_key = session.info.get(SIGNING_KEY)
    if load_key is None:
        raise RuntimeError("this session cannot sign custody heads (open it with open_database)")
    return load_key()


def head_statement(case_id: int, seq: int, hash_: str) -> bytes:
    """The bytes a custody head's signature covers.

    >>> head_statement(7, 2, "ab")
    b'{"case_id":7,"format":"swordnet-custody-head/1","hash":"ab","seq":2}'
    """
    return canonical_json({"case_id": case_id, "format": HEAD_FORMAT, "hash": hash_, "seq": seq})


def sign_head(session: Session, case_id: int, seq: int, hash_: str,
              key: Ed25519PrivateKey) -> CustodyHead:
    """Record ``(seq, hash_)`` as the signed head of case ``case_id``'s log."""
    head = session.get(CustodyHead, case_id) or CustodyHead(case_id=case_id)
    head.seq, head.hash, head.signed_at = seq, hash_, utcnow()
    head.key_sha256 = fingerprint(key.public_key())
    head.signature = sign(key, head_statement(case_id, seq, hash_)).decode().strip()
    session.add(head)
    session.flush()
    return head


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


def head_problem(head: CustodyHead | None, ends: tuple[int, str],
                 key: Ed25519PublicKey) -> str | None:
    """How a log ending at ``ends`` (last seq and hash) misses its head signed with ``key``,
    in a few words, or None if it ends there."""
    if head is None:
        return "has no signed head (its newest events may have been deleted)"
    if head.key_sha256 != fingerprint(key) or not signature_valid(
            key, head_statement(head.case_id, head.seq, head.hash), head.signature.encode()):
        return "has a signed head that does not verify with this instance's key"
    if ends != (head.seq, head.hash):
        how = "deleted" if ends[0] < head.seq else "added or replaced without a signature"
        return f"ends at event {ends[0]}, but its signed head is event {head.seq} (events {how})"
    return None


def log_problem(events: Sequence[CaseEvent], head: CustodyHead | None,
                key: Ed25519PublicKey) -> str | None:
    """What is wrong with a case's log, in a few words, or None if it is intact: a broken
    link, or a chain that does not end at its head signed with ``key``."""
    broken = first_broken_link(events)
    if broken is not None:
        return f"broken at event {broken}"
    last = max(events, key=lambda e: e.seq) if events else None
    return head_problem(head, (last.seq, last.hash) if last else (0, GENESIS_HASH), key)


def case_log_problem(session: Session, case: Case) -> str | None:
    """:func:`log_problem` for ``case``, against the key this session signs with."""
    return log_problem(case.events, session.get(CustodyHead, case.id),
                       signing_key(session).public_key())
