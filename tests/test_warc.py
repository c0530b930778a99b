"""WARC evidence: records read back, pass ``warcio check``, seal into the store, and survive a
writer killed mid-record."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from swordnet.evidence.store import EvidenceStore, file_sha256
from swordnet.evidence.warc import (
    SealedWarc,
    WarcRecorder,
    WarcRef,
    read_record,
    recover_open_files,
)

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2025, 3, 1, 12, 0, 5, 123456, tzinfo=UTC)
WIRE_HEADERS = [("Content-Type", "text/html; charset=utf-8"), ("content-encoding", "gzip"),
                ("Transfer-Encoding", "chunked"), ("Content-Length", "999"), ("X-Name", "café")]


def record(rec: WarcRecorder, n: int, body: bytes | None = None) -> tuple[WarcRef, bytes]:
    """Records exchange ``n``; returns its ref and body."""
    body = f"<p>page {n}</p>\n".encode() * 20 if body is None else body
    ref = rec.record_exchange(
        url=f"http://site.test/p/{n}?q=1", method="GET",
        request_headers=[("User-Agent", "Swordnet/test"), ("Accept-Encoding", "gzip, br")],
        status=200, reason="OK", response_headers=WIRE_HEADERS, body=body, ip="192.0.2.7",
        fetched_at=T0 + timedelta(seconds=n))
    return ref, body


def warcio_check(*paths: Path) -> str:
    """Runs ``warcio check -v`` on the files; asserts it passes and every digest was checked."""
    proc = subprocess.run([sys.executable, "-m", "warcio.cli", "check", "-v", *map(str, paths)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "digest pass" in proc.stdout
    assert "fail" not in proc.stdout and "no digest" not in proc.stdout, proc.stdout
    assert proc.stderr == ""
    return proc.stdout


def records(path: Path) -> list[tuple[int, str, str]]:
    """(offset, WARC-Type, WARC-Record-ID) of every record in a file."""
    with open(path, "rb") as f:
        it = ArchiveIterator(f)
        return [(it.get_record_offset(), r.rec_type, r.rec_headers["WARC-Record-ID"])
                for r in it]


def sealed_path(store: EvidenceStore, sealed: SealedWarc) -> Path:
    return store.path_for(sealed.sha256, ".warc.gz")


def b32_sha256(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence")


def crashed_copy(store: EvidenceStore, tmp_path: Path, count: int = 3,
                 last_body: bytes | None = None) -> tuple[bytes, list[WarcRef], str]:
    """A WARC file of ``count`` exchanges as a dead writer would leave it: its bytes, refs, name.

    Written by a recorder in another store; the caller puts (some of) the bytes in ``store``.
    """
    other = EvidenceStore(tmp_path / "elsewhere")
    with WarcRecorder(other, "crashed", {}) as rec:
        refs = [record(rec, n, last_body if n == count - 1 else None)[0] for n in range(count)]
    [sealed] = rec.take_sealed()
    return sealed_path(other, sealed).read_bytes(), refs, sealed.filename


# --- the store ---------------------------------------------------------------------------------


def test_put_and_check_objects(store: EvidenceStore, tmp_path: Path) -> None:
    stored = store.put_bytes(b"screenshot", ".png")
    assert stored.sha256 == hashlib.sha256(b"screenshot").hexdigest() and stored.size == 10
    assert stored.path == store.objects_dir / stored.sha256[:2] / f"{stored.sha256}.png"
    assert stored.path.read_bytes() == b"screenshot"
    assert stored.path.stat().st_mode & 0o777 == 0o444
    assert store.put_bytes(b"screenshot", ".png") == stored  # idempotent
    source = tmp_path / "again.png"
    source.write_bytes(b"screenshot")
    assert store.put_file(source, ".png") == stored and not source.exists()
    with store.open_object(stored.sha256, ".png") as f:
        assert f.read() == b"screenshot"
    assert store.check(stored.sha256, ".png") is None
    assert store.check(stored.sha256, ".png", size=11) == "size 10 bytes, stored with 11"
    assert store.check_all() == []
    assert list(store.tmp_dir.iterdir()) == []


def test_a_changed_byte_is_reported(store: EvidenceStore) -> None:
    good = store.put_bytes(b"untouched", ".png")
    bad = store.put_bytes(b"evidence bytes", ".warc.gz")
    os.chmod(bad.path, 0o644)
    data = bytearray(bad.path.read_bytes())
    data[3] ^= 0x01
    bad.path.write_bytes(bytes(data))
    mismatch = "sha256 mismatch: file changed since it was stored"
    assert store.check(bad.sha256, ".warc.gz") == mismatch
    assert store.check(good.sha256, ".png") is None
    assert store.check_all() == [(bad.path, mismatch)]
    # putting the good bytes again repairs the damaged object
    assert store.put_bytes(b"evidence bytes", ".warc.gz") == bad
    assert store.check_all() == []
    good.path.unlink()
    assert store.check(good.sha256, ".png") == "missing"
    stray = store.objects_dir / "ab" / "notes.txt"
    stray.parent.mkdir(exist_ok=True)
    stray.write_text("x")
    assert store.check_all() == [(stray, "unexpected entry: name is not <sha256><suffix>")]


@pytest.mark.parametrize("sha", ["", "../" + "0" * 61, "A" * 64, "0" * 63, "0" * 65,
                                 "0" * 62 + "/x", "g" * 64, "0" * 64 + "\n"])
def test_invalid_sha_refused(store: EvidenceStore, sha: str) -> None:
    with pytest.raises(ValueError, match="not a sha256"):
        store.path_for(sha, ".png")
    with pytest.raises(ValueError, match="not a sha256"):
        store.check(sha, ".png")
    with pytest.raises(ValueError, match="not a sha256"):
        store.open_object(sha, ".png")


@pytest.mark.parametrize("suffix", ["", "png", "/../x", ".png/..", ".PNG", "./"])
def test_invalid_suffix_refused(store: EvidenceStore, suffix: str) -> None:
    with pytest.raises(ValueError, match="not a file suffix"):
        store.path_for("0" * 64, suffix)


# --- writing -----------------------------------------------------------------------------------


def test_exchange_reads_back(store: EvidenceStore) -> None:
    rec = WarcRecorder(store, "run-7", {"user-agent": "Swordnet-test", "depth_limit": "3"})
    ref, body = record(rec, 1)
    open_path = store.open_dir / ref.filename
    assert re.fullmatch(r"run-7-\d{14}-00000-[0-9a-f]{8}\.warc\.gz", ref.filename)

    view = read_record(open_path, ref.offset)  # durable and readable before the file is sealed
    assert view.headers["WARC-Type"] == "response"
    assert view.headers["WARC-Target-URI"] == "http://site.test/p/1?q=1"
    assert view.headers["WARC-Date"] == "2025-03-01T12:00:06.123456Z"
    assert view.headers["WARC-IP-Address"] == "192.0.2.7"
    assert view.headers["WARC-Payload-Digest"] == b32_sha256(body)
    assert view.headers["WARC-Block-Digest"].startswith("sha256:")
    assert view.http_status == 200 and view.payload == body
    assert view.http_headers == [
        ("Content-Type", "text/html; charset=utf-8"),
        ("X-Swordnet-Original-Content-Encoding", "gzip"),
        ("X-Swordnet-Original-Transfer-Encoding", "chunked"),
        ("X-Swordnet-Original-Content-Length", "999"),
        ("X-Name", "café"),
        ("Content-Length", str(len(body))),
    ]

    rec.close()
    [sealed] = rec.take_sealed()
    assert sealed.filename == ref.filename and not open_path.exists()
    path = sealed_path(store, sealed)
    (_, info_type, info_id), (resp_off, _, resp_id), (req_off, req_type, _) = records(path)
    assert info_type == "warcinfo" and resp_off == ref.offset and req_type == "request"
    assert ref.offset < req_off < ref.offset + ref.length == path.stat().st_size
    request = read_record(path, req_off)
    assert request.headers["WARC-Concurrent-To"] == resp_id
    assert request.headers["WARC-Date"] == view.headers["WARC-Date"]
    assert request.http_status is None and request.payload == b""
    assert ("User-Agent", "Swordnet/test") in request.http_headers
    assert view.headers["WARC-Warcinfo-ID"] == info_id
    info = read_record(path, 0)
    assert info.headers["WARC-Filename"] == ref.filename
    fields = info.payload.decode()
    assert fields.startswith("software: Swordnet ") and "format: WARC File Format 1.1" in fields
    assert "user-agent: Swordnet-test\r\n" in fields and "depth_limit: 3\r\n" in fields
    warcio_check(path)


def test_resource_record(store: EvidenceStore) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(500)
    with WarcRecorder(store, "shots", {}) as rec:
        ref = rec.record_resource(url="http://site.test/p/1", content_type="image/png", body=png,
                                  fetched_at=T0)
    [sealed] = rec.take_sealed()
    view = read_record(sealed_path(store, sealed), ref.offset)
    assert view.headers["WARC-Type"] == "resource"
    assert view.headers["Content-Type"] == "image/png"
    assert view.headers["WARC-Date"] == "2025-03-01T12:00:05.123456Z"
    assert view.payload == png and view.http_status is None
    warcio_check(sealed_path(store, sealed))


def test_read_record_refuses_damage(store: EvidenceStore, tmp_path: Path) -> None:
    full, refs, _ = crashed_copy(store, tmp_path, count=1)
    damaged = bytearray(full)
    damaged[refs[0].offset + 100] ^= 0x10
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="no readable WARC record at offset"):
        read_record(path, refs[0].offset)
    assert read_record(path, 0).headers["WARC-Type"] == "warcinfo"
    with pytest.raises(ValueError, match="no readable WARC record at offset 7"):
        read_record(path, 7)


def test_rollover_seals_files_each_with_warcinfo(store: EvidenceStore) -> None:
    rec = WarcRecorder(store, "roll", {"job": "rollover"}, max_bytes=6000)
    refs = [record(rec, n, os.urandom(3000)) for n in range(5)]  # ~4 kB compressed each
    early = rec.take_sealed()
    assert len(early) == 2  # sealed as soon as they were full
    rec.close()
    rec.close()
    sealed = early + rec.take_sealed()
    assert len(sealed) == 3 and rec.take_sealed() == []
    assert list(store.open_dir.iterdir()) == []
    assert len({s.filename for s in sealed}) == 3
    assert [s.filename.split("-")[2] for s in sealed] == ["00000", "00001", "00002"]
    by_name = {s.filename: sealed_path(store, s) for s in sealed}
    for s in sealed:
        path = by_name[s.filename]
        assert file_sha256(path) == (s.sha256, s.size)
        assert path.stat().st_mode & 0o777 == 0o444
        kinds = [kind for _, kind, _ in records(path)]
        assert kinds[0] == "warcinfo" and kinds.count("warcinfo") == 1
        assert read_record(path, 0).headers["WARC-Filename"] == s.filename
    for ref, body in refs:
        assert read_record(by_name[ref.filename], ref.offset).payload == body
    assert store.check_all() == []
    warcio_check(*by_name.values())


def test_recorder_refuses_bad_input(store: EvidenceStore) -> None:
    with pytest.raises(ValueError):
        WarcRecorder(store, "../escape", {})
    with pytest.raises(ValueError):
        WarcRecorder(store, "run", {"software": "spoofed"})
    with pytest.raises(ValueError):
        WarcRecorder(store, "run", {"note": "two\r\nlines"})
    rec = WarcRecorder(store, "run", {})
    with pytest.raises(ValueError):
        rec.record_exchange(url="http://site.test/", method="GET", request_headers=[],
                            status=200, reason="OK", response_headers=[("X-Evil", "a\r\nB: c")],
                            body=b"", ip=None, fetched_at=T0)
    assert list(store.open_dir.iterdir()) == []  # nothing written, not even a file
    rec.close()
    with pytest.raises(RuntimeError):
        record(rec, 1)


# --- recovery ----------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["half record appended", "cut mid-response", "cut mid-request",
                                    "zeros after", "complete"])
def test_recover_truncates_to_last_complete_record(store: EvidenceStore, tmp_path: Path,
                                                   damage: str) -> None:
    big = b"\0" * 3_000_000 if damage == "complete" else None  # zlib output outruns its input
    full, refs, name = crashed_copy(store, tmp_path, last_body=big)
    last = refs[-1]
    request_offset = [off for off, kind, _ in records_of(full, tmp_path) if kind == "request"][-1]
    data, keep = {
        "half record appended": (full + full[last.offset:last.offset + last.length // 2],
                                 len(full)),
        "cut mid-response": (full[:last.offset + 40], last.offset),
        "cut mid-request": (full[:last.offset + last.length - 7], request_offset),
        "zeros after": (full + b"\0" * 5000, len(full)),
        "complete": (full, len(full)),
    }[damage]
    (store.open_dir / name).write_bytes(data)

    [sealed] = recover_open_files(store)
    path = sealed_path(store, sealed)
    assert sealed.filename == name and sealed.size == keep
    assert path.read_bytes() == full[:keep]
    assert list(store.open_dir.iterdir()) == []
    survivors = refs if keep >= len(full) else refs[:-1]
    for ref in survivors:
        assert read_record(path, ref.offset).headers["WARC-Type"] == "response"
    if damage == "cut mid-request":  # the response is complete, so it stays
        assert read_record(path, last.offset).http_status == 200
    warcio_check(path)
    assert recover_open_files(store) == [sealed]  # idempotent: reported until recorded
    store.drop_receipts([sealed.filename])
    assert recover_open_files(store) == []


def records_of(data: bytes, tmp_path: Path) -> list[tuple[int, str, str]]:
    path = tmp_path / "scratch.warc.gz"
    path.write_bytes(data)
    return records(path)


def test_recover_deletes_files_without_a_complete_record(store: EvidenceStore,
                                                         tmp_path: Path) -> None:
    full, refs, _ = crashed_copy(store, tmp_path, count=1)
    (store.open_dir / "a-empty.warc.gz").write_bytes(b"")
    (store.open_dir / "b-partial.warc.gz").write_bytes(full[:refs[0].offset // 2])
    (store.open_dir / "c-warcinfo-only.warc.gz").write_bytes(full[:refs[0].offset + 30])
    (store.open_dir / "notes.txt").write_text("not ours")
    assert recover_open_files(store) == []
    assert [p.name for p in store.open_dir.iterdir()] == ["notes.txt"]


def test_recover_leaves_a_file_damaged_before_complete_records(store: EvidenceStore,
                                                               tmp_path: Path) -> None:
    full, refs, name = crashed_copy(store, tmp_path)
    damaged = bytearray(full)
    damaged[refs[1].offset + 60] ^= 0xFF  # inside exchange 1; exchange 2 is intact after it
    (store.open_dir / name).write_bytes(bytes(damaged))
    assert recover_open_files(store) == []
    assert (store.open_dir / name).read_bytes() == bytes(damaged)


def test_recover_skips_a_live_writer(store: EvidenceStore) -> None:
    rec = WarcRecorder(store, "live", {})
    ref, _ = record(rec, 1)
    before = (store.open_dir / ref.filename).read_bytes()
    assert recover_open_files(store) == []
    assert (store.open_dir / ref.filename).read_bytes() == before
    ref2, body2 = record(rec, 2)
    rec.close()
    [sealed] = rec.take_sealed()
    assert read_record(sealed_path(store, sealed), ref2.offset).payload == body2


def test_recover_concurrently(store: EvidenceStore, tmp_path: Path) -> None:
    full, refs, _ = crashed_copy(store, tmp_path)
    for n in range(6):  # all cut back to the same bytes: six names, one object
        (store.open_dir / f"crash{n}.warc.gz").write_bytes(full[:refs[-1].offset + 10 * n])
    results: list[list[SealedWarc]] = []
    threads = [threading.Thread(target=lambda: results.append(recover_open_files(store)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted({s.filename for result in results for s in result})  # a file sealed by
    assert names == [f"crash{n}.warc.gz" for n in range(6)]  # one is reported by its receipt
    assert len({s.sha256 for result in results for s in result}) == 1  # to the others too
    assert list(store.open_dir.iterdir()) == [] and store.check_all() == []


WRITER = textwrap.dedent("""
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from swordnet.evidence.store import EvidenceStore
    from swordnet.evidence.warc import WarcRecorder
    rec = WarcRecorder(EvidenceStore(Path(sys.argv[1])), "killed", {})
    for n in range(3):
        ref = rec.record_exchange(
            url=f"http://site.test/{n}", method="GET", request_headers=[], status=200,
            reason="OK", response_headers=[], body=b"body %d" % n, ip=None,
            fetched_at=datetime.now(UTC))
        print(ref.filename, ref.offset, flush=True)
    print("ready", flush=True)
    time.sleep(60)
