"""``/live``: live events and their candidate restreams (register, list, show, edit, the
auto-confirm rule, streams with their checks, an event's timeline).

A rights holder registers events for their own holder and sees only those (other ids are
404, as for works); staff name the holder and see every event. Setting the auto-confirm rule
and adding a stream by hand are staff work. The views (:func:`event_out`,
:func:`stream_out`, :func:`timeline`) are read straight from the rows, and shared with the
console's event page and the ``swordnet live`` commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from swordnet.accounts.access import require_staff
from swordnet.accounts.users import Principal
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import (
    LIVE_STREAM_STATES,
    BlockEntry,
    Hit,
    LiveCheck,
    LiveEvent,
    LiveFeedGap,
    LiveStream,
    Work,
)
from swordnet.core.timeutil import utcnow
from swordnet.live import events as live_events
from swordnet.live.reference import MAX_PUSH_BYTES, PUSH_MAX_SECONDS, push_capture, spool_dir
from swordnet.live.streams import record_candidate
from swordnet.web.deps import Caller, DbSession
from swordnet.web.errors import ERROR_RESPONSES, UPLOAD_RESPONSES
from swordnet.web.pagination import Page, PageParams, page_params, paginate
from swordnet.web.params import PathId
from swordnet.web.uploads import FORM_SLACK_BYTES, CappedBodyRoute, body_cap, read_capped
from swordnet.works.holders import registering_holder
from swordnet.works.registry import holder_by_name

router = APIRouter(prefix="/live", tags=["live events"], responses=ERROR_RESPONSES,
                   route_class=CappedBodyRoute)
# Sanity bounds of a request; the allowed ranges are swordnet.live.events' to say.
MAX_SECONDS = 86_400
MAX_CHECKS_SHOWN = 200


# --- who sees what ----------------------------------------------------------------------------

def events_query(principal: Principal) -> Select[LiveEvent]:
    """Live events ``principal`` may see: staff all, a rights holder their holder's."""
    query = select(LiveEvent)
    if not principal.is_staff:
        query = query.join(Work, Work.id == LiveEvent.work_id).where(
            Work.holder_id == principal.holder_id)
    return query


def get_event(session: Session, principal: Principal, event_id: int) -> LiveEvent:
    """The event, if ``principal`` may see it; NotFound otherwise."""
    event = session.scalar(events_query(principal).where(LiveEvent.id == event_id))
    if event is None:
        raise NotFound(f"no live event with id {event_id}")
    return event


def get_stream(session: Session, principal: Principal, stream_id: int) -> LiveStream:
    """The candidate stream, if ``principal`` may see its event; NotFound otherwise."""
    visible = events_query(principal).with_only_columns(LiveEvent.id)
    stream = session.scalar(select(LiveStream).where(LiveStream.id == stream_id,
                                                     LiveStream.event_id.in_(visible)))
    if stream is None:
        raise NotFound(f"no live stream with id {stream_id}")
    return stream


def check_state(state: str | None) -> str | None:
    """A stream-state filter: one of LIVE_STREAM_STATES (BadInput naming it otherwise)."""
    if state is not None and state not in LIVE_STREAM_STATES:
        raise BadInput(f"state: {state[:40]!r} is not one of {', '.join(LIVE_STREAM_STATES)}")
    return state


def streams_query(event_id: int, state: str | None = None) -> Select[LiveStream]:
    """An event's candidate streams in the order they were found, perhaps of one state."""
    query = select(LiveStream).where(LiveStream.event_id == event_id)
    if state is not None:
        query = query.where(LiveStream.state == state)
    return query.order_by(LiveStream.id)


# --- views ------------------------------------------------------------------------------------

class FeedGapOut(BaseModel):
    started_at: datetime
    ended_at: datetime | None = Field(description="None: the feed is still down.")
    reason: str


class FeedOut(BaseModel):
    """The official feed's health."""

    url: str | None = Field(description="The feed's HLS/DASH URL; None: captures are pushed in.")
    state: str = Field(description="waiting, live, dropped or ended.")
    checked_at: datetime | None
    last_segment_at: datetime | None = Field(description="When the newest feed segment "
                                             "was fingerprinted.")
    error: str | None
    gaps: list[FeedGapOut] = Field(description="Times the feed was down, newest first.")


