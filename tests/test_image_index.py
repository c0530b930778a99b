"""The stage-2 index: inverted file against brute force, the index file on disk (incremental,
shared, crash-safe, rebuilt when corrupt) and a running crawl worker's view of it."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.imageset import ALTERATIONS, encode, page_canvas
from crawlers import analysis
from matching import index_file, word_index
from matching.hamming import SharedHammingIndex
from matching.image import OrbSignal
from matching.link import LinkIndex
from matching.link_context import LinkContext, LinkQuery
from matching.local_features import MAX_DESCRIPTOR_DISTANCE, LocalFeatures, verify
from matching.name_index import SharedNameIndex
from matching.word_index import MAX_CANDIDATES, WordIndex, build_segment
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import Work
from swordnet.demo.samples import artwork, sample_files
from swordnet.works import image_index
from swordnet.works.image_index import LiveMatchIndex, index_directory, update_index_file
from swordnet.works.registry import (
    delete_work_and_hits,
    load_match_index,
    register_precomputed,
    register_work,
    set_threshold,
)
from tests.conftest import run_cli

LIMIT = OrbSignal.default_threshold
STAGE_2 = ("crop_75", "border_10", "rotate_5", "embed_60")
# The tests against brute force share its verified pairs and the module's fixtures: one
# worker under ``--dist loadgroup``.
SAME_WORKER = pytest.mark.xdist_group("image_index_brute_force")


def _works() -> list[Image.Image]:
    photos = [Image.open(path).convert("RGB") for path, _ in sample_files()]
    return photos + [artwork(seed, (640, 480)) for seed in range(7000, 7048)]


WORKS = _works()


def _features(image: Image.Image) -> LocalFeatures:
    return LocalFeatures.decode(OrbSignal.fingerprint(encode(image)))


def _queries() -> list[tuple[str, LocalFeatures]]:
    copies = [(name, ALTERATIONS[name](work, random.Random(f"{name}/{i}")))
              for i, work in enumerate(WORKS[::3]) for name in STAGE_2]
    unrelated = [("unrelated", artwork(seed)) for seed in range(8000, 8006)] + [
        ("page", page_canvas(1024, 768, random.Random(seed))) for seed in range(3)]
    return [(what, OrbSignal.query_value(encode(image))) for what, image in copies + unrelated]


@pytest.fixture(scope="module")
def registered() -> dict[int, LocalFeatures]:
    return {100 + i: _features(work) for i, work in enumerate(WORKS)}


@pytest.fixture(scope="module")
def queries() -> list[tuple[str, LocalFeatures]]:
    return _queries()


class BruteForce:
    """Exhaustive search: every registered set verified against the query. ``verify`` is
    deterministic, so each (query, set) pair is verified once per module and remembered by
    the two objects' identities (both live in module-scoped fixtures)."""

    def __init__(self) -> None:
        self._inliers: dict[tuple[int, int], float | None] = {}

    def __call__(self, sets: dict[int, LocalFeatures],
                 query: LocalFeatures) -> list[tuple[int, float]]:
        found = []
        for entry_id, features in sets.items():
            key = (id(query), id(features))
            if key not in self._inliers:
                placement = verify(query, features, int(LIMIT))
                self._inliers[key] = None if placement is None else float(placement.inliers)
            inliers = self._inliers[key]
            if inliers is not None:
                found.append((entry_id, inliers))
        return sorted(found, key=lambda f: (-f[1], f[0]))


@pytest.fixture(scope="module")
def brute_force() -> BruteForce:
    return BruteForce()


def _check_against_brute_force(index: WordIndex, sets: dict[int, LocalFeatures],
                               queries: list[tuple[str, LocalFeatures]],
                               brute_force: BruteForce) -> tuple[int, int]:
    """Every answer is exhaustive search's, with the same scores; only a copy embedded in a
    page may be missed (its work ranked below the verified candidates). ``(found, missed)``."""
    found = missed = 0
    for what, query in queries:
        expected = brute_force(sets, query)
        got = index.query(query, LIMIT)
        if what == "embed_60" and got != expected:
            assert set(got) < set(expected), what
            missed += len(expected) - len(got)
        else:
            assert got == expected, what
        found += len(got)
    return found, missed


