"""A warm crawl launcher: one helper process that has imported the crawl code, and forks a
crawl from it on request, so a crawl starts without paying ~2 CPU s of imports.

Like multiprocessing's forkserver, but each crawl is run as ``python -m scrapy crawl ...``
would run it, with Popen-like control. The launcher is started (``python -m
scheduler.launcher FD``) by the first crawl a process launches, imports Scrapy, Swordnet's
settings and spiders and what they import, and starts nothing: no reactor, no thread, no
database connection. It is shared by every executor of the process; it ignores SIGINT and
SIGTERM by keeping them blocked (a stop signal sent to the group reaches the crawls, not it),
and exits when its command socket reaches EOF, when the process that started it is gone. A
process that has imported the crawl code already and runs no thread yet (a test process
forked warm) can fork its launcher instead (:func:`fork_shared_launcher`).

A crawl is the launcher's child, forked in the launcher's process group (the group of the
process that started it, as a Popen child would be), so it keeps running if the launcher or
the executor dies. Before running it resets its signal handlers to a fresh interpreter's,
reseeds ``random`` and numpy's global RNG, closes the launcher's sockets, takes the given
environment as ``os.environ``, the given directory as its own, the log file as stdout and
stderr and /dev/null as stdin.

The protocol: a request is one packet on the command socket (JSON: arguments, environment,
directory) carrying two descriptors, the log file and one end of a reply socket. The launcher
writes ``PID START_TIME`` on the reply socket when the crawl is forked, then its exit status
(Popen's returncode: negative for a signal) when it ends, and closes it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any

import psutil

from swordnet.core.processes import ProcessRef

# What the launcher imports before it is ready: the crawl's code, the spiders through
# Scrapy's SpiderLoader, and the modules the crawl settings name.
CRAWL_SETTINGS = "crawlers.settings"
PRELOADED = ("scrapy.cmdline", "scrapy.crawler", "scrapy.commands.crawl", CRAWL_SETTINGS,
             "crawlers.pipelines", "crawlers.match_workers", "crawlers.database",
             "crawlers.outbound", "crawlers.browser_proxy",
             "scrapy.core.downloader.handlers.http11")
REQUEST_BYTES = 1 << 20
READY = b"ready"
# Blocked in the launcher, so that it ignores them and a crawl it forks gets one sent to the
# group as soon as it has a fresh interpreter's handlers.
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
log = logging.getLogger(__name__)


class LauncherUnavailable(Exception):
    """The launcher could not be started or is gone."""


class LaunchedCrawl:
    """A crawl forked by the launcher: its process, and the socket its exit status comes on."""

    def __init__(self, reply: socket.socket) -> None:
        self.reply = reply
        self._buffer = b""
        started = self._line(None).split()
        if not started:
            reply.close()
            raise LauncherUnavailable("launcher is gone")
        self.process = ProcessRef(socket.gethostname(), int(started[0]), float(started[1]))
        self.pid = self.process.pid

    def _line(self, timeout: float | None) -> bytes:
        """The reply's next line; b"" at EOF; TimeoutError after ``timeout`` s."""
        self.reply.settimeout(timeout)
        while b"\n" not in self._buffer:
            data = self.reply.recv(64)
            if not data:
                return b""
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def wait(self, timeout: float | None = None) -> int | None:
        """The crawl's returncode once it ends (None: the launcher died before saying, so
        only its end is known); :class:`subprocess.TimeoutExpired` after ``timeout`` s."""
        try:
            line = self._line(timeout)
        except TimeoutError:
            raise subprocess.TimeoutExpired("crawl", timeout or 0.0) from None
        if line:
            return int(line)
        try:  # the launcher is gone: wait for the crawl itself (no longer anyone's child)
            psutil.Process(self.pid).wait(timeout)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            raise subprocess.TimeoutExpired("crawl", timeout or 0.0) from None
        return None

    def kill(self) -> None:
        if self.process.alive():
            os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        self.reply.close()


