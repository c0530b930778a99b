"""Stream URLs a crawl found on a page, recorded as candidate restreams of the live events
the crawl's run works for.

The spider (:mod:`crawlers.live_spider`) hands them on as a :class:`StreamsItem`; the store
pipeline calls :func:`store_streams` on its writer thread. The page a visitor opens, and the
embedded pages (iframes) down to the player's, are kept as page captures (WARC records
first) when a stream on them is new to an event, and the candidate points at the page's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crawlers.items import PageInfo
from crawlers.store import RunRef, page_capture
from swordnet.core.errors import BadInput
from swordnet.core.models import CrawlRun, LiveStream
from swordnet.evidence.warc import WarcRecorder
from swordnet.live.streams import check_stream_url, events_of_run, record_candidate


@dataclass
class StreamsItem:
    """Stream URLs found on a crawled page, or in a page it embeds (``frames``: the embedded
    pages from the outermost down to the one holding the player)."""

    page: PageInfo
    urls: list[str]
    frames: list[PageInfo] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.page.url


def found_by(run: CrawlRun) -> str:
    """How a run's candidates were found: by a tip's check, a search, or a crawl."""
    if run.purpose == "tip":
        return "tip"
    return "search" if run.spider == "search" else "crawl"


def works_for_live_event(session: Session, run_id: int, now: datetime) -> bool:
    """Whether run ``run_id`` works for a running live event (its pages are read for
    streams)."""
    run = session.get(CrawlRun, run_id)
    return run is not None and bool(events_of_run(session, run, now))


def store_streams(session: Session, ref: RunRef, item: StreamsItem, recorder: WarcRecorder,
                  now: datetime) -> int:
    """Record the item's streams as candidates of each event the run works for; returns how
    many are new. Nothing is captured when every stream is known with its page already."""
    run = session.get(CrawlRun, ref.run_id)
    assert run is not None
    events = events_of_run(session, run, now)
    urls = _checked(item.urls)
    known = {(s.event_id, s.url): s for s in session.scalars(select(LiveStream).where(
        LiveStream.event_id.in_([e.id for e in events]), LiveStream.url.in_(urls)))}
    wanted = [(event.id, url) for event in events for url in urls
              if (event.id, url) not in known or known[event.id, url].page_url is None]
    if not wanted:
        return 0
    capture = page_capture(session, ref, item.page, recorder)
    for frame in item.frames:
        page_capture(session, ref, frame, recorder)
    session.flush()
    for event_id, url in wanted:
        record_candidate(session, event_id=event_id, url=url, page_url=item.page.url,
                         found_by=found_by(run), at=now, run_id=run.id,
                         page_capture_id=capture.id)
    return sum(key not in known for key in wanted)


def _checked(urls: list[str]) -> list[str]:
    """The URLs as candidates are stored (normalised), each once; a URL no check accepts (a
    bad host name) is left out."""
    checked: dict[str, None] = {}
    for url in urls:
        try:
            checked.setdefault(check_stream_url(url), None)
        except BadInput:
            continue
    return list(checked)