def _index_then_change(db: Database, directory: Path,
                       register: Callable[[int], list[int]],
                       counts: tuple[int, int, int]) -> list[int]:
    """Register ``counts[0]`` works and extend the index file with them, then register
    ``counts[1]`` more and delete every ``counts[2]``-th of the first: a file that is behind
    the database both ways. Returns the ids of the works in the file."""
    first, later, every = counts
    in_file = register(first)
    with db.session() as session:
        update_index_file(session, directory)
    register(later)
    with db.session() as session:
        for work_id in in_file[::every]:
            work = session.get(Work, work_id)
            assert work is not None
            delete_work_and_hits(session, work)
    return in_file


@SAME_WORKER
def test_the_inverted_file_finds_what_exhaustive_search_finds(
        registered: dict[int, LocalFeatures], queries: list[tuple[str, LocalFeatures]],
        brute_force: BruteForce) -> None:
    index = WordIndex()
    for entry_id, features in registered.items():
        index.add_features(entry_id, entry_id, "original", features)
    assert len(registered) > 2 * MAX_CANDIDATES  # more works than the index verifies
    found, missed = _check_against_brute_force(index, registered, queries, brute_force)
    copies = len(WORKS[::3]) * len(STAGE_2)
    # measured: exhaustive search finds 71 of the 72 copies, the index 69: it misses 2 copies
    # of generated pictures embedded in a page (12 and 18 inliers), ranked below the candidates
    assert found >= copies - 3 and missed <= 2


def _key_matches_by_brute_force(query: LocalFeatures, works: list[LocalFeatures]) -> list[
        tuple[np.ndarray, np.ndarray]]:
    """What :func:`word_index.key_matches` must find, pair by pair: for each work point, the
    query point nearest to it among those whose keys agree up to a bit in some table and whose
    descriptors are close; on a tie, one agreeing in table 0 first, then the earliest. A
    work key within a bit of more than ``MAX_PROBE_POINTS`` query keys pairs nothing."""
    query_keys = word_index.descriptor_keys(query.descriptors)
    found = []
    for work in works:
        work_keys = word_index.descriptor_keys(work.descriptors)
        work_points, query_points = [], []
        for w in range(len(work)):
            best: tuple[int, int, int] | None = None
            near = [[int(key ^ work_keys[t][w]).bit_count() <= 1 for key in query_keys[t]]
                    for t in range(word_index.TABLES)]
            for q in range(len(query)):
                tables = [t for t in range(word_index.TABLES)
                          if near[t][q] and sum(near[t]) <= word_index.MAX_PROBE_POINTS]
                distance = int(np.unpackbits(query.descriptors[q] ^ work.descriptors[w]).sum())
                if tables and distance <= MAX_DESCRIPTOR_DISTANCE:
                    best = min(best or (distance, tables[0], q), (distance, tables[0], q))
            if best is not None:
                work_points.append(work.points[w])
                query_points.append(query.points[best[2]])
        found.append((np.array(work_points, np.float32).reshape(-1, 2),
                      np.array(query_points, np.float32).reshape(-1, 2)))
    return found


def _related_features(rnd: np.random.Generator, base: np.ndarray, count: int,
                      flips: int) -> LocalFeatures:
    """``count`` descriptors, each a row of ``base`` with ``flips`` random bits flipped (so
    keys collide, as a page's repeated text corners make them, and distances tie)."""
    rows = base[rnd.integers(0, len(base), count)].copy()
    bits = np.unpackbits(rows, axis=1)
    for row in bits:
        row[rnd.choice(256, flips, replace=False)] ^= 1
    return LocalFeatures(rnd.uniform(0, 600, (count, 2)).astype(np.float32),
                         np.packbits(bits, axis=1), 640, 480)


