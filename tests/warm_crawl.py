"""``scrapy crawl`` processes for tests that are about what a crawl finds, records or refuses,
forked by this test process's warm crawl launcher (scheduler/launcher.py) as the scheduler's
crawls are.

A crawl so started runs what ``python -m scrapy ARGS`` run from the repository root runs, in
its own process with the given environment, its output in a log file; only its imports were
done before it was asked for. If the launcher is unavailable it is that plain subprocess.
Tests about the plain path itself (a crawl started by hand, its command line) start
``python -m scrapy`` themselves.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from scheduler.executor import CrawlProcess, start_crawl
from scheduler.launcher import shared_launcher

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_scrapy(args: list[str], env: dict[str, str], log: Path) -> CrawlProcess:
    """``scrapy ARGS`` started in the repository root, appending its output to ``log``."""
    with open(log, "ab") as out:
        return start_crawl(shared_launcher(), args, env, out, str(REPO_ROOT))


def run_scrapy(args: list[str], env: dict[str, str], log: Path,
               timeout_s: float = 180) -> int | None:
    """``scrapy ARGS`` run to its end (killed after ``timeout_s``, a hang); its returncode
    (None: the launcher died before it could say)."""
    crawl = start_scrapy(args, env, log)
    try:
        return crawl.wait(timeout_s)
    except subprocess.TimeoutExpired:
        crawl.kill()
        crawl.wait(timeout=30)
        raise
    finally:
        crawl.close()
