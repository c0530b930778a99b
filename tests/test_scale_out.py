"""Scale-out on loopback: the scheduler dispatching to two real scrapyd nodes, PostgreSQL.

Eight watch targets (eight small sites) are crawled through the scrapyd executor, four at a
time: a first wave of four, two on each node, and four more queued behind it. One node is
killed (its whole process group: scrapyd and its crawls) while it runs the crawl of a
deliberately slow site. That run must end up failed, naming the node, and be retried on the
other node; every target must have exactly one finished run; every planted copy must be a
hit exactly once. (Twice the concurrency is enough for crawls to queue behind the kill, which
is what more targets would add: each is a cold ``scrapy crawl`` process on a node.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import CrawlRun, Hit, Work
from swordnet.demo.site import RunningSite, serve_site
from tests.conftest import postgres_database, run_cli
from tests.pirate_sites import register_samples, small_site
from tests.test_schedule_cli import free_port
from tests.test_scheduler import start_scheduler, wait_for

# crawls through scrapyd, each a cold process: minutes on a loaded machine
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1800)]

TARGETS = 8


@dataclass
class Node:
    url: str
    process: subprocess.Popen[bytes]
    output: Path  # scrapyd's log

    def wait_until_up(self) -> None:
        """Return once scrapyd answers; fail with its log if it exits first."""
        deadline = time.monotonic() + 300  # far beyond need: only ends a hang
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/daemonstatus.json", timeout=2):
                    return
            except OSError:
                assert self.process.poll() is None, self.output.read_text()
                assert time.monotonic() < deadline, "scrapyd did not start"
                time.sleep(0.2)

    def kill(self) -> None:
        """Kill scrapyd and every crawl it started (they share its process group)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def start_node(directory: Path, settings: Settings) -> Node:
    """Launch a scrapyd node (it is up once :meth:`Node.wait_until_up` returns)."""
    directory.mkdir(parents=True)
    port = free_port()
    config = run_cli("scrapyd", "config", "--data-dir", str(directory / "data"), "--port",
                     str(port), "--max-proc", "2")
    assert config.exit_code == 0, config.output
    (directory / "scrapyd.conf").write_text(config.output)
    env = {**os.environ, "SWORDNET_HOME": str(settings.home),
           "SWORDNET_DATABASE_URL": settings.database_url,
           "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
    scrapyd = Path(sys.executable).with_name("scrapyd")
    output = directory / "scrapyd.out"
    process = subprocess.Popen([str(scrapyd), "--pidfile="], cwd=directory, env=env,
                               stdout=output.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    return Node(f"http://127.0.0.1:{port}", process, output)


@pytest.fixture
def database_url() -> Iterator[str]:
    """Scale-out runs on PostgreSQL only (``home`` and ``db`` build on this)."""
    yield from postgres_database()


@pytest.fixture
def nodes(tmp_path: Path, home: Settings) -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        for i in (1, 2):
            started.append(start_node(tmp_path / f"node{i}", home))
        for node in started:  # both start at once
            node.wait_until_up()
        yield started
    finally:
        for node in started:
            if node.process.poll() is None:
                node.kill()


def test_eight_targets_on_two_scrapyd_nodes_survive_a_node_kill(
    home: Settings, db: Database, nodes: list[Node]
) -> None:
    register_samples(db)
    with ExitStack() as stack:
        sites: list[RunningSite] = [
            # the first site is slow, so its crawl is still running when its node dies
            stack.enter_context(serve_site(small_site(n), delay_s=1.5 if n == 0 else 0.0))
            for n in range(TARGETS)]
        for running in sites:
            assert run_cli("sites", "add", running.url, "--every", "1h").exit_code == 0
        scheduler = start_scheduler(home, "--executor", "scrapyd", "--node", nodes[0].url,
                                    "--node", nodes[1].url, "--max-concurrent", "4",
                                    "--node-lost-after", "3s")
        try:
            def slow_run_dispatched() -> CrawlRun | None:
                with db.session() as session:
                    return session.scalar(select(CrawlRun).where(
                        CrawlRun.target_id == 1, CrawlRun.node.is_not(None)))

            wait_for(lambda: slow_run_dispatched() is not None, scheduler)
            first = slow_run_dispatched()
            assert first is not None
            killed = next(n for n in nodes if n.url == first.node)
            wait_for(lambda: bool(sites[0].requests), scheduler)  # it fetches the slow site
            killed.kill()
            sites[0].server.delay_s = 0.0  # its retry need not be slow: only its first run
            survivor = next(n for n in nodes if n is not killed)

            def finished_targets() -> set[int | None]:
                with db.session() as session:
                    return set(session.scalars(select(CrawlRun.target_id).where(
                        CrawlRun.outcome == "finished")))

            wait_for(lambda: finished_targets() == set(range(1, TARGETS + 1)), scheduler,
                     timeout_s=400)
        finally:
            output = scheduler.stop()

    with db.session() as session:
        runs = session.scalars(select(CrawlRun).order_by(CrawlRun.id)).all()
        assert not [r.id for r in runs if r.outcome == "running"], output
        finished = [r for r in runs if r.outcome == "finished"]
        assert sorted(r.target_id for r in finished) == list(range(1, TARGETS + 1))  # once each
        failed = [r for r in runs if r.outcome == "failed"]
        assert first.id in {r.id for r in failed}
        for run in failed:  # every run lost with the node was retried, on the other node
            assert run.node == killed.url
            assert run.error == f"scrapyd node {killed.url} stopped answering during the run"
            retry = next(r for r in runs if r.retry_of == run.id)
            assert retry.outcome == "finished" and retry.node == survivor.url
            assert retry.target_id == run.target_id
        assert len(runs) == TARGETS + len(failed)
        # the first four crawls, dispatched at once, went two to each (least loaded) node
        assert sorted(r.node or "" for r in runs[:4]) == sorted([nodes[0].url] * 2
                                                                + [nodes[1].url] * 2)
        hits = session.execute(select(Work.title, Hit.url).join(Hit.work)).all()
    found = [(title, url) for title, url in hits]
    planted = [(p.work_title, s.url.rstrip("/") + p.image_path)
               for s in sites for p in s.site.planted]
    assert len(found) == len(set(found))  # no hit stored twice
    assert set(found) == set(planted)     # and none lost
