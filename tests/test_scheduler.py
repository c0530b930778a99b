"""The scheduler service as a real process: repeated crawls, persistent jobs, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from swordnet.config import Settings
from swordnet.db import Database
from swordnet.demo_site import RunningSite
from swordnet.models import CrawlRun
from tests.conftest import run_cli
from tests.pirate_sites import register_samples


def start_scheduler(settings: Settings) -> subprocess.Popen[str]:
    env = {**os.environ, "SWORDNET_HOME": str(settings.home),
           "SWORDNET_DATABASE_URL": settings.database_url}
    process = subprocess.Popen([sys.executable, "-m", "swordnet", "scheduler", "run"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # wait until it is ready to take signals
        if "Scheduler started" in line:
            return process
    raise AssertionError(f"scheduler exited with {process.wait()} before starting")


def finished_runs(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).where(CrawlRun.outcome == "finished")) or 0


def stored_job_ids(db: Database) -> list[str]:
    """Job ids in the persistent job store ([] until the scheduler has created it)."""
    try:
        with db.session() as session:
            return list(session.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
    except DBAPIError:
        return []


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    return output


def test_site_on_a_one_second_interval_is_crawled_repeatedly(
    home: Settings, db: Database, served_site: RunningSite
) -> None:
    register_samples(db)
    assert run_cli("sites", "add", served_site.url, "--every", "1s").exit_code == 0
    process = start_scheduler(home)
    try:
        deadline = time.monotonic() + 90
        while finished_runs(db) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            time.sleep(0.5)
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert finished_runs(db) >= 2, output
    with db.session() as session:
        runs = session.scalars(select(CrawlRun).where(CrawlRun.outcome == "finished")).all()
        assert {r.target_id for r in runs} == {1}
        assert runs[0].stats["hits_new"] == len(served_site.site.planted)
        assert all(r.stats["hits_new"] == 0 for r in runs[1:])
    assert stored_job_ids(db) == ["target:1"]  # in the persistent job store, once


def test_restart_keeps_one_job_per_target(home: Settings, db: Database) -> None:
    assert run_cli("sites", "add", "http://127.0.0.1:9/", "--every", "6h").exit_code == 0
    for _ in range(2):
        process = start_scheduler(home)
        deadline = time.monotonic() + 30
        while not stored_job_ids(db) and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(1)  # let a duplicate, if any, be written
        stop(process)
        assert process.returncode == 0
    assert stored_job_ids(db) == ["target:1"]
