"""Run state is true: a process is told apart from a later one given its pid; runs whose
processes are gone are interrupted at the next look, live ones are left alone (a crawl on a
scrapyd node elsewhere while its node lists it); a crawl stopped by SIGTERM is interrupted
whenever the signal arrives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from scheduler.executor import CrawlRequest, LocalExecutor
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import CrawlRun
from swordnet.core.processes import ProcessRef, this_process
from swordnet.core.timeutil import utcnow
from swordnet.demo.site import RunningSite
from swordnet.watch.targets import site_for_url
from tests.conftest import run_cli
from tests.test_schedule_cli import free_port


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not this one."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def test_a_process_is_told_apart_from_a_later_one_given_its_pid(
    sleeper: subprocess.Popen[bytes]
) -> None:
    ref = ProcessRef.of(sleeper.pid)
    assert ref is not None and ref.alive() is True
    assert replace(ref, started_at=ref.started_at - 60).alive() is False  # pid reused
    assert replace(ref, host="another-host.invalid").alive() is None  # cannot tell from here
    sleeper.kill()
    sleeper.wait()
    assert ref.alive() is False
    assert ProcessRef.of(sleeper.pid) is None


def _run(db: Database, crawl: ProcessRef | None, watcher: ProcessRef | None,
         started_minutes_ago: float = 1) -> int:
    with db.session() as session:
        site = site_for_url(session, "http://127.0.0.1:9/")
        run = CrawlRun(site_id=site.id, start_url="http://127.0.0.1:9/", outcome="running",
                       started_at=utcnow() - timedelta(minutes=started_minutes_ago))
        if crawl is not None:
            run.host, run.pid, run.pid_started_at = crawl.host, crawl.pid, crawl.started_at
        if watcher is not None:
            run.watcher_host, run.watcher_pid = watcher.host, watcher.pid
            run.watcher_started_at = watcher.started_at
        session.add(run)
        session.flush()
        return run.id


def test_runs_whose_processes_are_gone_are_interrupted_at_the_next_look(
    home: Settings, db: Database, sleeper: subprocess.Popen[bytes]
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = ProcessRef.of(gone.pid)
    assert dead is not None
    gone.wait()
    live = ProcessRef.of(sleeper.pid)
    elsewhere = replace(this_process(), host="another-host.invalid")
    killed = _run(db, crawl=dead, watcher=None)             # a crawl killed with SIGKILL
    both_gone = _run(db, crawl=dead, watcher=dead)          # crawl and scheduler killed
    never_launched = _run(db, crawl=None, watcher=dead)     # its scheduler died as it began
    orphan = _run(db, crawl=live, watcher=dead)             # scheduler killed, crawl lives on
    watched = _run(db, crawl=dead, watcher=this_process())  # its executor will settle it
    remote = _run(db, crawl=elsewhere, watcher=None)        # cannot be checked from here
    old_remote = _run(db, crawl=elsewhere, watcher=None, started_minutes_ago=120)
    listed = {r["id"]: r for r in json.loads(run_cli("runs", "list", "--json").output)}
    outcomes = {run_id: listed[run_id]["outcome"] for run_id in listed}
    assert outcomes == {killed: "interrupted", both_gone: "interrupted",
                        never_launched: "interrupted", orphan: "running", watched: "running",
                        remote: "running", old_remote: "failed"}
    assert f"pid {dead.pid} on {dead.host}" in listed[killed]["error"]
    unhealthy = json.loads(run_cli("runs", "list", "--unhealthy", "--json").output)
    assert sorted(r["id"] for r in unhealthy) == sorted(
        [killed, both_gone, never_launched, old_remote])
    assert all(r["problems"] for r in unhealthy)  # each says what happened


def _wait_for_crawl_process(db: Database, thread: threading.Thread) -> int:
    deadline = time.monotonic() + 300  # far beyond need: only ends a hang
    while time.monotonic() < deadline and thread.is_alive():
        with db.session() as session:
            pid = session.query(CrawlRun.pid).scalar()
        if pid is not None:
            return int(pid)
        time.sleep(0.02)
    raise AssertionError("the crawl process was never named")


def test_a_crawl_stopped_by_sigterm_as_it_starts_is_interrupted_not_failed(
    home: Settings, db: Database, served_site: RunningSite
) -> None:
    with db.session() as session:
        site_id = site_for_url(session, served_site.url).id
    executor = LocalExecutor(db, home)
    request = CrawlRequest(site_id=site_id, start_url=served_site.url, depth=0)
    thread = threading.Thread(target=executor.run, args=(request,))
    thread.start()
    try:
        os.kill(_wait_for_crawl_process(db, thread), signal.SIGTERM)
    finally:
        thread.join(120)
    with db.session() as session:
        run = session.query(CrawlRun).one()
        assert run.outcome == "interrupted", run.error
        assert run.finish_reason == "shutdown" and run.finished_at is not None


class _NodeStub(BaseHTTPRequestHandler):
    """A scrapyd node's status.json: what it says about each job is set by the test."""

    states: dict[str, str | None] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        query = parse_qs(urlsplit(self.path).query)
        state = self.states.get(query["job"][0])
        body = json.dumps({"status": "ok", "currstate": state}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_a_crawl_on_another_hosts_scrapyd_node_is_alive_while_its_node_lists_it(
    home: Settings, db: Database
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NodeStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    node_url = f"http://127.0.0.1:{server.server_address[1]}"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = ProcessRef.of(gone.pid)
    gone.wait()
    elsewhere = replace(this_process(), host="crawl-node.invalid")
    jobs = {"listed": "running", "ended": "finished", "forgotten": None}
    _NodeStub.states = {f"swordnet-{name}": state for name, state in jobs.items()}
    runs = {}
    for name in (*jobs, "unreachable"):
        runs[name] = _run(db, crawl=elsewhere, watcher=dead)  # its scheduler was killed
        url = node_url if name != "unreachable" else f"http://127.0.0.1:{free_port()}"
        with db.session() as session:
            run = session.get(CrawlRun, runs[name])
            assert run is not None
            run.node, run.node_job = url, f"swordnet-{name}"
    try:
        listed = {r["id"]: r["outcome"] for r in
                  json.loads(run_cli("runs", "list", "--json").output)}
    finally:
        server.shutdown()
        server.server_close()
    assert {name: listed[run_id] for name, run_id in runs.items()} == {
        "listed": "running", "ended": "interrupted", "forgotten": "interrupted",
        "unreachable": "running"}
