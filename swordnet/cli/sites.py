"""The ``sites`` commands: the watchlist of suspect sites, their watch targets and
when the scheduler crawls them."""

from __future__ import annotations

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.liveness import settle_gone_runs
from swordnet.cli.util import (
    ID,
    console,
    database,
    emit,
    fail,
    in_unit,
    interval_option,
    json_option,
)
from swordnet.core.errors import BadInput
from swordnet.core.models import SPIDERS, CrawlRun, Hit, Site
from swordnet.watch.targets import (
    LIMITS,
    add_target,
    check_url,
    get_target,
    remove_target,
    set_enabled,
    set_schedule,
)


@click.group()
def sites() -> None:
    """The watchlist of suspect sites."""


def _limits(name: str) -> tuple[int, int | None]:
    """The bounds of a numeric setting (:data:`swordnet.watch.targets.LIMITS`) for click."""
    low, high = LIMITS[name]
    return int(low), None if high is None else int(high)


def _url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_url(value)
    except BadInput as exc:
        raise click.BadParameter(str(exc)) from None


@sites.command("add")
@click.argument("url", callback=_url)
@click.option("--spider", type=click.Choice(SPIDERS), default="site", show_default=True,
              help="site: follow links from URL; search: query the site's search for each "
                   "work; feed: crawl new or changed entries of the sitemap/RSS/Atom at URL.")
@click.option("--depth", type=click.IntRange(*_limits("depth")), default=2, show_default=True,
              help="Link depth to follow from the start URL.")
@click.option("--max-pages", type=click.IntRange(*_limits("max_pages")), default=200,
              show_default=True)
@click.option("--every", callback=interval_option,
              help="Crawl interval for the scheduler, e.g. 6h.")
@click.option("--cron", help="Or a crontab schedule in UTC, e.g. '0 3 * * *'.")
@click.option("--mirror", "mirrors", multiple=True,
              help="A known mirror domain whose pages are followed too (repeatable).")
@click.option("--allow", "allow", multiple=True,
              help="Follow only page URLs matching one of these regular expressions.")
@click.option("--deny", "deny", multiple=True,
              help="Never follow page URLs matching this regular expression (repeatable).")
@click.option("--obey-robots/--ignore-robots", default=False, show_default=True,
              help="Whether robots.txt is obeyed (see docs/operations.md).")
@click.option("--delay", type=click.FloatRange(*_limits("delay_s")), default=0.0,
              show_default=True,
              help="Seconds between requests to the site (politeness).")
@click.option("--concurrency", type=click.IntRange(*_limits("concurrency")), default=8,
              show_default=True,
              help="Parallel requests to the site.")
@click.option("--time-cap", callback=interval_option, default="1h", show_default=True,
              help="Stop a crawl after this long (the run is marked unhealthy).")
@click.option("--render-js", is_flag=True,
              help="Render pages in Chromium (for sites whose images appear by script).")
@click.option("--screenshot", is_flag=True,
              help="Keep a full-page screenshot of pages with hits (renders pages in Chromium).")
@click.option("--search-template",
              help="For --spider search: the site's search URL with {query} for the title.")
@click.option("--work", "work_ids", type=ID, multiple=True,
              help="For --spider search: search only for these works (default: every work).")
def sites_add(url: str, spider: str, depth: int, max_pages: int, every: int | None,
              cron: str | None,
              mirrors: tuple[str, ...], allow: tuple[str, ...], deny: tuple[str, ...],
              obey_robots: bool, delay: float, concurrency: int, time_cap: int,
              render_js: bool, screenshot: bool, search_template: str | None,
              work_ids: tuple[int, ...]) -> None:
    """Put URL on the watchlist, with the spider and settings to crawl it with."""
    with database() as db, db.session() as session:
        target = add_target(
            session, url, spider=spider, depth=depth, max_pages=max_pages,
            every_seconds=every, cron=cron, mirror_domains=list(mirrors),
            allow_patterns=list(allow), deny_patterns=list(deny),
            obey_robots=obey_robots, delay_s=delay, concurrency=concurrency,
            time_cap_s=time_cap, render_js=render_js or screenshot,
            screenshot=screenshot, search_template=search_template,
            work_ids=list(work_ids))
        site_id, domain, target_id = target.site_id, target.site.domain, target.id
    schedule = f"every {every} s" if every else f"on cron '{cron}'" if cron else "not scheduled"
    console().print(f"Site {site_id} ({domain}) is on the watchlist as target {target_id} "
                    f"({spider} spider), {schedule}.")


