"""The ``swordnet`` command line: the root group, ``init`` and ``demo``; each command group
is a module of its own in this package, thin wiring over the registry, watchlist, crawler
and cases.

Errors a user can cause print one line naming the input and exit non-zero; list commands
take ``--json`` and print a JSON array.
"""

from __future__ import annotations

import click

from swordnet.cli.allowlist import allowlist
from swordnet.cli.blocklist import blocklist
from swordnet.cli.campaigns import campaigns
from swordnet.cli.captures import captures
from swordnet.cli.cases import cases
from swordnet.cli.contacts import contacts
from swordnet.cli.crawl import crawl
from swordnet.cli.evidence import evidence
from swordnet.cli.hits import hits
from swordnet.cli.keys import keys
from swordnet.cli.live import live
from swordnet.cli.notices import notices
from swordnet.cli.runs import runs
from swordnet.cli.scheduler import scheduler
from swordnet.cli.scrapyd import scrapyd
from swordnet.cli.serve import serve
from swordnet.cli.sites import sites
from swordnet.cli.staydown import staydown
from swordnet.cli.tips import tips
from swordnet.cli.users import tokens, users
from swordnet.cli.util import SwordnetGroup, console, current_settings, database
from swordnet.cli.works import fingerprint, match, works
from swordnet.core.config import load_settings
from swordnet.core.db import head_revision


@click.group(cls=SwordnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="swordnet")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Swordnet: crawl suspect sites, match registered works, review hits, build cases."""
    # the one place a command reads its settings (util.current_settings() hands them out);
    # a bad one stops every command with one line naming it
    ctx.obj = load_settings()


@main.command()
def init() -> None:
    """Create the data directory and database, or bring its schema up to date."""
    settings = current_settings()
    with database():
        pass
    console.print(f"Swordnet home: {settings.home}")
    console.print(f"Database: {settings.database_url} (schema {head_revision()})")


@main.command()
def demo() -> None:
    """Serve a demo pirate site on 127.0.0.1, register sample works, crawl, match, report."""
    from swordnet.demo.run import run_demo

    with database() as db:
        run_demo(db, current_settings(), console)


for command in (works, fingerprint, match, sites, crawl, hits, runs, captures, evidence, cases,
                keys, allowlist, campaigns, tips, notices, contacts, scheduler, scrapyd, serve,
                users, tokens, staydown, live, blocklist):
    main.add_command(command)
