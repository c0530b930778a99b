"""Database writes of a crawl: the CrawlRun, the Captures and their WARC records, the Hits,
and the outcomes of rechecks.

Plain synchronous functions taking a session; the pipelines run them on one writer thread.
A hit is identified by (work, media URL): finding the same copy again only refreshes
``last_seen_at``, so re-crawling a site never duplicates hits. A match of a work allowlisted
on the site (by its holder or for itself) is skipped and counted, never stored; a new hit
whose copy is already confirmed in a case names it, and may be confirmed at once
(:mod:`casefiles.staydown`). The responses backing a new hit are written to the run's WARC
file, durably, before the Capture rows pointing at them are stored, so a Capture never
points at a record that is missing or cut short. A finished run may propose its site as a
mirror of a case (:mod:`casefiles.mirror_proposals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from typing import Any, NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casefiles.mirror_proposals import propose_from_run
from casefiles.notices import judge, record_recheck
from casefiles.staydown import apply_staydown
from crawlers.health import DOWN_AFTER_RUNS, SITE_CRAWL_PURPOSES, health_problems, is_site_crawl
from crawlers.items import Exchange, MediaItem, PageInfo, RecheckItem, reason_phrase
from swordnet.core.models import (
    Capture,
    CrawlRun,
    FeedEntry,
    Hit,
    NoticeUrl,
    RecheckResult,
    Site,
    WarcFile,
)
from swordnet.core.processes import this_process
from swordnet.core.timeutil import utcnow
from swordnet.evidence.warc import SealedWarc, WarcRecorder, WarcRef
from swordnet.watch.allowlists import allowlisted_works
from swordnet.watch.targets import site_for_url, site_key
from swordnet.works.quarantine import QuarantineWatch


@dataclass(frozen=True)
class RunRef:
    run_id: int
    site_id: int


def open_run(session: Session, run_id: int | None, start_url: str, spider: str) -> RunRef:
    """The CrawlRun this crawl records into (the given one, or a new one), naming the
    calling process as the one crawling it."""
    if run_id is not None:
        run = session.get(CrawlRun, run_id)
        if run is None:
            raise LookupError(f"no crawl run with id {run_id}")
    else:
        site = site_for_url(session, start_url)
        run = CrawlRun(site_id=site.id, start_url=start_url, spider=spider)
        session.add(run)
    run.outcome = "running"
    me = this_process()
    run.host, run.pid, run.pid_started_at = me.host, me.pid, me.started_at
    session.flush()
    return RunRef(run.id, run.site_id)


def _previous_links(session: Session, run: CrawlRun) -> int | None:
    """Links found by the last healthy site crawl of the same target (or site and spider);
    tip checks and rechecks are never that baseline."""
    query = select(CrawlRun).where(CrawlRun.id != run.id, CrawlRun.healthy.is_(True),
                                   CrawlRun.spider == run.spider,
                                   CrawlRun.purpose.in_(SITE_CRAWL_PURPOSES))
    query = query.where(CrawlRun.target_id == run.target_id) if run.target_id else \
        query.where(CrawlRun.site_id == run.site_id)
    previous = session.scalar(query.order_by(CrawlRun.id.desc()).limit(1))
    return previous.stats.get("links_found") if previous is not None else None


def _note_reachability(session: Session, site_id: int, reachable: int | None) -> None:
    """Count runs whose start page failed; enough in a row mark the site down."""
    site = session.get(Site, site_id)
    assert site is not None
    if reachable is None:
        return
    if reachable:
        site.unreachable_runs = 0
        if site.status == "down":
            site.status = "active"
        return
    site.unreachable_runs += 1
    if site.unreachable_runs >= DOWN_AFTER_RUNS and site.status == "active":
        site.status = "down"


def finish_run(
    session: Session, ref: RunRef, finish_reason: str, stats: dict[str, Any],
    errors: list[dict[str, str]], failure: str | None = None,
) -> None:
    """Record how the run ended, its statistics and health, and the site's reachability.

    ``failure`` (one line) says why storing failed, when it did: the run is then ``failed``
    with that as its error, whatever made the spider close.
    """
    run = session.get(CrawlRun, ref.run_id)
    assert run is not None
    run.finished_at = utcnow()
    run.finish_reason = finish_reason
    if failure is not None:
        run.outcome, run.error = "failed", failure
    else:
        run.outcome = "finished" if finish_reason in ("finished", "closespider_timeout") \
            else "interrupted"
    duration = (run.finished_at - run.started_at).total_seconds()
    run.stats = {**stats, "duration_s": round(duration, 2)}
    run.errors = errors
    run.health_problems = health_problems(stats, finish_reason, _previous_links(session, run),
                                          run.purpose)
    run.healthy = not run.health_problems
    if is_site_crawl(run.purpose):  # a tip's page is not the site's start page
        _note_reachability(session, ref.site_id, stats.get("start_reachable"))
    propose_from_run(session, run)


def note_sealed(session: Session, sealed: list[SealedWarc]) -> None:
    """Record the sha256 under which finished WARC files now sit in the evidence store."""
    now = utcnow()
    for warc in sealed:
        row = session.scalar(select(WarcFile).where(WarcFile.filename == warc.filename))
        if row is None:  # a file whose crawl died before any capture pointed into it, or
            try:         # one another crawl's recovery found by its receipt
                with session.begin_nested():
                    row = WarcFile(filename=warc.filename)
                    session.add(row)
            except IntegrityError:  # its crawl recorded it meanwhile
                row = session.scalar(select(WarcFile)
                                     .where(WarcFile.filename == warc.filename))
                assert row is not None
        row.sha256, row.size, row.sealed_at = warc.sha256, warc.size, now


def _warc_file(session: Session, ref: RunRef, filename: str) -> None:
    row = session.scalar(select(WarcFile).where(WarcFile.filename == filename))
    if row is None:
        session.add(WarcFile(filename=filename, run_id=ref.run_id))
    elif row.run_id is None:  # noted as sealed (by a recovery) before its capture was stored
        row.run_id = ref.run_id


def _record(recorder: WarcRecorder, exchange: Exchange) -> WarcRef:
    headers = exchange.response_headers
    if exchange.rendered:
        headers = [*headers, ("X-Swordnet-Rendered-By", "Chromium (DOM after scripts ran)")]
    return recorder.record_exchange(
        url=exchange.url, method=exchange.method, request_headers=exchange.request_headers,
        status=exchange.status, reason=reason_phrase(exchange.status),
        response_headers=headers, body=exchange.body, ip=exchange.ip,
        fetched_at=exchange.fetched_at)


def _capture(session: Session, ref: RunRef, recorder: WarcRecorder, kind: str,
             exchange: Exchange, title: str | None = None) -> Capture:
    warc = _record(recorder, exchange)
    _warc_file(session, ref, warc.filename)
    capture = Capture(run_id=ref.run_id, kind=kind, url=exchange.url,
                      fetched_at=exchange.fetched_at, http_status=exchange.status,
                      ip=exchange.ip, sha256=exchange.sha256,
                      content_type=exchange.content_type, size=len(exchange.body), title=title,
                      warc_file=warc.filename, warc_offset=warc.offset)
    session.add(capture)
    return capture


def page_capture(session: Session, ref: RunRef, page: PageInfo,
                 recorder: WarcRecorder) -> Capture:
    """The page's capture in this run: recorded (with its screenshot) the first time."""
    capture = session.scalar(select(Capture).where(
        Capture.run_id == ref.run_id, Capture.kind == "page", Capture.url == page.url,
        Capture.sha256 == page.sha256))
    if capture is None:
        capture = _capture(session, ref, recorder, "page", page.exchange, page.title)
        if page.screenshot is not None:
            shot = recorder.record_resource(url=page.url, content_type="image/png",
                                            body=page.screenshot,
                                            fetched_at=page.exchange.fetched_at)
            _warc_file(session, ref, shot.filename)
            session.add(Capture(run_id=ref.run_id, kind="screenshot", url=page.url,
                                fetched_at=page.exchange.fetched_at, http_status=0,
                                ip=None, sha256=sha256(page.screenshot).hexdigest(),
                                content_type="image/png", size=len(page.screenshot),
                                title=page.title, warc_file=shot.filename,
                                warc_offset=shot.offset))
    return capture


