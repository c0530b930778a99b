"""The warm crawl launcher: crawls forked from it behave as ``python -m scrapy crawl`` ones."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from scheduler import launcher as launcher_module
from scheduler.executor import CrawlRequest, LocalExecutor
from scheduler.launcher import LaunchedCrawl, Launcher, shared_launcher
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import CrawlRun
from swordnet.core.processes import ProcessRef
from swordnet.demo.site import DemoSite, build_demo_site, serve_site
from swordnet.watch.targets import site_for_url
from tests.conftest import TEST_NETWORKS
from tests.pirate_sites import (
    hit_set,
    planted_set,
    register_samples,
    sample_works,
    small_site,
)

# A "spider" file for ``scrapy runspider``: it says what its process looks like (pid, two
# random numbers, LAUNCHER_TEST_SECRET, working directory, empty stdin, parent), then exits
# with LAUNCHER_TEST_EXIT or, with LAUNCHER_TEST_HANG, waits until killed.
REPORTER = """
import os, random, sys, threading
import numpy
print("REPORT", os.getpid(), random.random(), numpy.random.random(),
      os.environ.get("LAUNCHER_TEST_SECRET"), os.getcwd(), sys.stdin.read() == "",
      os.getppid(), flush=True)
if os.environ.get("LAUNCHER_TEST_HANG"):
    threading.Event().wait()
raise SystemExit(int(os.environ.get("LAUNCHER_TEST_EXIT", "0")))
"""


def _fresh_launcher(patch: pytest.MonkeyPatch) -> Iterator[Launcher]:
    """A new shared launcher (none started or failed before it), closed afterwards."""
    patch.setattr(launcher_module, "_shared", {})
    patch.setattr(launcher_module, "_failed", False)
    started = shared_launcher()
    assert started is not None
    yield started
    started.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[Launcher]:
    """A launcher of the module's own, shared by the tests that leave it running."""
    with pytest.MonkeyPatch.context() as patch:
        yield from _fresh_launcher(patch)


@pytest.fixture
def launcher(shared: Launcher) -> Launcher:
    """The module's launcher, still the one executors get."""
    assert shared_launcher() is shared
    return shared


@pytest.fixture
def own_launcher(monkeypatch: pytest.MonkeyPatch) -> Iterator[Launcher]:
    """A launcher of the test's own (the test kills it), shared by the executors it makes."""
    yield from _fresh_launcher(monkeypatch)


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the sample works registered, built once: tests copy it."""
    path = tmp_path_factory.mktemp("registered") / "swordnet.db"
    db = open_database(Settings(home=path.parent / "home", database_url=f"sqlite:///{path}"))
    register_samples(db)
    db.dispose()
    return path


def settings_in(directory: Path, registered: Path) -> Settings:
    """Settings for a home in ``directory``, its database a copy of ``registered``."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(registered, directory / "swordnet.db")
    return Settings(home=directory / "home",
                    database_url=f"sqlite:///{directory / 'swordnet.db'}",
                    allow_networks=TEST_NETWORKS)


def crawl(settings: Settings, url: str, timeout_s: float = 180) -> tuple[CrawlRun, Database]:
    db = open_database(settings)
    with db.session() as session:
        site_id = site_for_url(session, url).id
    run_id = LocalExecutor(db, settings, timeout_s=timeout_s).run(
        CrawlRequest(site_id=site_id, start_url=url, depth=2, max_pages=50))
    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        session.expunge(run)
    return run, db


def one_work_site() -> DemoSite:
    return build_demo_site(sample_works()[:1])


def report(launcher: Launcher, tmp_path: Path, name: str,
           **env: str) -> tuple[LaunchedCrawl, Path]:
    """A reporter run by the launcher, its output to ``tmp_path/name.log``."""
    script = tmp_path / "reporter.py"
    script.write_text(REPORTER)
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "wb") as log:
        crawl = launcher.launch(["runspider", str(script)],
                                {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings",
                                 **env}, str(tmp_path), log.fileno())
    return crawl, log_path


def reported(log_path: Path) -> list[str]:
    line = next(line for line in log_path.read_text().splitlines() if line.startswith("REPORT"))
    return line.split()[1:]


def test_a_crawl_through_the_launcher_ends_as_a_plain_one(launcher: Launcher, tmp_path: Path,
                                                          registered: Path) -> None:
    site = one_work_site()
    with serve_site(site) as served:
        warm, warm_db = crawl(settings_in(tmp_path / "warm", registered), served.url)
        plain, plain_db = crawl(replace(settings_in(tmp_path / "plain", registered),
                                        warm_crawls=False), served.url)
    try:
        assert ((warm.outcome, warm.finish_reason, warm.healthy)
                == (plain.outcome, plain.finish_reason, plain.healthy)
                == ("finished", "finished", True))
        assert ((warm.stats["pages"], warm.stats["hits_new"])
                == (plain.stats["pages"], plain.stats["hits_new"]))
        assert hit_set(warm_db) == hit_set(plain_db) == planted_set(site)
    finally:
        warm_db.dispose()
        plain_db.dispose()
    log = (tmp_path / "warm" / "home" / "logs" / f"run-{warm.id}.log").read_text()
    assert "Spider closed (finished)" in log


