"""The blocking-list console page (staff): entries filtered by kind, state, event and stream,
shared-infrastructure holds with their reason, forms to override a hold or withdraw an entry
(each with a reason, in the case's custody log), the export links, and blocking platforms'
clients (created with their token shown once, and revoked).

``POST /blocklist/confirm/{stream_id}`` is the one-key "confirm and list" that other pages
(the live event view) put on a matched stream. A rights holder gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from swordnet.accounts.blocklist_clients import add_client, list_clients, revoke_client
from swordnet.core.errors import SwordnetError
from swordnet.core.models import BLOCK_KINDS
from swordnet.core.timeutil import utcnow
from swordnet.live.blocklist import (
    ENTRY_STATES,
    confirm_and_list,
    entries,
    entry_state,
    override_shared,
    withdraw_entry,
)
from swordnet.web.console_base import (
    Signed,
    Viewer,
    check_form_csrf,
    render,
    require_staff_page,
)
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId, QueryId

router = APIRouter(include_in_schema=False)
Csrf = Annotated[str, Form(max_length=200)]
Reason = Annotated[str, Form(max_length=2000)]
Filter = Annotated[str, Query(max_length=10)]


def _page(request: Request, session: Session, viewer: Viewer, *, status: int = 200,
          error: str | None = None, kind: str = "", state: str = "",
          event_id: int | None = None, stream_id: int | None = None,
          new_secret: tuple[str, str] | None = None) -> Response:
    require_staff_page(viewer)
    filters = {"kind": kind, "state": state, "event": event_id or "", "stream": stream_id or ""}
    try:
        rows = entries(session, kind=kind or None, state=state or None, event_id=event_id,
                       stream_id=stream_id)
    except SwordnetError as exc:
        rows, status, error = [], exc.status, str(exc)
    return render(request, "blocklist.html", viewer, status=status, error=error,
                  entries=[(e, entry_state(e)) for e in rows], filters=filters,
                  kinds=BLOCK_KINDS, states=ENTRY_STATES, clients=list_clients(session),
                  new_secret=new_secret)


@router.get("/blocklist")
def blocklist_page(request: Request, session: DbSession, viewer: Signed, kind: Filter = "",
                   state: Filter = "", event: QueryId = None,
                   stream: QueryId = None) -> Response:
    return _page(request, session, viewer, kind=kind, state=state, event_id=event,
                 stream_id=stream)


def _act(request: Request, session: Session, viewer: Viewer, csrf_token: str,
         action: Callable[[str], Any], back: str) -> Response:
    """Run a staff action as the viewer; its refusal is the page again, with the message."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    try:
        action(viewer.principal.username)
    except SwordnetError as exc:
        session.rollback()
        return _page(request, session, viewer, status=exc.status, error=str(exc))
    session.commit()
    return RedirectResponse(back, status_code=303)


@router.post("/blocklist/confirm/{stream_id}")
def confirm_page(stream_id: PathId, request: Request, session: DbSession, viewer: Signed,
                 csrf_token: Csrf = "") -> Response:
    """Confirm a matched live stream and list it."""
    return _act(request, session, viewer, csrf_token,
                lambda actor: confirm_and_list(session, stream_id, actor=actor, at=utcnow()),
                f"/blocklist?stream={stream_id}")


@router.post("/blocklist/entries/{entry_id}/override")
def override_page(entry_id: PathId, request: Request, session: DbSession, viewer: Signed,
                  reason: Reason = "", csrf_token: Csrf = "") -> Response:
    """List a shared-infrastructure address anyway, for a reason."""
    return _act(request, session, viewer, csrf_token,
                lambda actor: override_shared(session, entry_id, reason=reason, actor=actor,
                                              at=utcnow()), "/blocklist")


@router.post("/blocklist/entries/{entry_id}/withdraw")
def withdraw_page(entry_id: PathId, request: Request, session: DbSession, viewer: Signed,
                  reason: Reason = "", csrf_token: Csrf = "") -> Response:
    """Withdraw an entry, for a reason."""
    return _act(request, session, viewer, csrf_token,
                lambda actor: withdraw_entry(session, entry_id, reason=reason, actor=actor,
                                             at=utcnow()), "/blocklist")


@router.post("/blocklist/clients")
def add_client_page(request: Request, session: DbSession, viewer: Signed,
                    name: Annotated[str, Form(max_length=200)] = "",
                    csrf_token: Csrf = "") -> Response:
    """Create a blocking platform's client; the page shows its token this once."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    try:
        issued = add_client(session, name, actor=viewer.principal.username)
    except SwordnetError as exc:
        session.rollback()
        return _page(request, session, viewer, status=exc.status, error=str(exc))
    session.commit()
    return _page(request, session, viewer, status=201,
                 new_secret=(issued.client.name, issued.secret))


@router.post("/blocklist/clients/{name}/revoke")
def revoke_client_page(name: str, request: Request, session: DbSession, viewer: Signed,
                       csrf_token: Csrf = "") -> Response:
    """Revoke a blocking platform's client."""
    return _act(request, session, viewer, csrf_token,
                lambda actor: revoke_client(session, name, actor=actor), "/blocklist#clients")
