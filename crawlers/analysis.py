"""Fingerprinting and matching of crawled media in worker processes, away from the reactor.

Hashing, decoding and stage-2 matching are CPU-bound and hold Python's GIL for much of
their time; in threads they slowed the crawl's own event loop as much as they gained. A
crawl therefore runs them in a small pool of worker processes. Pages (kind ``page``) are
matched by every signal that reads pages (their main text, the work names next to their
download links), files by their kind's signals; each is decoded once for all of them. Each
worker keeps its own
:class:`~matching.match_index.MatchIndex`: images' pHash (stage 1) and ORB (stage 2) state
and works' link names memory-mapped from the node's index file
(:mod:`swordnet.works.image_index`, extended by the workers as they take their first file,
one at a time under the file's lock, so the crawl's event loop never waits for it), so the
workers share one copy; other kinds' fingerprints, and what was registered since the file
was last extended, from the database. Every :data:`REFRESH_S`
seconds at most it adds works registered since and forgets deleted ones, so a long crawl
sees new works without a rebuild. One call analyses one media file completely; a worker
keeps the analyses of the last :data:`KEPT_ANALYSES` files by their SHA-256 and gives the
same bytes (a file served again under another URL) the same analysis without matching
them again, until its index changes.

Workers are forked from the crawl process, which has imported everything they need (the
matchers, NumPy, OpenCV, FAISS: ~0.9 CPU s to import again), when the pool is made while
the process runs one Python thread (Linux): :class:`crawlers.match_workers.MatchWorkers`
makes the crawl's pool before any thread starts. A fork then copies no lock that another
thread holds: the only other threads are OpenBLAS's (NumPy's and OpenCV's), which stop
before a fork (``pthread_atfork``) and start again when next used; OpenCV's own, FAISS's and
OpenMP's thread pools start when first used, which happens in the workers only. A pool made
later (a new one after a worker died) spawns fresh interpreters instead.

Workers die with their crawl, however it ends: on Linux each asks the kernel, as it starts,
for SIGKILL when the crawl's process (the thread that started it: the crawl's main thread)
ends, and exits at once if the crawl is already gone.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from hashlib import sha256
from typing import Any

from matching.match_index import Match, MatchIndex
from matching.page import PageContent
from matching.registry import content_for, page_signals
from matching.signal import ContentRejected, ContentSkipped
from matching.stages import (
    first_stage_matches,
    first_stage_queries,
    needs_later_stages,
    settle,
)
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.works.image_index import LiveMatchIndex, index_directory, update_index_file

log = logging.getLogger(__name__)

REFRESH_S = 10.0
KEPT_ANALYSES = 4096  # per worker, by (kind, SHA-256 of the file)
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclass
class Analysis:
    """What a worker found out about one media file."""

    outcome: str = "ok"             # "ok", "skipped" (quality gate) or "rejected" (bad file)
    reason: str = ""                # why it was skipped or rejected
    queries: dict[str, Any] = field(default_factory=dict)  # stage 1's, by algorithm
    note: str | None = None         # e.g. "first frame of an animation"
    later_stages: bool = False      # stage 1 did not settle it
    matches: list[Match] = field(default_factory=list)
    reused: bool = False            # that of the same bytes analysed before, not matched again


class _WorkerIndex:
    """The match index of one worker process: images' pHash and ORB state memory-mapped
    from the node's index file, the rest from the database, refreshed now and then; and
    the analyses of the files it last matched against it, by their bytes."""

    def __init__(self, settings: Settings) -> None:
        self.db: Database = open_database(settings, apply_migrations=False)
        with self.db.session() as session:
            self.live = LiveMatchIndex(session, index_directory(settings.home))
        release_free_heap()
        self.refreshed_at = time.monotonic()
        self.analyses: OrderedDict[tuple[str, bytes], Analysis] = OrderedDict()

    def _contents(self) -> tuple[int, int]:
        """What the index holds: the newest fingerprint it read, and how many it has."""
        return self.live.newest_id, self.live.known

    def refresh(self) -> None:
        before = self._contents()
        with self.db.session() as session:
            self.live.refresh(session)
        self.refreshed_at = time.monotonic()
        if self._contents() != before:  # a file analysed before may match otherwise now
            self.analyses.clear()

    def current(self) -> MatchIndex:
        if time.monotonic() - self.refreshed_at > REFRESH_S:
            self.refresh()
        return self.live.index

    def analysis(self, kind: str, body: bytes) -> Analysis:
        """The analysis of a file (not a page): that of the same bytes if this worker made
        one since its index last changed, else a new one."""
        index = self.current()
        key = (kind, sha256(body).digest())
        earlier = self.analyses.get(key)
        if earlier is not None:
            self.analyses.move_to_end(key)
            return replace(earlier, reused=True)
        result = self.analyses[key] = analyse(kind, body, index)
        if len(self.analyses) > KEPT_ANALYSES:
            self.analyses.popitem(last=False)
        return result


def update_shared_index(settings: Settings) -> None:
    """Extend the node's image index file with what was registered since it was last
    extended, before a crawl worker maps it (each worker calls it as it starts: the first
    extends the file, the others wait for its lock and find nothing left to add). A failure
    is logged, not raised: workers then read image fingerprints from the database."""
    db = open_database(settings, apply_migrations=False)
    try:
        with db.session() as session:
            update_index_file(session, index_directory(settings.home))
    except (OSError, ValueError) as exc:
        log.error("could not update the image index file in %s: %s",
                  index_directory(settings.home), exc)
    finally:
        db.dispose()


def release_free_heap() -> None:
    """Give the heap freed after loading (every fingerprint row read from the database)
    back to the system (Linux): it would otherwise stay in each worker's private memory."""
    gc.collect()
    if sys.platform == "linux":
        ctypes.CDLL(None).malloc_trim(0)