@pytest.mark.parametrize(("chunk", "most"), [(7, 10), (word_index.PAIR_CHUNK,
                                                 word_index.MAX_PROBE_POINTS)])
def test_key_matches_are_the_nearest_key_agreeing_pairs_of_brute_force(
        monkeypatch: pytest.MonkeyPatch, chunk: int, most: int) -> None:
    monkeypatch.setattr(word_index, "PAIR_CHUNK", chunk)  # also cut into many small chunks
    monkeypatch.setattr(word_index, "MAX_PROBE_POINTS", most)  # and drop popular keys
    rnd = np.random.default_rng(16)
    base = rnd.integers(0, 256, (12, 32), dtype=np.uint8)
    query = _related_features(rnd, base, 120, 3)
    works = [_related_features(rnd, base, 40, flips) for flips in (0, 2, 20, 40)]
    probes = word_index._QueryProbes.of(query, word_index.descriptor_keys(query.descriptors))
    got = word_index.key_matches(query, probes, works)
    expected = _key_matches_by_brute_force(query, works)
    assert sum(len(w) for w, _ in expected) > 50  # enough pairs to mean something (124 with
    # no probe key dropped, 100 with those of more than 10 query points dropped)
    for (work_points, query_points), (want_work, want_query) in zip(got, expected, strict=True):
        assert np.array_equal(work_points, want_work)
        assert np.array_equal(query_points, want_query)


def test_the_most_voted_images_are_those_a_full_sort_ranks_first() -> None:
    rnd = np.random.default_rng(7)
    for size in (0, 5, 24, 25, 1000, 65_536):
        votes = rnd.integers(0, 12, size).astype(np.float64) / 2  # many ties, some below 2
        for limit in (1, 24):
            full = np.argsort(-votes, kind="stable")[:limit]
            assert word_index.most_voted(votes, limit).tolist() == [
                int(i) for i in full if votes[i] >= word_index.MIN_VOTES], (size, limit)


def test_a_work_sharing_few_rare_keys_outranks_many_images_sharing_common_keys() -> None:
    """At registry scale common keys must not outvote rare ones: 100 of 1,200 images each
    share 20 of a query's 40 common descriptors (each in about 4% of the images), the work
    only 6 rare ones (and 5 common). Weighted log1p(N / df), 3.2 votes a common key, the
    fillers outvoted the work and it was not among the candidates checked."""
    rnd = np.random.default_rng(16)
    common = rnd.integers(0, 256, (40, 32), dtype=np.uint8)
    rare = rnd.integers(0, 256, (6, 32), dtype=np.uint8)

    def features(descriptors: np.ndarray) -> LocalFeatures:
        return LocalFeatures(rnd.uniform(0, 600, (len(descriptors), 2)).astype(np.float32),
                             descriptors, 640, 480)

    index = WordIndex()
    index.add_features(0, 0, "original", features(np.concatenate([rare, common[:5]])))
    for entry in range(1, 1200):
        own = rnd.integers(0, 256, (10, 32), dtype=np.uint8)
        shared = common[rnd.choice(40, 20, replace=False)] if entry <= 100 else own[:0]
        index.add_features(entry, entry, "original", features(np.concatenate([own, shared])))
    query = features(np.concatenate([common, rare, rnd.integers(0, 256, (30, 32),
                                                                dtype=np.uint8)]))
    checked = [int(segment.entry_ids[image]) for segment, image, _ in index.candidates(query)]
    assert 0 in checked


