"""The ``swordnet`` command line: the root group, ``init`` and ``demo``; each command group
is a module of its own in this package, thin wiring over the registry, watchlist, crawler
and cases, imported only when its command runs (or the root's help lists it): a command
does not pay for importing the web API, the live service and the crawler it does not use.

Errors a user can cause print one line naming the input and exit non-zero; list commands
take ``--json`` and print a JSON array.
"""

from __future__ import annotations

import importlib

import click

from swordnet.cli.util import SwordnetGroup, console, current_settings, database
from swordnet.core.config import load_settings
from swordnet.core.db import head_revision

# each command of the root group: the module of this package that defines it, as an
# attribute of the command's own name, and the first paragraph of its help, which the root's
# --help lists without importing the module (tests/test_cli.py checks it matches)
COMMANDS: dict[str, tuple[str, str]] = {
    "works": ("works", "Registered works and their fingerprints."),
    "fingerprint": (
        "works",
        "Print FILE's fingerprints as a line for `works import-fingerprints`."
    ),
    "match": ("works", "Fingerprint local FILES and show which registered works each matches."),
    "sites": ("sites", "The watchlist of suspect sites."),
    "crawl": (
        "crawl",
        "Crawl a URL, a watched SITE_ID (its first target) or a --target now, to completion, "
        "and print the run summary."
    ),
    "hits": ("hits", "Matches awaiting review, and review decisions."),
    "runs": ("runs", "Crawl runs: outcome, statistics and health."),
    "captures": ("captures", "The captured responses (WARC records) behind hits."),
    "evidence": (
        "evidence",
        "The evidence store: WARC files and screenshots, content-addressed by sha256."
    ),
    "cases": ("cases", "Enforcement cases: lifecycle, custody logs, evidence bundles."),
    "keys": ("keys", "The instance's signing key."),
    "allowlist": (
        "allowlist",
        "Licensed domains: crawls skip the holder's (or the work's) matches there, and "
        "shutdown lists leave out those hits (not other holders')."
    ),
    "campaigns": (
        "campaigns",
        "Special campaigns: time-boxed, their own targets, frequency and statistics."
    ),
    "tips": ("tips", "Complaints and public tips: single URLs checked within minutes."),
    "notices": ("notices", "Takedown notices sent, and rechecks of the URLs they name."),
    "contacts": ("contacts", "Abuse contacts: where a site's notices are sent."),
    "scheduler": ("scheduler", "The crawl scheduler service."),
    "scrapyd": (
        "scrapyd",
        "scrapyd nodes that run crawls for the scheduler (see docs/operations.md)."
    ),
    "serve": ("serve", "Run the web console and REST API (OpenAPI at /api/v1/openapi.json)."),
    "users": (
        "users",
        "Console and API users: admin, staff, or rights_holder bound to one holder."
    ),
    "tokens": (
        "users",
        "API tokens (sent as 'Authorization: Bearer TOKEN'; stored only as hashes)."
    ),
    "staydown": (
        "staydown",
        "Copies already confirmed in a case, found again: automatic confirmation and mirrors."
    ),
    "live": (
        "live",
        "Live events: official feeds, candidate restreams, the auto-confirm rule."
    ),
    "blocklist": (
        "blocklist",
        "The blocking list of confirmed live restreams: FQDNs and IPv4/IPv6 addresses."
    ),
}


class RootGroup(SwordnetGroup):
    """The root group, which imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(f"swordnet.cli.{COMMANDS[cmd_name][0]}")
        command = getattr(module, cmd_name)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``swordnet --help``, as click writes it, from the summaries
        in :data:`COMMANDS`: listing the commands imports none of their modules."""
        listed = [(name, self._listed(ctx, name)) for name in self.list_commands(ctx)]
        limit = formatter.width - 6 - max(len(name) for name, _ in listed)
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.get_short_help_str(limit))
                                for name, command in listed])

    def _listed(self, ctx: click.Context, cmd_name: str) -> click.Command:
        """The command, or a stand-in holding its summary if its module is not imported."""
        if cmd_name in COMMANDS:
            return click.Command(cmd_name, help=COMMANDS[cmd_name][1])
        command = super().get_command(ctx, cmd_name)
        assert command is not None
        return command


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    console().print(f"Swordnet home: {settings.home}")
    console().print(f"Database: {settings.database_url} (schema {head_revision()})")


@main.command()
def demo() -> None:
    """Serve a demo pirate site on 127.0.0.1, register sample works, crawl, match, report."""
    from swordnet.demo.run import run_demo

    with database() as db:
        run_demo(db, current_settings(), console())
