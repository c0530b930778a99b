"""``swordnet crawl``: crawl a URL, a watched site or a watch target now, to completion."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy.orm import Session

from scheduler.executor import CrawlRequest, LocalExecutor
from scheduler.runs import get_run, run_summary
from swordnet.cli.runs import print_run
from swordnet.cli.util import ID, console, current_settings, database, json_option
from swordnet.core.errors import BadInput, NotFound
from swordnet.core.models import Site, WatchTarget
from swordnet.watch.targets import check_url, site_for_url


def _crawl_request(session: Session, url_or_site: str | None,
                   target_id: int | None) -> CrawlRequest:
    if target_id is not None:
        target = session.get(WatchTarget, target_id)
        if target is None:
            raise NotFound(f"no watch target with id {target_id}")
        return CrawlRequest.for_target(target)
    if not url_or_site:
        raise BadInput("give a URL, a SITE_ID or --target ID to crawl")
    if url_or_site.isdigit():
        site = session.get(Site, int(url_or_site))
        if site is None:
            raise NotFound(f"no site with id {url_or_site}")
        if not site.targets:
            raise NotFound(f"site {site.id} has no watch target; crawl it by URL")
        return CrawlRequest.for_target(site.targets[0])
    url = check_url(url_or_site)
    site = site_for_url(session, url)
    for target in site.targets:
        if url in target.start_urls and target.spider == "site":
            return CrawlRequest.for_target(target)
    return CrawlRequest(site_id=site.id, start_url=url)


@click.command()
@click.argument("url_or_site", required=False)
@click.option("--target", "target_id", type=ID, help="Crawl this watch target.")
@json_option
def crawl(url_or_site: str | None, target_id: int | None, as_json: bool) -> None:
    """Crawl a URL, a watched SITE_ID (its first target) or a --target now, to completion,
    and print the run summary."""
    settings = current_settings()
    with database() as db:
        with db.session() as session:
            request = _crawl_request(session, url_or_site, target_id)
        if not as_json:
            console().print(f"Crawling {request.start_url} ...")
        run_id = LocalExecutor(db, settings).run(request)
        with db.session() as session:
            summary = run_summary(get_run(session, run_id))
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        print_run(summary)
    if summary["outcome"] == "failed":
        sys.exit(1)
