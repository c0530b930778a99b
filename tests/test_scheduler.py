"""The scheduler service as a real process: repeated crawls, persistent jobs, clean SIGTERM,
missed runs, one scheduler per database, campaigns, rechecks of URLs under notice, tips, and
crawls orphaned by a killed scheduler."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial

import psutil
import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from casefiles.captures import capture_record
from casefiles.custody import first_broken_link
from casefiles.notices import record_notice
from casefiles.review import confirm_hit
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import (
    Campaign,
    Capture,
    Case,
    CrawlRun,
    Hit,
    NoticeUrl,
    RecheckResult,
    ServiceInstance,
    Tip,
    Work,
)
from swordnet.core.timeutil import utcnow
from swordnet.demo.site import DemoSite, Resource, RunningSite, serve_site
from swordnet.evidence.store import EvidenceStore
from swordnet.watch.targets import site_for_url
from tests.conftest import run_cli
from tests.pirate_sites import (
    HTML,
    add_watch_target,
    crawl_target,
    page,
    register_samples,
    small_site,
)
from tests.test_schedule_cli import free_port
from tests.warm_cli import WarmProcess

_started = itertools.count(1)


class Scheduler:
    """A ``swordnet scheduler run`` process (forked warm, its crawl launcher too:
    tests/warm_cli.py), its output in a file."""

    def __init__(self, settings: Settings, *options: str) -> None:
        env = {**os.environ, "SWORDNET_HOME": str(settings.home),
               "SWORDNET_DATABASE_URL": settings.database_url}
        self.logs_dir = settings.logs_dir
        out = settings.home.parent / f"scheduler-{next(_started)}.out"
        out.touch()
        self.process = WarmProcess(["scheduler", "run", *options], env, out, warm_launcher=True)
        try:
            wait_for(lambda: "Scheduler started" in self.output, self, timeout_s=60)
        except AssertionError:
            self.process.kill()
            raise AssertionError(f"scheduler did not start:\n{self.output}") from None

    @property
    def output(self) -> str:
        """All it has written so far."""
        return self.process.output.read_text(errors="replace")

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines(keepends=True)

    def stop(self, whole_group: bool = False) -> str:
        """SIGTERM to the scheduler, or to it and its crawls (as systemd's default does);
        then :meth:`wait`."""
        self.terminate(whole_group)
        return self.wait()

    def terminate(self, whole_group: bool = False) -> None:
        """SIGTERM to the scheduler, or to it and its crawls."""
        if whole_group:
            os.killpg(self.process.pid, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> str:
        """Wait for the scheduler to exit; its output."""
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            crawls = {path.name: path.read_text(errors="replace")[-3000:]
                      for path in sorted(self.logs_dir.glob("run-*.log"))}
            raise AssertionError(f"scheduler still running 120 s after SIGTERM:\n{self.output}"
                                 f"\ncrawl logs: {crawls}") from None
        return self.output


def start_scheduler(settings: Settings, *options: str) -> Scheduler:
    return Scheduler(settings, *options)


def wait_for(condition: Callable[[], bool], scheduler: Scheduler, timeout_s: float = 300) -> None:
    """Wait until ``condition`` holds while the scheduler runs (the deadline is only there to
    end a test that hangs, far beyond what a slow machine needs)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert scheduler.process.poll() is None, scheduler.output
        assert time.monotonic() < deadline, f"timed out; scheduler said:\n{scheduler.output}"
        time.sleep(0.1)


def startup_synced(scheduler: Scheduler) -> bool:
    """Whether the stored jobs are all written: the scheduler syncs them before it starts and
    again at once in its in-memory ``sync`` job; that job's first run has ended."""
    return any(".sync (" in line and "executed successfully" in line for line in scheduler.lines)


def syncs(scheduler: Scheduler) -> int:
    """How many times the scheduler's in-memory ``sync`` job has run to its end."""
    return sum(".sync (" in line and "executed successfully" in line
               for line in scheduler.lines)


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


@pytest.fixture
def little_site() -> Iterator[RunningSite]:
    """A site of two pages with a planted copy each: these tests are about when and how the
    scheduler runs crawls, not what a big site holds (test_crawl.py crawls the fixture site),
    and each of their crawls matches two images instead of the fixture site's 54."""
    with serve_site(small_site(0)) as running:
        yield running


def test_site_on_a_one_second_interval_is_crawled_repeatedly(
    home: Settings, db: Database, little_site: RunningSite
) -> None:
    register_samples(db)
    assert run_cli("sites", "add", little_site.url, "--every", "1s").exit_code == 0
    scheduler = start_scheduler(home)
    try:
        wait_for(lambda: finished_runs(db) >= 2, scheduler)
    finally:
        output = scheduler.stop()
    assert scheduler.process.returncode == 0, output
    assert finished_runs(db) >= 2, output
    with db.session() as session:
        runs = session.scalars(select(CrawlRun).where(CrawlRun.outcome == "finished")
                               .order_by(CrawlRun.id)).all()
        assert {r.target_id for r in runs} == {1}
        assert {r.purpose for r in runs} == {"watch"}
        assert runs[0].stats["hits_new"] == len(little_site.site.planted)
        assert all(r.stats["hits_new"] == 0 for r in runs[1:])
    # in the persistent job store, once each
    assert sorted(stored_job_ids(db)) == ["rechecks", "target:1", "tips"]


def test_restart_keeps_one_job_per_target(home: Settings, db: Database) -> None:
    assert run_cli("sites", "add", "http://127.0.0.1:9/", "--every", "6h").exit_code == 0
    for _ in range(2):
        scheduler = start_scheduler(home)
        wait_for(partial(startup_synced, scheduler), scheduler)  # duplicates are written by now
        scheduler.stop()
        assert scheduler.process.returncode == 0
    assert sorted(stored_job_ids(db)) == ["rechecks", "target:1", "tips"]


@pytest.mark.parametrize(("whole_group", "when", "outcome"), [
    (False, "fetching", "finished"),     # the scheduler alone: the crawl runs to its end
    (True, "fetching", "interrupted"),   # the crawl too, mid-crawl: it stops cleanly, says so
    (True, "starting", "interrupted"),   # the crawl too, as it starts: the executor says so
])
def test_sigterm_lets_a_running_crawl_finish_or_marks_it_interrupted(
    sqlite_home: Settings, whole_group: bool, when: str, outcome: str
) -> None:
    db = open_database(sqlite_home)
    site = small_site(0)
    with held_site(site) as (slow, gate):  # the crawl is under way until the gate opens
        assert run_cli("sites", "add", slow.url, "--every", "1h", "--depth", "1").exit_code == 0
        scheduler = start_scheduler(sqlite_home)
        if when == "fetching":
            wait_for(lambda: len(slow.requests) >= 1, scheduler)
        else:
            # the crawl's process is forked (the run names it): a crawl the launcher forks
            # only after the group's SIGTERM never gets that signal, and runs to its end
            wait_for(lambda: any(r.pid for r in runs_of(db, outcome="running")), scheduler)
        scheduler.terminate(whole_group)  # SIGTERM while the crawl runs
        wait_for(lambda: "stopping after running crawls finish" in scheduler.output, scheduler)
        gate.set()
        output = scheduler.wait()
    assert scheduler.process.returncode == 0, output
    assert "stopping after running crawls finish" in output
    [run] = runs_of(db)
    assert run.outcome == outcome, run.error
    assert run.finish_reason == ("finished" if outcome == "finished" else "shutdown")
    assert run.finished_at is not None
    if outcome == "finished":
        assert run.stats["pages"] == len(site.page_paths)  # the whole site
    db.dispose()


def runs_of(db: Database, **where: object) -> list[CrawlRun]:
    with db.session() as session:
        query = select(CrawlRun).order_by(CrawlRun.id)
        for column, value in where.items():
            query = query.where(getattr(CrawlRun, column) == value)
        return list(session.scalars(query))


def rewind_job(db: Database, job_id: str, to: datetime) -> None:
    """Move a stored job's next run back in time, as if no scheduler had run since then."""
    store = SQLAlchemyJobStore(engine=db.engine)
    store.start(BackgroundScheduler(timezone="UTC"), "default")  # never started: runs nothing
    job = store.lookup_job(job_id)
    assert job is not None
    job._modify(next_run_time=to)
    store.update_job(job)


def test_scheduler_down_across_three_due_runs_makes_one_catch_up_run_and_logs_it(
    sqlite_home: Settings, little_site: RunningSite
) -> None:
    db = open_database(sqlite_home)
    assert run_cli("sites", "add", little_site.url, "--every", "1h", "--depth", "0").exit_code == 0
    scheduler = start_scheduler(sqlite_home)
    wait_for(lambda: finished_runs(db) == 1, scheduler)  # a new target is crawled at once
    scheduler.stop()
    # down for 2.5 intervals: runs were due 2.5 h, 1.5 h and 0.5 h ago
    rewind_job(db, "target:1", utcnow() - timedelta(hours=2.5))
    scheduler = start_scheduler(sqlite_home, "--sync-every", "1s")
    try:
        wait_for(lambda: finished_runs(db) == 2, scheduler)
        # A second catch-up run, if any, would be handed out no later than the sync job that
        # follows: wait for two more of those.
        synced = syncs(scheduler)
        wait_for(lambda: syncs(scheduler) >= synced + 2, scheduler)
    finally:
        output = scheduler.stop()
    assert len(runs_of(db, target_id=1)) == 2, output
    assert "misfire: job target:1 missed 3 run(s)" in output
    assert "one catch-up run now" in output
    db.dispose()


def test_runs_left_running_by_a_dead_crawl_are_failed(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    with db.session() as session:
        site = site_for_url(session, "http://127.0.0.1:9/")
        session.add_all([
            CrawlRun(site_id=site.id, start_url="http://127.0.0.1:9/", outcome="running",
                     started_at=utcnow() - timedelta(hours=2)),   # long dead
            CrawlRun(site_id=site.id, start_url="http://127.0.0.1:9/", outcome="running",
                     started_at=utcnow() - timedelta(minutes=5))])  # may still be crawling
    scheduler = start_scheduler(sqlite_home)
    try:
        wait_for(lambda: bool(runs_of(db, outcome="failed")), scheduler)
    finally:
        output = scheduler.stop()
    old, recent = runs_of(db)
    assert old.outcome == "failed" and "no outcome recorded" in (old.error or "")
    assert recent.outcome == "running"
    assert "runs 1 had no outcome long after they started; marked failed" in output
    db.dispose()


def test_a_second_scheduler_on_the_same_database_refuses_to_start(home: Settings,
                                                                  db: Database) -> None:
    first = start_scheduler(home)
    try:
        env = {**os.environ, "SWORDNET_HOME": str(home.home),
               "SWORDNET_DATABASE_URL": home.database_url}
        second = WarmProcess(["scheduler", "run"], env, home.home.parent / "second.out")
        second.wait(timeout=60)
        status = run_cli("scheduler", "status")
    finally:
        first.stop()
    assert second.returncode == 1
    error = second.output.read_text().strip().splitlines()[-1]
    assert error.startswith("Error: another scheduler is already running against this "
                            f"database (pid {first.process.pid} on ")
    assert status.exit_code == 0 and f"Scheduler running: pid {first.process.pid}" in status.output
    assert "tips" in status.output and "rechecks" in status.output
    after = run_cli("scheduler", "status")
    assert "No scheduler is running" in after.output


def test_campaign_crawls_only_between_its_bounds_and_tags_its_runs(
    sqlite_home: Settings, little_site: RunningSite
) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    assert run_cli("sites", "add", little_site.url, "--depth", "1").exit_code == 0  # unscheduled
    starts = utcnow() + timedelta(seconds=2)  # it waits for its start (test_scheduler_clock.py)
    created = run_cli("campaigns", "create", "Quick reaction", "--from", starts.isoformat(),
                      "--to", (starts + timedelta(days=1)).isoformat(), "--targets", "1",
                      "--every", "1s")
    assert created.exit_code == 0, created.output
    scheduler = start_scheduler(sqlite_home, "--sync-every", "1s")
    try:
        wait_for(lambda: finished_runs(db) >= 2, scheduler)  # crawled again and again
        # The campaign's end is brought forward to now, however long the crawls took (the
        # scheduler reads it at its next sync; whether a job that fires late starts a crawl
        # is test_scheduler_clock.py's); then until it is over: its job gone, its last crawl
        # ended.
        with db.session() as session:
            campaign = session.get(Campaign, 1)
            assert campaign is not None
            campaign.ends_at = utcnow()
        wait_for(lambda: "campaign:1:target:1" not in stored_job_ids(db)
                 and not runs_of(db, outcome="running"), scheduler)
    finally:
        output = scheduler.stop()
    runs = runs_of(db)
    assert len(runs) >= 2, output
    assert all(r.campaign_id == 1 and r.purpose == "campaign" for r in runs)
    # none before its start (a second's slack for how times are stored)
    assert all(r.started_at >= starts - timedelta(seconds=1) for r in runs), \
        [r.started_at for r in runs]
    assert "campaign:1:target:1" not in stored_job_ids(db)  # gone once the campaign ended
    listed = json.loads(run_cli("runs", "list", "--campaign", "1", "--json").output)
    assert len(listed) == len(runs) and {r["purpose"] for r in listed} == {"campaign"}
    shown = run_cli("campaigns", "show", "quick reaction", "--json")
    summary = json.loads(shown.output)
    assert summary["state"] == "ended" and summary["runs"] == len(runs)
    with db.session() as session:
        hits = session.scalar(select(func.count()).select_from(Hit))
    assert summary["hits_found"] == hits > 0  # every hit was found by the campaign's runs
    db.dispose()


def test_campaign_already_under_way_crawls_at_once_not_an_interval_later(
    sqlite_home: Settings, little_site: RunningSite
) -> None:
    db = open_database(sqlite_home)
    assert run_cli("sites", "add", little_site.url, "--depth", "0").exit_code == 0
    yesterday, tomorrow = utcnow() - timedelta(days=1), utcnow() + timedelta(days=1)
    assert run_cli("campaigns", "create", "Under way", "--from", yesterday.isoformat(),
                   "--to", tomorrow.isoformat(), "--targets", "1", "--every", "6h").exit_code == 0
    scheduler = start_scheduler(sqlite_home)
    try:  # started at once, not 6 h from now
        wait_for(lambda: len(runs_of(db, campaign_id=1)) == 1
                 and not runs_of(db, outcome="running"), scheduler)
    finally:
        scheduler.stop()
    assert [r.outcome for r in runs_of(db, campaign_id=1)] == ["finished"]
    db.dispose()


def _confirm_and_notify(db: Database) -> list[Hit]:
    with db.session() as session:
        hits = list(session.scalars(select(Hit).order_by(Hit.id)))
        for hit in hits:
            confirm_hit(session, hit.id, "tester")
        record_notice(session, hits[0].case_id, "abuse@pirate.example", "dmca-en", "tester")
    return hits


def _notice_urls(db: Database) -> dict[str, str]:
    with db.session() as session:
        return {u.url: u.status for u in session.scalars(select(NoticeUrl))}


def test_recheck_records_removal_with_a_capture_after_the_site_deletes_the_copy(
    home: Settings, db: Database, little_site: RunningSite
) -> None:
    register_samples(db)
    add_watch_target(db, little_site.url)
    crawl_target(db, home, 1)
    hits = _confirm_and_notify(db)
    removed = hits[0].url
    scheduler = start_scheduler(home, "--recheck-every", "2s")
    try:
        wait_for(lambda: set(_notice_urls(db).values()) == {"present"}, scheduler)
        path = "/" + removed.split("/", 3)[3]
        copy = little_site.site.files.pop(path)  # the host takes it down
        wait_for(lambda: _notice_urls(db)[removed] == "removed", scheduler)
        little_site.site.files[path] = copy  # and puts it back
        wait_for(lambda: _notice_urls(db)[removed] == "reappeared", scheduler)
    finally:
        output = scheduler.stop()
    statuses = _notice_urls(db)
    assert [u for u, s in statuses.items() if s != "present"] == [removed], output
    with db.session() as session:
        check = session.scalars(select(RecheckResult).where(RecheckResult.outcome == "removed")
                                ).one()
        assert check.http_status == 404 and check.capture_id is not None
        capture = session.get(Capture, check.capture_id)
        assert capture is not None and capture.url == removed and capture.http_status == 404
        view = capture_record(session, EvidenceStore(home.evidence_dir), capture)
        assert view.payload == b"not found"  # the removal response itself, from the WARC
        case = session.get(Case, hits[0].case_id)
        assert case is not None and first_broken_link(case.events) is None
        assert [e.type for e in case.events][-2:] == ["copy_removed", "copy_reappeared"]
        event = case.events[-2]
        assert event.payload["url"] == removed and event.payload["capture_id"] == capture.id
        back = session.get(Capture, case.events[-1].payload["capture_id"])
        hit = session.get(Hit, hits[0].id)
        assert hit is not None and hit.media_capture is not None
        assert back is not None and back.http_status == 200
        assert back.sha256 == hit.media_capture.sha256  # the same copy, back again
        runs = session.scalars(select(CrawlRun).where(CrawlRun.purpose == "recheck")).all()
        assert runs and all(r.spider == "recheck" and r.outcome == "finished" for r in runs)


def tips_with_status(db: Database, *statuses: str) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(Tip.id).where(Tip.status.in_(statuses))))


