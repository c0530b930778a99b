"""``swordnet`` commands run as processes of their own without paying the CLI's imports each
time: forked by multiprocessing's fork server, which imports the scheduler command once per
test process.

A command so started is a real process: its own pid and session (as ``Popen(...,
start_new_session=True)``), the environment it is given, its signals, its exit status. Only
its start differs from ``python -m swordnet``: the interpreter was warm. Its stdout and
stderr go to files (one, unless told otherwise).

What a module computes from the environment when it is imported is the fork server's, not
the command's. The CLI's rich console is made when the command first prints, so it takes its
width from the command's ``COLUMNS``; tests/test_demo.py's wrapped lines still start
``python -m swordnet``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from scheduler.launcher import fork_shared_launcher
from swordnet.cli.main import main

# What the fork server imports before it forks: the CLI, the scheduler service, and the
# crawl code its crawl launcher imports (see ``warm_launcher``).
PRELOADED = ["swordnet.cli.main", "swordnet.cli.scheduler", "scheduler.service",
             "scheduler.jobs", "scheduler.executor", "scheduler.launcher",
             "tests.warm_crawl_code"]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOADED)


def _run(args: list[str], env: dict[str, str], output: str, errors: str,
         warm_launcher: bool) -> None:
    """In the forked process: become ``swordnet ARGS`` in a session of its own (with its
    crawl launcher forked from it first, if ``warm_launcher``)."""
    os.setsid()
    for path, stream in ((output, 1), (errors, 2)):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(fd, stream)
        os.close(fd)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(env)
    if warm_launcher:
        fork_shared_launcher()
    main(args, prog_name="swordnet")


class WarmProcess:
    """``swordnet ARGS`` forked warm, with the parts of Popen's interface the tests use.

    With ``warm_launcher``, the crawl launcher its crawls are forked from (as the scheduler's
    are: scheduler/launcher.py) is forked from it as it starts, already holding the crawl
    code, instead of started as a new interpreter on the first crawl, importing it (about
    1.5 CPU s)."""

    def __init__(self, args: list[str], env: dict[str, str], output: Path,
                 errors: Path | None = None, warm_launcher: bool = False) -> None:
        self.output = output
        self._process = _context.Process(target=_run, args=(args, env, str(output),
                                                             str(errors or output),
                                                             warm_launcher))
        self._process.start()
        assert self._process.pid is not None
        self.pid = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(["swordnet"], timeout or 0.0)
        return self._process.exitcode

    def send_signal(self, number: int) -> None:
        os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def run(args: list[str], env: dict[str, str],
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``swordnet ARGS`` forked warm, to its end: as ``subprocess.run`` with
    ``capture_output=True, text=True`` (killed and TimeoutExpired after ``timeout`` s)."""
    with tempfile.TemporaryDirectory() as directory:
        out, err = Path(directory, "stdout"), Path(directory, "stderr")
        process = WarmProcess(args, env, out, err)
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        return subprocess.CompletedProcess(["swordnet", *args], returncode,
                                           out.read_text(), err.read_text())
