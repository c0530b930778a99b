"""Live events registered by rights holders: the event's work, its feed, its campaign.

INTERFACE SEED (owner: live-service helper): signatures fixed, bodies to be written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from swordnet.core.models import LiveEvent


def register_event(session: Session, *, holder_id: int, title: str, aliases: list[str],
                   starts_at: datetime, ends_at: datetime, feed_url: str | None,
                   window_s: int = 600, check_every_s: int = 30, actor: str) -> LiveEvent:
    """Register a live event: its work (kind video, so hits and cases are the usual ones) and
    its event campaign (crawling at the event's pace between its bounds); raises BadInput
    naming the field for a bad value."""
    raise NotImplementedError


def update_event(session: Session, event_id: int, *, actor: str,
                 **changes: object) -> LiveEvent:
    """Change an event's title, aliases, bounds, feed, window or check interval."""
    raise NotImplementedError


def set_auto_confirm(session: Session, event_id: int, score: float | None, *,
                     actor: str) -> LiveEvent:
    """Set (or clear, None) the event's auto-confirm rule: matches scoring at least ``score``
    are confirmed and listed at once."""
    raise NotImplementedError


def running_events(session: Session, now: datetime) -> list[LiveEvent]:
    """Events whose bounds contain ``now``."""
    raise NotImplementedError
