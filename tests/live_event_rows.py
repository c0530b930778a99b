"""Live events written straight as rows, for the live API, console and browser tests: what the
live service, discovery and the blocking list would have stored part-way through an event.

Two holders' events: north's "Cup Final" (an HLS feed, live, with one gap) with four candidate
streams (matched, listed with its addresses, offline, checking), and harbour's "Gala Night"
(pushed captures, waiting) with one. Every time is fixed from :data:`T0`, so views can be
checked to the second. A stream's page is a crawled ``javascript:`` URL, to be shown as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from swordnet.accounts.users import add_user, create_token
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import (
    BlockEntry,
    Hit,
    LiveCheck,
    LiveEvent,
    LiveFeedGap,
    LiveStream,
    RightsHolder,
    Site,
    Work,
)

T0 = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)
PASSWORD = "floodlights over the final whistle"
HOLDER_A = "North Light Pictures"
HOLDER_B = "Harbour Press"
USERS = {"reviewer": ("staff", None), "north": ("rights_holder", HOLDER_A),
         "harbour": ("rights_holder", HOLDER_B)}
XSS_PAGE = "javascript:alert(1)"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass(frozen=True)
class LiveRows:
    """Ids of what :func:`seed_live_rows` wrote, and an API token per user."""

    final: int
    gala: int
    matched: int  # a pending hit: ready to be confirmed and listed
    listed: int
    offline: int
    checking: int
    gala_stream: int
    tokens: dict[str, str]


def _hit(session: Session, work: Work, site: Site, url: str, page: str, status: str,
         found: datetime) -> Hit:
    hit = Hit(work_id=work.id, site_id=site.id, url=url, page_url=page, algorithm="live",
              score=0.93, status=status, created_at=found, last_seen_at=found)
    if status != "pending":
        hit.reviewer, hit.reviewed_at = "reviewer", found + timedelta(seconds=30)
    session.add(hit)
    session.flush()
    return hit


def stream(session: Session, event_id: int, site: Site, url: str, **values: object
           ) -> LiveStream:
    """A candidate stream row, as discovery records it."""
    values.setdefault("found_by", "crawl")
    row = LiveStream(event_id=event_id, url=url, site_id=site.id, **values)
    session.add(row)
    session.flush()
    return row


def seed_live_rows(settings: Settings) -> LiveRows:
    """Users with tokens, two holders' events and their streams, checks, gaps and blocking
    entries, in ``settings``' (new) database."""
    db = open_database(settings)
    try:
        with db.session() as session:
            tokens = {}
            for name, (role, holder) in USERS.items():
                add_user(session, name, PASSWORD, role, holder, new_holder=holder is not None)
                tokens[name] = create_token(session, name, "tests").secret
            holders = {h.name: h for h in session.query(RightsHolder)}
            final_work = Work(holder_id=holders[HOLDER_A].id, title="Cup Final",
                              aliases=["Final 2026"], kind="video")
            gala_work = Work(holder_id=holders[HOLDER_B].id, title="Gala Night", kind="video")
            session.add_all([final_work, gala_work])
            session.flush()
            final = LiveEvent(work_id=final_work.id, starts_at=T0, ends_at=at(180),
                              feed_url="https://feed.example/live/master.m3u8",
                              feed_state="live", feed_checked_at=at(50),
                              feed_last_segment_at=at(49.9), created_at=at(-60))
            gala = LiveEvent(work_id=gala_work.id, starts_at=at(60 * 24),
                             ends_at=at(60 * 27), feed_url=None, created_at=at(-30))
            session.add_all([final, gala])
            session.flush()
            session.add(LiveFeedGap(event_id=final.id, started_at=at(20), ended_at=at(22),
                                    reason="feed answered 503"))
            pirate = Site(domain="restream.pirate.test")
            other = Site(domain="sportz.pirate.test")
            session.add_all([pirate, other])
            session.flush()

            matched_hit = _hit(session, final_work, pirate,
                               "https://restream.pirate.test/hls/final.m3u8",
                               "https://restream.pirate.test/watch/final", "pending", at(10.5))
            matched = stream(session, final.id, pirate, matched_hit.url,
                             page_url=matched_hit.page_url, found_at=at(10), state="matched",
                             checks=3, last_checked_at=at(11), last_outcome="matched",
                             hit_id=matched_hit.id, matched_at=at(10) + timedelta(seconds=40),
                             delay_s=42.0, score=0.93)
            for minute, outcome in ((10.1, "no_reference"), (10.6, "matched"), (11, "matched")):
                session.add(LiveCheck(stream_id=matched.id, checked_at=at(minute),
                                      outcome=outcome,
                                      score=0.93 if outcome == "matched" else None))

            listed_hit = _hit(session, final_work, other,
                              "https://cdn.sportz.pirate.test/live/index.m3u8",
                              "https://sportz.pirate.test/final", "confirmed", at(12.5))
            listed = stream(session, final.id, other, listed_hit.url,
                            page_url=listed_hit.page_url, found_by="search", found_at=at(12),
                            state="listed", checks=2, last_checked_at=at(13),
                            last_outcome="matched", hit_id=listed_hit.id,
                            matched_at=at(12.5), delay_s=75.5, score=0.88,
                            listed_at=at(12) + timedelta(seconds=70))
            session.add(LiveCheck(stream_id=listed.id, checked_at=at(12.5), outcome="matched",
                                  score=0.88, delay_s=75.5, cpu_s=0.4))
            session.add(LiveCheck(stream_id=listed.id, checked_at=at(13), outcome="matched",
                                  score=0.9, delay_s=75.0, cpu_s=0.5))
            listed_at = at(12) + timedelta(seconds=70)
            session.add_all([
                BlockEntry(event_id=final.id, stream_id=listed.id, kind="fqdn",
                           value="cdn.sportz.pirate.test", first_seen_at=at(12),
                           last_seen_at=at(13), listed_at=listed_at, listed_by="reviewer"),
                BlockEntry(event_id=final.id, stream_id=listed.id, kind="ipv4",
                           value="198.51.100.7", first_seen_at=at(12), last_seen_at=at(13),
                           listed_at=None, shared_infrastructure=True,
                           shared_reason="in ExampleCDN's ranges"),
                BlockEntry(event_id=final.id, stream_id=listed.id, kind="fqdn",
                           value="sportz.pirate.test", first_seen_at=at(12),
                           last_seen_at=at(13), listed_at=listed_at, listed_by="reviewer",
                           withdrawn_at=at(30), withdrawn_by="reviewer",
                           withdraw_reason="the page host, not the stream's")])

            offline = stream(session, final.id, pirate,
                             "https://restream.pirate.test/hls/<script>.m3u8",
                             page_url=XSS_PAGE, found_at=at(15), state="offline", checks=3,
                             last_checked_at=at(16), last_outcome="offline",
                             last_error="connection refused")
            for minute in (15.1, 15.6, 16):
                session.add(LiveCheck(stream_id=offline.id, checked_at=at(minute),
                                      outcome="offline"))
            checking = stream(session, final.id, other, "https://sportz.pirate.test/b.m3u8",
                              found_at=at(40))
            gala_stream = stream(session, gala.id, pirate,
                                 "https://restream.pirate.test/hls/gala.m3u8", found_at=at(5))
            return LiveRows(final=final.id, gala=gala.id, matched=matched.id,
                            listed=listed.id, offline=offline.id, checking=checking.id,
                            gala_stream=gala_stream.id, tokens=tokens)
    finally:
        db.dispose()


def add_matched_stream(db: Database, event_id: int, url: str, page_url: str,
                       found: datetime) -> int:
    """A restream discovery found and the checker matched (its hit pending), written as the
    live service would while the event runs; its id."""
    with db.session() as session:
        event = session.get(LiveEvent, event_id)
        assert event is not None
        site = Site(domain=url.split("/")[2])
        session.add(site)
        session.flush()
        hit = _hit(session, event.work, site, url, page_url, "pending", found)
        row = stream(session, event_id, site, url, page_url=page_url, found_at=found,
                     state="matched", checks=1, last_checked_at=found, last_outcome="matched",
                     hit_id=hit.id, matched_at=found, delay_s=21.0, score=0.97)
        return row.id
