"""The ``swordnet`` command line: thin wiring over the registry, watchlist, crawler and cases.

Errors a user can cause print one line naming the input and exit non-zero; list commands
take ``--json`` and print a JSON array.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefiles.review import ReviewError, confirm_hit, reject_hit, undo_decision
from matching.registry import describe_match
from scheduler.executor import CrawlRequest, LocalExecutor
from scheduler.liveness import settle_gone_runs
from swordnet.cli_cases import allowlist, cases, evidence_extract, evidence_verify, keys
from swordnet.cli_crawls import captures, evidence, print_run, run_summary, runs
from swordnet.cli_schedule import campaigns, notices, scheduler, scrapyd, sites_schedule, tips
from swordnet.cli_web import serve, tokens, users
from swordnet.cli_works import fingerprint, match, works
from swordnet.cliutil import (
    ID,
    SwordnetGroup,
    console,
    current_settings,
    database,
    emit,
    fail,
    interval_option,
    json_option,
)
from swordnet.config import load_settings
from swordnet.db import head_revision
from swordnet.models import (
    HIT_STATUSES,
    SPIDERS,
    Case,
    CrawlRun,
    Hit,
    Site,
    WatchTarget,
)
from swordnet.watchlist import add_target, check_url, site_for_url


@click.group(cls=SwordnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="swordnet")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Swordnet: crawl suspect sites, match registered works, review hits, build cases."""
    try:
        # the one place a command reads its settings (cliutil.settings() hands them out); a
        # bad one stops every command with one line naming it
        ctx.obj = load_settings()
    except ValueError as exc:
        fail(str(exc))


@main.command()
def init() -> None:
    """Create the data directory and database, or bring its schema up to date."""
    settings = current_settings()
    with database():
        pass
    console.print(f"Swordnet home: {settings.home}")
    console.print(f"Database: {settings.database_url} (schema {head_revision()})")


# --- sites -----------------------------------------------------------------------------------

@main.group()
def sites() -> None:
    """The watchlist of suspect sites."""


def _url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@sites.command("add")
@click.argument("url", callback=_url)
@click.option("--spider", type=click.Choice(SPIDERS), default="site", show_default=True,
              help="site: follow links from URL; search: query the site's search for each "
                   "work; feed: crawl new or changed entries of the sitemap/RSS/Atom at URL.")
@click.option("--depth", type=click.IntRange(0, 50), default=2, show_default=True,
              help="Link depth to follow from the start URL.")
