"""Console pages for live events: the list with a register-event form, and an event's view
(its feed's health, its candidate streams, its timeline, the auto-confirm rule).

On the event view ``static/live.js`` refreshes the stream table, the feed's health and the
timeline from the ``/api/v1/live`` endpoints without a reload, and lets staff walk the streams
with j/k and confirm and list the selected matched stream with one key (y), which posts to
:func:`confirm_and_list_stream` here (:func:`swordnet.live.blocklist.confirm_and_list`). A
rights holder sees their own events read-only; registering is open to them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from matching.live import NEAR_EXACT_SCORE
from swordnet.core.errors import NotFound, SwordnetError
from swordnet.core.models import LiveEvent, LiveStream
from swordnet.core.timeutil import utcnow
from swordnet.live import blocklist
from swordnet.live import events as live_events
from swordnet.watch.campaigns import parse_time
from swordnet.watch.targets import parse_interval
from swordnet.web.api_live import (
    event_out,
    events_query,
    get_event,
    get_stream,
    stream_out,
    streams_query,
    timeline,
)
from swordnet.web.console_base import (
    API,
    Signed,
    Viewer,
    check_form_csrf,
    render,
    require_staff_page,
)
from swordnet.web.console_campaigns import Checked
from swordnet.web.deps import CSRF_HEADER, DbSession
from swordnet.web.params import PathId
from swordnet.works.holders import registering_holder
from swordnet.works.registry import holder_by_name

router = APIRouter(include_in_schema=False)
BLOCKLIST_PAGE = "/blocklist"  # the blocking list's page (staff), filtered by ?event=
Short = Annotated[str, Form(max_length=4000)]
Token = Annotated[str, Form(max_length=200)]
NEW_EVENT = {"feed": "url", "window": "10m", "check_every": "30s"}


def duration(seconds: float | None) -> str:
    """Seconds as the event view shows a delay or a time to match.

    >>> duration(42.0), duration(95.4), duration(3725), duration(None)
    ('42 s', '1 min 35 s', '1 h 2 min', '—')
    """
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


# --- the list and the register-event form ------------------------------------------------------

def events_page_response(request: Request, session: Session, viewer: Viewer, *,
                         form: Checked | None = None, status: int = 200,
                         error: str | None = None) -> Response:
    events = session.scalars(events_query(viewer.principal)
                             .order_by(LiveEvent.starts_at.desc(), LiveEvent.id.desc()))
    return render(request, "live_events.html", viewer, status=status,
                  events=[event_out(session, e) for e in events],
                  form=form or Checked(dict(NEW_EVENT)), error=error,
                  blocklist_page=BLOCKLIST_PAGE)


@router.get("/live")
def events_page(request: Request, session: DbSession, viewer: Signed) -> Response:
    return events_page_response(request, session, viewer)


def _time(form: Checked, name: str) -> datetime | None:
    text = str(form.values.get(name, "")).strip()
    if not text:
        form.errors[name] = "give a date and time (UTC)"
        return None
    return form.field(name, lambda: parse_time(text))


def _seconds(form: Checked, name: str) -> int | None:
    return form.field(name, lambda: parse_interval(str(form.values.get(name, "")).strip()))


@router.post("/live/new")
def register_event_form(request: Request, session: DbSession, viewer: Signed,
                        holder: Short = "", title: Short = "", aliases: Short = "",
                        starts_at: Short = "", ends_at: Short = "", feed: Short = "url",
                        feed_url: Short = "", window: Short = "", check_every: Short = "",
                        csrf_token: Token = "") -> Response:
    """Register an event; back to the form with each problem next to its field."""
    check_form_csrf(request, viewer, csrf_token)
    form = Checked({"holder": holder, "title": title, "aliases": aliases,
                    "starts_at": starts_at, "ends_at": ends_at, "feed": feed,
                    "feed_url": feed_url, "window": window, "check_every": check_every})
    holder_name = form.field("holder", lambda: registering_holder(
        session, viewer.principal, holder))
    if not title.strip():
        form.errors["title"] = "give the event's title"
    start, end = _time(form, "starts_at"), _time(form, "ends_at")
    pushed = feed == "pushed"
    if not pushed and not feed_url.strip():
        form.errors["feed_url"] = "give the feed's HLS/DASH URL, or choose pushed capture"
    window_s = _seconds(form, "window")
    every_s = _seconds(form, "check_every")
    if form.errors or holder_name is None or start is None or end is None \
            or window_s is None or every_s is None:
        session.rollback()
        return events_page_response(request, session, viewer, form=form, status=422)
    try:
        event = live_events.register_event(
            session, holder_id=holder_by_name(session, holder_name).id, title=title.strip(),
            aliases=[a.strip() for a in aliases.splitlines() if a.strip()],
            starts_at=start, ends_at=end, feed_url=None if pushed else feed_url.strip(),
            window_s=window_s, check_every_s=every_s, actor=viewer.principal.username)
    except SwordnetError as exc:
        session.rollback()
        return events_page_response(request, session, viewer, form=form, status=exc.status,
                                    error=str(exc))
    session.commit()
    return RedirectResponse(f"/live/{event.id}", status_code=303)


# --- an event's view --------------------------------------------------------------------------

def stream_row(stream: LiveStream) -> dict[str, Any]:
    """A stream as the event view's table shows it (``static/live.js`` builds the same)."""
    out = stream_out(stream)
    return {"s": out, "delay": duration(out.delay_s), "to_match": duration(out.to_match_s),
            "to_list": duration(out.to_list_s)}