class LiveEventOut(BaseModel):
    id: int
    work_id: int = Field(description="The event's work: its hits and cases are the usual ones.")
    campaign_id: int | None = Field(description="The event campaign that crawls for it.")
    title: str
    aliases: list[str]
    holder: str
    starts_at: datetime
    ends_at: datetime
    window_s: int = Field(description="Seconds of the feed the rolling reference keeps.")
    check_every_s: int = Field(description="Seconds between two samples of a candidate.")
    auto_confirm_score: float | None = Field(description="Matches scoring at least this are "
                                             "confirmed and listed at once; None: all wait "
                                             "for a reviewer.")
    auto_confirm_set_by: str | None
    feed: FeedOut
    streams: dict[str, int] = Field(description="Candidate streams by state.")
    created_at: datetime


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 1)


def event_out(session: Session, event: LiveEvent) -> LiveEventOut:
    """What the API, console and CLI show of an event: its feed's health and its streams."""
    gaps = session.scalars(select(LiveFeedGap).where(LiveFeedGap.event_id == event.id)
                           .order_by(LiveFeedGap.started_at.desc(), LiveFeedGap.id.desc()))
    counts = dict(session.execute(
        select(LiveStream.state, func.count()).where(LiveStream.event_id == event.id)
        .group_by(LiveStream.state)).all())
    work = event.work
    return LiveEventOut(
        id=event.id, work_id=work.id, campaign_id=event.campaign_id, title=work.title,
        aliases=[str(a) for a in work.aliases], holder=work.holder.name,
        starts_at=event.starts_at, ends_at=event.ends_at, window_s=event.window_s,
        check_every_s=event.check_every_s, auto_confirm_score=event.auto_confirm_score,
        auto_confirm_set_by=event.auto_confirm_set_by,
        feed=FeedOut(url=event.feed_url, state=event.feed_state,
                     checked_at=event.feed_checked_at,
                     last_segment_at=event.feed_last_segment_at, error=event.feed_error,
                     gaps=[FeedGapOut(started_at=g.started_at, ended_at=g.ended_at,
                                      reason=g.reason) for g in gaps]),
        streams=counts, created_at=event.created_at)


class LiveStreamOut(BaseModel):
    id: int
    event_id: int
    url: str = Field(description="The playlist (.m3u8 / .mpd) URL.")
    page_url: str | None = Field(description="The page that embeds or links it.")
    site: str
    found_by: str = Field(description="crawl, search, tip or staff.")
    found_at: datetime
    state: str = Field(description=f"One of {', '.join(LIVE_STREAM_STATES)}.")
    checks: int
    last_checked_at: datetime | None
    next_check_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    hit_id: int | None
    matched_at: datetime | None
    delay_s: float | None = Field(description="How far the restream runs behind the feed.")
    score: float | None = Field(description="The match's score, 0..1 (1: identical).")
    listed_at: datetime | None
    to_match_s: float | None = Field(description="Seconds from discovery to the match.")
    to_list_s: float | None = Field(description="Seconds from discovery to its listing.")


def stream_out(stream: LiveStream) -> LiveStreamOut:
    return LiveStreamOut(
        id=stream.id, event_id=stream.event_id, url=stream.url, page_url=stream.page_url,
        site=stream.site.domain, found_by=stream.found_by, found_at=stream.found_at,
        state=stream.state, checks=stream.checks, last_checked_at=stream.last_checked_at,
        next_check_at=stream.next_check_at, last_outcome=stream.last_outcome,
        last_error=stream.last_error, hit_id=stream.hit_id, matched_at=stream.matched_at,
        delay_s=stream.delay_s, score=stream.score, listed_at=stream.listed_at,
        to_match_s=_seconds(stream.found_at, stream.matched_at),
        to_list_s=_seconds(stream.found_at, stream.listed_at))


class LiveCheckOut(BaseModel):
    id: int
    checked_at: datetime
    outcome: str
    delay_s: float | None
    score: float | None
    detail: dict[str, Any]
    playlist_capture_id: int | None
    segment_capture_id: int | None
    cpu_s: float | None


class LiveStreamDetail(LiveStreamOut):
    recent_checks: list[LiveCheckOut] = Field(
        description=f"Its newest checks (at most {MAX_CHECKS_SHOWN}), newest first.")


def stream_detail(session: Session, stream: LiveStream) -> LiveStreamDetail:
    checks = session.scalars(select(LiveCheck).where(LiveCheck.stream_id == stream.id)
                             .order_by(LiveCheck.checked_at.desc(), LiveCheck.id.desc())
                             .limit(MAX_CHECKS_SHOWN))
    return LiveStreamDetail(**stream_out(stream).model_dump(), recent_checks=[
        LiveCheckOut(id=c.id, checked_at=c.checked_at, outcome=c.outcome, delay_s=c.delay_s,
                     score=c.score, detail=c.detail or {},
                     playlist_capture_id=c.playlist_capture_id,
                     segment_capture_id=c.segment_capture_id, cpu_s=c.cpu_s)
        for c in checks])


