"""Complaints and public tips: single URLs queued for a check within minutes.

A tip is checked by crawling its URL (the page and the media on it, or the media file it
points at) as a run of its own; the tip then records which hits the check found there and,
if the reporter named a work, whether that work was among them. A URL that could not be
fetched at all (no such host, connection refused, a server error) leaves the tip ``failed``
with the reason, since the check saw nothing. A tip on a live event's work is checked in a run
of the event's campaign, which also reads the page for the event's streams.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from swordnet.accounts.access import get_work
from swordnet.accounts.users import Principal
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import CrawlRun, Hit, LiveEvent, LiveStream, Tip, Work
from swordnet.core.timeutil import utcnow
from swordnet.watch.targets import check_url, site_for_url


def add_tip(session: Session, url: str, work_id: int | None = None,
            reporter: str | None = None) -> Tip:
    """Queue a URL for checking; refused (BadTarget, NotFound) naming a bad URL or unknown
    work."""
    url = check_url(url)
    if work_id is not None and session.get(Work, work_id) is None:
        raise NotFound(f"no work with id {work_id} (see `swordnet works list`)")
    tip = Tip(url=url, work_id=work_id, reporter=reporter, status="queued", created_at=utcnow())
    session.add(tip)
    session.flush()
    return tip


class TipRefused(BadInput):
    """A tip that cannot be queued as sent (bad URL, no work named by a rights holder)."""


def submit_tip(session: Session, principal: Principal, url: str, work_id: int | None,
               reporter: str | None = None) -> Tip:
    """Queue a tip sent through the API or console. A rights holder must name one of their
    own works; the reporter defaults to the sender."""
    try:
        url = check_url(url)
    except BadInput as exc:
        raise TipRefused(f"url: {exc}") from None
    if work_id is None and not principal.is_staff:
        raise TipRefused("work_id: name the work of yours the URL infringes")
    work = get_work(session, principal, work_id) if work_id is not None else None
    return add_tip(session, url, work.id if work else None,
                   (reporter or "").strip() or principal.username)


@dataclass(frozen=True)
class TipCheck:
    tip_id: int
    site_id: int
    url: str
    campaign_id: int | None = None  # a live event's campaign, for a tip on its work


def _event_campaign(session: Session, work_id: int | None) -> int | None:
    """The campaign of the live event whose work is ``work_id``: a tip on it is checked in a
    run of that campaign, which reads its page for the event's streams."""
    if work_id is None:
        return None
    return session.scalar(select(LiveEvent.campaign_id).where(LiveEvent.work_id == work_id))


def claim_queued(session: Session) -> list[TipCheck]:
    """Every queued tip, now marked ``checking`` (so a slow check is not started twice)."""
    tips = session.scalars(select(Tip).where(Tip.status == "queued").order_by(Tip.id)
                           .with_for_update(skip_locked=True)).all()
    checks = []
    for tip in tips:
        try:
            site = site_for_url(session, tip.url)
        except BadInput as exc:  # queued before today's URL checks: never fetched
            tip.status, tip.checked_at = "failed", utcnow()
            tip.result = {"run_outcome": None, "error": f"the URL is not accepted: {exc}",
                          "hits": [], "works": [], "named_work_found": None}
            continue
        tip.status = "checking"
        checks.append(TipCheck(tip.id, site.id, tip.url, _event_campaign(session, tip.work_id)))
    return checks


def settle_tip(session: Session, tip_id: int, run_id: int) -> Tip:
    """Record what the check run found at the tip's URL."""
    tip = session.get(Tip, tip_id)
    run = session.get(CrawlRun, run_id)
    assert tip is not None and run is not None
    hits = session.scalars(select(Hit).where(
        or_(Hit.url == tip.url, Hit.page_url == tip.url),
        Hit.last_seen_at >= run.started_at).order_by(Hit.id)).all()
    works = sorted({hit.work_id for hit in hits})
    tip.run_id, tip.checked_at = run_id, utcnow()
    reached = run.outcome == "finished" and run.stats.get("start_reachable") != 0
    tip.status = "checked" if reached else "failed"
    if run.error:  # the crawl itself failed: its first line, never the crawl's log
        error: str | None = f"the check did not complete: {run.error.splitlines()[0]}"
    else:
        error = None if reached else "the URL could not be fetched: " + "; ".join(
            f"{e['kind']}: {e['message']}" for e in run.errors[:3])
    tip.result = {"run_outcome": run.outcome, "error": error,
                  "hits": [hit.id for hit in hits], "works": works,
                  "named_work_found": None if tip.work_id is None else tip.work_id in works,
                  "live_streams": list(session.scalars(select(LiveStream.id).where(
                      or_(LiveStream.run_id == run_id, LiveStream.page_url == tip.url))
                      .order_by(LiveStream.id)))}
    return tip