def test_tip_is_checked_within_the_tips_interval(
    home: Settings, db: Database, served_site: RunningSite
) -> None:
    register_samples(db)
    planted = served_site.site.planted[0]
    with db.session() as session:
        work_id = session.scalar(select(Work.id).where(Work.title == planted.work_title))
    page_url = served_site.url.rstrip("/") + planted.page_path
    image_url = served_site.url.rstrip("/") + planted.image_path
    missing_url = served_site.url + "no-such-page.html"
    dead_url = f"http://127.0.0.1:{free_port()}/post.html"  # nothing listens there
    for url in (page_url, image_url, missing_url, dead_url):
        assert run_cli("tips", "add", url, "--work", str(work_id)).exit_code == 0
    scheduler = start_scheduler(home, "--tips-every", "1s")
    try:
        wait_for(lambda: not tips_with_status(db, "queued", "checking"), scheduler)
    finally:
        scheduler.stop()
    tips = {t["url"]: t for t in json.loads(run_cli("tips", "list", "--json").output)}
    assert tips[page_url]["status"] == "checked" and tips[page_url]["hits"]
    assert tips[page_url]["named_work_found"] is True
    assert tips[image_url]["named_work_found"] is True  # a tip pointing at the copy itself
    assert tips[missing_url]["status"] == "checked"     # the page is gone: nothing there
    assert tips[missing_url]["named_work_found"] is False and tips[missing_url]["hits"] == []
    assert tips[dead_url]["status"] == "failed"         # the check saw nothing at all
    with db.session() as session:
        dead = session.scalars(select(Tip).where(Tip.url == dead_url)).one()
        assert dead.result["error"].startswith("the URL could not be fetched: ")
        assert dead.result["error"] == ("the URL could not be fetched: connect_error: could not "
                                        "connect to the server")
    assert {r.purpose for r in runs_of(db)} == {"tip"}