def event_page_response(request: Request, session: Session, viewer: Viewer, event: LiveEvent,
                        *, status: int = 200, error: str | None = None,
                        flash: str | None = None) -> Response:
    streams = session.scalars(streams_query(event.id))
    return render(request, "live_event.html", viewer, status=status,
                  ev=event_out(session, event), streams=[stream_row(s) for s in streams],
                  entries=timeline(session, event), error=error, flash=flash,
                  near_exact=NEAR_EXACT_SCORE, api=f"{API}/live",
                  blocklist_page=BLOCKLIST_PAGE, readonly=not viewer.is_staff)


@router.get("/live/{event_id}")
def event_page(event_id: PathId, request: Request, session: DbSession,
               viewer: Signed) -> Response:
    return event_page_response(request, session, viewer,
                               get_event(session, viewer.principal, event_id))


@router.post("/live/{event_id}/auto-confirm")
def auto_confirm_form(event_id: PathId, request: Request, session: DbSession, viewer: Signed,
                      score: Short = "", off: Short = "", csrf_token: Token = "") -> Response:
    """Set or clear (staff) the event's auto-confirm rule."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    event = get_event(session, viewer.principal, event_id)
    if off:
        value = None
    else:
        try:
            value = float(score)
        except ValueError:
            value = -1.0
        if not 0 <= value <= 1:
            return event_page_response(
                request, session, viewer, event, status=422,
                error=f"score: {score[:20]!r} is not a number from 0 to 1")
    live_events.set_auto_confirm(session, event.id, value, actor=viewer.principal.username)
    session.commit()
    return RedirectResponse(f"/live/{event_id}#auto-confirm", status_code=303)


@router.post("/live/{event_id}/streams/{stream_id}/confirm-and-list")
def confirm_and_list_stream(event_id: PathId, stream_id: PathId, request: Request,
                            session: DbSession, viewer: Signed,
                            csrf_token: Token = "") -> Response:
    """Confirm a matched stream and put its addresses on the blocking list (staff): JSON
    for ``static/live.js`` (the stream, and what was listed or held back), or back to the
    event's page for a plain form."""
    check_form_csrf(request, viewer, request.headers.get(CSRF_HEADER) or csrf_token)
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        require_staff_page(viewer)
        stream = get_stream(session, viewer.principal, stream_id)
        if stream.event_id != event_id:
            raise NotFound(f"live event {event_id} has no stream {stream_id}")
        entries = blocklist.confirm_and_list(session, stream.id,
                                             actor=viewer.principal.username, at=utcnow())
        session.flush()
        session.refresh(stream)
    except SwordnetError as exc:
        session.rollback()
        if not wants_json:
            raise
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    listed = [f"{e.kind} {e.value}" for e in entries if e.listed_at is not None]
    held = [f"{e.kind} {e.value}" for e in entries if e.listed_at is None]
    session.commit()
    if not wants_json:
        return RedirectResponse(f"/live/{event_id}?listed={stream_id}#streams", status_code=303)
    return JSONResponse({"stream": stream_out(stream).model_dump(mode="json"),
                         "listed": listed, "held_back": held})

