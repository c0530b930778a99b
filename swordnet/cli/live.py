"""The ``live`` commands: live events, their candidate streams and the blocking list;
``live run`` runs the live service (feeds' references and the stream checker)."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from swordnet.cli.live_events import LIVE_COMMANDS
from swordnet.cli.util import console, current_settings, database
from swordnet.live.service import DEFAULT_WORKERS, LiveService


@click.group()
def live() -> None:
    """Live events: official feeds, candidate restreams, the auto-confirm rule."""


for _command in LIVE_COMMANDS:
    live.add_command(_command)


@live.command("run")
@click.option("--workers", type=click.IntRange(1, 64), default=DEFAULT_WORKERS,
              show_default=True, help="Streams checked at once.")
def live_run(workers: int) -> None:
    """Run the live service until stopped (SIGTERM or Ctrl-C): take in the running events'
    official feeds and check their candidate streams. Checks in progress finish first. Only
    one live service may run against a database."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %s received; stopping after the checks "
                                         "in progress", signum)
        stop.set()

    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with database() as db:
            service = LiveService(current_settings(), db=db, workers=workers)
            service.run_until(stop, started=lambda: console().print(
                f"Live service running against "
                f"{db.engine.url.render_as_string(hide_password=True)} with {workers} "
                "checker threads; Ctrl-C to stop."))
        console().print("Live service stopped.")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
