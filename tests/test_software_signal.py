"""The software signals: SHA-256 and TLSH of binaries and zip members, zip bomb caps, values."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import random
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
import tlsh

from matching import software_scan, ziparchive
from matching.match_index import Match, MatchIndex
from matching.signal import ContentRejected, ContentSkipped
from matching.software import Sha256Signal, TlshSignal
from matching.software_values import member_path
from matching.stages import first_stage_queries, registration_fingerprints
from matching.tlsh_index import TlshIndex
from matching.ziparchive import MiB

# CPython's own extension modules: real, stable binaries, far apart in TLSH distance (> 70).
MODULES = ("_ssl", "_sqlite3", "_decimal", "_pickle", "_socket", "_elementtree", "pyexpat",
           "_ctypes")


def real_binaries() -> list[bytes]:
    found = []
    for name in MODULES:
        path = getattr(importlib.import_module(name), "__file__", None)
        if path and path.endswith(".so"):
            found.append(Path(path).read_bytes())
    if len(found) < 5:
        pytest.skip("this Python has too few shared extension modules to test with")
    return found


@pytest.fixture(scope="module")
def binaries() -> list[bytes]:
    return real_binaries()


def pe_launcher() -> bytes:
    spec = importlib.util.find_spec("setuptools")
    path = Path(spec.origin).parent / "cli-64.exe" if spec and spec.origin else None
    if path is None or not path.exists():
        pytest.skip("no Windows executable (setuptools' cli-64.exe) to test with")
    return path.read_bytes()


def make_zip(members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED,
             level: int | None = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method, compresslevel=level) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def register(works: dict[int, bytes]) -> MatchIndex:
    """A match index holding ``works`` as ``swordnet works add --kind software`` stores them."""
    index = MatchIndex()
    for work_id, content in works.items():
        for algorithm, variant, value in registration_fingerprints("software", content):
            index.add(len(index) + 1, work_id, algorithm, value, variant=variant)
    return index


def crawl(index: MatchIndex, content: bytes) -> dict[str, list[Match]]:
    """What each signal finds in crawled ``content`` (a crawl keeps the first per work)."""
    return {algorithm: index.match(algorithm, query)
            for algorithm, query in first_stage_queries("software", content).items()}


def patched(data: bytes, seed: int = 1, patches: int = 32) -> bytes:
    """A crack's edit: runs of 4 bytes overwritten in the middle of the file."""
    rng, out = random.Random(seed), bytearray(data)
    for _ in range(patches):
        at = rng.randrange(len(out) // 10, len(out) * 8 // 10)
        out[at : at + 4] = rng.randbytes(4)
    return bytes(out)


def new_version(data: bytes) -> bytes:
    """Every version number's digits changed (same length)."""
    changed = re.sub(rb"\d+\.\d+(?:\.\d+)+",
                     lambda m: bytes(48 + (b - 47) % 10 if 48 <= b <= 57 else b for b in m[0]),
                     data)
    assert changed != data
    return changed


def zeros_bomb(mib: int) -> bytes:
    """A valid zip whose one member is ``mib`` MiB of zeros, deflated to about 1 KiB per MiB.

    Built without compressing it all: after a full flush every MiB of zeros deflates to the
    same bytes, so the stream is one compressed MiB repeated.
    """
    chunk = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    middle = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    last = compressor.compress(chunk) + compressor.flush()
    stream = first + middle * (mib - 2) + last
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(chunk, crc)
    return raw_zip([("zeros.bin", stream, crc, mib * MiB)])


def raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of already deflated ``(name, stream, crc, size)`` members."""
    out, directory = bytearray(), bytearray()
    for name, stream, crc, size in members:
        encoded = name.encode()
        directory += struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                                 len(stream), size, len(encoded), 0, 0, 0, 0, 0, len(out))
        directory += encoded
        out += struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(stream), size,
                           len(encoded), 0)
        out += encoded + stream
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(directory), len(out), 0)
    return bytes(out + directory + end)


def test_an_exact_copy_matches_by_sha256(binaries: list[bytes]) -> None:
    index = register({1: binaries[0], 2: binaries[1]})
    found = crawl(index, binaries[0])
    assert [(m.work_id, m.score, m.variant, m.detail) for m in found["sha256"]] == \
        [(1, 0.0, "original", {})]
    assert [(m.work_id, m.score) for m in found["tlsh"]] == [(1, 0.0)]


@pytest.mark.parametrize("alteration", ["patched bytes", "version strings", "all three"])
def test_a_repacked_copy_matches_by_tlsh(binaries: list[bytes], alteration: str) -> None:
    work = binaries[0]  # _ssl: it carries OpenSSL's version strings
    copy = {"patched bytes": patched(work), "version strings": new_version(work),
            "all three": new_version(patched(work)) + random.Random(3).randbytes(50_000)}
    index = register({1: work, 2: binaries[1], 3: binaries[2]})
    found = crawl(index, copy[alteration])
    assert found["sha256"] == []
    assert [m.work_id for m in found["tlsh"]] == [1]
    assert 0 < found["tlsh"][0].score <= TlshSignal.default_threshold
    if alteration == "all three":  # the appended data was left out to match
        assert found["tlsh"][0].detail == {"copy_overlay_ignored": 50_000}


def test_data_appended_to_an_executable_is_ignored(binaries: list[bytes]) -> None:
    for work in (binaries[1], pe_launcher()):
        index = register({1: work})
        copy = work + random.Random(5).randbytes(len(work) // 2)  # a payload or a signature
        assert TlshSignal.score(TlshSignal.fingerprint(copy), TlshSignal.fingerprint(work)) \
            > TlshSignal.default_threshold  # the whole file alone would not match
        found = crawl(index, copy)
        assert [(m.work_id, m.score, m.detail) for m in found["sha256"]] == \
            [(1, 0.0, {"copy_overlay_ignored": len(work) // 2})]
    # a registered executable is stored whole, overlay included: never as a bare stub
    assert {variant for _, variant, _ in registration_fingerprints("software", copy)} == \
        {"original"}


def test_an_unrelated_binary_does_not_match(binaries: list[bytes]) -> None:
    index = register({n: b for n, b in enumerate(binaries[:4], start=1)})
    for other in binaries[4:]:
        assert crawl(index, other) == {"sha256": [], "tlsh": []}
        for work in binaries[:4]:
            assert TlshSignal.score(TlshSignal.fingerprint(other), TlshSignal.fingerprint(work)) \
                > TlshSignal.default_threshold


def test_a_registered_member_is_found_inside_a_different_zip(binaries: list[bytes]) -> None:
    readme = b"Great Game 1.0\r\nInstall: unpack anywhere.\r\n" * 50
    release = make_zip([("bin/game.so", binaries[0]), ("lib/Spiel Ü.so", binaries[1]),
                        ("README.txt", readme)])
    index = register({1: release, 2: binaries[5]})
    # renamed, another compression method and order, other members added
    copy = make_zip([("crack/steam_api.ini", b"[Settings]\r\nUnlock=1\r\n" * 80),
                     ("GAME.v2-RLD/Libs/SPIEL.DLL", binaries[1]), ("extra.so", binaries[4])],
                    zipfile.ZIP_STORED, None)
    found = crawl(index, copy)
    assert [(m.work_id, m.score, m.detail) for m in found["sha256"]] == \
        [(1, 0.0, {"copy_member": "GAME.v2-RLD/Libs/SPIEL.DLL", "work_member": "lib/Spiel Ü.so"})]
    assert found["sha256"][0].variant == "member:1"
    # a patched member, re-zipped with bzip2: TLSH names the members
    found = crawl(index, make_zip([("game-cracked.bin", patched(binaries[0]))],
                                  zipfile.ZIP_BZIP2))
    assert found["sha256"] == []
    assert [(m.work_id, m.detail) for m in found["tlsh"]] == \
        [(1, {"copy_member": "game-cracked.bin", "work_member": "bin/game.so"})]
    # a registered member served alone, and a registered binary inside a zip
    assert [m.detail for m in crawl(index, binaries[0])["sha256"]] == \
        [{"work_member": "bin/game.so"}]
    assert [(m.work_id, m.detail) for m in crawl(index, make_zip([("x/y", binaries[5])]))[
        "sha256"]] == [(2, {"copy_member": "x/y"})]


def test_registration_stores_the_whole_zip_and_each_member(binaries: list[bytes]) -> None:
    name = "dir/" + "ü" * 600  # a long name: cut to 1024 percent-encoded characters
    release = make_zip([("a.so", binaries[0]), ("empty/", b""), ("tiny.txt", b"hi"),
                        (name, binaries[1])])
    variants = {(a, v): value for a, v, value in registration_fingerprints("software", release)}
    assert set(variants) == {(a, v) for a in ("sha256", "tlsh")
                             for v in ("original", "member:0", "member:3")}
    assert variants["sha256", "original"] == hashlib.sha256(release).hexdigest()
    assert variants["sha256", "member:0"] == f"{hashlib.sha256(binaries[0]).hexdigest()} a.so"
    digest, label = variants["tlsh", "member:3"].split(" ")
    assert digest == tlsh.hash(binaries[1]) and len(label) <= 1024 and label.endswith("...")
    assert member_path(label).startswith("dir/üü")
    assert all(Sha256Signal.validate(variants["sha256", v]) == variants["sha256", v]
               and TlshSignal.validate(variants["tlsh", v]) == variants["tlsh", v]
               for v in ("original", "member:0", "member:3"))


def test_a_zip_bomb_is_read_with_bounded_memory_and_time(binaries: list[bytes]) -> None:
    bomb = zeros_bomb(1024)  # 1 GiB of zeros in 1 MB
    assert len(bomb) < 1.2 * MiB
    assert zipfile.ZipFile(io.BytesIO(bomb)).infolist()[0].file_size == 1024 * MiB
    with pytest.raises(ContentRejected, match=r"zip archive refused: member 'zeros.bin': "
                                              r"zip bomb: expands over 200x"):
        registration_fingerprints("software", bomb)
    # A bomb member hides nothing: a crawled archive is matched on what could be read.
    index = register({1: binaries[0]})
    copy = raw_zip([("zeros.bin", *_member_of(bomb)),
                    ("game.so", *_deflated(binaries[0]))])
    tracemalloc.start()
    started = time.perf_counter()
    found = crawl(index, copy)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(m.work_id, m.detail) for m in found["sha256"]] == [(1, {"copy_member": "game.so"})]
    assert elapsed < 5, elapsed
    assert peak < 32 * MiB, peak


def _member_of(archive: bytes) -> tuple[bytes, int, int]:
    """The deflate stream, CRC and size of a one-member zip built by :func:`raw_zip`."""
    info = zipfile.ZipFile(io.BytesIO(archive)).infolist()[0]
    start = 30 + len(info.filename.encode())
    return archive[start : start + info.compress_size], info.CRC, info.file_size


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(), zlib.crc32(data), len(data)


def test_a_bzip2_bomb_is_stopped_too() -> None:
    bomb = make_zip([("zeros.bin", bytes(16 * MiB))], zipfile.ZIP_BZIP2)
    assert len(bomb) < 4096
    with pytest.raises(ContentRejected, match="zip bomb: expands over 200x"):
        registration_fingerprints("software", bomb)
    assert [line.member for line in Sha256Signal.query_value(bomb)] == [None]  # the whole file


@pytest.mark.parametrize(("module", "cap", "value", "problem"), [
    (ziparchive, "MAX_MEMBERS", 2, "4 members, over the 2 member limit"),
    (software_scan, "MAX_MEMBER_BYTES", 100_000,
     r"member '\w+.so': expands past the 100,000 byte member limit"),
    (software_scan, "MAX_TOTAL_BYTES", 700_000,
     "member 'm1.so': the archive expands past 700,000 bytes"),
    (ziparchive, "MAX_DIRECTORY_BYTES", 100,
     r"its directory claims \d+ bytes, over the 100 byte limit"),
])
def test_archives_over_a_cap_are_refused_or_read_in_part(
        binaries: list[bytes], monkeypatch: pytest.MonkeyPatch, module: object, cap: str,
        value: int, problem: str) -> None:
    members = [(f"m{n}.so", data) for n, data in enumerate(binaries[:4])]
    archive = make_zip(members)
    monkeypatch.setattr(module, cap, value)
    with pytest.raises(ContentRejected, match=f"zip archive refused: {problem}"):
        registration_fingerprints("software", archive)
    read = {line.member for line in Sha256Signal.query_value(archive)} - {None}
    assert read < {name for name, _ in members}  # some members, not all


def test_damaged_members_are_refused_at_registration(binaries: list[bytes]) -> None:
    stored = make_zip([("a.so", binaries[0])], zipfile.ZIP_STORED, None)
    corrupt = bytearray(stored)
    corrupt[len(corrupt) // 2] ^= 0xFF
    with pytest.raises(ContentRejected, match=r"member 'a.so': corrupt \(CRC mismatch\)"):
        registration_fingerprints("software", bytes(corrupt))
    # a crawl still matches what it read: a wrong CRC does not hide a member
    assert len(Sha256Signal.query_value(bytes(corrupt))) == 2
    encrypted = bytearray(stored)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = encrypted.index(signature) + flag_at
        encrypted[at] |= 1
    with pytest.raises(ContentRejected, match="member 'a.so': encrypted"):
        registration_fingerprints("software", bytes(encrypted))
    lzma = make_zip([("a.so", binaries[0])], zipfile.ZIP_LZMA, None)
    with pytest.raises(ContentRejected, match="compression method 14 is not read"):
        registration_fingerprints("software", lzma)


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "empty file"),
    (b"PK\x03\x04" + random.Random(1).randbytes(5000), "corrupt or truncated zip archive"),
])
def test_bad_content_is_rejected_with_a_reason(content: bytes, reason: str) -> None:
    for signal in (Sha256Signal, TlshSignal):
        for read in (signal.fingerprint, signal.query_value, signal.registration_variants):
            with pytest.raises(ContentRejected, match=reason):
                read(content)


def test_a_truncated_zip_is_rejected(binaries: list[bytes]) -> None:
    archive = make_zip([("a.so", binaries[0]), ("b.so", binaries[1])])
    for cut in (len(archive) // 2, len(archive) - 10):
        with pytest.raises(ContentRejected, match="corrupt or truncated zip archive"):
            registration_fingerprints("software", archive[:cut])
        with pytest.raises(ContentRejected, match="corrupt or truncated zip archive"):
            first_stage_queries("software", archive[:cut])


def test_oversized_content_is_rejected_before_it_is_read(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    assert Sha256Signal.max_content_bytes == TlshSignal.max_content_bytes == 512 * MiB
    for signal in (Sha256Signal, TlshSignal):
        monkeypatch.setattr(signal, "max_content_bytes", 1000)
    monkeypatch.setattr(software_scan, "read_content", lambda content: pytest.fail("read"))
    with pytest.raises(ContentRejected, match="file is 1,001 bytes, over the 1,000 byte limit"):
        registration_fingerprints("software", bytes(1001))


def test_content_tlsh_cannot_hash_still_registers_and_matches_by_sha256() -> None:
    for tiny in (b"MZ\x90\x00 tiny", bytes(5000)):  # too short; too uniform
        with pytest.raises(ContentSkipped, match="too small or too uniform for TLSH"):
            TlshSignal.fingerprint(tiny)
        fingerprints = registration_fingerprints("software", tiny)
        assert [(a, v) for a, v, _ in fingerprints] == [("sha256", "original")]
        assert first_stage_queries("software", tiny)["tlsh"] == ()
        found = crawl(register({7: tiny}), tiny)
        assert [(m.work_id, m.algorithm) for m in found["sha256"]] == [(7, "sha256")]


def test_a_stray_zip_signature_does_not_make_a_binary_an_archive(binaries: list[bytes]
                                                                 ) -> None:
    # an end record pointing at a directory that is not there
    odd = binaries[0] + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, 46, 1000, 0)
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(odd))
    assert [v for _, v, _ in registration_fingerprints("software", odd)] == \
        ["original", "original"]
    assert [line.member for line in Sha256Signal.query_value(odd)] == [None, None]


@pytest.mark.parametrize(("signal", "raw", "normalised"), [
    (Sha256Signal, " " + "AB" * 32 + "\n", "ab" * 32),
    (Sha256Signal, "ab" * 32 + " bin/My%20Game.exe", "ab" * 32 + " bin/My%20Game.exe"),
    (Sha256Signal, "ab" * 32 + " a%2fb%c3%bc", "ab" * 32 + " a/b%C3%BC"),
    (Sha256Signal, "ab" * 32 + "\n" + "cd" * 32 + " x", "ab" * 32 + "\n" + "cd" * 32 + " x"),
    (TlshSignal, "t1" + "0a" * 35, "T1" + "0A" * 35),
    (TlshSignal, "0A" * 35, "T1" + "0A" * 35),  # TLSH < 4 had no version prefix
])
def test_validate_normalises_precomputed_values(signal: type[Sha256Signal], raw: str,
                                                normalised: str) -> None:
    assert signal.validate(raw) == normalised
    assert signal.validate(normalised) == normalised


@pytest.mark.parametrize(("signal", "value", "message"), [
    (Sha256Signal, "", "empty fingerprint value"),
    (Sha256Signal, "ab" * 31, "malformed SHA-256 digest .*: expected 64 hex digits"),
    (Sha256Signal, "xy" * 32, "malformed SHA-256 digest"),
    (Sha256Signal, "T1" + "0A" * 35, "malformed SHA-256 digest"),
    (Sha256Signal, "ab" * 32 + " My Game.exe", "malformed member path 'My Game.exe'"),
    (Sha256Signal, "ab" * 32 + " a%G1", "malformed member path"),
    (Sha256Signal, "ab" * 32 + " a%FF", "not percent-encoded UTF-8"),
    (Sha256Signal, "ab" * 32 + " " + "a" * 1025, "malformed member path"),
    (TlshSignal, "TNULL", "malformed TLSH digest 'TNULL': expected 'T1' and 70 hex digits"),
    (TlshSignal, "T1" + "0A" * 34, "malformed TLSH digest"),
    (TlshSignal, "T1" + "0A" * 67, "malformed TLSH digest"),  # the 3-byte checksum kind
    (TlshSignal, "T2" + "0A" * 35, "malformed TLSH digest"),
    (TlshSignal, "ab" * 32, "malformed TLSH digest"),
])
def test_validate_rejects_malformed_values(signal: type[Sha256Signal], value: str,
                                           message: str) -> None:
    with pytest.raises(ValueError, match=message):
        signal.validate(value)


def test_precomputed_values_match_the_real_file(binaries: list[bytes]) -> None:
    work = binaries[2]
    index = MatchIndex()  # what a rights holder sent: their own tools' digests, as typed
    index.add(1, 9, "sha256", Sha256Signal.validate(hashlib.sha256(work).hexdigest().upper()))
    index.add(2, 9, "tlsh", TlshSignal.validate(tlsh.hash(work).lower()))
    index.add(3, 9, "sha256", Sha256Signal.validate(
        f"{hashlib.sha256(binaries[3]).hexdigest()} setup/data%201.bin"), variant="member:4")
    found = crawl(index, work)
    assert [(m.work_id, m.score) for m in found["sha256"] + found["tlsh"]] == \
        [(9, 0.0), (9, 0.0)]
    found = crawl(index, binaries[3])
    assert [(m.variant, m.detail) for m in found["sha256"]] == \
        [("member:4", {"work_member": "setup/data 1.bin"})]


def test_the_tlsh_index_agrees_with_tlsh_diff(binaries: list[bytes]) -> None:
    rng = random.Random(4)
    digests = [tlsh.hash(b) for b in binaries]
    digests += [tlsh.hash(patched(b, seed, 40 * seed)) for seed in range(1, 6) for b in binaries]
    # random digests, some with length bytes at the edges (the distance wraps around 256)
    digests += ["T1" + rng.randbytes(1).hex().upper() + rng.choice(["00", "F0", "FF", "0F", "10"])
                + rng.randbytes(33).hex().upper() for _ in range(200)]
    index = TlshIndex(delta_limit=16)  # merges into the main table several times
    index.extend([(n, d) for n, d in enumerate(digests[:100])])
    for n, d in enumerate(digests[100:], start=100):
        index.add(n, d)
    for n in range(0, len(digests), 9):
        index.remove(n)
    index.add(3, digests[5])  # replaced
    live = {n: d for n, d in enumerate(digests) if n % 9}
    live[3] = digests[5]
    assert len(index) == len(live)
    for limit in (0, 35, 100, 400):
        for query in digests[::11]:
            expected = sorted((float(tlsh.diff(query, d)), n) for n, d in live.items()
                              if tlsh.diff(query, d) <= limit)
            assert [(s, n) for n, s in index.query(query, limit)] == expected


def test_a_copy_matches_one_work_once_with_its_best_part(binaries: list[bytes]) -> None:
    release = make_zip([("a.so", binaries[0]), ("b.so", binaries[1])])
    index = register({1: release})
    found = crawl(index, release)  # the whole file and every member match: the whole is shown
    assert [(m.variant, m.detail) for m in found["sha256"]] == [("original", {})]
