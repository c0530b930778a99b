"""``/targets``: the watchlist's watch targets (staff only, as ``swordnet sites``): list,
show, add, edit, pause, resume and remove, with every setting the CLI has.

Settings are checked by :mod:`swordnet.watch.targets` (the CLI's checks): a value out of
range, a cron expression, a pattern that is not a regular expression or a search template
without ``{query}`` is a 422 whose ``detail`` names the field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Response
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.core.errors import BadInput
from swordnet.core.models import WatchTarget
from swordnet.core.text import text_problem
from swordnet.watch.targets import (
    LIMITS,
    add_target,
    check_cron,
    check_host,
    check_patterns,
    check_search_template,
    check_url,
    get_target,
    remove_target,
    set_enabled,
    update_target,
)
from swordnet.web.api_campaigns import Staff
from swordnet.web.deps import DbSession
from swordnet.web.errors import ERROR_RESPONSES
from swordnet.web.pagination import Page, PageParams, page_params, paginate
from swordnet.web.params import BodyId, PathId

router = APIRouter(prefix="/targets", tags=["targets"], responses=ERROR_RESPONSES)
T = TypeVar("T")


def checked(check: Callable[[T], Any]) -> AfterValidator:
    """A pydantic validator running one of the watchlist's checks (its BadInput becomes the
    field's validation error)."""
    def validate(value: T) -> T:
        if isinstance(value, str) and (problem := text_problem(value)):
            raise ValueError(problem)
        try:
            check(value)
        except BadInput as exc:
            raise ValueError(str(exc)) from None
        return value
    return AfterValidator(validate)


Url = Annotated[str, Field(max_length=2000), checked(check_url)]
Cron = Annotated[str, Field(max_length=100, description="A crontab schedule in UTC, e.g. "
                            "'0 3 * * *'."), checked(check_cron)]
Mirror = Annotated[str, Field(max_length=300), checked(check_host)]
Pattern = Annotated[str, Field(max_length=1000), checked(lambda p: check_patterns([p]))]
Template = Annotated[str, Field(max_length=2000, description="The site's search URL with "
                                "{query} where the title goes."), checked(check_search_template)]
Depth = Annotated[int, Field(ge=LIMITS["depth"][0], le=LIMITS["depth"][1],
                             description="Link depth to follow from the start URL.")]
MaxPages = Annotated[int, Field(ge=LIMITS["max_pages"][0], le=2**31 - 1,
                                description="Pages a crawl fetches at most.")]
Every = Annotated[int, Field(ge=LIMITS["every_seconds"][0], le=2**31 - 1,
                             description="Crawl interval in seconds (or give cron).")]
Delay = Annotated[float, Field(ge=LIMITS["delay_s"][0], le=LIMITS["delay_s"][1],
                               description="Seconds between requests to the site.")]
Concurrency = Annotated[int, Field(ge=LIMITS["concurrency"][0], le=LIMITS["concurrency"][1],
                                   description="Parallel requests to the site.")]
TimeCap = Annotated[int, Field(ge=LIMITS["time_cap_s"][0], le=2**31 - 1,
                               description="Stop a crawl after this many seconds.")]
Spider = Literal["site", "search", "feed"]


class TargetSettings(BaseModel):
    """The settings of a watch target; in an edit, only those given change."""

    depth: Depth = 2
    max_pages: MaxPages = 200
    every_seconds: Every | None = None
    cron: Cron | None = None
    mirror_domains: list[Mirror] = Field(default_factory=list, max_length=100,
                                         description="Known mirror hosts followed too.")
    allow_patterns: list[Pattern] = Field(
        default_factory=list, max_length=100,
        description="Follow only page URLs matching one of these regular expressions.")
    deny_patterns: list[Pattern] = Field(
        default_factory=list, max_length=100,
        description="Never follow page URLs matching one of these regular expressions.")
    obey_robots: bool = Field(False, description="Whether robots.txt is obeyed.")
    delay_s: Delay = 0.0
    concurrency: Concurrency = 8
    time_cap_s: TimeCap = 3600
    render_js: bool = Field(False, description="Render pages in Chromium.")
    screenshot: bool = Field(False, description="Keep full-page screenshots of pages with "
                                                "hits (renders pages).")
    search_template: Template | None = None
    work_ids: list[BodyId] = Field(default_factory=list, max_length=1000,
                                   description="For a search target: the works searched "
                                               "for (none: every work).")


class TargetIn(TargetSettings):
    url: Url = Field(description="The start URL (http or https).")
    spider: Spider = Field("site", description="site: follow links; search: query the "
                           "site's search for each work; feed: a sitemap/RSS/Atom feed.")


