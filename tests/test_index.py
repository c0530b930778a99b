"""The Hamming index and the match index: exact results, live adds and removes, thresholds."""

from __future__ import annotations

import random

from matching.hamming import HammingIndex
from matching.image import PHashSignal
from matching.match_index import MatchIndex
from swordnet.config import Settings
from swordnet.db import open_database
from swordnet.registry import extend_match_index, fingerprints_since, register_work
from swordnet.samples import sample_files


def hexcode(value: int) -> str:
    return f"{value:016x}"


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
        for radius in (0, 3, 8, 24):
            expected = sorted((bin(query ^ c).count("1"), i) for i, c in codes.items()
                              if bin(query ^ c).count("1") <= radius)
            got = index.query(hexcode(query), radius)
            assert sorted((d, i) for i, d in got) == [(float(d), i) for d, i in expected]
            assert [d for _, d in got] == sorted(d for _, d in got)


def test_add_and_remove_take_effect_at_once() -> None:
    index = HammingIndex()
    for i in range(3000):  # beyond the initial capacity
        index.add(i, hexcode(i * 0x9E3779B97F4A7C15 % 2**64))
    target = hexcode(0x0123456789ABCDEF)
    assert index.query(target, 0) == []
    index.add(99_999, target)
    assert index.query(target, 0) == [(99_999, 0.0)]
    index.remove(99_999)
    assert index.query(target, 0) == []
    index.remove(12_345_678)  # unknown: ignored
    assert len(index) == 3000
    index.remove(0)  # removing moves the last entry into the hole; it must stay findable
    assert index.query(hexcode(2999 * 0x9E3779B97F4A7C15 % 2**64), 0) == [(2999, 0.0)]


def test_match_index_applies_per_work_thresholds_and_best_variant() -> None:
    index = MatchIndex()
    base = 0x00FF00FF00FF00FF
    index.add(1, work_id=10, algorithm="phash", value=hexcode(base))
    index.add(2, work_id=10, algorithm="phash", value=hexcode(base ^ 0b1), variant="mirrored")
    work_20 = base ^ 0b11 ^ 0b111000  # 3 bits from the query below
    index.add(3, work_id=20, algorithm="phash", value=hexcode(work_20), threshold=2)
    matches = index.match("phash", hexcode(base ^ 0b11))
    assert [(m.work_id, m.variant, m.distance) for m in matches] == [(10, "mirrored", 1.0)]
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
        loaded = fingerprints_since(session)
    index = MatchIndex()
    extend_match_index(index, loaded)
    probe = PHashSignal.fingerprint(second.read_bytes())
    assert index.match("phash", probe) == []
    with db.session() as session:
        work_id = register_work(session, second.read_bytes(), title=second_title,
                                holder_name="H").work.id
        new = fingerprints_since(session, max(fp.id for fp in loaded))
    extend_match_index(index, new)
    assert [m.work_id for m in index.match("phash", probe)] == [work_id]
    assert len(index) == 4  # two works, original + mirrored each
    db.dispose()
