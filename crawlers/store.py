"""Database writes of a crawl: the CrawlRun, the Captures and the Hits.

Plain synchronous functions taking a session; the pipelines run them on one writer thread.
A hit is identified by (work, media URL): finding the same copy again only refreshes
``last_seen_at``, so re-crawling a site never duplicates hits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crawlers.items import MediaItem
from swordnet.models import Capture, CrawlRun, Hit, Site
from swordnet.quarantine import QuarantineWatch
from swordnet.timeutil import utcnow
from swordnet.watchlist import site_for_url


@dataclass(frozen=True)
class RunRef:
    run_id: int
    site_id: int


def open_run(session: Session, run_id: int | None, start_url: str, spider: str) -> RunRef:
    """The CrawlRun this crawl records into: the given one, or a new one."""
    if run_id is not None:
        run = session.get(CrawlRun, run_id)
        if run is None:
            raise LookupError(f"no crawl run with id {run_id}")
    else:
        site = site_for_url(session, start_url)
        run = CrawlRun(site_id=site.id, start_url=start_url, spider=spider)
        session.add(run)
    run.outcome = "running"
    session.flush()
    return RunRef(run.id, run.site_id)


def finish_run(
    session: Session, ref: RunRef, finish_reason: str, stats: dict[str, Any],
    errors: list[dict[str, str]],
) -> None:
    run = session.get(CrawlRun, ref.run_id)
    assert run is not None
    run.finished_at = utcnow()
    run.finish_reason = finish_reason
    run.outcome = "finished" if finish_reason == "finished" else "interrupted"
    duration = (run.finished_at - run.started_at).total_seconds()
    run.stats = {**stats, "duration_s": round(duration, 2)}
    run.errors = errors


def _page_capture(session: Session, ref: RunRef, item: MediaItem) -> Capture:
    page = item.page
    capture = session.scalar(select(Capture).where(
        Capture.run_id == ref.run_id, Capture.kind == "page", Capture.url == page.url,
        Capture.sha256 == page.sha256))
    if capture is None:
        capture = Capture(run_id=ref.run_id, kind="page", url=page.url, fetched_at=page.fetched_at,
                          http_status=page.status, ip=page.ip, sha256=page.sha256,
                          content_type=page.content_type, size=page.size, title=page.title)
        session.add(capture)
    return capture


def _note_site_seen(session: Session, ref: RunRef, ip: str | None, at: datetime) -> None:
    site = session.get(Site, ref.site_id)
    assert site is not None
    site.last_seen_at = at
    if ip and ip not in site.ips:
        site.ips = [*site.ips, ip]


def store_matches(session: Session, ref: RunRef, item: MediaItem,
                  watch: QuarantineWatch) -> tuple[int, int]:
    """Store captures and pending hits for a matched media item; returns (new, already known).

    ``watch`` applies the quarantine rule to every new hit.
    """
    now = utcnow()
    _note_site_seen(session, ref, item.page.ip, now)
    known = {h.work_id: h for h in session.scalars(select(Hit).where(
        Hit.url == item.url, Hit.work_id.in_([m.work_id for m in item.matches])))}
    new = [m for m in item.matches if m.work_id not in known]
    for hit in known.values():
        hit.last_seen_at = now
    if not new:
        return 0, len(known)
    page_capture = _page_capture(session, ref, item)
    media_capture = Capture(run_id=ref.run_id, kind="media", url=item.url,
                            fetched_at=item.fetched_at, http_status=item.status, ip=item.ip,
                            sha256=item.sha256,
                            content_type=item.content_type, size=len(item.body))
    session.add(media_capture)
    stored = 0
    for match in new:
        hit = Hit(work_id=match.work_id, fingerprint_id=match.fingerprint_id,
                  site_id=ref.site_id, run_id=ref.run_id, media_capture=media_capture,
                  page_capture=page_capture, url=item.url, page_url=item.page.url,
                  algorithm=match.algorithm, variant=match.variant, stage=match.stage,
                  score=match.score,
                  detail={**match.detail, "note": item.note} if item.note else match.detail,
                  status="pending", created_at=now,
                  last_seen_at=now)
        try:
            with session.begin_nested():
                session.add(hit)
                session.flush()
                watch.note_new_hit(session, hit)
            stored += 1
        except IntegrityError:  # a concurrent crawl stored the same copy first
            pass
    return stored, len(known) + len(new) - stored
