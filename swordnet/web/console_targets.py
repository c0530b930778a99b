"""Console forms for the watchlist (staff only): add a watch target with every setting the
CLI has, edit one, pause, resume and remove it.

The form is checked as the API checks its body (:class:`~swordnet.web.api_targets.TargetIn`,
whose validators are :mod:`swordnet.watch.targets`' checks): a bad value comes back next to
its field, with everything the user typed kept; a problem of several fields together (an
interval and a cron expression, a URL already watched) comes back above the form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.errors import BadInput, SwordnetError
from swordnet.core.models import SPIDERS, WatchTarget, Work
from swordnet.watch.targets import get_target, parse_interval, remove_target, set_enabled
from swordnet.web.api_targets import TargetEdit, TargetIn, create_target, edit_target
from swordnet.web.console_base import Signed, Viewer, check_form_csrf, render, require_staff_page
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId

router = APIRouter(include_in_schema=False)
Short = Annotated[str, Form(max_length=2000)]
Lines = Annotated[str, Form(max_length=100_000)]
Token = Annotated[str, Form(max_length=200)]
Flag = Annotated[str, Form(max_length=10)]
FIELDS = ("url", "spider", "depth", "max_pages", "every", "cron", "mirror_domains",
          "allow_patterns", "deny_patterns", "obey_robots", "delay_s", "concurrency",
          "time_cap", "render_js", "screenshot", "search_template", "work_ids")
# The form's names of the settings whose API names differ (intervals typed as "6h").
FORM_NAME = {"every_seconds": "every", "time_cap_s": "time_cap"}


@dataclass
class TargetForm:
    """What the user typed, and the problems found, by field."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)


def blank_form() -> TargetForm:
    return TargetForm({"url": "", "spider": "site", "depth": "2", "max_pages": "200",
                       "every": "", "cron": "", "mirror_domains": "", "allow_patterns": "",
                       "deny_patterns": "", "obey_robots": "", "delay_s": "0",
                       "concurrency": "8", "time_cap": "1h", "render_js": "",
                       "screenshot": "", "search_template": "", "work_ids": []})


def target_form(target: WatchTarget) -> TargetForm:
    """A target's settings as its edit form shows them."""
    return TargetForm({
        "url": target.start_urls[0], "spider": target.spider, "depth": str(target.depth),
        "max_pages": str(target.max_pages),
        "every": f"{target.every_seconds}s" if target.every_seconds else "",
        "cron": target.cron or "", "mirror_domains": "\n".join(target.mirror_domains),
        "allow_patterns": "\n".join(target.allow_patterns),
        "deny_patterns": "\n".join(target.deny_patterns),
        "obey_robots": "on" if target.obey_robots else "", "delay_s": f"{target.delay_s:g}",
        "concurrency": str(target.concurrency), "time_cap": f"{target.time_cap_s}s",
        "render_js": "on" if target.render_js else "",
        "screenshot": "on" if target.screenshot else "",
        "search_template": target.search_template or "",
        "work_ids": [str(w) for w in target.work_ids]})


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def form_body(form: TargetForm) -> dict[str, Any]:
    """The API body the form's values make (intervals read as the CLI reads them); problems
    with the intervals go into ``form.errors``."""
    values = form.values
    body: dict[str, Any] = {
        "url": values["url"].strip(), "spider": values["spider"],
        "depth": values["depth"].strip(), "max_pages": values["max_pages"].strip(),
        "cron": values["cron"].strip() or None,
        "mirror_domains": _lines(values["mirror_domains"]),
        "allow_patterns": _lines(values["allow_patterns"]),
        "deny_patterns": _lines(values["deny_patterns"]),
        "obey_robots": bool(values["obey_robots"]), "delay_s": values["delay_s"].strip(),
        "concurrency": values["concurrency"].strip(), "render_js": bool(values["render_js"]),
        "screenshot": bool(values["screenshot"]),
        "search_template": values["search_template"].strip() or None,
        "work_ids": values["work_ids"]}
    for name, form_name in FORM_NAME.items():
        text = values[form_name].strip()
        try:
            body[name] = parse_interval(text) if text else None
        except BadInput as exc:
            form.errors[form_name] = str(exc)
    if body["time_cap_s"] is None:
        body.pop("time_cap_s")
    return body


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Pydantic's problems by form field (the first for each)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "url"
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.setdefault(FORM_NAME.get(name, name), message)
    return errors


def sites_form_page(request: Request, session: Session, viewer: Viewer, *,
                    form: TargetForm, target: WatchTarget | None, status: int = 200,
                    error: str | None = None) -> Response:
    works = session.execute(select(Work.id, Work.title).order_by(Work.title)).all()
    return render(request, "target_form.html", viewer, status=status, form=form,
                  target=target, works=works, spiders=SPIDERS, error=error)


def _form(url: str, spider: str, depth: str, max_pages: str, every: str, cron: str,
          mirror_domains: str, allow_patterns: str, deny_patterns: str, obey_robots: str,
          delay_s: str, concurrency: str, time_cap: str, render_js: str, screenshot: str,
          search_template: str, work_ids: list[str]) -> TargetForm:
    return TargetForm(dict(zip(FIELDS, (
        url, spider, depth, max_pages, every, cron, mirror_domains, allow_patterns,
        deny_patterns, obey_robots, delay_s, concurrency, time_cap, render_js, screenshot,
        search_template, work_ids), strict=True)))