def _note_site_seen(session: Session, ref: RunRef, ip: str | None, at: datetime) -> None:
    site = session.get(Site, ref.site_id)
    assert site is not None
    site.last_seen_at = at
    if ip and ip not in site.ips:
        site.ips = [*site.ips, ip]


class Stored(NamedTuple):
    """What storing one matched item did with its matches."""

    new: int                 # new pending (or automatically confirmed) hits
    seen: int                # hits already stored, seen again
    allowlisted: int = 0     # matches skipped: the work is allowlisted on the site
    known: int = 0           # new hits that are known copies of a case (staydown)
    auto_confirmed: int = 0  # of those, confirmed automatically


def _allowlisted(session: Session, ref: RunRef, item: MediaItem) -> set[int]:
    """Works of ``item``'s matches allowlisted on the run's site or the page's."""
    site = session.get(Site, ref.site_id)
    assert site is not None
    work_ids = {m.work_id for m in item.matches}
    skipped = allowlisted_works(session, site.domain, work_ids)
    page_site = site_key(item.page.url)
    if page_site != site.domain:
        skipped |= allowlisted_works(session, page_site, work_ids - skipped)
    return skipped


def store_matches(session: Session, ref: RunRef, item: MediaItem, watch: QuarantineWatch,
                  recorder: WarcRecorder) -> Stored:
    """Store captures (WARC records first) and pending hits for a matched media item.
    ``watch`` applies the quarantine rule to every new hit; staydown then marks (and may
    confirm) known copies.
    """
    now = utcnow()
    _note_site_seen(session, ref, item.page.exchange.ip, now)
    skipped = _allowlisted(session, ref, item)
    matches = [m for m in item.matches if m.work_id not in skipped]
    known = {h.work_id: h for h in session.scalars(select(Hit).where(
        Hit.url == item.url, Hit.work_id.in_([m.work_id for m in matches])))}
    new = [m for m in matches if m.work_id not in known]
    for hit in known.values():
        hit.last_seen_at = now
    if not new:
        return Stored(0, len(known), len(skipped))
    page = page_capture(session, ref, item.page, recorder)
    media_capture = page if item.is_page else \
        _capture(session, ref, recorder, "media", item.exchange)
    stored: list[Hit] = []
    for match in new:
        hit = Hit(work_id=match.work_id, fingerprint_id=match.fingerprint_id,
                  site_id=ref.site_id, run_id=ref.run_id, media_capture=media_capture,
                  page_capture=page, url=item.url, page_url=item.page.url,
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
            stored.append(hit)
        except IntegrityError:  # a concurrent crawl stored the same copy first
            pass
    outcomes = [apply_staydown(session, hit, media_capture.sha256) for hit in stored]
    return Stored(len(stored), len(known) + len(new) - len(stored), len(skipped),
                  sum(o is not None for o in outcomes), outcomes.count("auto_confirmed"))


def _earlier_copy(session: Session, notice_url_id: int, digest: str) -> Capture | None:
    """The first capture with the body ``digest`` whose record holds it (not a revisit), among
    the hit's own captures and earlier rechecks of the hit: all in the case's bundle."""
    hit = session.scalar(select(Hit).join(NoticeUrl, NoticeUrl.hit_id == Hit.id)
                         .where(NoticeUrl.id == notice_url_id))
    assert hit is not None
    rechecked = select(RecheckResult.capture_id).join(
        NoticeUrl, RecheckResult.notice_url_id == NoticeUrl.id).where(
        NoticeUrl.hit_id == hit.id)
    own = [c for c in (hit.media_capture_id, hit.page_capture_id) if c is not None]
    return session.scalar(select(Capture).where(
        Capture.sha256 == digest, Capture.revisit_of.is_(None), Capture.warc_file.is_not(None),
        Capture.warc_offset.is_not(None), or_(Capture.id.in_(own), Capture.id.in_(rechecked)))
        .order_by(Capture.id).limit(1))


def _recheck_capture(session: Session, ref: RunRef, recorder: WarcRecorder,
                     item: RecheckItem, exchange: Exchange) -> Capture:
    """The recheck's response as a capture: a WARC ``revisit`` record pointing at the
    earlier record of the same body when there is one, a full response otherwise."""
    earlier = _earlier_copy(session, item.notice_url_id, exchange.sha256) \
        if exchange.body else None
    if earlier is None:
        return _capture(session, ref, recorder, "media", exchange)
    warc = recorder.record_revisit(
        url=exchange.url, method=exchange.method, request_headers=exchange.request_headers,
        status=exchange.status, reason=reason_phrase(exchange.status),
        response_headers=exchange.response_headers, body=exchange.body, ip=exchange.ip,
        fetched_at=exchange.fetched_at, refers_to_uri=earlier.url,
        refers_to_date=earlier.fetched_at)
    _warc_file(session, ref, warc.filename)
    capture = Capture(run_id=ref.run_id, kind="media", url=exchange.url,
                      fetched_at=exchange.fetched_at, http_status=exchange.status,
                      ip=exchange.ip, sha256=exchange.sha256,
                      content_type=exchange.content_type, size=len(exchange.body),
                      warc_file=warc.filename, warc_offset=warc.offset, revisit_of=earlier.id)
    session.add(capture)
    return capture


def store_recheck(session: Session, ref: RunRef, item: RecheckItem,
                  recorder: WarcRecorder) -> str:
    """Capture a recheck's response (removal pages and all; a body already stored for the
    hit as a revisit record) and record its outcome."""
    capture = None
    status = None
    if item.exchange is not None:
        status = item.exchange.status
        capture = _recheck_capture(session, ref, recorder, item, item.exchange)
        session.flush()
    outcome, reason = judge(status, item.still_matches)
    if item.failure:
        reason = f"{reason}: {item.failure}"
    record_recheck(session, item.notice_url_id, ref.run_id, outcome, status, reason, capture)
    return outcome


def feed_versions(session: Session, site_domain: str) -> dict[str, str]:
    """The feed entries already crawled on a site, with the version seen."""
    site = session.scalar(select(Site).where(Site.domain == site_domain))
    if site is None:
        return {}
    rows = session.execute(select(FeedEntry.url, FeedEntry.version)
                           .where(FeedEntry.site_id == site.id)).all()
    return {url: version for url, version in rows}


def remember_feed_entries(session: Session, site_domain: str, entries: dict[str, str]) -> None:
    site = session.scalar(select(Site).where(Site.domain == site_domain))
    if site is None:
        return
    known = {e.url: e for e in session.scalars(
        select(FeedEntry).where(FeedEntry.site_id == site.id, FeedEntry.url.in_(entries)))}
    now = utcnow()
    for url, version in entries.items():
        entry = known.get(url)
        if entry is None:
            session.add(FeedEntry(site_id=site.id, url=url, version=version, seen_at=now))
        else:
            entry.version, entry.seen_at = version, now
