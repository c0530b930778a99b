"""The blocking list over the API: ``/blocklist/export`` for blocking platforms' clients to poll
(CSV, JSON, or a text list per kind, with ETag/If-None-Match and Last-Modified), and staff's
work: ``/live/streams/{id}/confirm-and-list``, the entries, overriding a shared-infrastructure
hold and withdrawing an entry (each with a reason, in the case's custody log).

A blocking platform's client authenticates with its own token (``swb_...``, see
:mod:`swordnet.accounts.blocklist_clients`), which the export alone accepts: everywhere else it
is an unknown token (401). Staff may read the export with their own token or console session;
rights holders may not (403).
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from swordnet.accounts.access import require_staff
from swordnet.accounts.blocklist_clients import client_for_secret, is_client_token
from swordnet.core.models import BLOCK_KINDS, BlockEntry
from swordnet.core.timeutil import utcnow
from swordnet.live.blocklist import (
    ENTRY_STATES,
    EXPORT_FORMATS,
    confirm_and_list,
    entries,
    entry_state,
    export,
    override_shared,
    withdraw_entry,
)
from swordnet.web.deps import Caller, DbSession, api_principal
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.params import PathId, QueryId, choice_param
from swordnet.web.public import etag_of

router = APIRouter(tags=["blocking list"], responses=ERROR_RESPONSES)
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
               "txt": "text/plain; charset=utf-8"}
# Clients may keep a copy but must revalidate it (If-None-Match) before each use.
CACHE_CONTROL = "private, no-cache"
_bearer = HTTPBearer(auto_error=False, description=(
    "A blocking-list client's token (`swordnet blocklist clients add`), or a staff API token."))


def list_reader(request: Request, session: DbSession,
                credentials: Annotated[HTTPAuthorizationCredentials | None,
                                       Depends(_bearer)]) -> str:
    """Who reads the export: a live blocking-list client, or a staff member; 401/403 else."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() == "bearer" and is_client_token(secret.strip()):
            client = client_for_secret(session, secret.strip())
            if client is None:
                raise HTTPException(401, "blocking-list client token is unknown or revoked",
                                    headers={"WWW-Authenticate": "Bearer"})
            return f"client {client.name}"
    principal = api_principal(request, session, credentials)
    require_staff(principal)
    return principal.username


class EntryOut(BaseModel):
    id: int
    kind: str = Field(description="fqdn, ipv4 or ipv6")
    value: str
    state: str = Field(description="listed, held (back as shared infrastructure: not on the "
                       "list) or withdrawn")
    event_id: int
    stream_id: int | None
    case_id: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    listed_at: datetime | None
    listed_by: str | None
    shared_infrastructure: bool
    shared_reason: str | None = Field(description="Why the address is shared infrastructure.")
    override_reason: str | None = Field(description="Why staff listed a shared address anyway.")
    override_by: str | None
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None


def entry_out(entry: BlockEntry) -> EntryOut:
    return EntryOut(id=entry.id, kind=entry.kind, value=entry.value, state=entry_state(entry),
                    event_id=entry.event_id, stream_id=entry.stream_id, case_id=entry.case_id,
                    first_seen_at=entry.first_seen_at, last_seen_at=entry.last_seen_at,
                    listed_at=entry.listed_at, listed_by=entry.listed_by,
                    shared_infrastructure=entry.shared_infrastructure,
                    shared_reason=entry.shared_reason, override_reason=entry.override_reason,
                    override_by=entry.override_by, withdrawn_at=entry.withdrawn_at,
                    withdrawn_by=entry.withdrawn_by, withdraw_reason=entry.withdraw_reason)


class ReasonIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000,
                        description="Why (recorded in the case's custody log).")


def _matches(if_none_match: str | None, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in (if_none_match or "").split(",")]
    return "*" in tags or etag in tags


_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The list: CSV or JSON (listed and withdrawn addresses, with "
          "withdrawn_at), or one value a line (txt). ETag and Last-Modified headers.",
          "content": {"text/csv": {"schema": {"type": "string"}},
                      "application/json": {"schema": {"type": "object"}},
                      "text/plain": {"schema": {"type": "string"}}}},
    304: {"description": "Not modified: the If-None-Match header names the current ETag."},
}


