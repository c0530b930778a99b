"""Fault injection: evidence writes that fail (disk full, read-only store, an fsync error, a
held database lock, ``kill -9``) lose nothing committed, corrupt no record, and end the run
``failed`` with the reason and a count of what was not stored."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from casefiles.captures import capture_record, evidence_problems, hit_captures
from casefiles.evidence import EvidenceStore
from casefiles.warc import WarcRecorder, WarcRef, read_record, recover_open_files
from swordnet.config import Settings
from swordnet.db import Database, open_database
from swordnet.demo_site import DemoSite, serve_site
from swordnet.models import CrawlRun, Hit
from tests.conftest import run_cli
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
    [recovered] = recover_open_files(store)  # the next crawl's start: cuts the partial record
    path = sealed_path(store, recovered)
    assert recovered.filename == kept.filename and recovered.size == kept.offset + kept.length
    assert read_record(path, kept.offset).payload == kept_body
    assert committed_types(path) == ["warcinfo", "response", "request"]
    warcio_check(path, sealed_path(store, new))


# --- whole crawls -----------------------------------------------------------------------------


def copies_site(pages: int = 12) -> DemoSite:
    """A start page linking ``pages`` pages, each with one altered copy of a sample work."""
    site = DemoSite()
    works = sample_works()
    site.add("/", page("Copies", "".join(f'<a href="/p/{n}.html">copy {n}</a>'
                                         for n in range(pages))), HTML)
    for n in range(pages):
        alteration = ("reencoded", "mirrored")[n // len(works) % 2]
        tag = plant(site, works[n % len(works)], f"/i/{n}.jpg", f"/p/{n}.html", alteration)
        site.add(f"/p/{n}.html", page(f"Copy {n}", tag), HTML)
    return site


@contextmanager
def mounted(path: Path, *options: str) -> Iterator[None]:
    """A mount at ``path`` (``mount OPTIONS... path``) while the block runs; skips the test
    where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", *options, str(path)], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
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
