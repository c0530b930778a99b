"""The scrapyd executor: crawls dispatched to a list of scrapyd nodes.

Each run goes to the least loaded reachable node (its running and pending jobs, or the
jobs this executor has in flight there, whichever is larger), is polled until scrapyd
lists it as finished, and is then settled like a local run: a crawl that ended without
recording its outcome is marked failed with the tail of its log, fetched from the node.
scrapyd's API reports no exit status, which is why the CrawlRun row, written by the crawl
itself, is the source of truth.

A node that stops answering during a run (killed, rebooted, cut off) leaves that run
marked failed, naming the node, and the crawl is retried once on another node. Nodes run
the installed project, declared in their scrapyd.conf (:func:`node_config`), so no egg is
ever built or uploaded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from scheduler.executor import (
    DEFAULT_TIMEOUT_S,
    SCHEDULER_STOPPING,
    CrawlRequest,
    crawl_settings,
    create_run,
    log_tail,
    settle_run,
)
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.errors import BadInput, Unavailable
from swordnet.core.models import CrawlRun

log = logging.getLogger("swordnet.scheduler")

PROJECT = "swordnet"
SETTINGS_MODULE = "crawlers.settings"
REQUEST_TIMEOUT_S = 10.0
# listspiders.json answers by running ``scrapy list`` on the node, a Python process that
# imports the crawl code (the whole matching stack), and scrapyd serves nothing else
# meanwhile: seconds on an idle node, more on a busy one.
LIST_SPIDERS_TIMEOUT_S = 120.0
# A node that has not answered for this long during a run is given up on.
NODE_LOST_AFTER_S = 15.0


class NodeUnreachable(Unavailable):
    """A scrapyd node did not answer."""


class NodeError(Unavailable):
    """A scrapyd node answered with an error, or is not set up for Swordnet."""


def check_node_url(url: str) -> str:
    """A node's base URL, without a trailing slash.

    >>> check_node_url("http://10.0.0.5:6800/")
    'http://10.0.0.5:6800'
    >>> check_node_url("10.0.0.5:6800")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: not a scrapyd node URL: '10.0.0.5:6800' (give e.g. ...
    """
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"not a scrapyd node URL: {url!r} (give e.g. http://10.0.0.5:6800)")
    return url.strip().rstrip("/")


class ScrapydNode:
    """A client for one node's JSON API."""

    def __init__(self, url: str) -> None:
        self.url = check_node_url(url)

    def _call(self, path: str, form: dict[str, Any] | None = None,
              query: dict[str, str] | None = None,
              timeout_s: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        address = f"{self.url}/{path}"
        if query:
            address += "?" + urllib.parse.urlencode(query)
        data = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
        try:
            with urllib.request.urlopen(address, data=data, timeout=timeout_s) as reply:
                body = json.loads(reply.read())
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NodeUnreachable(f"scrapyd node {self.url} is unreachable: {reason}") from exc
        if body.get("status") != "ok":
            raise NodeError(f"scrapyd node {self.url}: {body.get('message', body)}")
        return body

    def check(self) -> None:
        """Raise unless the node answers and runs the Swordnet project with its spiders."""
        projects = self._call("listprojects.json").get("projects", [])
        if PROJECT not in projects:
            raise NodeError(f"scrapyd node {self.url} has no {PROJECT!r} project; add "
                            f"'{PROJECT} = {SETTINGS_MODULE}' to its [settings] section "
                            "(see docs/operations.md)")
        spiders = self._call("listspiders.json", query={"project": PROJECT},
                             timeout_s=LIST_SPIDERS_TIMEOUT_S).get("spiders", [])
        if "site" not in spiders:
            raise NodeError(f"scrapyd node {self.url} lists no Swordnet spiders; is the "
                            "swordnet package installed in its Python environment?")

    def load(self) -> int:
        status = self._call("daemonstatus.json")
        return int(status.get("running", 0)) + int(status.get("pending", 0))

    def schedule(self, spider: str, arguments: dict[str, str], job_id: str,
                 settings: dict[str, str] | None = None) -> None:
        """Start a crawl with spider ``arguments`` and Scrapy ``settings`` (``-s``)."""
        self._call("schedule.json", {"project": PROJECT, "spider": spider, "jobid": job_id,
                                     **arguments, "setting": [
                                         f"{name}={value}"
                                         for name, value in (settings or {}).items()]})

    def state(self, job_id: str) -> str | None:
        """``pending``, ``running``, ``finished``, or None if the node does not know the job."""
        reply = self._call("status.json", query={"job": job_id, "project": PROJECT})
        return reply.get("currstate")

    def cancel(self, job_id: str) -> None:
        self._call("cancel.json", {"project": PROJECT, "job": job_id})

    def log_tail(self, spider: str, job_id: str) -> str:
        address = f"{self.url}/logs/{PROJECT}/{spider}/{job_id}.log"
        try:
            with urllib.request.urlopen(address, timeout=REQUEST_TIMEOUT_S) as reply:
                return log_tail(reply.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError):
            return ""


def node_config(data_dir: str, port: int, bind_address: str = "127.0.0.1",
                max_proc: int = 0) -> str:
    """The scrapyd.conf of a Swordnet node: the installed project, no eggs, no item feeds."""
    return "\n".join([
        "[scrapyd]",
        f"bind_address = {bind_address}",
        f"http_port = {port}",
        f"eggs_dir = {data_dir}/eggs",
        f"logs_dir = {data_dir}/logs",
        f"dbs_dir = {data_dir}/dbs",
        "# items go to the Swordnet database, not to feed files",
        "items_dir =",
        f"max_proc = {max_proc}",
        "poll_interval = 1.0",
        "jobs_to_keep = 1000",
        "finished_to_keep = 1000",
        "",
        "[settings]",
        f"{PROJECT} = {SETTINGS_MODULE}",
        "",
    ])


class ScrapydExecutor:
    """Runs crawls on scrapyd nodes and records each as a CrawlRun (see the module doc)."""

    def __init__(self, db: Database, settings: Settings, node_urls: list[str], *,
                 poll_s: float = 1.0, timeout_s: float = DEFAULT_TIMEOUT_S,
                 node_lost_after_s: float = NODE_LOST_AFTER_S) -> None:
        if not node_urls:
            raise BadInput("the scrapyd executor needs at least one node (--node URL)")
        self.db = db
        self.nodes = [ScrapydNode(url) for url in dict.fromkeys(node_urls)]
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.node_lost_after_s = node_lost_after_s
        self.settings = settings  # passed to each crawl as job settings
        self._in_flight = {node.url: 0 for node in self.nodes}
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def describe(self) -> str:
        return "scrapyd " + ", ".join(node.url for node in self.nodes)

    def begin_shutdown(self) -> None:
        """Crawls already on the nodes run to their end; the scheduler waits for them."""
        self.stopping.set()

    def check_nodes(self) -> None:
        """Raise NodeUnreachable/NodeError naming the first node (in order) that is not
        ready. The nodes are asked at once: each answers by starting a cold ``scrapy list``."""
        with ThreadPoolExecutor(len(self.nodes), thread_name_prefix="scrapyd-check") as pool:
            list(pool.map(ScrapydNode.check, self.nodes))

    def _choose(self, excluded: set[str]) -> ScrapydNode | None:
        """The least loaded reachable node not in ``excluded``, now counted as busier."""
        loads = []
        for position, node in enumerate(self.nodes):
            if node.url in excluded:
                continue
            try:
                remote = node.load()
            except (NodeUnreachable, NodeError) as exc:
                log.warning("%s", exc)
                continue
            loads.append((remote, position, node))
        if not loads:
            return None
        with self._lock:  # in-flight counts may have grown while the nodes were asked
            _, _, node = min(loads, key=lambda entry: (
                max(entry[0], self._in_flight[entry[2].url]), entry[1]))
            self._in_flight[node.url] += 1
        return node

    def _release(self, node: ScrapydNode) -> None:
        with self._lock:
            self._in_flight[node.url] -= 1

    def _note_node(self, run_id: int, node: ScrapydNode, job_id: str) -> None:
        with self.db.session() as session:
            run = session.get(CrawlRun, run_id)
            assert run is not None
            run.node, run.node_job = node.url, job_id

    def _recorded(self, run_id: int) -> bool:
        """Whether the crawl itself recorded how it ended."""
        with self.db.session() as session:
            run = session.get(CrawlRun, run_id)
            return run is not None and run.outcome != "running"

    def _wait(self, node: ScrapydNode, job_id: str) -> str:
        """Poll until the job finishes: ``finished``, ``lost`` (node gone) or ``timeout``."""
        started = time.monotonic()
        last_answer = started
        while time.monotonic() - started < self.timeout_s:
            try:
                state = node.state(job_id)
                last_answer = time.monotonic()
                if state == "finished":
                    return "finished"
                if state is None:  # the node restarted and forgot the job
                    return "lost"
            except (NodeUnreachable, NodeError):
                if time.monotonic() - last_answer > self.node_lost_after_s:
                    return "lost"
            time.sleep(self.poll_s)
        return "timeout"

    def run(self, request: CrawlRequest) -> int:
        """Crawl to completion on some node; returns the last CrawlRun id of the attempts."""
        excluded: set[str] = set()
        retry_of: int | None = None
        while True:
            node = self._choose(excluded)
            run_id = create_run(self.db, request, retry_of)
            if node is None:
                tried = ", ".join(n.url for n in self.nodes)
                settle_run(self.db, run_id, f"no scrapyd node reachable ({tried})", "")
                return run_id
            try:
                outcome = self._dispatch(node, request, run_id)
            finally:
                self._release(node)
            if outcome != "lost":
                return run_id
            excluded.add(node.url)
            retry_of = run_id
            log.warning("run %s failed with node %s; retrying on another node", run_id,
                        node.url)

    def _dispatch(self, node: ScrapydNode, request: CrawlRequest, run_id: int) -> str:
        job_id = f"swordnet-run-{run_id}"
        self._note_node(run_id, node, job_id)
        settings, _password = crawl_settings(self.settings, request)  # nodes have their own
        try:
            node.schedule(request.spider, {**request.arguments(), "run_id": str(run_id)},
                          job_id, settings)
        except NodeUnreachable as exc:
            settle_run(self.db, run_id, str(exc), "")
            return "lost"
        except NodeError as exc:
            settle_run(self.db, run_id, str(exc), "")
            return "error"
        outcome = self._wait(node, job_id)
        if outcome == "lost" and self._recorded(run_id):
            outcome = "finished"  # the crawl ended (and said so) just before the node went
        if outcome == "finished":
            settle_run(self.db, run_id, None, node.log_tail(request.spider, job_id),
                       SCHEDULER_STOPPING if self.stopping.is_set() else None)
        elif outcome == "lost":
            settle_run(self.db, run_id,
                       f"scrapyd node {node.url} stopped answering during the run", "")
        else:
            with contextlib.suppress(NodeUnreachable, NodeError):
                node.cancel(job_id)
            settle_run(self.db, run_id,
                       f"crawl timed out after {self.timeout_s:.0f} s on {node.url} "
                       "and was cancelled", "")
        return outcome