_settings: Settings | None = None  # a worker's: where its index comes from
_worker: _WorkerIndex | None = None


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when its parent ends (Linux), and exit now if
    ``parent_pid`` has ended already (this process was handed to another parent)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(1)


def _start_worker(crawl_pid: int, settings: Settings) -> None:
    """Set up a worker as a fresh interpreter would be (a forked one has the crawl's signal
    handlers, which stop a reactor it does not run); its index waits for its first file,
    when the crawl's database is open and up to date."""
    global _settings
    die_with_parent(crawl_pid)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _settings = settings


def _worker_index() -> _WorkerIndex:
    global _worker
    if _worker is None:
        assert _settings is not None, "worker started without its settings"
        update_shared_index(_settings)
        _worker = _WorkerIndex(_settings)
    return _worker


def analyse_page(html: bytes, url: str, index: MatchIndex,
                 link_kinds: frozenset[str] | None = None) -> Analysis:
    """Matches of a page (``html`` UTF-8 encoded) by every page signal, in registry order; a
    work an earlier signal found (by its text) is not reported again by a later one (by its
    name).

    A signal is not asked when no work has its fingerprints, nor, if ``link_kinds`` says
    which kinds of file links the page has, when it reads links of other kinds only (the
    link signal, on a page without magnet, torrent, cloud-drive or playlist links): the
    page is then not parsed at all.
    """
    result = Analysis()
    page = PageContent(html, url)
    matches: list[Match] = []
    for reader in page_signals():
        if not index.has(reader.name):
            continue
        if link_kinds is not None and reader.file_kinds \
                and not any(kind.name in link_kinds for kind in reader.file_kinds):
            continue
        try:
            query = reader.query_value(page)
        except ContentRejected as exc:  # too little text, or none: nothing to match
            result.reason = result.reason or str(exc)
            continue
        found = {m.work_id for m in matches}
        matches += [m for m in index.match(reader.name, query) if m.work_id not in found]
    result.matches = matches
    return result


def analyse(kind: str, body: bytes, index: MatchIndex, url: str = "",
            link_kinds: frozenset[str] | None = None) -> Analysis:
    """Fingerprint ``body`` and match it: stage 1, then later stages if stage 1 left doubt.

    A ``page`` is matched by :func:`analyse_page` instead.
    """
    if kind == "page":
        return analyse_page(body, url, index, link_kinds)
    result = Analysis()
    content = content_for(kind, body)
    try:
        result.queries = first_stage_queries(kind, content)
    except ContentSkipped as exc:
        result.outcome, result.reason = "skipped", str(exc)
        return result
    except ContentRejected as exc:
        result.outcome, result.reason = "rejected", str(exc)
        return result
    result.note = content.note
    first = first_stage_matches(index, result.queries)
    result.matches = first
    if needs_later_stages(first):
        result.later_stages = True
        try:
            result.matches = settle(index, kind, content, first)
        except ContentRejected as exc:
            result.outcome, result.reason = "rejected", str(exc)
    return result


@dataclass(frozen=True)
class JudgedBy:
    """A work to judge by given thresholds instead of its current ones (a recheck of a hit
    judged by the thresholds in force when it was confirmed)."""

    work_id: int
    thresholds: dict[str, float]


def _analyse_in_worker(kind: str, body: bytes, url: str, judged_by: JudgedBy | None,
                       link_kinds: frozenset[str] | None) -> Analysis:
    worker = _worker_index()
    if judged_by is None and kind != "page":
        return worker.analysis(kind, body)
    index = worker.current()
    if judged_by is not None:
        index = index.with_thresholds(judged_by.work_id, judged_by.thresholds)
    return analyse(kind, body, index, url, link_kinds)


def can_fork() -> bool:
    """Whether a worker may be forked from this process now: on Linux, while it runs one
    Python thread (see the module's docstring for the others)."""
    return sys.platform == "linux" and threading.active_count() == 1


class AnalysisPool:
    """A pool of worker processes, each with its own match index, read from the database
    of ``settings`` (the crawl's): all forked now if :func:`can_fork`, else each spawned
    when first needed."""

    def __init__(self, workers: int, settings: Settings) -> None:
        self.forked = can_fork()
        self.executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork" if self.forked else "spawn"),
            initializer=_start_worker, initargs=(os.getpid(), settings))
        if self.forked:
            # A forking pool forks all its workers with its first call, then starts a
            # thread of its own: the call is made now, while no other thread runs. The
            # objects the crawl holds stay out of the workers' garbage collections, which
            # would otherwise touch (and copy) every page the workers share with the crawl.
            gc.freeze()
            try:
                self.executor.submit(os.getpid)
            finally:
                gc.unfreeze()

    def submit(self, kind: str, body: bytes, url: str = "",
               judged_by: JudgedBy | None = None,
               link_kinds: frozenset[str] | None = None) -> Future[Analysis]:
        """A concurrent future of the :class:`Analysis` of ``body`` (found at ``url``; a
        page's kinds of file links, if known, in ``link_kinds``)."""
        return self.executor.submit(_analyse_in_worker, kind, body, url, judged_by, link_kinds)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
