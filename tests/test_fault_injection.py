"""Fault injection: evidence writes that fail (disk full, read-only store, an fsync error, a
held database lock, ``kill -9``) lose nothing committed, corrupt no record, and end the run
``failed`` with the reason and a count of what was not stored."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from casefiles.captures import capture_record, evidence_problems, hit_captures
from crawlers.store import note_sealed
from scheduler.executor import CrawlProcess
from swordnet.core.config import Settings, load_settings
from swordnet.core.db import Database, make_engine, open_database
from swordnet.core.models import Capture, CrawlRun, Hit, WarcFile
from swordnet.demo.site import DemoSite, Resource, serve_site
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import WarcRecorder, WarcRef, read_record, recover_open_files
from tests.conftest import ALLOW_TEST_SITES, run_cli
from tests.pirate_sites import (
    HTML,
    add_watch_target,
    crawl_target,
    hit_set,
    page,
    plant,
    planted_set,
    register_samples,
    sample_works,
)
from tests.test_warc import record, records, sealed_path, warcio_check
from tests.warm_crawl import start_scrapy


class FailingWrites:
    """``os.pwrite`` that fails the chosen calls (counted from 1) with ENOSPC, as a filling
    disk does: the first part of the data is written, then the rest is refused."""

    def __init__(self, fail_calls: set[int], err: int = errno.ENOSPC) -> None:
        self.fail_calls = fail_calls
        self.err = err
        self.calls = 0
        self.failures = 0

    def __call__(self, fd: int, data: bytes | memoryview, offset: int, /) -> int:
        self.calls += 1
        if self.calls in self.fail_calls:
            self.failures += 1
            os.pwrite(fd, bytes(data[:len(data) // 2]), offset)  # a part lands, then no space
            raise OSError(self.err, os.strerror(self.err))
        return os.pwrite(fd, data, offset)


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence")


def committed_types(path: Path) -> list[str]:
    return [kind for _, kind, _ in records(path)]


# --- the WARC writer --------------------------------------------------------------------------


def test_an_fsync_error_is_rolled_back_and_the_next_record_lands_at_its_offset(
        store: EvidenceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's corruption: after a failed record, later records were written past a hole
    and their stored offsets pointed at zeros."""
    rec = WarcRecorder(store, "fsync", {})
    first, first_body = record(rec, 0)
    real_fsync = os.fsync
    failed: list[int] = []

    def fsync_fails_once(fd: int) -> None:
        if not failed:
            failed.append(fd)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_fails_once)
    with pytest.raises(OSError, match="Input/output error"):
        record(rec, 1)
    monkeypatch.setattr(os, "fsync", real_fsync)
    after, after_body = record(rec, 2)
    assert after.offset == first.offset + first.length  # right where the failed one began
    rec.close()
    [sealed] = rec.take_sealed()
    path = sealed_path(store, sealed)
    assert read_record(path, first.offset).payload == first_body
    assert read_record(path, after.offset).payload == after_body
    assert sealed.size == after.offset + after.length  # no hole, nothing of the failed record
    assert committed_types(path) == ["warcinfo", "response", "request", "response", "request"]
    warcio_check(path)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_twenty_enospc_writes_leave_every_committed_record_intact(
        store: EvidenceStore, seed: int) -> None:
    """20 injected ENOSPC writes among 60 records, with files rolling over: every returned
    ref reads back, every failed call raised, and the sealed files hold exactly the committed
    records, back to back."""
    rng = random.Random(seed)
    writes = FailingWrites(set(rng.sample(range(2, 62), 20)))  # >= 61 calls: 60 records + warcinfo
    rec = WarcRecorder(store, "enospc", {}, max_bytes=40_000, write_at=writes)
    committed: list[tuple[WarcRef, bytes]] = []
    refused = 0
    for n in range(60):
        try:
            committed.append(record(rec, n, rng.randbytes(rng.randrange(500, 4000))))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            refused += 1
    rec.close()
    assert writes.failures == 20
    assert refused == 20  # a failed warcinfo write fails the record that needed a new file
    sealed = {s.filename: sealed_path(store, s) for s in rec.take_sealed()}
    assert list(store.open_dir.iterdir()) == [] and store.check_all() == []
    for ref, body in committed:
        assert read_record(sealed[ref.filename], ref.offset).payload == body
    responses = sum(committed_types(path).count("response") for path in sealed.values())
    assert responses == len(committed) == 40  # nothing of a failed record was kept
    for ref, _ in committed:  # records are back to back: each ends where the next begins
        later = [r for r, _ in committed if r.filename == ref.filename and r.offset > ref.offset]
        if later:
            assert min(r.offset for r in later) == ref.offset + ref.length
    warcio_check(*sealed.values())


