"""Live-event rows built directly with the models, for the blocking list's tests: an event, and
matched candidate streams whose checks' captures were fetched from given addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.models import (
    Capture,
    Hit,
    LiveCheck,
    LiveEvent,
    LiveStream,
    RightsHolder,
    Site,
    Work,
)

T0 = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


def add_event(session: Session, title: str = "Cup final", *,
              auto_confirm_score: float | None = None,
              auto_confirm_set_by: str | None = None) -> LiveEvent:
    holder = session.scalar(select(RightsHolder).where(RightsHolder.name == "League")) \
        or RightsHolder(name="League")
    work = Work(holder=holder, title=title, kind="video")
    event = LiveEvent(work=work, starts_at=T0, ends_at=T0 + timedelta(hours=2),
                      feed_url="https://feed.example/live.m3u8", window_s=600, check_every_s=30,
                      feed_state="live", auto_confirm_score=auto_confirm_score,
                      auto_confirm_set_by=auto_confirm_set_by)
    session.add(event)
    session.flush()
    return event


def site_for(session: Session, url: str) -> Site:
    domain = urlsplit(url).netloc.lower()
    site = session.scalar(select(Site).where(Site.domain == domain))
    if site is None:
        site = Site(domain=domain)
        session.add(site)
        session.flush()
    return site


def add_capture(session: Session, url: str, ip: str | None, at: datetime,
                kind: str = "media") -> Capture:
    capture = Capture(kind=kind, url=url, fetched_at=at, http_status=200, ip=ip,
                      sha256="0" * 64, size=1)
    session.add(capture)
    session.flush()
    return capture


def add_matched_stream(session: Session, event: LiveEvent, url: str, ips: list[str], *,
                       score: float = 0.95, page_url: str | None = None,
                       matched: bool = True) -> LiveStream:
    """A candidate stream checked once per IP (playlist and segment fetched from it), matched
    (a pending hit) unless ``matched`` is false."""
    site = site_for(session, page_url or url)
    stream = LiveStream(event_id=event.id, url=url, page_url=page_url, site_id=site.id,
                        found_by="crawl", found_at=T0, state="checking", checks=0)
    session.add(stream)
    session.flush()
    for n, ip in enumerate(ips):
        at = T0 + timedelta(seconds=30 * (n + 1))
        playlist = add_capture(session, url, ip, at, kind="page")
        segment = add_capture(session, url.rsplit("/", 1)[0] + f"/seg{n}.ts", ip, at)
        session.add(LiveCheck(stream_id=stream.id, checked_at=at,
                              outcome="matched" if matched else "no_match",
                              score=score if matched else None, detail={},
                              playlist_capture_id=playlist.id, segment_capture_id=segment.id))
        stream.checks += 1
        stream.last_checked_at = at
    if matched:
        hit = Hit(work_id=event.work_id, site_id=site.id, url=url, page_url=page_url,
                  algorithm="live", score=score, status="pending")
        session.add(hit)
        session.flush()
        stream.hit_id, stream.state, stream.score = hit.id, "matched", score
        stream.matched_at, stream.delay_s = stream.last_checked_at, 42.0
    session.flush()
    return stream


def spread_domains(session: Session, ip: str, count: int) -> None:
    """``count`` unrelated sites recorded at ``ip`` (a CDN address serving many sites)."""
    for n in range(count):
        session.add(Site(domain=f"lawful{n}.{ip}.example", ips=[ip]))
    session.flush()
