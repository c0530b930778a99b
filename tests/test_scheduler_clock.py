"""The scheduler's rules in-process, against a clock the test sets: which jobs the database
asks for at a given moment, and when a campaign's job starts a crawl. (tests/test_scheduler.py
runs the real ``swordnet scheduler run`` process.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from scheduler import jobs
from scheduler.executor import CrawlRequest
from scheduler.service import STORE, JobSpec, sync_jobs, wanted_jobs
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import Campaign, WatchTarget
from tests.pirate_sites import add_watch_target

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
END = START + timedelta(days=1)
EVERY = timedelta(hours=6)


class RecordingExecutor:
    """Records the crawls it is asked for instead of running them."""

    def __init__(self) -> None:
        self.requests: list[CrawlRequest] = []

    def run(self, request: CrawlRequest) -> int:
        self.requests.append(request)
        return len(self.requests)

    def describe(self) -> str:
        return "recording"

    def begin_shutdown(self) -> None:
        pass


@pytest.fixture
def db(sqlite_home: Settings) -> Iterator[Database]:
    """A watch target (1) with no schedule of its own, and a campaign (1) crawling it every
    6 hours from START to END."""
    database = open_database(sqlite_home)
    target = add_watch_target(database, "http://pirate.example/")
    with database.session() as session:  # as `campaigns create` stores it (whenever the test runs)
        session.add(Campaign(name="Release week", starts_at=START, ends_at=END,
                             every_seconds=int(EVERY.total_seconds()),
                             targets=[session.get(WatchTarget, target)]))
    yield database
    database.dispose()


def campaign_spec(db: Database, now: datetime) -> JobSpec | None:
    specs = {s.job_id: s for s in wanted_jobs(db, 86400, 60, now)}
    assert {"rechecks", "tips"} <= set(specs)
    return specs.get("campaign:1:target:1")


def test_a_campaign_job_fires_from_its_start_to_its_end_and_then_goes(db: Database) -> None:
    before = campaign_spec(db, START - timedelta(hours=1))
    assert before is not None and not before.run_at_once  # not under way: it waits for START
    assert before.trigger.get_next_fire_time(None, START - timedelta(hours=1)) == START
    during = campaign_spec(db, START + timedelta(hours=7))
    assert during is not None and during.run_at_once  # under way when first seen: crawl now
    # APScheduler's end is inclusive: a run due at END fires and starts nothing (below)
    assert during.trigger.get_next_fire_time(END - EVERY, END) == END
    assert during.trigger.get_next_fire_time(END, END + EVERY) is None
    assert campaign_spec(db, END) is None


def test_the_stored_job_is_removed_once_the_campaign_has_ended(db: Database) -> None:
    scheduler = BackgroundScheduler(jobstores={STORE: MemoryJobStore()}, timezone="UTC")
    scheduler.start(paused=True)  # runs nothing
    try:
        now = START + timedelta(hours=1)
        sync_jobs(scheduler, wanted_jobs(db, 86400, 60, now), now)
        job = scheduler.get_job("campaign:1:target:1", jobstore=STORE)
        assert job is not None and job.next_run_time == now
        sync_jobs(scheduler, wanted_jobs(db, 86400, 60, END), END)
        assert scheduler.get_job("campaign:1:target:1", jobstore=STORE) is None
        assert {j.id for j in scheduler.get_jobs(jobstore=STORE)} == {"rechecks", "tips"}
    finally:
        scheduler.shutdown(wait=False)


@pytest.mark.parametrize(("now", "crawls"), [
    (START - timedelta(seconds=1), 0),  # planned
    (START, 1),
    (END - timedelta(seconds=1), 1),
    (END, 0),                           # ended: a job that fires late starts nothing
])
def test_a_campaign_job_crawls_only_while_the_campaign_runs(db: Database, now: datetime,
                                                             crawls: int) -> None:
    executor = RecordingExecutor()
    jobs.install(jobs.JobContext(db, executor, max_concurrent=1, clock=lambda: now))
    try:
        jobs.crawl_target(1, campaign_id=1)
    finally:
        jobs.install(None)
    assert [(r.target_id, r.campaign_id, r.purpose) for r in executor.requests] == \
        [(1, 1, "campaign")] * crawls