def test_an_undo_that_errors_abandons_the_file_to_recovery_and_starts_a_new_one(
        store: EvidenceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store turned read-only mid-write: neither the write nor its undo succeed. The
    committed records stay where they are, and the next record goes to a new file."""
    writes = FailingWrites({3}, errno.EROFS)  # warcinfo, record 0, then record 1 fails
    rec = WarcRecorder(store, "rofs", {}, write_at=writes)
    kept, kept_body = record(rec, 0)

    def refuse(fd: int, length: int) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "ftruncate", refuse)
    with pytest.raises(OSError, match="Read-only file system"):
        record(rec, 1)
    monkeypatch.undo()
    later, later_body = record(rec, 2)
    assert later.filename != kept.filename and later.offset > 0
    abandoned = store.open_dir / kept.filename
    assert abandoned.exists()  # left for recovery, with the committed record in place
    assert read_record(abandoned, kept.offset).payload == kept_body
    rec.close()
    [new] = rec.take_sealed()
    assert read_record(sealed_path(store, new), later.offset).payload == later_body
    store.drop_receipts([new.filename])  # as its crawl does once it has recorded the file
    [recovered] = recover_open_files(store)  # the next crawl's start: cuts the partial record
    path = sealed_path(store, recovered)
    assert recovered.filename == kept.filename and recovered.size == kept.offset + kept.length
    assert read_record(path, kept.offset).payload == kept_body
    assert committed_types(path) == ["warcinfo", "response", "request"]
    warcio_check(path, sealed_path(store, new))


# --- whole crawls -----------------------------------------------------------------------------


# Pages (each with a copy) a killed crawl's round adds: kills fall anywhere from before the
# first hit to after the last.
ROUND_PAGES = 4


def copies_site(pages: int = 12, prefix: str = "") -> DemoSite:
    """A start page linking ``pages`` pages (under ``prefix``), each with one altered copy of
    a sample work."""
    site = DemoSite()
    works = sample_works()
    site.add("/", page("Copies", "".join(f'<a href="{prefix}/p/{n}.html">copy {n}</a>'
                                         for n in range(pages))), HTML)
    for n in range(pages):
        alteration = ("reencoded", "mirrored")[n // len(works) % 2]
        path = f"{prefix}/p/{n}.html"
        tag = plant(site, works[n % len(works)], f"{prefix}/i/{n}.jpg", path, alteration)
        site.add(path, page(f"Copy {n}", tag), HTML)
    return site


@contextmanager
def mounted(path: Path, *options: str) -> Iterator[None]:
    """A mount at ``path`` (``mount OPTIONS... path``) while the block runs; skips the test
    where mounting is not allowed, unless ``SWORDNET_REQUIRE_MOUNT=1`` (set by ``.ci/run``,
    which runs as root) makes that a failure."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", *options, str(path)], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        if os.environ.get("SWORDNET_REQUIRE_MOUNT") == "1":
            pytest.fail(f"cannot mount here: {result.stderr.strip()}")
        pytest.skip(f"cannot mount here: {result.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def assert_evidence_sound(db: Database, store: EvidenceStore) -> int:
    """``evidence check`` passes, no hit is stored twice, and every hit's page and media
    captures point at readable records; returns the number of hits."""
    with db.session() as session:
        assert evidence_problems(session, store) == []
        hits = session.scalars(select(Hit)).all()
        assert len({(h.work_id, h.url) for h in hits}) == len(hits)
        for hit in hits:
            assert hit.page_capture is not None and hit.media_capture is not None
            for capture in hit_captures(session, hit):
                capture_record(session, store, capture)
        return len(hits)


def assert_failed_run_shown(run: CrawlRun, reason: str) -> None:
    """The run is ``failed`` and unhealthy, saying why, with the loss counted, in ``runs show``
    and ``runs list``."""
    assert run.outcome == "failed" and run.finish_reason == "evidence_store_failed"
    assert run.error is not None and run.error.startswith(reason)
    assert re.search(r"; not stored: [1-9]\d* hits of [1-9]\d* matched items", run.error)
    assert run.healthy is False and run.stats["errors_by_type"].get("not_stored", 0) >= 1
    assert run.stats["hits_not_stored"] >= 1 and run.stats["errors"] >= 1
    assert any(p.startswith("not stored: ") for p in run.health_problems)
    shown = run_cli("runs", "show", str(run.id))
    assert reason in shown.output and "failed" in shown.output
    listed = json.loads(run_cli("runs", "list", "--json").output)
    assert any(r["id"] == run.id and r["problems"].startswith(reason) for r in listed)


def test_a_full_evidence_disk_fails_the_run_with_the_reason_and_keeps_what_was_stored(
        sqlite_home: Settings) -> None:
    """The evidence store fills up mid-crawl (a small tmpfs): the run ends ``failed`` with
    ENOSPC and a count of the hits not stored; every stored hit's evidence reads back; once
    there is space again the next crawl finds every copy, none twice."""
    db = open_database(sqlite_home)
    register_samples(db)
    site = copies_site()
    store_dir = sqlite_home.evidence_dir
    images = sum(len(r.body) for p, r in site.files.items() if p.startswith("/i/"))
    with serve_site(site) as running, mounted(store_dir, "-t", "tmpfs", "-o",
                                              f"size={images // 2}", "tmpfs"):
        store = EvidenceStore(store_dir)
        target = add_watch_target(db, running.url)
        run = crawl_target(db, sqlite_home, target)
        assert_failed_run_shown(run, "evidence store: No space left on device (")
        stored = assert_evidence_sound(db, store)
        assert stored + run.stats["hits_not_stored"] <= len(site.planted)
        assert stored == run.stats["hits_new"]
        subprocess.run(["mount", "-o", "remount,size=64m", str(store_dir)], check=True)
        again = crawl_target(db, sqlite_home, target)
        assert again.outcome == "finished" and again.healthy, again.health_problems
        assert again.stats["hits_new"] == len(site.planted) - stored
        assert hit_set(db) == planted_set(site)
        assert assert_evidence_sound(db, store) == len(site.planted)
        assert list(store.open_dir.iterdir()) == []
    db.dispose()


def test_a_read_only_evidence_store_fails_the_run_and_stores_no_hit_without_evidence(
        sqlite_home: Settings) -> None:
    """A read-only evidence directory (a read-only bind mount: root ignores file modes) loses
    no hit silently: none is stored without its record, the run says why; once writable
    again, the next crawl stores them all."""
    db = open_database(sqlite_home)
    register_samples(db)
    site = copies_site()
    store = EvidenceStore(sqlite_home.evidence_dir)
    root = str(store.root)
    with serve_site(site) as running:
        target = add_watch_target(db, running.url)
        with mounted(store.root, "--bind", root):
            subprocess.run(["mount", "-o", "remount,bind,ro", root], check=True)
            run = crawl_target(db, sqlite_home, target)
        assert_failed_run_shown(run, "evidence store: Read-only file system (")
        assert run.stats["hits_new"] == 0 and assert_evidence_sound(db, store) == 0
        again = crawl_target(db, sqlite_home, target)
    assert again.outcome == "finished" and again.stats["hits_new"] == len(site.planted)
    assert hit_set(db) == planted_set(site)
    assert assert_evidence_sound(db, store) == len(site.planted)
    db.dispose()


def start_crawl(settings: Settings, target: int, log: Path) -> CrawlProcess:
    """A ``scrapy crawl`` of the target, logging to ``log``: forked by this process's warm
    launcher, as the scheduler's crawls are (a ``python -m scrapy`` subprocess if the
    launcher is unavailable), so that a crawl killed early was not still importing. Its
    match workers die with it (``PR_SET_PDEATHSIG``)."""
    env = {**os.environ, "SWORDNET_HOME": str(settings.home),
           "SWORDNET_DATABASE_URL": settings.database_url,
           "SCRAPY_SETTINGS_MODULE": "crawlers.settings"}
    args = ["crawl", "site", "-a", f"target_id={target}", "-s", "SWORDNET_MATCH_WORKERS=1",
            *ALLOW_TEST_SITES]
    return start_scrapy(args, env, log)


def crawling(process: CrawlProcess) -> bool:
    return process.process is not None and process.process.alive() is True


def kill(process: CrawlProcess) -> None:
    """SIGKILL the crawl (its match workers get one from the kernel) and reap it."""
    process.kill()
    process.wait(timeout=60)
    process.close()


def wait_until(condition: Callable[[], bool], process: CrawlProcess,
               what: str, timeout_s: float = 120, poll_s: float = 0.02) -> None:
    """Polls ``condition`` while the crawl runs; fails naming ``what`` if it never holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert crawling(process), f"the crawl ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout_s} s"
        time.sleep(poll_s)


def hit_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Hit)) or 0


def run_ids(db: Database) -> set[int]:
    with db.session() as session:
        return set(session.scalars(select(CrawlRun.id)))


def latest_run(db: Database) -> CrawlRun:
    with db.session() as session:
        run = session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc())).first()
        assert run is not None
        return run


@pytest.mark.parametrize(("query", "expected_ms"), [("", 30_000), ("?timeout=0.5", 500)])
def test_the_sqlite_busy_timeout_is_set_in_the_database_url(
        tmp_path: Path, query: str, expected_ms: int) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}{query}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == expected_ms
            assert conn.exec_driver_sql("PRAGMA database_list").one()[2] == str(
                tmp_path / "db.sqlite")
    finally:
        engine.dispose()


def test_a_database_lock_held_past_the_busy_timeout_fails_the_run_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holds the SQLite write lock (BEGIN IMMEDIATE) past the busy timeout
    (0.5 s here, set in the database URL) while the last copy is stored: that hit is counted
    as not stored and the run fails saying so; the others keep their evidence, and the next
    crawl stores the missing one."""
    db_file = tmp_path / "home" / "swordnet.db"
    monkeypatch.setenv("SWORDNET_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SWORDNET_DATABASE_URL", f"sqlite:///{db_file}?timeout=0.5")
    settings = load_settings()
    db = open_database(settings)
    register_samples(db)
    site = copies_site()
    gate = threading.Event()
    last = site.files.pop("/i/11.jpg")

    def when_locked(_path: str, _query: str) -> Resource:  # served once the test holds the lock
        gate.wait(120)
        return last

    site.routes["/i/11.jpg"] = when_locked
    log = tmp_path / "crawl.log"
    with serve_site(site) as running:
        target = add_watch_target(db, running.url)
        process = start_crawl(settings, target, log)
        holder = sqlite3.connect(db_file, isolation_level=None)
        try:
            wait_until(lambda: hit_count(db) == len(site.planted) - 1, process, "11 hits")
            holder.execute("BEGIN IMMEDIATE")
            gate.set()
            wait_until(lambda: b"not stored: " in log.read_bytes(), process, "store failure")
            holder.execute("ROLLBACK")
            assert process.wait(timeout=120) == 0
        finally:
            holder.close()
            gate.set()
            if crawling(process):
                kill(process)
            process.close()
        run = latest_run(db)
        assert_failed_run_shown(run, "database: database is locked; not stored: 1 hits of 1 ")
        store = EvidenceStore(settings.evidence_dir)
        assert assert_evidence_sound(db, store) == len(site.planted) - 1
        assert list(store.open_dir.iterdir()) == []  # sealed and recorded despite the lock
        again = crawl_target(db, settings, target)
    assert again.outcome == "finished" and again.stats["hits_new"] == 1
    assert hit_set(db) == planted_set(site)
    assert assert_evidence_sound(db, store) == len(site.planted)
    db.dispose()


def assert_run_evidence_sound(db: Database, store: EvidenceStore, run_id: int) -> None:
    """What one (killed) run stored is sound: its WARC files sealed and intact, every capture
    of it reads back with its digests, every hit it stored has both captures; and no hit is
    stored twice. (:func:`assert_evidence_sound` checks everything stored, at the end.)"""
    with db.session() as session:
        for warc in session.scalars(select(WarcFile).where(WarcFile.run_id == run_id)):
            assert warc.sha256 is not None, f"{warc.filename} was not sealed"
            assert store.check(warc.sha256, ".warc.gz", warc.size) is None
        for capture in session.scalars(select(Capture).where(Capture.run_id == run_id)):
            capture_record(session, store, capture)
        for hit in session.scalars(select(Hit).where(Hit.run_id == run_id)):
            assert hit.page_capture is not None and hit.media_capture is not None
        twice = session.execute(select(Hit.work_id, Hit.url).group_by(Hit.work_id, Hit.url)
                                .having(func.count() > 1)).all()
        assert twice == []


@dataclass(frozen=True)
class KillPoint:
    """Where a crawl is killed: once it has reached ``phase``, then ``offset_s`` later.

    Phases: ``start`` (at once: the crawl may not have recorded its run), ``run`` (its run is
    recorded), ``open`` (its first WARC file is being written), ``hits`` (it has stored
    ``hits`` new hits), ``sealed`` (its last WARC file is sealed into the store, under a
    receipt, and its outcome's transaction, which records the file, waits for the database
    lock the test holds).
    """

    phase: str
    hits: int = 0
    offset_s: float = 0.0


def boundary_points(rng: random.Random) -> list[KillPoint]:
    """One kill at every phase and record boundary of a crawl's round: before its run, once
    its run is recorded, while its first record is written, after each hit (then a seeded few
    milliseconds, so the kill also lands inside the next record or commit), and between the
    last file's sealing and the transaction recording it (the window the receipts close)."""
    return [KillPoint("start"), KillPoint("run"), KillPoint("open"),
            *(KillPoint("hits", hits, rng.uniform(0, 0.1))
              for hits in range(1, ROUND_PAGES + 1)),
            KillPoint("sealed")]


def random_points(rng: random.Random, kills: int) -> list[KillPoint]:
    """Kills after a random number of new hits (none to all), then a random few ms."""
    return [KillPoint("hits", rng.randrange(ROUND_PAGES + 1), rng.uniform(0, 0.1))
            for _ in range(kills)]


def round_site(n: int, held: threading.Event | None) -> DemoSite:
    """Round ``n``'s pages; with ``held``, "/" also links a page without a copy that is
    answered only once ``held`` is set, so the crawl cannot end before then."""
    fresh = copies_site(ROUND_PAGES, prefix=f"/r{n}")
    if held is not None:
        gate = held
        start = fresh.files["/"]
        fresh.files["/"] = replace(start, body=start.body.replace(
            b"</body>", f'<a href="/r{n}/held">more</a></body>'.encode()))

        def when_set(_path: str, _query: str) -> Resource:
            gate.wait(120)
            return Resource(200, HTML, page("More", "<p>nothing here</p>"))

        fresh.routes[f"/r{n}/held"] = when_set
    return fresh


def receipts(store: EvidenceStore) -> list[Path]:
    return list(store.receipts_dir.glob("*.json")) if store.receipts_dir.is_dir() else []


def kill_at_points(db: Database, settings: Settings, points: list[KillPoint],
                   tmp_path: Path) -> None:
    """A crawl killed with SIGKILL at each point, each followed by the open-file recovery a
    crawl runs first; after every kill what the killed run stored is sound and no hit is
    stored twice. Every crawl finds new copies (the start page links a new round of pages),
    so every kill can cut a record or a hit short; a last crawl, not killed, finds its round
    whole, and then all the evidence stored is checked."""
    site = copies_site(ROUND_PAGES)
    store = EvidenceStore(settings.evidence_dir)
    db_file = settings.database_url.removeprefix("sqlite:///")
    mid_crawl = 0  # kills that found the crawl still running
    with serve_site(site) as running:
        target = add_watch_target(db, running.url)
        for n, point in enumerate(points):
            held = threading.Event() if point.phase == "sealed" else None
            fresh = round_site(n, held)
            site.files.update(fresh.files)  # "/" now links this round's pages
            site.routes.update(fresh.routes)
            before, runs_before = hit_count(db), run_ids(db)
            reached: dict[str, Callable[[], bool]] = {
                "start": lambda: True,
                "run": lambda: bool(run_ids(db) - runs_before),  # noqa: B023
                "open": lambda: any(store.open_dir.iterdir()),
                "hits": lambda: hit_count(db) - before >= point.hits,  # noqa: B023
                "sealed": lambda: bool(receipts(store)),
            }
            process = start_crawl(settings, target, tmp_path / f"kill-{n}.log")
            holder = sqlite3.connect(db_file, isolation_level=None)
            try:
                if held is not None:  # all hits stored, then the outcome waits for the lock
                    wait_until(lambda: hit_count(db) - before == ROUND_PAGES,  # noqa: B023
                               process, "every hit of the round")
                    holder.execute("BEGIN IMMEDIATE")
                    held.set()
                if point.phase == "hits":  # a crawl may end before a late point
                    wait_until(lambda: reached["hits"]()  # noqa: B023
                               or not crawling(process), process, "the kill point")  # noqa: B023
                else:
                    wait_until(reached[point.phase], process, f"the {point.phase} kill point",
                               poll_s=0.002)
                time.sleep(point.offset_s)  # a chosen moment, not a wait for anything
                mid_crawl += crawling(process)
            finally:
                kill(process)
                if held is not None:
                    held.set()
                holder.close()  # rolls back the lock it held
            recovered = recover_open_files(store)
            with db.session() as session:
                note_sealed(session, recovered)
            store.drop_receipts([warc.filename for warc in recovered])
            assert list(store.open_dir.iterdir()) == []
            for run_id in run_ids(db) - runs_before:  # none if killed before it recorded one
                assert_run_evidence_sound(db, store, run_id)
        assert mid_crawl > 0 and hit_count(db) > 0, "no kill cut a crawl that stored hits"
        last = copies_site(ROUND_PAGES, prefix="/last")
        site.files.update(last.files)
        final = crawl_target(db, settings, target)
    assert final.outcome == "finished" and final.stats["hits_new"] == len(last.planted)
    assert planted_set(last) <= hit_set(db)
    assert assert_evidence_sound(db, store) <= len(last.planted) * (len(points) + 1)


@pytest.mark.parametrize("points", [
    pytest.param(lambda: random_points(random.Random(21), 3), id="random"),
    pytest.param(lambda: boundary_points(random.Random(2100))
                 + random_points(random.Random(2101), 4),
                 id="boundaries", marks=[pytest.mark.slow, pytest.mark.timeout(1200)]),
])
def test_killed_crawls_lose_and_duplicate_nothing(
        sqlite_home: Settings, tmp_path: Path, points: Callable[[], list[KillPoint]]) -> None:
    """A crawl killed anywhere leaves consistent state. What a kill can interrupt is set by
    where it falls among a round's steps: before the run is recorded, between the run and the
    first record, inside a record or the commit of its capture and hit (after each hit, then
    a few ms), and between a sealed file and the commit recording it. The boundaries set
    kills at each of these once, on purpose, then at four seeded random points; the hundred
    random kills it replaced fell into the same places by chance, and into the last one only
    now and then (with the receipts left out of recovery, this set failed there when tried)."""
    db = open_database(sqlite_home)
    try:
        register_samples(db)
        kill_at_points(db, sqlite_home, points(), tmp_path)
    finally:
        db.dispose()