@sites.command("list")
@json_option
def sites_list(as_json: bool) -> None:
    """List watched sites with their last crawl and hit counts."""
    with database() as db, db.session() as session:
        settle_gone_runs(db)
        hits = dict(session.execute(select(Hit.site_id, func.count()).group_by(Hit.site_id)).all())
        data = []
        for site in session.scalars(select(Site).order_by(Site.id)):
            last = session.scalar(select(CrawlRun).where(CrawlRun.site_id == site.id)
                                  .order_by(CrawlRun.id.desc()).limit(1))
            target = site.targets[0] if site.targets else None
            data.append({
                "id": site.id, "domain": site.domain, "status": site.status,
                "start_url": target.start_urls[0] if target else None,
                "spiders": ",".join(t.spider for t in site.targets),
                "depth": target.depth if target else None,
                "max_pages": target.max_pages if target else None,
                "every_seconds": target.every_seconds if target else None,
                "last_run": last.started_at.isoformat(timespec="seconds") if last else None,
                "last_outcome": last.outcome if last else None,
                "hits": hits.get(site.id, 0),
            })
    emit(data, as_json, "Sites", ["id", "domain", "status", "spiders", "depth", "every_seconds",
                                  "last_outcome", "hits"])


@sites.command("schedule")
@click.argument("target_id", type=ID)
@click.option("--every", callback=interval_option, help="Crawl on an interval, e.g. 6h.")
@click.option("--cron", help="Crawl on a crontab expression in UTC, e.g. '0 3 * * *'.")
@click.option("--off", is_flag=True, help="Take the target off the schedule.")
def sites_schedule(target_id: int, every: int | None, cron: str | None, off: bool) -> None:
    """Set when the scheduler crawls watch target TARGET_ID."""
    if off == (every is not None or cron is not None):
        fail("give one of --every, --cron or --off")

    def apply(session: Session) -> str:
        target = set_schedule(session, target_id, every, cron)
        return (f"is crawled every {target.every_seconds} s" if target.every_seconds
                else f"is crawled on cron '{target.cron}'" if target.cron
                else "is off the schedule (crawl it by hand with `swordnet crawl --target "
                f"{target_id}`)")

    console().print(f"Target {target_id} {in_unit(apply)}.")


@sites.command("pause")
@click.argument("target_id", type=ID)
def sites_pause(target_id: int) -> None:
    """Take watch target TARGET_ID off its standing schedule (campaigns still crawl it)."""
    in_unit(lambda session: set_enabled(session, target_id, False))
    console().print(f"Target {target_id} is paused; `swordnet sites resume {target_id}` "
                    "puts it back on its schedule.")


@sites.command("resume")
@click.argument("target_id", type=ID)
def sites_resume(target_id: int) -> None:
    """Put a paused watch target back on its standing schedule."""
    in_unit(lambda session: set_enabled(session, target_id, True))
    console().print(f"Target {target_id} is active again.")


@sites.command("remove")
@click.argument("target_id", type=ID)
def sites_remove(target_id: int) -> None:
    """Take watch target TARGET_ID off the watchlist (only one never crawled and in no
    campaign; pause the others). Its site and the site's hits stay."""
    def remove(session: Session) -> str:
        url = str(get_target(session, target_id).start_urls[0])
        remove_target(session, target_id)
        return url

    console().print(f"Target {target_id} ({in_unit(remove)}) is off the watchlist.")