@contextmanager
def held_site(site: DemoSite) -> Iterator[tuple[RunningSite, threading.Event]]:
    """``site`` served with every response held until the test opens the gate (a crawl of
    it is under way exactly as long as the test needs, on a machine of any speed)."""
    gate = threading.Event()

    def held(path: str, query: str) -> Resource:
        gate.wait(60)
        return site.respond(path, query)

    with serve_site(DemoSite(routes={"/": held})) as running:
        try:
            yield running, gate
        finally:
            gate.set()


@contextmanager
def gated_site() -> Iterator[tuple[RunningSite, threading.Event]]:
    """A site whose one linked page answers only once the test opens the gate, so a crawl of
    it stays under way exactly as long as the test needs."""
    gate = threading.Event()
    site = DemoSite()
    site.add("/", page("Gated", '<a href="/gate/1">behind the gate</a>'), HTML)

    def held(_path: str, _query: str) -> Resource:
        gate.wait(60)
        return Resource(200, HTML, page("Through", "<p>open</p>"))

    site.routes["/gate/"] = held
    with serve_site(site) as running:
        try:
            yield running, gate
        finally:
            gate.set()


def heartbeat(db: Database) -> datetime:
    with db.session() as session:
        instance = session.scalars(select(ServiceInstance)
                                   .order_by(ServiceInstance.id.desc())).first()
        assert instance is not None
        return instance.heartbeat_at