@SAME_WORKER
def test_an_index_file_with_segments_tombstones_and_a_delta_agrees_with_brute_force(
        tmp_path: Path, registered: dict[int, LocalFeatures],
        queries: list[tuple[str, LocalFeatures]], brute_force: BruteForce) -> None:
    items = list(registered.items())
    manifest = index_file.Manifest()
    for part in (items[:10], items[10:25], items[25:-4]):
        manifest = index_file.write_segment(
            tmp_path, manifest, build_segment([(e, e, "original", f) for e, f in part]))
    index_file.commit(tmp_path, index_file.Manifest(
        items[-5][0], manifest.segments, (items[3][0], items[12][0]), manifest.next_segment))
    loaded = index_file.load(tmp_path)
    assert loaded is not None
    saved, segments, _, _ = loaded
    assert isinstance(segments[0].keys[0], np.memmap)  # mapped, not read into RAM
    index = WordIndex(segments)
    for entry_id in saved.removed:
        index.remove(entry_id)
    for entry_id, features in items[-4:]:  # newer than the file: the in-RAM delta
        index.add_features(entry_id, entry_id, "original", features)
    index.remove(items[-1][0])
    live = {e: f for e, f in items if e not in (items[3][0], items[12][0], items[-1][0])}
    assert len(index) == len(live)
    found, missed = _check_against_brute_force(index, live, queries, brute_force)
    assert found > 0 and missed <= 2
    assert index.owner(items[3][0]) is None and index.owner(items[4][0]) == (items[4][0],
                                                                             "original")


@SAME_WORKER
def test_sets_added_a_few_at_a_time_between_queries_stay_exact_and_in_few_segments(
        registered: dict[int, LocalFeatures], queries: list[tuple[str, LocalFeatures]],
        brute_force: BruteForce) -> None:
    """What a crawl does: works registered in small batches while it matches. Each query
    builds only the newest sets; merged segments drop removed sets and re-added ones win."""
    items = list(registered.items())
    index = WordIndex()
    live: dict[int, LocalFeatures] = {}
    for start in range(0, len(items), 3):
        for entry_id, features in items[start:start + 3]:
            index.add_features(entry_id, entry_id, "original", features)
            live[entry_id] = features
        if start % 9 == 0:
            index.remove(items[start][0])
            del live[items[start][0]]
        assert index.query(queries[start % len(queries)][1], LIMIT) == brute_force(
            live, queries[start % len(queries)][1])
    old, new = items[3][0], items[1][1]
    index.add_features(old, old, "mirrored", new)  # re-registered with other features
    live[old] = new
    assert len(index) == len(live) and index.owner(old) == (old, "mirrored")
    found, missed = _check_against_brute_force(index, live, queries[::4], brute_force)
    assert found > 0 and missed <= 2
    assert len(index._segments) <= len(items).bit_length() + 1  # merged as they came


def _register(settings: Settings, image: Image.Image, title: str) -> int:
    db = open_database(settings)
    with db.session() as session:
        work_id = register_work(session, encode(image), title=title, holder_name="H").work.id
    db.dispose()
    return work_id


def _copy(work: Image.Image) -> bytes:
    return encode(ALTERATIONS["crop_75"](work, random.Random(5)))


def _worker_matches(settings: Settings, body: bytes) -> list[int]:
    db = open_database(settings)
    with db.session() as session:
        live = LiveMatchIndex(session, index_directory(settings.home))
    db.dispose()
    return [m.work_id for m in analysis.analyse("image", body, live.index).matches]


def test_a_running_crawl_worker_sees_registrations_and_deletions(
        sqlite_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis, "REFRESH_S", -1.0)  # refresh before every file
    first = _register(sqlite_home, WORKS[0], "first")
    analysis.update_shared_index(sqlite_home)  # what a crawl does as its pool starts
    worker = analysis._WorkerIndex(sqlite_home)
    assert worker.live.file_high_water > 0  # stage 2 came from the file
    assert [m.work_id for m in analysis.analyse("image", _copy(WORKS[0]),
                                                worker.current()).matches] == [first]
    assert analysis.analyse("image", _copy(WORKS[1]), worker.current()).matches == []
    second = _register(sqlite_home, WORKS[1], "registered mid-crawl")
    found = analysis.analyse("image", _copy(WORKS[1]), worker.current()).matches
    assert [(m.work_id, m.stage) for m in found if m.stage == 2] == [(second, 2)]
    db = open_database(sqlite_home)
    with db.session() as session:
        work = session.get(Work, first)
        assert work is not None
        delete_work_and_hits(session, work)
    db.dispose()
    assert analysis.analyse("image", _copy(WORKS[0]), worker.current()).matches == []
    worker.db.dispose()
    analysis.update_shared_index(sqlite_home)  # the file tombstones it too
    assert _worker_matches(sqlite_home, _copy(WORKS[0])) == []
    assert _worker_matches(sqlite_home, _copy(WORKS[1])) == [second]


