"""The ``scrapyd`` commands: the nodes that run crawls for the scheduler."""

from __future__ import annotations

import os
import sys

import click

from scheduler.scrapyd import ScrapydNode, node_config
from swordnet.cli.util import console, fail
from swordnet.core.errors import SwordnetError


@click.group()
def scrapyd() -> None:
    """scrapyd nodes that run crawls for the scheduler (see docs/operations.md)."""


@scrapyd.command("config")
@click.option("--data-dir", required=True, help="Absolute directory for the node's logs/dbs.")
@click.option("--port", type=click.IntRange(1, 65535), default=6800, show_default=True)
@click.option("--bind", default="127.0.0.1", show_default=True,
              help="Address to listen on (the scheduler must reach it).")
@click.option("--max-proc", type=click.IntRange(0), default=0, show_default=True,
              help="Crawls at once on the node (0: 4 per CPU).")
def scrapyd_config(data_dir: str, port: int, bind: str, max_proc: int) -> None:
    """Print a scrapyd.conf that runs the installed Swordnet project (no eggs)."""
    if not os.path.isabs(data_dir):
        fail(f"--data-dir must be an absolute path, got {data_dir!r}")
    click.echo(node_config(data_dir.rstrip("/"), port, bind, max_proc), nl=False)


@scrapyd.command("check")
@click.argument("urls", nargs=-1, required=True)
def scrapyd_check(urls: tuple[str, ...]) -> None:
    """Check that each node answers and runs the Swordnet project and spiders."""
    problems = 0
    for url in urls:
        try:
            node = ScrapydNode(url)
            node.check()
            console().print(f"{node.url}: ready ({node.load()} job(s) running or pending)")
        except SwordnetError as exc:  # a bad URL, or a node that is down or not set up
            click.echo(str(exc), err=True)
            problems += 1
    if problems:
        sys.exit(1)
