"""The review queue: hits one at a time (or as a grid), the registered work beside the copy.

The page lists one page of hits matching the filters; ``static/review.js`` shows them one at
a time and sends decisions to the ``/api/v1/hits`` endpoints with the session's CSRF token,
updating the page in place. Every value from a crawl is rendered by the template as escaped
text; a page's main text is fetched as JSON and set as text, never as HTML. Rights holders
see their own hits read-only: deciding is staff work.
A sound match shows its segments side by side (:mod:`swordnet.web.console_sound`).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from matching.registry import describe_match, signal_type
from swordnet.accounts import access
from swordnet.accounts.access import HIT_SORTS, HitFilters
from swordnet.core.errors import BadRequest, NotFound
from swordnet.core.models import HIT_STATUSES, MAX_ID, Campaign, Hit, Work
from swordnet.web.console_base import Signed, render
from swordnet.web.console_sound import sound_match
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId
from swordnet.works.previews import work_preview, work_sound_sha256
from swordnet.works.software_previews import SOFTWARE_ALGORITHMS

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100
EXCERPT_CHARS = 3000
Text = Annotated[str, Query(max_length=255)]


def _number(name: str, value: str, kind: type[int] | type[float]) -> Any:
    if not value.strip():
        return None
    try:
        number = kind(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number, not {value!r}") from None
    if kind is int and not 1 <= number <= MAX_ID:
        raise BadRequest(f"{name} must be an id from 1 to {MAX_ID}, not {value!r}")
    if kind is float and not math.isfinite(number):
        raise BadRequest(f"{name} must be a finite number, not {value!r}")
    return number


def hit_view(hit: Hit) -> dict[str, Any]:
    """What the queue shows of one hit (the template escapes every string)."""
    page, media = hit.page_capture, hit.media_capture
    detail = hit.detail or {}
    signal = signal_type(hit.algorithm)
    return {"hit": hit, "match": describe_match(hit.algorithm, hit.variant, hit.score, detail),
            "page_title": page.title if page else None, "captured_at": hit.captured_at,
            "near": signal.landmark(detail),
            # The registered work: its thumbnail, its text, or (no preview) its names.
            "work_side": hit.work.preview_type or "none",
            # The copy: the found picture re-encoded, or the page's main text.
            "copy_image": signal.preview == "image" and media is not None,
            # A sound match: both segments drawn and played (None for any other hit); the
            # work's only if its sound is stored (a video work's soundtrack may not be).
            "sound": sound_match(hit),
            "work_heard": work_sound_sha256(hit.work) is not None,
            # What else the signal shows (the link signal: the name, its text, the links).
            "context": signal.review_context(detail),
            # Video and software hits: aligned key frames, or the matched files (filled in).
            "kind_preview": _kind_preview(hit.algorithm)}


def _kind_preview(algorithm: str) -> str | None:
    """Which filled-in comparison a hit of ``algorithm`` gets on the review page."""
    if algorithm == "video":
        return "video-strips"
    return "software-files" if algorithm in SOFTWARE_ALGORITHMS else None


@router.get("/review")
def review_page(request: Request, session: DbSession, viewer: Signed,
                status: Annotated[str | None, Query(max_length=20)] = None,
                site: Text = "", work_id: Text = "", campaign_id: Text = "",
                algorithm: Text = "", min_score: Text = "", max_score: Text = "",
                sort: Annotated[str, Query(max_length=40)] = "id",
                offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
                hit: Text = "", view: Annotated[str, Query(pattern="^(single|grid)$")] = "single",
                ) -> Response:
    principal = viewer.principal
    status = "pending" if status is None else status
    if status and status not in HIT_STATUSES:
        raise BadRequest(f"unknown hit status {status!r}")
    filters = HitFilters(
        status=status or None, site=site or None,
        work_id=_number("work", work_id, int),
        campaign_id=_number("campaign", campaign_id, int) if viewer.is_staff else None,
        algorithm=algorithm or None, min_score=_number("minimum score", min_score, float),
        max_score=_number("maximum score", max_score, float))
    order = access.sort_clause(sort, HIT_SORTS)
    query = access.filtered_hits(principal, filters)
    total = access.count(session, query)
    hits = list(session.scalars(access.with_hit_details(query).order_by(*order)
                                .limit(PAGE_SIZE).offset(offset)))
    focus = _number("hit", hit, int)
    algorithms = sorted(session.scalars(access.hits_query(principal)
                                        .with_only_columns(Hit.algorithm).distinct()))
    works = session.execute(access.works_query(principal).with_only_columns(Work.id, Work.title)
                            .order_by(Work.title)).all()
    campaigns = (session.execute(select(Campaign.id, Campaign.name).order_by(Campaign.name))
                 .all() if viewer.is_staff else [])
    params = {"status": status, "site": site, "work_id": work_id, "campaign_id": campaign_id,
              "algorithm": algorithm, "min_score": min_score, "max_score": max_score,
              "sort": sort}
    return render(request, "review.html", viewer, hits=[hit_view(h) for h in hits],
                  total=total, offset=offset, page_size=PAGE_SIZE, params=params,
                  statuses=HIT_STATUSES, sites=access.hit_sites(session, principal),
                  works=works, campaigns=campaigns, algorithms=algorithms,
                  sorts=[(s, s) for s in HIT_SORTS], focus=focus, view=view,
                  readonly=not viewer.is_staff)


@router.get("/works/{work_id}/excerpt")
def work_excerpt(work_id: PathId, request: Request, session: DbSession, viewer: Signed,
                 near: Annotated[str, Query(max_length=300)] = "") -> Response:
    """Part of a text work's stored text, from the first place ``near`` (a chapter title the
    match named) occurs, as plain text."""
    work = access.get_work(session, viewer.principal, work_id)
    content = work_preview(request.app.state.store, work)
    if content is None or work.preview_type != "text":
        raise NotFound(f"work {work_id} has no stored text")
    text = content.decode("utf-8", "replace")
    found = re.search(re.escape(near.strip()), text, re.IGNORECASE) if near.strip() else None
    start = found.start() if found else 0
    excerpt = text[start:start + EXCERPT_CHARS]
    return Response(excerpt, media_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=3600"})