@router.get("/blocklist/export", response_class=Response, responses=_EXPORT_RESPONSES)
def export_list(request: Request, session: DbSession,
                _reader: Annotated[str, Depends(list_reader)],
                fmt: Annotated[str, Query(alias="format", max_length=10,
                                          json_schema_extra={"enum": list(EXPORT_FORMATS)},
                                          description="csv, json or txt")] = "json",
                kind: Annotated[str | None, choice_param(
                    BLOCK_KINDS, "Only this kind (required for txt).")] = None,
                withdrawn: Annotated[bool, Query(description=(
                    "txt only: the withdrawn addresses instead of the listed ones."))] = False,
                ) -> Response:
    """The blocking list, as blocking platforms ingest it.

    Confirmed restreams' FQDNs and IPv4/IPv6 addresses with first_seen, last_seen, listed_at
    and withdrawn_at (UTC ISO-8601). Shared-infrastructure addresses held back are not on it.
    Poll with If-None-Match: an unchanged list is a 304 with no body. Readable with a
    blocking-list client's token (which reads nothing else) or by staff.
    """
    body, modified = export(session, fmt, kind, withdrawn)
    data = body.encode()
    etag = etag_of(data)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified, usegmt=True)
    if _matches(request.headers.get("If-None-Match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MEDIA_TYPES[fmt], headers=headers)


@router.get("/blocklist/entries", response_model=list[EntryOut])
def list_entries(session: DbSession, caller: Caller,
                 kind: Annotated[str | None, choice_param(BLOCK_KINDS, "fqdn, ipv4 or ipv6")
                                 ] = None,
                 state: Annotated[str | None, choice_param(
                     ENTRY_STATES, "listed, held (shared infrastructure) or withdrawn")] = None,
                 event_id: QueryId = None, stream_id: QueryId = None) -> list[EntryOut]:
    """Entries of the blocking list (staff).

    Newest change first, held-back shared-infrastructure addresses included, with why they
    are shared, who listed, overrode or withdrew them and why.
    """
    require_staff(caller)
    return [entry_out(e) for e in entries(session, kind=kind, state=state, event_id=event_id,
                                          stream_id=stream_id)]


@router.post("/live/streams/{stream_id}/confirm-and-list", response_model=list[EntryOut])
def confirm_stream(stream_id: PathId, session: DbSession, caller: Caller) -> list[EntryOut]:
    """Confirm a matched live stream and list it (staff).

    Confirms the stream's hit (its site's case, a custody event) and lists its FQDN and the
    addresses it was fetched from; shared-infrastructure addresses are recorded but held
    back. 409 when the stream has no match or is listed already.
    """
    require_staff(caller)
    return [entry_out(e) for e in confirm_and_list(session, stream_id,
                                                   actor=caller.username, at=utcnow())]


@router.post("/blocklist/entries/{entry_id}/override", response_model=EntryOut)
def override_entry(entry_id: PathId, body: ReasonIn, session: DbSession,
                   caller: Caller) -> EntryOut:
    """List a shared-infrastructure address anyway (staff).

    The reason goes in the case's custody log. 409 unless the entry is held back.
    """
    require_staff(caller)
    return entry_out(override_shared(session, entry_id, reason=body.reason,
                                     actor=caller.username, at=utcnow()))


@router.post("/blocklist/entries/{entry_id}/withdraw", response_model=EntryOut)
def withdraw(entry_id: PathId, body: ReasonIn, session: DbSession, caller: Caller) -> EntryOut:
    """Withdraw an entry from the list (staff).

    The reason goes in the case's custody log; the withdrawal is exported (withdrawn_at in
    CSV and JSON, and the withdrawn text lists). 409 if it is not listed.
    """
    require_staff(caller)
    return entry_out(withdraw_entry(session, entry_id, reason=body.reason,
                                    actor=caller.username, at=utcnow()))