class TargetEdit(BaseModel):
    """Settings to change; a field left out stays as it is (null clears the schedule or
    the search template)."""

    depth: Depth | None = None
    max_pages: MaxPages | None = None
    every_seconds: Every | None = None
    cron: Cron | None = None
    mirror_domains: list[Mirror] | None = Field(None, max_length=100)
    allow_patterns: list[Pattern] | None = Field(None, max_length=100)
    deny_patterns: list[Pattern] | None = Field(None, max_length=100)
    obey_robots: bool | None = None
    delay_s: Delay | None = None
    concurrency: Concurrency | None = None
    time_cap_s: TimeCap | None = None
    render_js: bool | None = None
    screenshot: bool | None = None
    search_template: Template | None = None
    work_ids: list[BodyId] | None = Field(None, max_length=1000)


NULLABLE = {"every_seconds", "cron", "search_template"}


class TargetOut(TargetSettings):
    id: int
    site_id: int
    site: str = Field(description="The site (host, and port if not the default).")
    url: str
    spider: str
    enabled: bool = Field(description="False: paused (off its standing schedule).")
    created_at: datetime


def target_out(target: WatchTarget) -> TargetOut:
    return TargetOut(
        id=target.id, site_id=target.site_id, site=target.site.domain,
        url=target.start_urls[0], spider=target.spider, enabled=target.enabled,
        created_at=target.created_at, depth=target.depth, max_pages=target.max_pages,
        every_seconds=target.every_seconds, cron=target.cron,
        mirror_domains=target.mirror_domains, allow_patterns=target.allow_patterns,
        deny_patterns=target.deny_patterns, obey_robots=target.obey_robots,
        delay_s=target.delay_s, concurrency=target.concurrency, time_cap_s=target.time_cap_s,
        render_js=target.render_js, screenshot=target.screenshot,
        search_template=target.search_template, work_ids=target.work_ids)


def create_target(session: Session, body: TargetIn) -> WatchTarget:
    """Add the target ``body`` describes (the console's form posts the same fields)."""
    settings = body.model_dump(exclude={"url", "spider"})
    return add_target(session, body.url, spider=body.spider, **settings)


def edit_target(session: Session, target_id: int, body: TargetEdit) -> WatchTarget:
    """Change the settings ``body`` gives (null only where it clears something)."""
    changes = {name: value for name, value in body.model_dump(exclude_unset=True).items()
               if value is not None or name in NULLABLE}
    return update_target(session, target_id, **changes)


@router.get("", response_model=Page[TargetOut])
def list_targets(session: DbSession, _caller: Staff,
                 page: Annotated[PageParams, Depends(page_params)]) -> Page[TargetOut]:
    """Watch targets, oldest first."""
    return paginate(session, select(WatchTarget).order_by(WatchTarget.id), page, target_out)


@router.get("/{target_id}", response_model=TargetOut)
def show_target(target_id: PathId, session: DbSession, _caller: Staff) -> TargetOut:
    """One watch target with every setting, as `swordnet sites list` shows it."""
    return target_out(get_target(session, target_id))


@router.post("", response_model=TargetOut, status_code=201)
def add(body: TargetIn, session: DbSession, _caller: Staff) -> TargetOut:
    """Put a URL on the watchlist with a spider and its settings (409 if that spider
    already watches it)."""
    return target_out(create_target(session, body))


@router.patch("/{target_id}", response_model=TargetOut)
def edit(target_id: PathId, body: TargetEdit, session: DbSession, _caller: Staff) -> TargetOut:
    """Change some of a target's settings; giving cron replaces the interval and vice versa."""
    return target_out(edit_target(session, target_id, body))


@router.post("/{target_id}/pause", response_model=TargetOut)
def pause(target_id: PathId, session: DbSession, _caller: Staff) -> TargetOut:
    """Take a target off its standing schedule (campaigns naming it still crawl it)."""
    return target_out(set_enabled(session, target_id, False))


@router.post("/{target_id}/resume", response_model=TargetOut)
def resume(target_id: PathId, session: DbSession, _caller: Staff) -> TargetOut:
    """Put a paused target back on its standing schedule."""
    return target_out(set_enabled(session, target_id, True))


@router.delete("/{target_id}", status_code=204, response_class=Response)
def remove(target_id: PathId, session: DbSession, _caller: Staff) -> Response:
    """Take a target off the watchlist: only one never crawled and in no campaign (409
    otherwise: pause it instead). Its site stays."""
    remove_target(session, target_id)
    return Response(status_code=204)
