"""Console pages for campaigns (staff only): the list with statistics and exports, forms to
create a campaign or start a rapid response, and a campaign's own page where it is edited or
stopped and its hits appear as they are found (``static/campaign.js`` polls
``GET /api/v1/campaigns/{id}/hits``).

Each form field is checked by :mod:`swordnet.watch.campaigns` (and
:mod:`swordnet.watch.rapid`); a bad value comes back next to its field with what the user
typed kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from casefiles.reports import FORMATS, campaign_report
from swordnet.core.errors import BadInput, SwordnetError
from swordnet.core.models import MAX_ID, Campaign, Site, WatchTarget, Work
from swordnet.watch.campaigns import (
    campaign_state,
    campaign_summary,
    campaign_targets,
    check_every,
    check_name,
    check_window,
    create_campaign,
    effective_end,
    parse_time,
    stop_campaign,
    update_campaign,
)
from swordnet.watch.rapid import check_hours, rapid_response, search_source
from swordnet.watch.targets import parse_interval
from swordnet.web.api_campaigns import get_campaign
from swordnet.web.console_base import (
    API,
    Signed,
    Viewer,
    check_form_csrf,
    render,
    require_staff_page,
)
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId

router = APIRouter(include_in_schema=False)
# The campaigns API renders shutdown lists in each of casefiles.reports.FORMATS.
SHUTDOWN_URL = API + "/campaigns/{id}/shutdown-list?format={fmt}"
REPORT_URL = API + "/campaigns/{id}/report"
HITS_URL = API + "/campaigns/{id}/hits"
Short = Annotated[str, Form(max_length=2000)]
Ids = Annotated[list[str], Form(max_length=1000)]
Token = Annotated[str, Form(max_length=200)]
T = TypeVar("T")


class Checked:
    """A form's values as typed and the problems found, by field."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.errors: dict[str, str] = {}

    def field(self, name: str, check: Callable[[], T]) -> T | None:
        """``check()``, or None with its BadInput (or NotFound) noted against ``name``."""
        try:
            return check()
        except SwordnetError as exc:
            self.errors.setdefault(name, str(exc))
            return None


def ids(values: list[str], what: str) -> list[int]:
    """Ids chosen in a form; BadInput if one is not an id."""
    chosen = []
    for value in values:
        if not (value.strip().isdigit() and 1 <= int(value) <= MAX_ID):
            raise BadInput(f"{value[:40]!r} is not a {what} id")
        chosen.append(int(value))
    return chosen


def local_time(value: str) -> str:
    """A stored time as a ``datetime-local`` input shows it (UTC)."""
    return value[:16]


def campaign_row(session: Session, campaign: Campaign) -> dict[str, Any]:
    summary = campaign_summary(session, campaign)
    return {
        "campaign": campaign, "state": summary["state"], "end": effective_end(campaign),
        "summary": summary, "report": campaign_report(session, campaign),
        "targets": [(t.id, t.site.domain) for t in campaign.targets],
        "exports": [(fmt, SHUTDOWN_URL.format(id=campaign.id, fmt=fmt)) for fmt in FORMATS],
        "report_url": REPORT_URL.format(id=campaign.id)}


def _choices(session: Session) -> dict[str, Any]:
    """The targets, sites (with whether they can be searched) and works forms offer."""
    targets = [(t.id, t.site.domain, t.spider, t.start_urls[0]) for t in session.scalars(
        select(WatchTarget).order_by(WatchTarget.id))]
    sites = []
    for site in session.scalars(select(Site).order_by(Site.domain)):
        searchable = any(t.search_template for t in site.targets)
        sites.append((site.id, site.domain, searchable))
    works = session.execute(select(Work.id, Work.title).order_by(Work.title)).all()
    return {"target_choices": targets, "site_choices": sites, "work_choices": works}


def campaigns_page_response(request: Request, session: Session, viewer: Viewer, *,
                            status: int = 200, create: Checked | None = None,
                            rapid: Checked | None = None, error: str | None = None
                            ) -> Response:
    rows = [campaign_row(session, c)
            for c in session.scalars(select(Campaign).order_by(Campaign.starts_at.desc()))]
    return render(request, "campaigns.html", viewer, status=status, rows=rows,
                  create=create or Checked({"every": "1h", "targets": []}),
                  rapid=rapid or Checked({"hours": "24", "sites": [], "works": []}),
                  error=error, **_choices(session))


@router.get("/campaigns")
def campaigns_page(request: Request, session: DbSession, viewer: Signed) -> Response:
    require_staff_page(viewer)
    return campaigns_page_response(request, session, viewer)


def _time(form: Checked, name: str) -> datetime | None:
    text = str(form.values.get(name, "")).strip()
    if not text:
        form.errors[name] = "give a date and time (UTC)"
        return None
    return form.field(name, lambda: parse_time(text))


def _every(form: Checked) -> int | None:
    text = str(form.values.get("every", "")).strip()
    return form.field("every", lambda: check_every(parse_interval(text)))


