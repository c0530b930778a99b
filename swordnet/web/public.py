"""The public pages: published cases and campaign statistics, for anyone, signed in or not.

Served under ``/public/`` only when ``SWORDNET_PUBLIC_PAGES`` is on (otherwise every such
URL is a 404): the list of published cases, one page per case, an Atom feed of them, and the
statistics of each campaign a published case names. Pages are server-rendered, autoescaped
and need no JavaScript; they show only what :func:`casefiles.publication.public_view` gives
and link only to each other and ``/static``. Every answer is cacheable (``Cache-Control:
public``) with an ETag of its body and a Last-Modified; a matching ``If-None-Match`` gets 304.

A campaign's page counts everything its statistics count (cases handled, sites shut down,
copies removed, cases transferred to judicial authorities, notices sent), as enforcement
agencies publish such totals; it names no case that is not published.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from casefiles.publication import PublicCase, public_campaigns, public_case, public_cases
from casefiles.reports import campaign_report
from swordnet.core.errors import NotFound
from swordnet.core.models import Campaign
from swordnet.web.console_base import ENV
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId

router = APIRouter(prefix="/public", include_in_schema=False)
CACHE_CONTROL = "public, max-age=300"
ATOM = "application/atom+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"


def _enabled(request: Request) -> None:
    if not request.app.state.settings.public_pages:
        raise NotFound("no such page")


def etag_of(body: bytes) -> str:
    """A strong validator: the body's SHA-256, quoted.

    >>> etag_of(b"x")
    '"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"'
    """
    return f'"{hashlib.sha256(body).hexdigest()}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def cacheable(request: Request, body: str, media_type: str,
              modified: datetime | None) -> Response:
    """``body`` with caching headers, or an empty 304 when the client has this version."""
    data = body.encode()
    etag = etag_of(data)
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified, usegmt=True)
    if _matches(request.headers.get("If-None-Match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


def _page(request: Request, template: str, modified: datetime | None,
          **context: Any) -> Response:
    return cacheable(request, ENV.get_template(template).render(**context), HTML, modified)


def _latest(cases: list[PublicCase]) -> datetime | None:
    return max((c.published_at for c in cases), default=None)


@router.get("")
@router.get("/")
def public_home(request: Request) -> Response:
    _enabled(request)
    return RedirectResponse("/public/cases", status_code=308)


@router.get("/cases")
def cases_list(request: Request, session: DbSession) -> Response:
    _enabled(request)
    cases = public_cases(session)
    return _page(request, "public/cases.html", _latest(cases), cases=cases,
                 campaigns=sorted(public_campaigns(cases).items()))


@router.get("/cases.atom")
def cases_feed(request: Request, session: DbSession) -> Response:
    _enabled(request)
    cases = public_cases(session)
    base = str(request.base_url).rstrip("/")
    latest = _latest(cases)
    body = ENV.get_template("public/cases.atom").render(cases=cases, base=base,
                                                        updated=latest)
    return cacheable(request, body, ATOM, latest)


@router.get("/cases/{case_id}")
def case_page(case_id: PathId, request: Request, session: DbSession) -> Response:
    _enabled(request)
    case = public_case(session, case_id)
    if case is None:
        raise NotFound(f"no published case {case_id}")
    return _page(request, "public/case.html", case.published_at, case=case)


@router.get("/campaigns/{campaign_id}")
def campaign_page(campaign_id: PathId, request: Request, session: DbSession) -> Response:
    """A campaign's statistics, for a campaign that a published case names."""
    _enabled(request)
    cases = public_cases(session)
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign_id not in public_campaigns(cases):
        raise NotFound(f"no public campaign {campaign_id}")
    shown = [c for c in cases if c.campaign is not None and c.campaign[0] == campaign_id]
    return _page(request, "public/campaign.html", None, campaign=campaign,
                 report=campaign_report(session, campaign), cases=shown)