def _near(rnd: random.Random, code: int, bits: int) -> int:
    for bit in rnd.sample(range(64), bits):
        code ^= 1 << bit
    return code


def test_pHash_matches_from_the_index_file_are_those_from_the_database(
        sqlite_home: Settings) -> None:
    """Same works, variants, scores and order, per-work thresholds included, whether a
    process reads pHash codes from the file (registered before it was extended, some deleted
    since) and the database (registered after) or all from the database."""
    rnd = random.Random(21)
    centres = [rnd.getrandbits(64) for _ in range(4)]
    db = open_database(sqlite_home)

    def register(count: int) -> list[int]:
        with db.session() as session:
            ids = []
            for _ in range(count):
                code = _near(rnd, rnd.choice(centres), rnd.randrange(14))
                work = register_precomputed(
                    session, title=f"work number {rnd.getrandbits(32)}", holder_name="H",
                    kind="image", fingerprints=[
                        ("phash", "original", f"{code:016x}"),
                        ("phash", "mirrored", f"{_near(rnd, code, 9):016x}")]).work
                session.flush()
                if rnd.random() < 0.2:
                    set_threshold(session, work.id, "phash", rnd.choice([3, 8, 16]))
                ids.append(work.id)
            return ids

    _index_then_change(db, index_directory(sqlite_home.home), register, (80, 30, 9))
    with db.session() as session:
        from_db = load_match_index(session)
        live = LiveMatchIndex(session, index_directory(sqlite_home.home))
    db.dispose()
    assert live.file_high_water > 0
    assert isinstance(live.index.signal_index("phash"), SharedHammingIndex)  # from the file
    matched = 0
    for centre in centres:
        for query in [_near(rnd, centre, rnd.randrange(10)) for _ in range(10)]:
            for limit in (None, 20.0):
                expected = from_db.match("phash", f"{query:016x}", limit=limit)
                assert live.index.match("phash", f"{query:016x}", limit=limit) == expected
                matched += len(expected)
    assert matched > 200  # the queries do find works


TITLE_WORDS = ["salt", "road", "the", "heat", "wave", "night", "1999", "英雄", "本色", "流浪",
               "地球", "avatar", "theater"]


def _link_page(rnd: random.Random) -> LinkQuery:
    contexts = []
    for _ in range(rnd.randint(1, 4)):
        words = [rnd.choice(TITLE_WORDS) for _ in range(rnd.randint(2, 10))]
        text = "".join(w if rnd.random() < 0.2 else f".{w}" for w in words)
        links = [f"magnet:?xt=urn:btih:{rnd.randint(0, 9)}" for _ in range(rnd.randint(1, 3))]
        contexts.append(LinkContext(text, links, ["magnet"] * len(links)))
    return LinkQuery(contexts)