def test_a_crawl_is_the_launchers_child_with_the_given_environment(launcher: Launcher,
                                                                   tmp_path: Path) -> None:
    child, log_path = report(launcher, tmp_path, "env", LAUNCHER_TEST_SECRET="s3cret",
                             LAUNCHER_TEST_EXIT="3")
    assert psutil.Process(child.pid).ppid() == launcher.process.pid
    assert child.wait(60) == 3
    pid, _, _, secret, cwd, stdin_empty, _ = reported(log_path)
    assert (int(pid), secret, cwd, stdin_empty) == (child.pid, "s3cret", str(tmp_path), "True")


def test_each_crawl_draws_its_own_random_numbers(launcher: Launcher, tmp_path: Path) -> None:
    first, first_log = report(launcher, tmp_path, "first")
    second, second_log = report(launcher, tmp_path, "second")
    assert (first.wait(60), second.wait(60)) == (0, 0)
    assert reported(first_log)[1] != reported(second_log)[1]
    assert reported(first_log)[2] != reported(second_log)[2]


def test_a_killed_crawl_reports_the_signal(launcher: Launcher, tmp_path: Path) -> None:
    child, log_path = report(launcher, tmp_path, "killed", LAUNCHER_TEST_HANG="1")
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(0.5)
    child.kill()
    assert child.wait(60) == -signal.SIGKILL


def test_a_crawl_outlives_its_launcher(own_launcher: Launcher, tmp_path: Path) -> None:
    child, _ = report(own_launcher, tmp_path, "orphan", LAUNCHER_TEST_HANG="1")
    own_launcher.process.kill()
    own_launcher.process.wait()
    assert child.process.alive()
    child.kill()
    assert child.wait(60) is None  # ended, but nobody is left to say how


def test_a_crawl_past_its_timeout_is_killed_and_failed(launcher: Launcher, tmp_path: Path,
                                                       registered: Path) -> None:
    settings = settings_in(tmp_path, registered)
    with serve_site(one_work_site(), delay_s=60) as served:
        run, db = crawl(settings, served.url, timeout_s=1)
    db.dispose()
    assert run.outcome == "failed"
    assert run.error is not None and "timed out after 1 s" in run.error
    assert run.host is not None and run.pid is not None and run.pid_started_at is not None
    assert ProcessRef(run.host, run.pid, run.pid_started_at).alive() is False


def test_two_crawls_at_once_both_finish(launcher: Launcher, tmp_path: Path,
                                        registered: Path) -> None:
    site = small_site(0)
    runs: dict[str, CrawlRun] = {}

    def crawl_into(name: str, settings: Settings, url: str) -> None:
        run, db = crawl(settings, url)
        runs[name] = run
        db.dispose()

    homes = {name: settings_in(tmp_path / name, registered) for name in ("a", "b")}
    with serve_site(site) as served:
        threads = [threading.Thread(target=crawl_into, args=(name, settings, served.url))
                   for name, settings in homes.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert {name: run.outcome for name, run in runs.items()} == {"a": "finished",
                                                                 "b": "finished"}


def test_crawls_fall_back_to_subprocesses_once_the_launcher_dies(
        own_launcher: Launcher, tmp_path: Path, registered: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    own_launcher.process.kill()
    own_launcher.process.wait()
    site = small_site(0)
    with serve_site(site) as served:
        run, db = crawl(settings_in(tmp_path, registered), served.url)
    try:
        assert run.outcome == "finished"
        assert hit_set(db) == planted_set(site)
    finally:
        db.dispose()
    assert shared_launcher() is None
    assert "crawls start as plain subprocesses" in caplog.text


# A process that forks its launcher (as the scheduler does) and asks it for one reporter
# crawl: it prints its own pid, its launcher's pid and parent, the crawl's pid and exit status.
FORKING_OWNER = """
import os, sys, psutil
from scheduler.launcher import Launcher, preload
preload()
launcher = Launcher(os.getcwd(), fork=True)
with open(sys.argv[2], "wb") as log:
    crawl = launcher.launch(["runspider", sys.argv[1]],
                            {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings"},
                            os.getcwd(), log.fileno())
launcher_parent = psutil.Process(launcher.process.pid).ppid()
print(os.getpid(), launcher.process.pid, launcher_parent, crawl.pid, crawl.wait(60), flush=True)
launcher.close()
"""


def test_a_launcher_forked_from_a_warm_process_runs_crawls_as_its_children(
        tmp_path: Path) -> None:
    (tmp_path / "reporter.py").write_text(REPORTER)
    owner = subprocess.run(
        [sys.executable, "-c", FORKING_OWNER, str(tmp_path / "reporter.py"),
         str(tmp_path / "crawl.log")],
        env={**os.environ, "LAUNCHER_TEST_SECRET": "forked", "LAUNCHER_TEST_EXIT": "5"},
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert owner.returncode == 0, owner.stderr
    owner_pid, launcher_pid, launcher_parent, crawl_pid, status = map(int, owner.stdout.split())
    assert (launcher_parent, status) == (owner_pid, 5)
    pid, _, _, secret, cwd, stdin_empty, crawl_parent = reported(tmp_path / "crawl.log")
    assert ((int(pid), int(crawl_parent), secret, cwd, stdin_empty)
            == (crawl_pid, launcher_pid, "forked", str(tmp_path), "True"))
