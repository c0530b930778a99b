"""Special campaigns: time-boxed pushes with their own targets, frequency and statistics.

A campaign names watch targets already on the watchlist; between its bounds the scheduler
crawls each of them at the campaign's frequency, on top of (not instead of) the target's
standing schedule, and tags those runs with the campaign. Its statistics count what
concerns its targets within its window, whichever run found it
(:mod:`swordnet.core.campaign_scope`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from swordnet.core.campaign_scope import hit_condition, window
from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import Campaign, CrawlRun, Hit, WatchTarget
from swordnet.core.timeutil import utcnow
from swordnet.watch.targets import get_target

MIN_EVERY_SECONDS = 1
MAX_EVERY_SECONDS = 366 * 86400


def parse_time(text: str) -> datetime:
    """A campaign bound: an ISO date or date-time, read as UTC unless it names an offset.

    >>> parse_time("2026-12-01").isoformat()
    '2026-12-01T00:00:00+00:00'
    >>> parse_time("2026-12-01T08:30+08:00").isoformat()
    '2026-12-01T00:30:00+00:00'
    >>> parse_time("next week")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: not a date or date-time: 'next week' (use e.g. 2026-12-01 ...
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"not a date or date-time: {text!r} "
                       "(use e.g. 2026-12-01 or 2026-12-01T08:00)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalise_name(name: str) -> str:
    """How campaign names are compared: case and surrounding or repeated spaces ignored.

    >>> normalise_name("  World  Cup 2026 ")
    'world cup 2026'
    """
    return " ".join(name.split()).casefold()


def find_campaign(session: Session, name: str) -> Campaign:
    """The campaign called ``name`` (or with that id); NotFound naming it otherwise."""
    wanted = normalise_name(name)
    for campaign in session.scalars(select(Campaign)):
        if normalise_name(campaign.name) == wanted or (name.isdigit() and campaign.id == int(name)):
            return campaign
    raise NotFound(f"no campaign named {name!r} (see `swordnet campaigns list`)")


def check_name(session: Session, name: str, own_id: int | None = None) -> str:
    """A campaign name, spaces tidied, if no other campaign (than ``own_id``) has it."""
    name = " ".join(name.split())
    if not name:
        raise BadInput("a campaign needs a name")
    for existing in session.scalars(select(Campaign)):
        if normalise_name(existing.name) == normalise_name(name) and existing.id != own_id:
            raise BadInput(
                f"a campaign named {existing.name!r} already exists (id {existing.id}, "
                f"{existing.starts_at:%Y-%m-%d} to {existing.ends_at:%Y-%m-%d}); "
                "choose another name")
    return name


def check_window(starts_at: datetime, ends_at: datetime) -> None:
    """A campaign's bounds must end after they start, and in the future."""
    if ends_at <= starts_at:
        raise BadInput(f"--to ({ends_at.isoformat()}) must be after --from "
                       f"({starts_at.isoformat()})")
    if ends_at <= utcnow():
        raise BadInput(f"--to ({ends_at.isoformat()}) is already in the past")


def check_every(every_seconds: int) -> int:
    """How often a campaign crawls each target, if at most :data:`MAX_EVERY_SECONDS`."""
    if not MIN_EVERY_SECONDS <= every_seconds <= MAX_EVERY_SECONDS:
        raise BadInput(f"--every {every_seconds} s is out of range (at most "
                       f"{MAX_EVERY_SECONDS // 86400} days)")
    return every_seconds


def campaign_targets(session: Session, target_ids: list[int]) -> list[WatchTarget]:
    """The watch targets with these ids (at least one); NotFound naming an unknown one."""
    if not target_ids:
        raise BadInput("a campaign needs at least one watch target (--targets 1,2,3)")
    return [get_target(session, target_id) for target_id in dict.fromkeys(target_ids)]


def create_campaign(session: Session, name: str, starts_at: datetime, ends_at: datetime,
                    target_ids: list[int], every_seconds: int,
                    focus: str | None = None) -> Campaign:
    """Create a campaign; raises BadInput (or NotFound for an unknown target) naming the bad
    input, before anything is written."""
    name = check_name(session, name)
    check_window(starts_at, ends_at)
    check_every(every_seconds)
    targets = campaign_targets(session, target_ids)
    campaign = Campaign(name=name, starts_at=starts_at, ends_at=ends_at,
                        every_seconds=every_seconds, focus=focus, targets=targets)
    session.add(campaign)
    session.flush()
    return campaign


def update_campaign(session: Session, campaign: Campaign, *, name: str | None = None,
                    starts_at: datetime | None = None, ends_at: datetime | None = None,
                    target_ids: list[int] | None = None, every_seconds: int | None = None,
                    focus: str | None = None) -> Campaign:
    """Change a planned or running campaign (None: unchanged; an empty focus clears it); its
    start only while it is planned. Checked as at creation; nothing changes if one is bad."""
    state = campaign_state(campaign)
    if state in ("stopped", "ended"):
        raise Conflict(f"campaign {campaign.name!r} is {state}; it can no longer be changed")
    if starts_at is not None and starts_at != campaign.starts_at and state != "planned":
        raise Conflict(f"campaign {campaign.name!r} is running; its start can no longer "
                       "change")
    new_name = check_name(session, name, campaign.id) if name is not None else campaign.name
    start = starts_at or campaign.starts_at
    end = ends_at or campaign.ends_at
    check_window(start, end)
    every = check_every(every_seconds) if every_seconds is not None else campaign.every_seconds
    targets = (campaign_targets(session, target_ids) if target_ids is not None
               else campaign.targets)
    campaign.name, campaign.starts_at, campaign.ends_at = new_name, start, end
    campaign.every_seconds, campaign.targets = every, targets
    if focus is not None:
        campaign.focus = focus.strip() or None
    session.flush()
    return campaign


def effective_end(campaign: Campaign) -> datetime:
    """When the campaign's crawling ends: its planned end, or earlier if it was stopped."""
    return window(campaign)[1]


def campaign_state(campaign: Campaign, now: datetime | None = None) -> str:
    now = now or utcnow()
    if campaign.stopped_at is not None:
        return "stopped"
    if now < campaign.starts_at:
        return "planned"
    return "running" if now < campaign.ends_at else "ended"


def stop_campaign(session: Session, name: str) -> Campaign:
    """End a campaign now; its crawls stop being scheduled, its history stays."""
    campaign = find_campaign(session, name)
    if campaign_state(campaign) in ("stopped", "ended"):
        raise Conflict(f"campaign {campaign.name!r} is already {campaign_state(campaign)}")
    campaign.stopped_at = utcnow()
    return campaign


def campaign_summary(session: Session, campaign: Campaign) -> dict[str, Any]:
    """A campaign's bounds, state, targets and crawl statistics so far: its own runs, and
    the hits on its sites within its window whichever run found them
    (:mod:`swordnet.core.campaign_scope`)."""
    runs = session.execute(
        select(CrawlRun.outcome, func.count()).where(CrawlRun.campaign_id == campaign.id)
        .group_by(CrawlRun.outcome)).all()
    hits = session.scalar(select(func.count(Hit.id)).where(hit_condition(campaign.id))) or 0
    by_outcome = {outcome: n for outcome, n in runs}
    return {"id": campaign.id, "name": campaign.name, "state": campaign_state(campaign),
            "from": campaign.starts_at.isoformat(timespec="minutes"),
            "to": effective_end(campaign).isoformat(timespec="minutes"),
            "every_seconds": campaign.every_seconds, "focus": campaign.focus,
            "targets": [t.id for t in campaign.targets],
            "runs": sum(by_outcome.values()), "runs_by_outcome": by_outcome,
            "hits_found": hits}
