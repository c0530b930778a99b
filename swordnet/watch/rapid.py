"""The rapid-response preset: a campaign that starts now, checks its sites every five minutes
for a few hours, and searches them for the chosen works' titles and aliases.

Each chosen site must have a search template (on any of its watch targets). The campaign
crawls the site's active site and feed targets, and a search target restricted to the chosen
works: an existing one with that template and exactly those works, or a new one made for the
campaign, paused (off any standing schedule: only the campaign crawls it) and otherwise set
like the target the template came from.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import Campaign, Site, WatchTarget, Work
from swordnet.core.timeutil import utcnow
from swordnet.watch.campaigns import create_campaign

RAPID_EVERY_SECONDS = 300
MAX_RAPID_HOURS = 168
SEARCH_DEPTH = 1  # the result pages and the pages they list


def check_hours(hours: int) -> int:
    """How long a rapid response runs, if within 1 hour to a week.

    >>> check_hours(0)
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: hours 0 is out of range (1 to 168)
    """
    if not 1 <= hours <= MAX_RAPID_HOURS:
        raise BadInput(f"hours {hours} is out of range (1 to {MAX_RAPID_HOURS})")
    return hours


def search_source(site: Site) -> WatchTarget:
    """The site's target whose search template the rapid response uses (a search target's
    first); BadInput naming the site if none has one."""
    with_template = [t for t in site.targets if t.search_template]
    with_template.sort(key=lambda t: (t.spider != "search", t.id))
    if not with_template:
        raise BadInput(f"site {site.domain} has no search template: give one of its watch "
                       "targets one (--search-template URL with {query}) to search it")
    return with_template[0]


def seeded_search(session: Session, site: Site, work_ids: list[int]) -> WatchTarget:
    """The search target that looks for exactly ``work_ids`` on ``site``: an existing one,
    or a new paused one set like the target the site's search template is on."""
    source = search_source(site)
    template = source.search_template
    for target in site.targets:
        if (target.spider == "search" and target.search_template == template
                and sorted(target.work_ids) == work_ids):
            return target
    target = WatchTarget(
        site=site, spider="search", start_urls=list(source.start_urls),
        depth=source.depth if source.spider == "search" else SEARCH_DEPTH,
        max_pages=source.max_pages, every_seconds=None, cron=None,
        mirror_domains=list(source.mirror_domains),
        allow_patterns=list(source.allow_patterns), deny_patterns=list(source.deny_patterns),
        obey_robots=source.obey_robots, delay_s=source.delay_s,
        concurrency=source.concurrency, time_cap_s=source.time_cap_s,
        render_js=source.render_js, screenshot=source.screenshot, search_template=template,
        work_ids=work_ids, enabled=False)
    session.add(target)
    session.flush()
    return target


def rapid_response(session: Session, site_ids: list[int], work_ids: list[int], hours: int,
                   name: str | None = None, now: datetime | None = None) -> Campaign:
    """Start a rapid-response campaign now; raises BadInput (NotFound for an unknown site or
    work) naming the bad input before anything is kept (the caller's unit rolls back)."""
    now = now or utcnow()
    check_hours(hours)
    if not site_ids:
        raise BadInput("a rapid response needs at least one site (--sites 1,2)")
    if not work_ids:
        raise BadInput("a rapid response needs at least one work (--works 1,2)")
    works = []
    for work_id in sorted(set(work_ids)):
        work = session.get(Work, work_id)
        if work is None:
            raise NotFound(f"no work with id {work_id}")
        works.append(work)
    targets: list[WatchTarget] = []
    for site_id in dict.fromkeys(site_ids):
        site = session.get(Site, site_id)
        if site is None:
            raise NotFound(f"no site with id {site_id}")
        search = seeded_search(session, site, [w.id for w in works])
        targets += [t for t in site.targets if t.enabled and t.spider != "search"]
        targets.append(search)
    titles = ", ".join(w.title for w in works)
    return create_campaign(
        session, name or f"Rapid response {now:%Y-%m-%d %H:%M:%S} UTC", now,
        now + timedelta(hours=hours), [t.id for t in targets], RAPID_EVERY_SECONDS,
        f"Rapid response for {titles}"[:2000])