def test_sigterm_keeps_the_heartbeat_while_crawls_finish_and_starts_no_job(
    sqlite_home: Settings
) -> None:
    db = open_database(sqlite_home)
    with gated_site() as (site, gate):
        assert run_cli("sites", "add", site.url, "--every", "1h", "--depth", "1").exit_code == 0
        scheduler = start_scheduler(sqlite_home, "--sync-every", "1s")
        wait_for(lambda: "/gate/1" in site.requests, scheduler)  # the crawl is under way
        scheduler.process.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping after running crawls finish" in scheduler.output, scheduler)
        stopped_at = heartbeat(db)
        wait_for(lambda: heartbeat(db) > stopped_at, scheduler)  # it still beats while waiting
        assert [r.outcome for r in runs_of(db)] == ["running"]
        gate.set()
        output = scheduler.stop()
    assert scheduler.process.returncode == 0, output
    assert "cannot schedule new futures" not in output and "Error submitting job" not in output
    assert [r.outcome for r in runs_of(db)] == ["finished"]
    db.dispose()


def test_a_restarted_scheduler_waits_for_the_crawl_its_killed_predecessor_left_running(
    sqlite_home: Settings
) -> None:
    db = open_database(sqlite_home)
    orphan_pid = None
    with gated_site() as (site, gate):
        assert run_cli("sites", "add", site.url, "--every", "1s", "--depth", "1").exit_code == 0
        first = start_scheduler(sqlite_home)
        try:
            wait_for(lambda: "/gate/1" in site.requests, first)  # its crawl is under way
            [orphan] = runs_of(db)
            orphan_pid = orphan.pid
            first.process.send_signal(signal.SIGKILL)  # the scheduler alone: its crawl lives on
            first.process.wait(timeout=30)
            second = start_scheduler(sqlite_home, "--sync-every", "1s")
            try:
                wait_for(lambda: f"run {orphan.id} is still running" in second.output, second)
                assert [r.outcome for r in runs_of(db)] == ["running"]  # alive, not started again
                gate.set()
                wait_for(lambda: finished_runs(db) >= 2, second)  # then crawled again
            finally:
                output = second.stop()
        finally:
            if orphan_pid is not None and psutil.pid_exists(orphan_pid):
                gate.set()
                psutil.wait_procs([psutil.Process(orphan_pid)], timeout=60)
    first_run, *later = runs_of(db)
    assert first_run.id == orphan.id and first_run.outcome == "finished", output
    assert first_run.finished_at is not None
    assert all(run.started_at >= first_run.finished_at for run in later), output  # no overlap
    db.dispose()