def test_link_matches_from_the_index_file_are_those_from_the_database(
        sqlite_home: Settings) -> None:
    """A worker reads no link row the file holds, and finds the same works, names, links
    and scores, per-work thresholds included; an old format-2 file (no names) still loads,
    its names read from the database, until a writer adds them."""
    rnd = random.Random(8)
    db = open_database(sqlite_home)
    directory = index_directory(sqlite_home.home)

    def register(count: int) -> list[int]:
        with db.session() as session:
            ids = []
            for _ in range(count):
                title, *aliases = (" ".join(rnd.choice(TITLE_WORDS)
                                            for _ in range(rnd.randint(1, 3)))
                                   for _ in range(rnd.randint(1, 3)))
                work = register_precomputed(
                    session, title=title, aliases=aliases, holder_name="H", kind="image",
                    fingerprints=[("phash", "original", f"{rnd.getrandbits(64):016x}")]).work
                session.flush()
                if rnd.random() < 0.2:
                    set_threshold(session, work.id, "link", 2)
                ids.append(work.id)
            return ids

    def agree() -> LiveMatchIndex:
        with db.session() as session:
            from_db = load_match_index(session)
            live = LiveMatchIndex(session, directory)
        matched = 0
        for _ in range(40):
            query = _link_page(rnd)
            for limit in (None, 2.0):
                expected = from_db.match("link", query, limit=limit)
                assert live.index.match("link", query, limit=limit) == expected
                matched += len(expected)
        assert matched > 40  # the pages do name works
        return live

    in_file = _index_then_change(db, directory, register, (60, 20, 7))
    live = agree()
    names = live.index.signal_index("link")
    assert isinstance(names, SharedNameIndex) and len(names) > 40  # from the file
    assert all(entry.algorithm != "link" for entry in live.index._entries.values()
               if entry.work_id in in_file)  # no row of a work in the file was read

    manifest = index_file.read_manifest(directory)
    assert manifest is not None
    index_file.commit(directory, replace(  # the same file as format 2 wrote it
        manifest, segments=tuple(s for s in manifest.segments if s["kind"] != "link"),
        params={**manifest.params, "format": 2}))
    assert isinstance(agree().index.signal_index("link"), LinkIndex)  # from the database
    with db.session() as session:
        upgraded = update_index_file(session, directory)
    assert upgraded.params == index_file.PARAMS and upgraded.high_water > manifest.high_water
    assert isinstance(agree().index.signal_index("link"), SharedNameIndex)
    db.dispose()


def test_swordnet_match_reads_the_index_file_and_what_was_registered_since(
        sqlite_home: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``swordnet match`` loads images from the index file a crawl made, not row by row."""
    first = _register(sqlite_home, WORKS[0], "first")
    analysis.update_shared_index(sqlite_home)
    second = _register(sqlite_home, WORKS[1], "registered after the file")
    copies = []
    for i, work in enumerate(WORKS[:3]):
        copies.append(tmp_path / f"copy{i}.jpg")
        copies[-1].write_bytes(_copy(work))
    with caplog.at_level(logging.ERROR):
        intact = json.loads(run_cli("match", *map(str, copies), "--json").output)
    assert [[m["work_id"] for m in e["matches"]] for e in intact] == [[first], [second], []]
    assert caplog.text == ""
    damaged = _folder(index_directory(sqlite_home.home), "phash") / "codes.npy"
    _damage(damaged, "flipped")
    with caplog.at_level(logging.ERROR):
        again = json.loads(run_cli("match", *map(str, copies), "--json").output)
    assert str(damaged) in caplog.text  # it was the file that was read: now the database is
    assert again == intact


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(data[:-8] + bytes(b ^ 0xFF for b in data[-8:]))


def _folder(directory: Path, kind: str) -> Path:
    """The folder of the index file's (first) segment of ``kind``."""
    manifest = index_file.read_manifest(directory)
    assert manifest is not None
    return directory / next(str(s["name"]) for s in manifest.segments if s["kind"] == kind)


@pytest.mark.parametrize(("kind", "stem", "how"), [
    ("orb", "descriptors", "truncated"), ("orb", "keys0", "flipped"),
    ("orb", "entry_ids", "truncated"), ("phash", "codes", "flipped"),
    ("phash", "work_ids", "truncated"), ("link", "keys", "flipped"),
    ("link", "blob", "truncated")])
def test_a_damaged_index_file_is_named_and_rebuilt_from_the_database(
        sqlite_home: Settings, caplog: pytest.LogCaptureFixture, kind: str, stem: str,
        how: str) -> None:
    work_ids = [_register(sqlite_home, work, f"work number {i}")
                for i, work in enumerate(WORKS[:3])]
    directory = index_directory(sqlite_home.home)
    db = open_database(sqlite_home)
    with db.session() as session:
        update_index_file(session, directory)
    damaged = _folder(directory, kind) / f"{stem}.npy"
    _damage(damaged, how)
    with caplog.at_level(logging.ERROR):
        assert _worker_matches(sqlite_home, _copy(WORKS[2])) == [work_ids[2]]  # from the DB
    assert str(damaged) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR), db.session() as session:
        update_index_file(session, directory)
    db.dispose()
    assert str(damaged) in caplog.text and "rebuilding" in caplog.text
    loaded = index_file.load(directory)
    assert loaded is not None and len(loaded.words[0]) == 3 and len(loaded.codes[0]) == 6
    assert len(loaded.names[0]) == 3
    for work, work_id in zip(WORKS[:3], work_ids, strict=True):
        assert _worker_matches(sqlite_home, _copy(work)) == [work_id]