class TimelineEntry(BaseModel):
    at: datetime
    kind: str = Field(description="discovered, check, matched, confirmed, listed, held_back, "
                                  "withdrawn, feed_dropped or feed_resumed.")
    stream_id: int | None
    text: str = Field(description="What happened, in one line.")


@dataclass(frozen=True)
class _CheckRun:
    stream_id: int
    at: datetime
    outcome: str
    times: int


def _check_runs(session: Session, event_id: int) -> list[_CheckRun]:
    """Each stream's checks with runs of one outcome folded into one: when it changed."""
    rows = session.execute(
        select(LiveCheck.stream_id, LiveCheck.checked_at, LiveCheck.outcome)
        .join(LiveStream, LiveStream.id == LiveCheck.stream_id)
        .where(LiveStream.event_id == event_id)
        .order_by(LiveCheck.stream_id, LiveCheck.checked_at, LiveCheck.id))
    runs: list[_CheckRun] = []
    for stream_id, at, outcome in rows:
        last = runs[-1] if runs else None
        if last and last.stream_id == stream_id and last.outcome == outcome:
            runs[-1] = _CheckRun(stream_id, last.at, outcome, last.times + 1)
        else:
            runs.append(_CheckRun(stream_id, at, outcome, 1))
    return runs


def timeline(session: Session, event: LiveEvent) -> list[TimelineEntry]:
    """What happened during the event, oldest first, built from its rows: streams found,
    their checks' outcomes (a repeated outcome once, with how often), matches, confirmations,
    listings and withdrawals, and the feed dropping and resuming."""
    entries: list[TimelineEntry] = []

    def add(at: datetime | None, kind: str, stream_id: int | None, text: str) -> None:
        if at is not None:
            entries.append(TimelineEntry(at=at, kind=kind, stream_id=stream_id, text=text))

    for gap in session.scalars(select(LiveFeedGap).where(LiveFeedGap.event_id == event.id)):
        add(gap.started_at, "feed_dropped", None, f"Feed dropped: {gap.reason}")
        add(gap.ended_at, "feed_resumed", None, "Feed resumed")
    streams = session.scalars(streams_query(event.id)).all()
    for stream in streams:
        add(stream.found_at, "discovered", stream.id,
            f"Stream {stream.id} found by {stream.found_by} on {stream.site.domain}: "
            f"{stream.url}")
        if stream.matched_at is not None:
            delay = "" if stream.delay_s is None else f", {stream.delay_s:g} s behind the feed"
            score = "" if stream.score is None else f"score {stream.score:.2f}"
            add(stream.matched_at, "matched", stream.id,
                f"Stream {stream.id} matched ({score}{delay})")
        hit: Hit | None = stream.hit
        if hit is not None and hit.status in ("confirmed", "auto_confirmed"):
            how = "auto-confirmed" if hit.status == "auto_confirmed" else \
                f"confirmed by {hit.reviewer or 'staff'}"
            add(hit.reviewed_at, "confirmed", stream.id, f"Stream {stream.id} {how}")
    for run in _check_runs(session, event.id):
        times = f" (×{run.times})" if run.times > 1 else ""
        add(run.at, "check", run.stream_id,
            f"Stream {run.stream_id} checked: {run.outcome.replace('_', ' ')}{times}")
    listed_at = {s.id: s.listed_at for s in streams}
    for entry in session.scalars(select(BlockEntry).where(BlockEntry.event_id == event.id)):
        label = f"{entry.kind} {entry.value}"
        if entry.listed_at is not None:
            add(entry.listed_at, "listed", entry.stream_id,
                f"Listed {label}" + (f" by {entry.listed_by}" if entry.listed_by else ""))
        elif entry.shared_infrastructure:
            held_at = listed_at.get(entry.stream_id or 0) or entry.changed_at
            add(held_at, "held_back", entry.stream_id,
                f"Held back {label}: shared infrastructure"
                + (f" ({entry.shared_reason})" if entry.shared_reason else ""))
        add(entry.withdrawn_at, "withdrawn", entry.stream_id,
            f"Withdrew {label}" + (f": {entry.withdraw_reason}" if entry.withdraw_reason
                                   else ""))
    order = {kind: i for i, kind in enumerate(
        ("feed_dropped", "feed_resumed", "discovered", "check", "matched", "confirmed",
         "listed", "held_back", "withdrawn"))}
    entries.sort(key=lambda e: (e.at, order[e.kind], e.stream_id or 0))
    return entries


