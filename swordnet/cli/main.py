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
# attribute of the command's own name
COMMAND_MODULES = {
    "works": "works", "fingerprint": "works", "match": "works", "sites": "sites",
    "crawl": "crawl", "hits": "hits", "runs": "runs", "captures": "captures",
    "evidence": "evidence", "cases": "cases", "keys": "keys", "allowlist": "allowlist",
    "campaigns": "campaigns", "tips": "tips", "notices": "notices", "contacts": "contacts",
    "scheduler": "scheduler", "scrapyd": "scrapyd", "serve": "serve", "users": "users",
    "tokens": "users", "staydown": "staydown", "live": "live", "blocklist": "blocklist",
}


class RootGroup(SwordnetGroup):
    """The root group, which imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMAND_MODULES:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(f"swordnet.cli.{COMMAND_MODULES[cmd_name]}")
        command = getattr(module, cmd_name)
        assert isinstance(command, click.Command)
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
    console.print(f"Swordnet home: {settings.home}")
    console.print(f"Database: {settings.database_url} (schema {head_revision()})")


@main.command()
def demo() -> None:
    """Serve a demo pirate site on 127.0.0.1, register sample works, crawl, match, report."""
    from swordnet.demo.run import run_demo

    with database() as db:
        run_demo(db, current_settings(), console)