class _Forked:
    """A launcher forked from this process: the parts of Popen's interface Launcher uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode


class Launcher:
    """The executor's side: starts the launcher process and asks it for crawls.

    With ``fork``, the launcher is this process forked, not a new interpreter: only for a
    process that has imported the crawl code (:func:`preload`) and runs no thread yet.
    """

    def __init__(self, cwd: str, fork: bool = False) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.owner_pid = os.getpid()
        self._lock = threading.Lock()
        self._control = ours
        self.process: subprocess.Popen[bytes] | _Forked
        try:
            if fork:
                self.process = _fork(ours, theirs, cwd)
            else:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "scheduler.launcher", str(theirs.fileno())],
                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, cwd=cwd)
        finally:
            theirs.close()
        if ours.recv(len(READY)) != READY:
            self.process.wait()
            raise LauncherUnavailable(f"launcher exited with status {self.process.returncode}")

    def launch(self, args: list[str], env: dict[str, str], cwd: str,
               log_fd: int) -> LaunchedCrawl:
        """Fork a crawl that runs ``scrapy ARGS``; :class:`LauncherUnavailable` if the
        launcher is gone."""
        mine, its = socket.socketpair()
        request = json.dumps({"args": args, "env": env, "cwd": cwd}).encode()
        try:
            with self._lock:
                socket.send_fds(self._control, [request], [log_fd, its.fileno()])
        except OSError as error:
            mine.close()
            raise LauncherUnavailable(f"launcher is gone: {error}") from error
        finally:
            its.close()
        return LaunchedCrawl(mine)

    def close(self) -> None:
        """Stop the launcher (its crawls keep running)."""
        self._control.close()
        self.process.wait()


_shared: dict[str, Launcher] = {}
_shared_lock = threading.Lock()
_failed = False


def shared_launcher() -> Launcher | None:
    """This process's launcher for the current directory, started on first use; None once
    one could not start or died (logged once: crawls then start as plain subprocesses)."""
    cwd = os.getcwd()
    with _shared_lock:
        if _failed:
            return None
        launcher = _shared.get(cwd)
        if launcher is None or launcher.owner_pid != os.getpid():  # not ours: we forked
            try:
                launcher = _shared[cwd] = Launcher(cwd)
            except (OSError, LauncherUnavailable) as error:
                _give_up(error)
                return None
        return launcher


def fork_shared_launcher() -> None:
    """Start this process's launcher for the current directory by forking this process (see
    :class:`Launcher`), so that its first crawl does not wait for a cold launcher's imports."""
    cwd = os.getcwd()
    launcher = Launcher(cwd, fork=True)  # forked holding no lock
    with _shared_lock:
        _shared[cwd] = launcher


def launcher_failed(error: Exception) -> None:
    """The launcher is gone: crawls start as plain subprocesses from now on."""
    with _shared_lock:
        _give_up(error)


def _give_up(error: Exception) -> None:
    global _failed
    if not _failed:
        log.warning("crawl launcher unavailable (%s): crawls start as plain subprocesses",
                    error)
    _failed = True


@dataclass
class _Crawl:
    """What a forked child runs."""

    args: list[str]


def preload() -> None:
    """Import the crawl's code, by name (the crawl process's code, not the scheduler's)."""
    import importlib

    from scrapy.settings import Settings
    from scrapy.spiderloader import SpiderLoader

    for module in PRELOADED:
        importlib.import_module(module)
    settings = Settings()
    settings.setmodule(CRAWL_SETTINGS)
    SpiderLoader.from_settings(settings)


def _become_crawl(request: dict[str, Any], log_fd: int, closing: list[int]) -> _Crawl:
    """In the forked child: set up as a fresh ``python -m scrapy`` process would be."""
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(number, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # a stop signal sent since the fork was held, not lost: it acts now
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    for fd in closing:
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(devnull)
    os.close(log_fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    random.seed()
    if "numpy" in sys.modules:
        import numpy

        numpy.random.seed()
    return _Crawl(request["args"])


def serve(control: socket.socket) -> _Crawl | None:
    """Fork crawls on request until the command socket closes (None); in a forked child,
    the crawl it is to run."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda number, frame: None)
    replies: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj is control:
                message, fds, _, _ = socket.recv_fds(control, REQUEST_BYTES, 2)
                if not message:
                    return None
                log_fd, reply_fd = fds
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    return _become_crawl(json.loads(message), log_fd, [
                        control.detach(), reply_fd, wake_read, wake_write,
                        *(reply.detach() for reply in replies.values())])
                os.close(log_fd)
                reply = socket.socket(fileno=reply_fd)
                process = ProcessRef.of(pid)  # not reaped before this loop's next turn
                assert process is not None
                with contextlib.suppress(OSError):
                    reply.sendall(f"{pid} {process.started_at!r}\n".encode())
                replies[pid] = reply
            else:
                os.read(wake_read, 4096)
                _reap(replies)


def _reap(replies: dict[int, socket.socket]) -> None:
    """Report the exit status of every crawl that has ended."""
    while replies:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        reply = replies.pop(pid, None)
        if reply is None:
            continue
        with contextlib.suppress(OSError):
            reply.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
        reply.close()


def main() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # held, never acted on
    control = socket.socket(fileno=int(sys.argv[1]))
    preload()
    control.send(READY)
    crawl = serve(control)
    if crawl is not None:
        _run(crawl)


def _run(crawl: _Crawl) -> None:
    """Run the crawl as ``python -m scrapy ARGS`` would (raises SystemExit at its end)."""
    import scrapy.__main__
    from scrapy.cmdline import execute

    sys.argv = [scrapy.__main__.__file__, *crawl.args]
    execute()


def _fork(ours: socket.socket, theirs: socket.socket, cwd: str) -> _Forked:
    """Fork the launcher from this process; in the child, serve (as :func:`main` does after
    its imports) and exit, never returning."""
    pid = os.fork()
    if pid:
        return _Forked(pid)
    code = 1
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        ours.close()
        os.chdir(cwd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        theirs.send(READY)
        crawl = serve(theirs)
        code = 0 if crawl is None else _exit_status(crawl)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _exit_status(crawl: _Crawl) -> int:
    """Run the crawl; its exit status, once the exit handlers have run, as they do when an
    interpreter exits."""
    try:
        _run(crawl)
        return 0
    except SystemExit as end:
        return end.code if isinstance(end.code, int) else int(end.code is not None)
    finally:
        atexit._run_exitfuncs()


if __name__ == "__main__":
    main()