# --- input ------------------------------------------------------------------------------------

def as_utc(value: datetime | None) -> datetime | None:
    """A time from a request: UTC unless it names an offset."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _EventFields(BaseModel):
    @field_validator("starts_at", "ends_at", check_fields=False)
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return as_utc(value)


class LiveEventIn(_EventFields):
    holder: str | None = Field(None, max_length=200, description="The rights holder (staff "
                               "must name one; a rights holder registers for their own).")
    title: str = Field(min_length=1, max_length=500)
    aliases: list[str] = Field([], max_length=50, description="Other names it is searched "
                               "and announced by.")
    starts_at: datetime = Field(description="Start (UTC unless an offset is given).")
    ends_at: datetime = Field(description="End, after the start.")
    feed_url: str | None = Field(None, max_length=4000, description="The official feed's "
                                 "HLS/DASH URL; null: captures of it are pushed in.",
                                 json_schema_extra={"format": "uri"})
    window_s: int = Field(600, ge=1, le=MAX_SECONDS, description="Seconds of the feed the "
                          "rolling reference keeps (longer than a restream's delay).")
    check_every_s: int = Field(30, ge=1, le=MAX_SECONDS,
                               description="Seconds between two samples of a candidate.")


class LiveEventPatch(_EventFields):
    title: str | None = Field(None, min_length=1, max_length=500)
    aliases: list[str] | None = Field(None, max_length=50)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    feed_url: str | None = Field(None, max_length=4000, description="null: captures of the "
                                 "feed are pushed in.")
    window_s: int | None = Field(None, ge=1, le=MAX_SECONDS)
    check_every_s: int | None = Field(None, ge=1, le=MAX_SECONDS)


class AutoConfirmIn(BaseModel):
    score: float | None = Field(ge=0, le=1, description="Matches scoring at least this (0..1) "
                                "are confirmed and listed at once; null switches the rule off.")


class LiveStreamIn(BaseModel):
    url: str = Field(min_length=1, max_length=4000, description="The stream's playlist "
                     "(.m3u8 / .mpd) http(s) URL.", json_schema_extra={"format": "uri"})
    page_url: str | None = Field(None, max_length=4000, description="The page that embeds "
                                 "or links it.", json_schema_extra={"format": "uri"})


class CaptureOut(BaseModel):
    event_id: int
    at: datetime = Field(description="When the capture began to air.")
    seconds: float = Field(description="Seconds of the capture taken into the reference "
                           f"(at most its first {PUSH_MAX_SECONDS:g}).")


# --- operations -------------------------------------------------------------------------------

@router.get("/events", response_model=Page[LiveEventOut])
def list_events(session: DbSession, caller: Caller,
                page: Annotated[PageParams, Depends(page_params)]) -> Page[LiveEventOut]:
    """Live events you may see, latest start first, with their feeds' health."""
    query = events_query(caller).order_by(LiveEvent.starts_at.desc(), LiveEvent.id.desc())
    return paginate(session, query, page, lambda event: event_out(session, event))


@router.post("/events", response_model=LiveEventOut, status_code=201)
def create_event(body: LiveEventIn, session: DbSession, caller: Caller) -> LiveEventOut:
    """Register a live event: its work, its official feed (or pushed captures) and the event
    campaign that looks for restreams between its bounds."""
    holder = holder_by_name(session, registering_holder(session, caller, body.holder))
    event = live_events.register_event(
        session, holder_id=holder.id, title=body.title, aliases=body.aliases,
        starts_at=body.starts_at, ends_at=body.ends_at, feed_url=body.feed_url,
        window_s=body.window_s, check_every_s=body.check_every_s, actor=caller.username)
    session.flush()
    return event_out(session, event)


@router.get("/events/{event_id}", response_model=LiveEventOut)
def show_event(event_id: PathId, session: DbSession, caller: Caller) -> LiveEventOut:
    """One live event: its bounds, feed health (state, newest segment, gaps), auto-confirm
    rule and its candidate streams counted by state."""
    return event_out(session, get_event(session, caller, event_id))


@router.patch("/events/{event_id}", response_model=LiveEventOut)
def edit_event(event_id: PathId, body: LiveEventPatch, session: DbSession,
               caller: Caller) -> LiveEventOut:
    """Change an event's title, aliases, bounds, feed, window or check interval (only the
    fields sent; ``feed_url: null`` switches to pushed captures)."""
    event = get_event(session, caller, event_id)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise BadInput("request body: send at least one field to change")
    for name in ("title", "starts_at", "ends_at", "window_s", "check_every_s", "aliases"):
        if name in changes and changes[name] is None:
            raise BadInput(f"{name}: may not be null")
    event = live_events.update_event(session, event.id, actor=caller.username, **changes)
    session.flush()
    return event_out(session, event)


