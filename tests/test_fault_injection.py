"""Fault injection: evidence writes that fail (disk full, read-only store, an fsync error, a
held database lock, ``kill -9``) lose nothing committed, corrupt no record, and end the run
``failed`` with the reason and a count of what was not stored."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from casefiles.evidence import EvidenceStore
from casefiles.warc import WarcRecorder, WarcRef, read_record, recover_open_files
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