_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from matching import index_file
from swordnet.core.config import load_settings
from swordnet.core.db import Database, open_database
from swordnet.works.image_index import index_directory, update_index_file

def die_before_the_manifest_swap(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

index_file.commit = die_before_the_manifest_swap
settings = load_settings()
db = open_database(settings, apply_migrations=False)
with db.session() as session:
    update_index_file(session, index_directory(settings.home))
"""


def test_a_writer_killed_while_extending_leaves_a_loadable_correct_index(
        sqlite_home: Settings) -> None:
    first = _register(sqlite_home, WORKS[0], "the first work")
    directory = index_directory(sqlite_home.home)
    db = open_database(sqlite_home)
    with db.session() as session:
        before = update_index_file(session, directory)
    second = _register(sqlite_home, WORKS[1], "the second work")
    writer = subprocess.run([sys.executable, "-c", _KILLED_WRITER], env=os.environ.copy(),
                            cwd=Path(__file__).resolve().parent.parent, check=False)
    assert writer.returncode == -signal.SIGKILL
    assert (directory / "seg-000006").exists()  # its segments were written, never named
    assert index_file.load(directory) is not None
    assert index_file.read_manifest(directory) == before
    assert _worker_matches(sqlite_home, _copy(WORKS[0])) == [first]
    assert _worker_matches(sqlite_home, _copy(WORKS[1])) == [second]  # from the DB
    with db.session() as session:
        after = update_index_file(session, directory)
    db.dispose()
    assert after.high_water > before.high_water
    assert sorted(p.name for p in directory.glob("seg-*")) == [
        f"seg-{i:06d}" for i in range(1, 7)]  # a pHash, an ORB and a link segment each
    assert _worker_matches(sqlite_home, _copy(WORKS[1])) == [second]


def test_segments_merge_without_the_deleted_works(sqlite_home: Settings,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_index, "MAX_SEGMENTS", 1)
    directory = index_directory(sqlite_home.home)
    db = open_database(sqlite_home)
    work_ids = []
    for i, work in enumerate(WORKS[:3]):
        work_ids.append(_register(sqlite_home, work, f"work number {i}"))
        with db.session() as session:
            manifest = update_index_file(session, directory)
        # one segment of each kind (a work has 2 pHash codes, an ORB set, its names): 2 merge
        assert len(manifest.segments) == 3 and manifest.images() == 4 * (i + 1)
    with db.session() as session:
        deleted = session.get(Work, work_ids[1])
        assert deleted is not None
        delete_work_and_hits(session, deleted)
    with db.session() as session:
        manifest = update_index_file(session, directory)
    db.dispose()
    assert manifest.removed == () and manifest.images() == 8  # merged away, not tombstoned
    assert sorted(p.name for p in directory.glob("seg-*")) == sorted(
        s["name"] for s in manifest.segments)
    assert _worker_matches(sqlite_home, _copy(WORKS[1])) == []
    assert _worker_matches(sqlite_home, _copy(WORKS[2])) == [work_ids[2]]
