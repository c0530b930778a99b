"""Candidate restreams of a live event: recorded once per (event, URL), from crawls, searches,
tips or staff.

INTERFACE SEED (owner: live-service helper): signatures fixed, bodies to be written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from swordnet.core.models import CrawlRun, LiveEvent, LiveStream


def record_candidate(session: Session, *, event_id: int, url: str, page_url: str | None,
                     found_by: str, at: datetime, run_id: int | None = None,
                     page_capture_id: int | None = None) -> LiveStream:
    """Record a candidate stream (idempotent: the same event and URL is the same stream, its
    page kept when first known); due for its first check at once. Raises BadInput for a URL
    that is not http(s)."""
    raise NotImplementedError


def events_of_run(session: Session, run: CrawlRun, now: datetime) -> list[LiveEvent]:
    """The running events a crawl run works for (its campaign is their event campaign)."""
    raise NotImplementedError