@router.get("/sites/new")
def new_target_page(request: Request, session: DbSession, viewer: Signed) -> Response:
    require_staff_page(viewer)
    return sites_form_page(request, session, viewer, form=blank_form(), target=None)


@router.post("/sites/new")
def add_target_form(
        request: Request, session: DbSession, viewer: Signed, url: Short = "",
        spider: Annotated[str, Form(max_length=20)] = "site", depth: Short = "",
        max_pages: Short = "", every: Short = "", cron: Short = "", mirror_domains: Lines = "",
        allow_patterns: Lines = "", deny_patterns: Lines = "", obey_robots: Flag = "",
        delay_s: Short = "", concurrency: Short = "", time_cap: Short = "",
        render_js: Flag = "", screenshot: Flag = "", search_template: Short = "",
        work_ids: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006
        csrf_token: Token = "") -> Response:
    """Add a watch target; back to the form with each problem next to its field."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    form = _form(url, spider, depth, max_pages, every, cron, mirror_domains, allow_patterns,
                 deny_patterns, obey_robots, delay_s, concurrency, time_cap, render_js,
                 screenshot, search_template, work_ids)
    body = form_body(form)
    try:
        checked = TargetIn.model_validate(body)
    except ValidationError as exc:
        form.errors = field_errors(exc) | form.errors
    if form.errors:
        return sites_form_page(request, session, viewer, form=form, target=None, status=422)
    try:
        target = create_target(session, checked)
    except SwordnetError as exc:
        session.rollback()
        return sites_form_page(request, session, viewer, form=form, target=None,
                               status=exc.status, error=str(exc))
    session.commit()
    return RedirectResponse(f"/sites?added={target.id}#target-{target.id}", status_code=303)


@router.get("/sites/targets/{target_id}")
def edit_target_page(target_id: PathId, request: Request, session: DbSession,
                     viewer: Signed) -> Response:
    require_staff_page(viewer)
    target = get_target(session, target_id)
    return sites_form_page(request, session, viewer, form=target_form(target), target=target)


@router.post("/sites/targets/{target_id}")
def edit_target_form(
        target_id: PathId, request: Request, session: DbSession, viewer: Signed,
        depth: Short = "", max_pages: Short = "", every: Short = "", cron: Short = "",
        mirror_domains: Lines = "", allow_patterns: Lines = "", deny_patterns: Lines = "",
        obey_robots: Flag = "", delay_s: Short = "", concurrency: Short = "",
        time_cap: Short = "", render_js: Flag = "", screenshot: Flag = "",
        search_template: Short = "",
        work_ids: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006
        csrf_token: Token = "") -> Response:
    """Save a target's settings (its URL and spider stay); problems as when adding."""
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    target = get_target(session, target_id)
    form = _form(target.start_urls[0], target.spider, depth, max_pages, every, cron,
                 mirror_domains, allow_patterns, deny_patterns, obey_robots, delay_s,
                 concurrency, time_cap, render_js, screenshot, search_template, work_ids)
    body = form_body(form)
    body.pop("url"), body.pop("spider")
    body.setdefault("time_cap_s", None)
    try:
        checked = TargetEdit.model_validate(body)
    except ValidationError as exc:
        form.errors = field_errors(exc) | form.errors
    if form.errors:
        return sites_form_page(request, session, viewer, form=form, target=target, status=422)
    try:
        edit_target(session, target_id, checked)
    except SwordnetError as exc:
        session.rollback()
        return sites_form_page(request, session, viewer, form=form,
                               target=get_target(session, target_id), status=exc.status,
                               error=str(exc))
    session.commit()
    return RedirectResponse(f"/sites#target-{target_id}", status_code=303)


def _target_action(request: Request, session: Session, viewer: Viewer, csrf_token: str,
                   target_id: int, action: str) -> Response:
    check_form_csrf(request, viewer, csrf_token)
    require_staff_page(viewer)
    if action == "remove":
        remove_target(session, target_id)
    else:
        set_enabled(session, target_id, action == "resume")
    session.commit()
    return RedirectResponse("/sites", status_code=303)


@router.post("/sites/targets/{target_id}/pause")
def pause_target(target_id: PathId, request: Request, session: DbSession, viewer: Signed,
                 csrf_token: Token = "") -> Response:
    return _target_action(request, session, viewer, csrf_token, target_id, "pause")


@router.post("/sites/targets/{target_id}/resume")
def resume_target(target_id: PathId, request: Request, session: DbSession, viewer: Signed,
                  csrf_token: Token = "") -> Response:
    return _target_action(request, session, viewer, csrf_token, target_id, "resume")


@router.post("/sites/targets/{target_id}/remove")
def remove_target_form(target_id: PathId, request: Request, session: DbSession,
                       viewer: Signed, csrf_token: Token = "") -> Response:
    return _target_action(request, session, viewer, csrf_token, target_id, "remove")