@click.option("--max-pages", type=click.IntRange(1), default=200, show_default=True)
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
@click.option("--delay", type=click.FloatRange(0, 600), default=0.0, show_default=True,
              help="Seconds between requests to the site (politeness).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
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
    with database() as db:
        try:
            with db.session() as session:
                target = add_target(
                    session, url, spider=spider, depth=depth, max_pages=max_pages,
                    every_seconds=every, cron=cron, mirror_domains=list(mirrors),
                    allow_patterns=list(allow), deny_patterns=list(deny),
                    obey_robots=obey_robots, delay_s=delay, concurrency=concurrency,
                    time_cap_s=time_cap, render_js=render_js or screenshot,
                    screenshot=screenshot, search_template=search_template,
                    work_ids=list(work_ids))
                site_id, domain, target_id = target.site_id, target.site.domain, target.id
        except ValueError as exc:
            fail(str(exc))
    schedule = f"every {every} s" if every else f"on cron '{cron}'" if cron else "not scheduled"
    console.print(f"Site {site_id} ({domain}) is on the watchlist as target {target_id} "
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


# --- crawl -----------------------------------------------------------------------------------

def _crawl_request(session: Session, url_or_site: str | None,
                   target_id: int | None) -> CrawlRequest:
    if target_id is not None:
        target = session.get(WatchTarget, target_id)
        if target is None:
            raise LookupError(f"no watch target with id {target_id}")
        return CrawlRequest.for_target(target)
    if not url_or_site:
        raise LookupError("give a URL, a SITE_ID or --target ID to crawl")
    if url_or_site.isdigit():
        site = session.get(Site, int(url_or_site))
        if site is None:
            raise LookupError(f"no site with id {url_or_site}")
        if not site.targets:
            raise LookupError(f"site {site.id} has no watch target; crawl it by URL")
        return CrawlRequest.for_target(site.targets[0])
    url = check_url(url_or_site)
    site = site_for_url(session, url)
    for target in site.targets:
        if url in target.start_urls and target.spider == "site":
            return CrawlRequest.for_target(target)
    return CrawlRequest(site_id=site.id, start_url=url)


@main.command()
@click.argument("url_or_site", required=False)
@click.option("--target", "target_id", type=ID, help="Crawl this watch target.")
@json_option
def crawl(url_or_site: str | None, target_id: int | None, as_json: bool) -> None:
    """Crawl a URL, a watched SITE_ID (its first target) or a --target now, to completion,
    and print the run summary."""
    settings = current_settings()
    with database() as db:
        try:
            with db.session() as session:
                request = _crawl_request(session, url_or_site, target_id)
        except (LookupError, ValueError) as exc:
            fail(str(exc))
        if not as_json:
            console.print(f"Crawling {request.start_url} ...")
        run_id = LocalExecutor(db, settings).run(request)
        with db.session() as session:
            summary = run_summary(session, run_id)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        print_run(summary)
    if summary["outcome"] == "failed":
        sys.exit(1)


# --- hits ------------------------------------------------------------------------------------

@main.group()
def hits() -> None:
    """Matches awaiting review, and review decisions."""


def hit_row(hit: Hit) -> dict[str, Any]:
    return {"id": hit.id, "work_id": hit.work_id, "work_title": hit.work.title, "url": hit.url,
            "page_url": hit.page_url, "site": hit.site.domain, "algorithm": hit.algorithm,
            "variant": hit.variant, "stage": hit.stage, "score": hit.score,
            "method": describe_match(hit.algorithm, hit.variant, hit.score, hit.detail),
            "detail": hit.detail, "quarantined": hit.quarantined, "status": hit.status,
            "case_id": hit.case_id, "reviewer": hit.reviewer,
            "created_at": hit.created_at.isoformat(timespec="seconds")}


@hits.command("list")
@click.option("--status", type=click.Choice(HIT_STATUSES), help="Only hits in this state.")
@json_option
def hits_list(status: str | None, as_json: bool) -> None:
    """List hits, newest first."""
    with database() as db, db.session() as session:
        query = select(Hit).order_by(Hit.id.desc())
        if status:
            query = query.where(Hit.status == status)
        data = [hit_row(hit) for hit in session.scalars(query)]
    for row in data:
        row["flag"] = "QUARANTINED" if row["quarantined"] else ""
    emit(data, as_json, "Hits", ["id", "status", "flag", "work_title", "stage", "method", "site",
                                 "url"])


def _decide(hit_ids: tuple[int, ...], reviewer: str,
            decide: Callable[[Session, int, str], Any], done: str) -> None:
    """Apply one decision per hit, each in its own transaction; stop at the first refusal."""
    with database() as db:
        for hit_id in hit_ids:
            try:
                with db.session() as session:
                    result = decide(session, hit_id, reviewer)
                    case_note = f" (case {result.id})" if isinstance(result, Case) else ""
            except ReviewError as exc:
                fail(str(exc))
            console.print(f"Hit {hit_id} {done}{case_note}.")


reviewer_option = click.option("--reviewer", default=getpass.getuser, show_default="login name",
                               help="Who takes the decision (recorded on the hit).")


@hits.command("confirm")
@click.argument("hit_ids", nargs=-1, required=True, type=ID)
@reviewer_option
@click.option("--accept-quarantined", is_flag=True,
              help="Also confirm hits held by their work's quarantine (checked one by one).")
def hits_confirm(hit_ids: tuple[int, ...], reviewer: str, accept_quarantined: bool) -> None:
    """Confirm pending hits: each opens or extends the case for its site."""
    _decide(hit_ids, reviewer, partial(confirm_hit, accept_quarantined=accept_quarantined),
            "confirmed")


@hits.command("reject")
@click.argument("hit_ids", nargs=-1, required=True, type=ID)
@reviewer_option
def hits_reject(hit_ids: tuple[int, ...], reviewer: str) -> None:
    """Reject pending hits as false matches."""
    _decide(hit_ids, reviewer, reject_hit, "rejected")


@hits.command("undo")
@click.argument("hit_ids", nargs=-1, required=True, type=ID)
@reviewer_option
def hits_undo(hit_ids: tuple[int, ...], reviewer: str) -> None:
    """Put confirmed or rejected hits back to pending (until a notice names them)."""
    _decide(hit_ids, reviewer, undo_decision, "is pending again")


# --- demo and scheduler ----------------------------------------------------------------------

@main.command()
def demo() -> None:
    """Serve a demo pirate site on 127.0.0.1, register sample works, crawl, match, report."""
    from swordnet.demo import run_demo

    with database() as db:
        run_demo(db, current_settings(), console)


evidence.add_command(evidence_verify)
evidence.add_command(evidence_extract)
for group in (works, runs, captures, evidence, campaigns, tips, notices, scheduler, scrapyd, cases,
              keys, allowlist, users, tokens):
    main.add_command(group)
main.add_command(serve)
sites.add_command(sites_schedule)
main.add_command(fingerprint)
main.add_command(match)
