"""The Hamming index and the match index: exact results, live adds and removes, thresholds."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

import matching.hamming as hamming
from matching import index_file
from matching.hamming import HammingIndex, SharedHammingIndex, build_code_segment
from matching.image import PHashSignal
from matching.match_index import MatchIndex
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.demo.samples import sample_files
from swordnet.works.registry import extend_match_index, fingerprints_since, register_work

RADII = (0, 3, 8, 12, 24)


def hexcode(value: int) -> str:
    return f"{value:016x}"


def brute_force(codes: dict[int, int], query: int, radius: float) -> list[tuple[int, float]]:
    """The exact answer with Python ints: nearest first, ties by id (the index's order)."""
    found = [(i, float((c ^ query).bit_count())) for i, c in codes.items()]
    return sorted(((i, d) for i, d in found if d <= radius), key=lambda p: (p[1], p[0]))


def assert_exact(index: HammingIndex, codes: dict[int, int], queries: list[int]) -> None:
    """Single and batch queries return exactly the brute-force results at every radius."""
    assert len(index) == len(codes)
    for radius in RADII:
        batch = index.query_many(np.array(queries, dtype=np.uint64), radius)
        for query, (ids, distances) in zip(queries, batch, strict=True):
            expected = brute_force(codes, query, radius)
            assert index.query(hexcode(query), radius) == expected
            assert list(zip(ids.tolist(), distances.tolist(), strict=True)) == expected


def flip(rnd: random.Random, code: int, bits: int) -> int:
    for bit in rnd.sample(range(64), bits):
        code ^= 1 << bit
    return code


def clustered(rnd: random.Random, count: int) -> list[int]:
    """Codes bunched around a few centres; a third share a centre's low 22 bits exactly, so
    some buckets of every layout overflow while most stay empty."""
    centres = [rnd.getrandbits(64) for _ in range(12)]
    codes = []
    for _ in range(count):
        centre = rnd.choice(centres)
        if rnd.random() < 1 / 3:
            codes.append(centre & (2**22 - 1) | rnd.getrandbits(42) << 22)
        else:
            codes.append(flip(rnd, centre, rnd.randrange(9)))
    return codes


@pytest.fixture(params=["scan", "four 16-bit keys", "three 22/21/21-bit keys"])
def layout(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[int, ...]:
    """Segment layouts at test sizes; where there are tables, every radius probes them."""
    if request.param == "scan":
        monkeypatch.setattr(hamming, "_TABLE_MIN", 2**40)
        return ()
    monkeypatch.setattr(hamming, "_TABLE_MIN", 256)
    monkeypatch.setattr(hamming, "_SCAN_COST", math.inf)
    if request.param == "four 16-bit keys":
        monkeypatch.setattr(hamming, "_WIDE_MIN", 2**40)
        return (16, 16, 16, 16)
    monkeypatch.setattr(hamming, "_WIDE_MIN", 256)
    return (22, 21, 21)


def test_hamming_index_agrees_with_brute_force() -> None:
    rnd = random.Random(7)
    codes = {i: rnd.getrandbits(64) for i in range(5000)}
    for i in range(0, 5000, 50):  # plant near-duplicates
        codes[10_000 + i] = codes[i] ^ (1 << rnd.randrange(64)) ^ (1 << rnd.randrange(64))
    index = HammingIndex()
    for entry_id, code in codes.items():
        index.add(entry_id, hexcode(code))
    for query_id in range(0, 5000, 250):
        query = codes[query_id]
        for radius in (0, 3, 8, 12, 24):
            expected = sorted((bin(query ^ c).count("1"), i) for i, c in codes.items()
                              if bin(query ^ c).count("1") <= radius)
            got = index.query(hexcode(query), radius)
            assert sorted((d, i) for i, d in got) == [(float(d), i) for d, i in expected]
            assert [d for _, d in got] == sorted(d for _, d in got)


def test_segments_delta_and_compaction_agree_with_brute_force(layout: tuple[int, ...]) -> None:
    rnd = random.Random(11)
    codes = dict(enumerate(clustered(rnd, 2500) + [rnd.getrandbits(64) for _ in range(1500)]))
    index = HammingIndex(delta_limit=300)
    index.add_many(np.array(list(codes)), np.array(list(codes.values()), dtype=np.uint64))
    assert index._main.widths == layout
    for entry_id in range(4000, 4350):  # 300 merge into a recent segment, 50 stay in the delta
        codes[entry_id] = flip(rnd, codes[rnd.randrange(4000)], rnd.randrange(6))
        index.add(entry_id, hexcode(codes[entry_id]))
    for entry_id in rnd.sample(sorted(codes), 120):  # from all three parts
        index.remove(entry_id)
        del codes[entry_id]
    for entry_id in rnd.sample(sorted(codes), 60):  # re-added with a new code
        codes[entry_id] = flip(rnd, codes[entry_id], 3)
        index.add(entry_id, hexcode(codes[entry_id]))
    assert index._recent is not None and index._recent.widths == layout
    assert index._delta_size > 0
    queries = [flip(rnd, code, rnd.randrange(7)) for code in rnd.sample(list(codes.values()), 8)]
    assert_exact(index, codes, queries)

    more = {4350 + i: code for i, code in enumerate(clustered(rnd, 700))}
    index.add_many(np.array(list(more)), np.array(list(more.values()), dtype=np.uint64))
    codes |= more
    assert index._recent is None and index._delta_size == 0  # all compacted into main
    assert_exact(index, codes, queries + [rnd.choice(list(more.values()))])


def _write_codes(directory: Path, parts: list[list[tuple[int, int, str, int]]]) -> None:
    """An index file of one pHash segment per part of ``(id, work id, variant, code)``."""
    manifest = index_file.Manifest()
    for part in parts:
        manifest = index_file.write_segment(directory, manifest, build_code_segment(
            np.array([i for i, *_ in part]), np.array([w for _, w, *_ in part]),
            [v for *_, v, _ in part], np.array([c for *_, c in part], dtype=np.uint64)))
    index_file.commit(directory, manifest)


def test_mapped_code_segments_with_tombstones_and_a_delta_agree_with_brute_force(
        tmp_path: Path, layout: tuple[int, ...]) -> None:
    """What a crawl worker searches: an index file's segments, memory-mapped, less removed
    entries, plus the codes registered since (some of them replacing a stored one)."""
    rnd = random.Random(13)
    codes = dict(enumerate(clustered(rnd, 1800) + [rnd.getrandbits(64) for _ in range(900)]))
    rows = [(i, 500 + i // 2, ("original", "mirrored")[i % 2], c) for i, c in codes.items()]
    rnd.shuffle(rows)  # a segment's entries need not come in id order
    _write_codes(tmp_path, [rows[:1500], rows[1500:2100], rows[2100:]])
    loaded = index_file.load(tmp_path)
    assert loaded is not None and not loaded.words
    assert [s.tables().widths for s in loaded.codes] == [layout] * 3
    assert all(isinstance(s.codes, np.memmap) for s in loaded.codes)  # mapped, not read
    index = SharedHammingIndex(loaded.codes)
    assert len(index) == len(codes)
    for entry_id in rnd.sample(sorted(codes), 150):  # from every segment
        index.remove(entry_id)
        del codes[entry_id]
    replaced = rnd.sample(sorted(codes), 40)
    for entry_id in replaced:  # re-registered with a new code: the delta's wins
        codes[entry_id] = flip(rnd, codes[entry_id], 4)
        index.add(entry_id, hexcode(codes[entry_id]))
    fresh = {3000 + k: flip(rnd, rnd.choice(list(codes.values())), rnd.randrange(5))
             for k in range(120)}
    index.extend([(i, hexcode(c)) for i, c in fresh.items()])
    codes |= fresh
    index.remove(10**9)  # unknown: ignored
    assert len(index) == len(codes)
    queries = [flip(rnd, c, rnd.randrange(7)) for c in rnd.sample(list(codes.values()), 10)]
    for query in queries + [rnd.getrandbits(64)]:
        for radius in RADII:
            assert index.query(hexcode(query), radius) == brute_force(codes, query, radius)
    assert index.query(hexcode(queries[0]), -1) == []
    stored = {i: (w, v) for i, w, v, _ in rows if i in codes and i not in replaced}
    assert {i: index.owner(i) for i in codes} == {i: stored.get(i) for i in codes}
    ids, works = index.entries()
    assert sorted(zip(ids.tolist(), works.tolist(), strict=True)) == sorted(
        (i, w) for i, (w, _) in stored.items())


def test_interleaved_updates_take_effect_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hamming, "_TABLE_MIN", 64)
    monkeypatch.setattr(hamming, "_SCAN_COST", math.inf)
    rnd = random.Random(3)
    index = HammingIndex(delta_limit=10)
    codes: dict[int, int] = {}
    mains: list[object] = []  # every main and recent segment built, to count the merges
    recents: list[object] = []
    for step in range(1500):
        action = rnd.random()
        if action < 0.2 and codes:
            entry_id = rnd.choice(list(codes))
            old = codes.pop(entry_id)
            index.remove(entry_id)
            assert entry_id not in [i for i, _ in index.query(hexcode(old), 64)]
        elif action < 0.25:
            index.remove(10**9 + step)  # unknown: ignored
        else:
            entry_id = rnd.choice(list(codes)) if action < 0.4 and codes else step
            old = codes.get(entry_id)
            near = rnd.choice(list(codes.values())) if codes else rnd.getrandbits(64)
            codes[entry_id] = flip(rnd, near, rnd.randrange(4))
            index.add(entry_id, hexcode(codes[entry_id]))
            assert (entry_id, 0.0) in index.query(hexcode(codes[entry_id]), 0)
            if old is not None and old != codes[entry_id]:
                assert entry_id not in [i for i, _ in index.query(hexcode(old), 0)]
        assert len(index) == len(codes)
        if index._main is not (mains or [None])[-1]:
            mains.append(index._main)
        if index._recent not in (None, *recents[-1:]):
            recents.append(index._recent)
        if step % 100 == 99:
            assert_exact(index, codes, rnd.sample(list(codes.values()), 2))
    assert len(mains) > 5 and len(recents) > 5  # queries ran right after many merges of each

    for entry_id in rnd.sample(sorted(codes), len(codes) * 2 // 3):
        index.remove(entry_id)
        del codes[entry_id]
    assert index._main.n_dead <= len(index._main) // 2  # mostly removed: rebuilt
    assert_exact(index, codes, rnd.sample(list(codes.values()), 3))


def test_add_many_replaces_and_query_many_answers_per_query() -> None:
    index = HammingIndex()
    index.add(1, hexcode(0xFF))
    index.add_many(np.array([2, 1, 3, 2]), np.array([0xF0, 0x0F, 0xFF, 0xF1], dtype=np.uint64))
    assert len(index) == 3
    assert index.query(hexcode(0xFF), 0) == [(3, 0.0)]  # id 1 replaced by its new code
    assert index.query(hexcode(0xF1), 0) == [(2, 0.0)]  # the last code given for an id wins
    batch = index.query_many(np.array([0x0F, 0xFF, 1 << 63], dtype=np.uint64), 2.5)
    assert [(ids.tolist(), d.tolist()) for ids, d in batch] == [
        ([1], [0.0]), ([3], [0.0]), ([], [])
    ]
    assert index.query(hexcode(0xFF), -1) == []


def test_add_and_remove_take_effect_at_once() -> None:
    index = HammingIndex()
    for i in range(3000):
        index.add(i, hexcode(i * 0x9E3779B97F4A7C15 % 2**64))
    target = hexcode(0x0123456789ABCDEF)
    assert index.query(target, 0) == []
    index.add(99_999, target)
    assert index.query(target, 0) == [(99_999, 0.0)]
    index.remove(99_999)
    assert index.query(target, 0) == []
    index.remove(12_345_678)  # unknown: ignored
    assert len(index) == 3000
    index.remove(0)  # the other entries stay findable
    assert index.query(hexcode(2999 * 0x9E3779B97F4A7C15 % 2**64), 0) == [(2999, 0.0)]


def test_match_index_applies_per_work_thresholds_and_best_variant() -> None:
    index = MatchIndex()
    base = 0x00FF00FF00FF00FF
    index.add(1, work_id=10, algorithm="phash", value=hexcode(base))
    index.add(2, work_id=10, algorithm="phash", value=hexcode(base ^ 0b1), variant="mirrored")
    work_20 = base ^ 0b11 ^ 0b111000  # 3 bits from the query below
    index.add(3, work_id=20, algorithm="phash", value=hexcode(work_20), threshold=2)
    matches = index.match("phash", hexcode(base ^ 0b11))
    assert [(m.work_id, m.variant, m.score) for m in matches] == [(10, "mirrored", 1.0)]
    index.remove_work(10)
    assert index.match("phash", hexcode(base ^ 0b11)) == []
    assert [m.work_id for m in index.match("phash", hexcode(work_20 ^ 0b11))] == [20]


def test_live_index_picks_up_a_newly_registered_work_without_rebuild(
    sqlite_home: Settings,
) -> None:
    (first, first_title), (second, second_title) = sample_files()[:2]
    db = open_database(sqlite_home)
    with db.session() as session:
        register_work(session, first.read_bytes(), title=first_title, holder_name="H")
        loaded = list(fingerprints_since(session))
    index = MatchIndex()
    extend_match_index(index, loaded)
    probe = PHashSignal.fingerprint(second.read_bytes())
    assert index.match("phash", probe) == []
    with db.session() as session:
        work_id = register_work(session, second.read_bytes(), title=second_title,
                                holder_name="H").work.id
        new = list(fingerprints_since(session, max(fp.id for fp in loaded)))
    extend_match_index(index, new)
    assert [m.work_id for m in index.match("phash", probe)] == [work_id]
    assert len(index) == 8  # two works: phash original + mirrored, orb and link names, each
    db.dispose()


def test_a_large_match_index_keeps_every_fingerprints_work_through_removals() -> None:
    """Past the size where the index folds its entries into columns, every fingerprint
    still answers with its own work, variant and threshold, and removals and
    re-registrations take effect."""
    rng = random.Random(16)
    codes = {fp: rng.getrandbits(64) for fp in range(1, 9001)}
    index = MatchIndex()
    index.extend((fp, 10_000 + fp, "phash", f"{code:016x}",
                  "mirrored" if fp % 2 else "original", 3.0 if fp % 3 == 0 else None)
                 for fp, code in codes.items())
    index.remove_work(10_000 + 7)
    index.remove_fingerprints([8, 9])
    index.add(8, 555, "phash", f"{codes[8]:016x}")
    assert len(index) == 9000 - 2
    for fp in (1, 6, 8, 9, 4000, 8999, 9000, 7):
        found = index.match("phash", f"{codes[fp]:016x}")
        if fp in (7, 9):
            assert found == []
            continue
        assert len(found) == 1 and found[0].fingerprint_id == fp
        assert found[0].work_id == (555 if fp == 8 else 10_000 + fp)
        assert found[0].variant == ("original" if fp in (8,) or fp % 2 == 0 else "mirrored")
    near = f"{codes[6] ^ 0b1111:016x}"  # 4 bits off: within the default 12, not within 3
    assert index.match("phash", near) == []
    assert [m.fingerprint_id for m in index.match("phash", f"{codes[4] ^ 0b1111:016x}")] == [4]
