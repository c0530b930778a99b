"""Blocking platforms' clients: named read-only tokens that read the blocking list and nothing
else.

A client is not a user: its token (``swb_...``) is found only by :func:`client_for_secret`,
which the blocking list's export alone consults, so every other endpoint answers it 401 like
any unknown token. Only the token's SHA-256 is stored; staff create and revoke clients (CLI,
console), and a revoked client is refused at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import BlocklistClient
from swordnet.core.timeutil import utcnow

CLIENT_TOKEN_PREFIX = "swb_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.@-]{0,99}")
LAST_USED_RESOLUTION_S = 60


@dataclass(frozen=True)
class IssuedClient:
    client: BlocklistClient
    secret: str  # shown once; only its hash is stored


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_client(session: Session, name: str, *, actor: str) -> IssuedClient:
    """A new client called ``name`` (e.g. the access provider's name); its token is returned
    once and never stored. Raises BadInput for a bad or taken name."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise BadInput(f"client name {name!r} must be 1-100 letters, digits, spaces or . _ @ -, "
                       "starting with a letter or digit")
    if session.scalar(select(BlocklistClient.id).where(BlocklistClient.name == name)):
        raise BadInput(f"a blocking-list client called {name!r} already exists")
    secret = CLIENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = BlocklistClient(name=name, token_hash=_sha256(secret), prefix=secret[:10],
                             created_by=actor)
    session.add(client)
    session.flush()
    return IssuedClient(client, secret)


def get_client(session: Session, name: str) -> BlocklistClient:
    """The client called ``name``; raises NotFound."""
    client = session.scalar(select(BlocklistClient).where(BlocklistClient.name == name.strip()))
    if client is None:
        raise NotFound(f"no blocking-list client called {name!r}")
    return client


def revoke_client(session: Session, name: str, *, actor: str) -> BlocklistClient:
    """Revoke the client called ``name``: its token is refused from now on. Raises Conflict if
    it is already revoked."""
    client = get_client(session, name)
    if client.revoked_at is not None:
        raise Conflict(f"blocking-list client {client.name!r} was already revoked")
    client.revoked_at, client.revoked_by = utcnow(), actor
    return client


def list_clients(session: Session) -> list[BlocklistClient]:
    """Every client, revoked ones included, by name."""
    return list(session.scalars(select(BlocklistClient).order_by(BlocklistClient.name)))


def is_client_token(secret: str) -> bool:
    """Whether ``secret`` is spelt like a client's token (not a user's API token)."""
    return secret.startswith(CLIENT_TOKEN_PREFIX)


def client_for_secret(session: Session, secret: str,
                      now: datetime | None = None) -> BlocklistClient | None:
    """The live (not revoked) client whose token this is, or None."""
    now = now or utcnow()
    client = session.scalar(select(BlocklistClient)
                            .where(BlocklistClient.token_hash == _sha256(secret)))
    if client is None or client.revoked_at is not None:
        return None
    if (client.last_used_at is None
            or (now - client.last_used_at).total_seconds() > LAST_USED_RESOLUTION_S):
        client.last_used_at = now  # not on every poll: a write per call would contend
    return client