""")


def test_recover_after_the_writer_is_killed(store: EvidenceStore) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store.root)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().split() for _ in range(4)]
        assert lines[-1] == ["ready"]
        assert recover_open_files(store) == []  # still alive: its lock is held
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    [sealed] = recover_open_files(store)
    path = sealed_path(store, sealed)
    for n, (filename, offset) in enumerate(lines[:3]):
        assert filename == sealed.filename
        assert read_record(path, int(offset)).payload == b"body %d" % n
    warcio_check(path)




def test_a_file_sealed_by_a_writer_that_died_before_recording_it_is_found_by_its_receipt(
        store: EvidenceStore) -> None:
    # The writer sealed its file (moved into objects/) and was killed before its crawl
    # recorded the file's sha256: open/ is empty, only the receipt knows which object it is.
    rec = WarcRecorder(store, "sealed-then-killed", {})
    ref, body = record(rec, 1)
    rec.close()
    [sealed] = rec.take_sealed()
    assert list(store.open_dir.iterdir()) == []

    assert recover_open_files(store) == [sealed]
    assert read_record(sealed_path(store, sealed), ref.offset).payload == body
    assert recover_open_files(store) == [sealed]  # until its owner says it is recorded
    store.drop_receipts([sealed.filename])
    assert recover_open_files(store) == []


def test_a_receipt_whose_object_is_damaged_is_not_reported(store: EvidenceStore) -> None:
    rec = WarcRecorder(store, "damaged", {})
    record(rec, 1)
    rec.close()
    [sealed] = rec.take_sealed()
    path = sealed_path(store, sealed)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-1])
    assert recover_open_files(store) == []  # logged; the receipt stays for an operator
    assert [p.name for p in store.receipts_dir.iterdir()] == [f"{sealed.filename}.json"]


@pytest.mark.parametrize("name", ["../objects/x", "a/b", "", ".hidden", "x..y"])
def test_receipt_names_are_plain_file_names(store: EvidenceStore, name: str) -> None:
    with pytest.raises(ValueError, match="not a receipt name"):
        store.drop_receipts([name])