@router.post("/campaigns/new")
def create_campaign_form(request: Request, session: DbSession, viewer: Signed,
                         name: Short = "", starts_at: Short = "", ends_at: Short = "",
                         targets: Ids = [],  # noqa: B006
                         every: Short = "", focus: Short = "",
                         csrf_token: Token = "") -> Response:
    """Create a campaign; back to the form with each problem next to its field."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    form = Checked({"name": name, "starts_at": starts_at, "ends_at": ends_at,
                    "targets": targets, "every": every, "focus": focus})
    checked_name = form.field("name", lambda: check_name(session, name))
    start, end = _time(form, "starts_at"), _time(form, "ends_at")
    if start and end:
        form.field("ends_at", lambda: check_window(start, end))
    seconds = _every(form)
    target_ids = form.field("targets", lambda: [t.id for t in campaign_targets(
        session, ids(targets, "watch target"))])
    if form.errors or checked_name is None or start is None or end is None \
            or seconds is None or target_ids is None:
        session.rollback()
        return campaigns_page_response(request, session, viewer, status=422, create=form)
    campaign = create_campaign(session, checked_name, start, end, target_ids, seconds,
                               focus.strip() or None)
    session.commit()
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)


@router.post("/campaigns/rapid")
def rapid_response_form(request: Request, session: DbSession, viewer: Signed,
                        sites: Ids = [],  # noqa: B006
                        works: Ids = [],  # noqa: B006
                        hours: Short = "", name: Short = "",
                        csrf_token: Token = "") -> Response:
    """Start a rapid response now; back to the form with each problem next to its field."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    form = Checked({"sites": sites, "works": works, "hours": hours, "name": name})

    def site_ids() -> list[int]:
        chosen = ids(sites, "site")
        if not chosen:
            raise BadInput("choose at least one site")
        for site_id in chosen:
            site = session.get(Site, site_id)
            if site is None:
                raise BadInput(f"no site with id {site_id}")
            search_source(site)
        return chosen

    def work_ids() -> list[int]:
        chosen = ids(works, "work")
        if not chosen:
            raise BadInput("choose at least one work")
        return chosen

    def length() -> int:
        text = hours.strip()
        if not text.isdigit():
            raise BadInput(f"hours {text[:20]!r} is not a whole number of hours")
        return check_hours(int(text))

    chosen_sites, chosen_works = form.field("sites", site_ids), form.field("works", work_ids)
    run_hours = form.field("hours", length)
    if name.strip():
        form.field("name", lambda: check_name(session, name))
    if form.errors or chosen_sites is None or chosen_works is None or run_hours is None:
        return campaigns_page_response(request, session, viewer, status=422, rapid=form)
    try:
        campaign = rapid_response(session, chosen_sites, chosen_works, run_hours,
                                  name.strip() or None)
    except SwordnetError as exc:
        session.rollback()
        return campaigns_page_response(request, session, viewer, status=exc.status, rapid=form,
                                       error=str(exc))
    session.commit()
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)


def edit_values(campaign: Campaign) -> dict[str, Any]:
    return {"name": campaign.name,
            "starts_at": local_time(campaign.starts_at.isoformat()),
            "ends_at": local_time(campaign.ends_at.isoformat()),
            "targets": [str(t.id) for t in campaign.targets],
            "every": f"{campaign.every_seconds}s", "focus": campaign.focus or ""}


def campaign_page_response(request: Request, session: Session, viewer: Viewer,
                           campaign: Campaign, *, edit: Checked | None = None,
                           status: int = 200, error: str | None = None) -> Response:
    return render(request, "campaign.html", viewer, status=status,
                  row=campaign_row(session, campaign), c=campaign,
                  edit=edit or Checked(edit_values(campaign)), error=error,
                  editable=campaign_state(campaign) in ("planned", "running"),
                  hits_url=HITS_URL.format(id=campaign.id), **_choices(session))


@router.get("/campaigns/{campaign_id}")
def campaign_page(campaign_id: PathId, request: Request, session: DbSession,
                  viewer: Signed) -> Response:
    require_staff_page(viewer)
    return campaign_page_response(request, session, viewer, get_campaign(session, campaign_id))


@router.post("/campaigns/{campaign_id}/edit")
def edit_campaign_form(campaign_id: PathId, request: Request, session: DbSession,
                       viewer: Signed, name: Short = "", starts_at: Short = "",
                       ends_at: Short = "", targets: Ids = [],  # noqa: B006
                       every: Short = "", focus: Short = "",
                       csrf_token: Token = "") -> Response:
    """Save a campaign's changes; back to its page with each problem next to its field."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    campaign = get_campaign(session, campaign_id)
    form = Checked({"name": name, "starts_at": starts_at, "ends_at": ends_at,
                    "targets": targets, "every": every, "focus": focus})
    form.field("name", lambda: check_name(session, name, campaign.id))
    shown = edit_values(campaign)
    if campaign_state(campaign) != "planned":
        form.values["starts_at"] = starts_at = shown["starts_at"]  # it can no longer change
    start, end = _time(form, "starts_at"), _time(form, "ends_at")
    if start and end:
        form.field("ends_at", lambda: check_window(start, end))
    seconds = _every(form)
    target_ids = form.field("targets", lambda: [t.id for t in campaign_targets(
        session, ids(targets, "watch target"))])
    if form.errors:
        session.rollback()
        return campaign_page_response(request, session, viewer, campaign, edit=form,
                                      status=422)
    try:
        # A bound left as shown (to the minute) stays as stored (to the second).
        update_campaign(session, campaign, name=name,
                        starts_at=None if starts_at == shown["starts_at"] else start,
                        ends_at=None if ends_at == shown["ends_at"] else end,
                        target_ids=target_ids, every_seconds=seconds, focus=focus)
    except SwordnetError as exc:
        session.rollback()
        return campaign_page_response(request, session, viewer, get_campaign(session, campaign_id),
                                      edit=form, status=exc.status, error=str(exc))
    session.commit()
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id}/stop")
def stop_campaign_form(campaign_id: PathId, request: Request, session: DbSession,
                       viewer: Signed, csrf_token: Token = "") -> Response:
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    stop_campaign(session, get_campaign(session, campaign_id).name)
    session.commit()
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