@router.put("/events/{event_id}/auto-confirm", response_model=LiveEventOut)
def put_auto_confirm(event_id: PathId, body: AutoConfirmIn, session: DbSession,
                     caller: Caller) -> LiveEventOut:
    """Set or clear (staff) the event's auto-confirm rule: matches scoring at least ``score``
    are confirmed and listed without waiting for a reviewer."""
    require_staff(caller)
    event = get_event(session, caller, event_id)
    event = live_events.set_auto_confirm(session, event.id, body.score, actor=caller.username)
    session.flush()
    return event_out(session, event)


@router.get("/events/{event_id}/streams", response_model=Page[LiveStreamOut])
def list_streams(event_id: PathId, session: DbSession, caller: Caller,
                 page: Annotated[PageParams, Depends(page_params)],
                 state: Annotated[str | None, Query(
                     max_length=40, description="Only streams in this state.",
                     json_schema_extra={"enum": list(LIVE_STREAM_STATES)})] = None,
                 ) -> Page[LiveStreamOut]:
    """An event's candidate streams in the order they were found: state, page, site, delay,
    score, last check, and the time from discovery to match and to listing."""
    event = get_event(session, caller, event_id)
    return paginate(session, streams_query(event.id, check_state(state)), page, stream_out)


@router.post("/events/{event_id}/streams", response_model=LiveStreamOut, status_code=201)
def add_stream(event_id: PathId, body: LiveStreamIn, session: DbSession,
               caller: Caller) -> LiveStreamOut:
    """Add (staff) a candidate stream by hand, with the page it is on: it is checked at once.
    Adding one already known keeps it (and its first known page)."""
    require_staff(caller)
    event = get_event(session, caller, event_id)
    stream = record_candidate(session, event_id=event.id, url=body.url.strip(),
                              page_url=(body.page_url or "").strip() or None, found_by="staff",
                              at=utcnow())
    session.flush()
    return stream_out(stream)


@router.post("/events/{event_id}/captures", response_model=CaptureOut, status_code=201,
             responses=UPLOAD_RESPONSES, max_body_size=MAX_PUSH_BYTES + FORM_SLACK_BYTES)
@body_cap(lambda: MAX_PUSH_BYTES)
def push_event_capture(
    event_id: PathId, request: Request, session: DbSession, caller: Caller,
    file: Annotated[UploadFile, File(description="A capture of the event's official feed: a "
                                     "segment or a few minutes of it, any container ffmpeg "
                                     "reads (MPEG-TS captures pushed one after another are "
                                     "fingerprinted joined).")],
    at: Annotated[datetime | None, Form(description="When the capture began to air (ISO "
                                        "8601, UTC unless it names an offset); default: "
                                        "now. Within the event's bounds.")] = None,
) -> CaptureOut:
    """Push a capture of an event's official feed into its reference (the event's holder or
    staff), for an event registered without a feed URL: fingerprinted here, then taken in by
    the live service. 409 for an event with a feed URL; 422 for a time outside the event or
    a file that cannot be decoded; 413 over the size cap (read no further)."""
    event = get_event(session, caller, event_id)
    content = read_capped(file, MAX_PUSH_BYTES, "a capture")
    when = as_utc(at) or utcnow()
    seconds = push_capture(session, spool_dir(request.app.state.settings), event.id, content,
                           at=when)
    return CaptureOut(event_id=event.id, at=when, seconds=seconds)


@router.get("/streams/{stream_id}", response_model=LiveStreamDetail)
def show_stream(stream_id: PathId, session: DbSession, caller: Caller) -> LiveStreamDetail:
    """One candidate stream and its newest checks: each sample's outcome, delay, score,
    captures and CPU cost."""
    return stream_detail(session, get_stream(session, caller, stream_id))


@router.get("/events/{event_id}/timeline", response_model=list[TimelineEntry])
def show_timeline(event_id: PathId, session: DbSession, caller: Caller) -> list[TimelineEntry]:
    """What happened during the event, oldest first: streams found, checks' outcomes (a
    repeated outcome folded into one entry), matches, confirmations, listings, withdrawals,
    and the feed dropping and resuming."""
    return timeline(session, get_event(session, caller, event_id))

