"""Stage-2 candidate retrieval whose cost barely grows with the registry: an inverted file.

Every registered ORB feature set is posted under a short key of each of its descriptors: a
key is :data:`KEY_BITS` fixed bits of the 256-bit descriptor (bit sampling, the hash family
of Hamming-space LSH; ORB's tests were learnt to be uncorrelated, so the keys spread
evenly), one key per table, :data:`TABLES` tables. :data:`INDEXED_KEYPOINTS` keypoints of
a set are posted (evenly spread over ORB's order, which runs level by level through the
image pyramid), and a posting is the image's 16-bit number within its segment, so a
registered image costs at most 2 KB of postings (less where keypoints share a key). A
query looks up each distinct key of its descriptors once (a pattern repeated all over a
page must not outvote the work), and every image found gains the key's inverse document
frequency less :data:`IDF_OFFSET` as its vote (keys common to many images vote nothing).
The best-voted :data:`MAX_CANDIDATES` images get a cheap check
(pairs whose keys agree up to one bit and whose descriptors are close must roughly fit one
similarity transform), and only those that pass are verified exactly
(:func:`matching.local_features.verify` against their full feature sets), so a score never
depends on the retrieval: the same copy and work always score the same.

Postings and feature sets live in :class:`Segment` objects, immutable once built: in RAM
for sets added one by one (the delta, rebuilt lazily on the next query after a change), or
memory-mapped from an index file (:mod:`matching.index_file`), shared by every process that
maps it. Removing an entry is a tombstone until its segment is rewritten.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from matching.local_features import (
    DISTINCT_RADIUS_PX,
    MAX_DESCRIPTOR_DISTANCE,
    MAX_SCALE,
    MIN_DISTINCT_POINTS,
    MIN_SCALE,
    RANSAC_REPROJECTION_PX,
    RANSAC_SEED,
    LocalFeatures,
    distinct_points,
    verify,
)
from matching.signal import SharedSignalIndex

KEY_BITS = 20
TABLES = 2
INDEXED_KEYPOINTS = 500  # posted keypoints per image: half of FEATURES, in TABLES tables
MAX_SEGMENT_IMAGES = 1 << 16  # images of a segment are numbered in 16 bits (2 bytes a posting)
MAX_CANDIDATES = 24  # best-voted images given the cheap geometric check per query (copies
                     # found at 500 images of bench/image_index.py: 48/52 at 16, 50 at 24-48)
RETRIEVAL_SHARE = 0.4  # the check's key-sharing matches find about half the true ones: a set
                       # needs this share of the inliers among them to be verified exactly
ROUGH_SPOT_SHARE = 0.75  # the check's inliers must sit on this share of the distinct spots
                         # verify demands (min(MIN_DISTINCT_POINTS, min_inliers)): 6 at the
                         # default limit. Copies passed it on 8 or more (bench/scale.py's 39 at
                         # 5,013 images, tests/test_image_index.py's 72); 9 chance passes in 10
                         # stood on 4-5, and each cost a 4 ms verification
ROUGH_RANSAC_ITERATIONS = 500
MAX_PROBE_POINTS = 32  # the check pairs no work point through a probe key (a key and its
                       # one-bit neighbours) shared by more of the query's keypoints
VOTE_PROBES = 1  # probe keys per query key when voting: the key itself only (one-bit
                 # neighbours added more chance votes than true ones: see docs/architecture.md)
MIN_VOTES = 2.0      # an image with fewer (idf-weighted) votes is not worth verifying
IDF_OFFSET = 4.0     # a key votes log(N / df) less this (at least 0): one shared by more than
                     # e^-4 (1.8%) of the images gives nothing, so common keys cannot outvote
                     # a copy's rare ones (log1p(N / df) gave 5% of 10^5 images 3 votes a key:
                     # 38/39 copies found at 10^5, a true work ranked up to 200th); offsets 3-4.5
                     # found 39/39, 5 and more lost low-texture copies (docs/architecture.md)
IDF_FLOOR_IMAGES = 1000  # N is counted as at least this many images, so that a small
                         # registry's keys still vote (its df are small counts, not rarity)
BIT_SEED = 20261206  # which descriptor bits make the keys: part of the index file format
_COORD_SCALE = 8     # keypoint coordinates stored as uint16 in 1/8 px (as LocalFeatures.encode)
_BITS = np.random.default_rng(BIT_SEED).permutation(256)[:TABLES * KEY_BITS].reshape(
    TABLES, KEY_BITS)
_KEY_WEIGHTS = (np.uint32(1) << np.arange(KEY_BITS, dtype=np.uint32)).astype(np.uint32)
_BIT_BYTES, _BIT_SHIFTS = _BITS // 8, (7 - _BITS % 8).astype(np.uint8)
_PROBE_FLIPS = np.concatenate([[0], _KEY_WEIGHTS]).astype(np.uint32)
_VOTE_FLIPS = _PROBE_FLIPS[:VOTE_PROBES]
_NO_PAIR = np.iinfo(np.int64).max
_TABLE_SHIFT = 24  # key_matches ranks a pair by distance, then table, then query point
PAIR_CHUNK = 1 << 16  # key_matches: descriptor pairs compared per array operation, at most


def descriptor_keys(descriptors: np.ndarray) -> np.ndarray:
    """``(TABLES, n)`` uint32 keys of ``n`` ORB descriptors (``n x 32`` uint8).

    >>> descriptor_keys(np.zeros((3, 32), np.uint8)).tolist()
    [[0, 0, 0], [0, 0, 0]]
    """
    columns = np.ascontiguousarray(np.asarray(descriptors, np.uint8).reshape(-1, 32).T)
    keys = np.zeros((TABLES, columns.shape[1]), np.uint32)
    for t in range(TABLES):  # bit by bit over all descriptors: 4x faster than per descriptor
        for i in range(KEY_BITS):
            bit = (columns[_BIT_BYTES[t, i]] >> _BIT_SHIFTS[t, i]) & 1
            keys[t] |= bit.astype(np.uint32) << np.uint32(i)
    return keys


def indexed_rows(count: int) -> np.ndarray:
    """Which of a set's ``count`` keypoints are posted: evenly spread over ORB's order (which
    runs level by level through the image pyramid), so every scale is represented.

    >>> indexed_rows(3).tolist()
    [0, 1, 2]
    >>> len(indexed_rows(1000)), int(indexed_rows(1000)[-1])
    (500, 999)
    """
    if count <= INDEXED_KEYPOINTS:
        return np.arange(count, dtype=np.int64)
    return np.unique(np.linspace(0, count - 1, INDEXED_KEYPOINTS).round().astype(np.int64))


def feature_checksum(points: np.ndarray, descriptors: np.ndarray) -> int:
    """CRC-32 of one feature set's stored coordinates and descriptors."""
    return zlib.crc32(descriptors.tobytes(), zlib.crc32(points.tobytes()))


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


class RowFiles:
    """The feature-row files of a memory-mapped segment, held open and read with ``pread``:
    rows are read only for the few verified candidates of a query, so they stay in the
    node's page cache (shared, evictable) instead of being mapped into every worker's
    resident memory. An open file outlives its deletion by a later merge.

    Close them with :meth:`close` (or use the object as a context manager); files still
    open when the object is collected, or at exit, are closed then (``weakref.finalize``).
    """

    def __init__(self, points: np.ndarray, descriptors: np.ndarray) -> None:
        self._files: dict[str, tuple[int, str, int, np.dtype[Any], tuple[int, ...]]] = {}
        opened: list[int] = []
        try:
            for name, array in (("points", points), ("descriptors", descriptors)):
                if not isinstance(array, np.memmap) or array.filename is None:
                    raise ValueError(f"{name} rows are not a memory-mapped file")
                opened.append(os.open(array.filename, os.O_RDONLY))
                self._files[name] = (opened[-1], str(array.filename), int(array.offset),
                                     array.dtype, tuple(array.shape[1:]))
        except BaseException:
            _close_all(opened)
            raise
        self._closer = weakref.finalize(self, _close_all, opened)

    def close(self) -> None:
        """Close the files (reads fail afterwards); closing twice is harmless."""
        self._files = {}
        self._closer()

    def __enter__(self) -> RowFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, name: str, start: int, end: int) -> np.ndarray:
        """Rows ``start:end`` of the ``name`` file."""
        if name not in self._files:
            raise ValueError(f"{name} rows: the row files are closed")
        fd, path, offset, dtype, row_shape = self._files[name]
        row_bytes = dtype.itemsize * math.prod(row_shape)
        data = os.pread(fd, (end - start) * row_bytes, offset + start * row_bytes)
        if len(data) != (end - start) * row_bytes:
            raise ValueError(f"{path}: rows {start}:{end} lie past its end")
        return np.frombuffer(data, dtype).reshape(end - start, *row_shape)


@dataclass(frozen=True)
class Segment:
    """Feature sets and their postings, immutable: numpy arrays, in RAM or memory-mapped.

    Image ``i`` is entry ``entry_ids[i]`` (of work ``work_ids[i]``, variant
    ``variants[variant_codes[i]]``); its keypoints are rows ``offsets[i]:offsets[i+1]`` of
    ``points`` (uint16, 1/8 px) and ``descriptors``; ``sizes[i]`` is its reduced image's
    width and height, ``checksums[i]`` the CRC-32 of its rows. Table ``t``'s postings:
    ``keys[t]`` sorted and unique, key ``keys[t][j]`` lists images
    ``images[t][starts[t][j]:starts[t][j+1]]``.
    """

    entry_ids: np.ndarray
    work_ids: np.ndarray
    variant_codes: np.ndarray
    variants: tuple[str, ...]
    sizes: np.ndarray
    offsets: np.ndarray
    checksums: np.ndarray
    points: np.ndarray
    descriptors: np.ndarray
    keys: tuple[np.ndarray, ...]
    starts: tuple[np.ndarray, ...]
    images: tuple[np.ndarray, ...]
    source: str = "memory"  # where the arrays were read from, for error messages
    row_files: RowFiles | None = None  # mapped segments: rows read with pread, not mapped

    def __len__(self) -> int:
        return len(self.entry_ids)

    def close(self) -> None:
        """Close its row files, if it has any (its features cannot be read afterwards)."""
        if self.row_files is not None:
            self.row_files.close()

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by its file name stem (what :mod:`matching.index_file` stores)."""
        named = {"entry_ids": self.entry_ids, "work_ids": self.work_ids,
                 "variant_codes": self.variant_codes, "sizes": self.sizes,
                 "offsets": self.offsets, "checksums": self.checksums, "points": self.points,
                 "descriptors": self.descriptors}
        for t in range(TABLES):
            named |= {f"keys{t}": self.keys[t], f"starts{t}": self.starts[t],
                      f"images{t}": self.images[t]}
        return named

    def resident_bytes(self) -> int:
        """Bytes a query touches: everything but the feature rows read for verification."""
        return sum(a.nbytes for name, a in self.arrays().items()
                   if name not in ("points", "descriptors"))

    def features(self, image: int) -> LocalFeatures:
        """Image ``image``'s full feature set; raises ``ValueError`` if its rows are corrupt."""
        start, end = int(self.offsets[image]), int(self.offsets[image + 1])
        if self.row_files is None:
            points = np.asarray(self.points[start:end])
            descriptors = np.asarray(self.descriptors[start:end])
        else:
            points = self.row_files.read("points", start, end)
            descriptors = self.row_files.read("descriptors", start, end)
        if feature_checksum(points, descriptors) != int(self.checksums[image]):
            raise ValueError(f"{self.source}: feature rows of entry "
                             f"{int(self.entry_ids[image])} fail their checksum")
        width, height = (int(v) for v in self.sizes[image])
        return LocalFeatures(points.astype(np.float32) / _COORD_SCALE,
                             descriptors.copy(), width, height)

    def lookup(self, probes: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per table: first posting and posting count of each of that table's probe keys."""
        found = []
        for t in range(TABLES):
            keys, starts = self.keys[t], self.starts[t]
            if not len(keys):
                found.append((np.zeros(len(probes[t]), np.int64),
                              np.zeros(len(probes[t]), np.int64)))
                continue
            at = np.minimum(np.searchsorted(keys, probes[t]), len(keys) - 1)
            hit = keys[at] == probes[t]
            begin = np.asarray(starts[at], np.int64)
            end = np.asarray(starts[np.minimum(at + 1, len(starts) - 1)], np.int64)
            found.append((np.where(hit, begin, 0), np.where(hit, end - begin, 0)))
        return found

    def votes(self, looked: Sequence[tuple[np.ndarray, np.ndarray]],
              weights: Sequence[np.ndarray]) -> np.ndarray:
        """Summed ``weights`` (one per table and probe) per image of this segment."""
        hits, votes = [np.zeros(0, np.uint16)], [np.zeros(0, np.float64)]
        for t, (begins, counts) in enumerate(looked):
            keep = (counts > 0) & (weights[t] > 0)
            lengths = counts[keep]
            if not len(lengths):
                continue
            ends = np.cumsum(lengths)
            rows = np.arange(int(ends[-1]), dtype=np.int64) + np.repeat(
                begins[keep] - (ends - lengths), lengths)
            hits.append(np.asarray(self.images[t])[rows])
            votes.append(np.repeat(weights[t][keep], lengths))
        return np.bincount(np.concatenate(hits), np.concatenate(votes), len(self))


def _codes(values: Sequence[str]) -> tuple[np.ndarray, tuple[str, ...]]:
    variants = tuple(sorted(set(values)))
    position = {v: i for i, v in enumerate(variants)}
    return np.array([position[v] for v in values], np.uint8), variants


def build_segment(entries: Sequence[tuple[int, int, str, LocalFeatures]]) -> Segment:
    """A segment of ``(entry_id, work_id, variant, features)`` (featureless sets included:
    they can never match, but their entry stays known); at most :data:`MAX_SEGMENT_IMAGES`."""
    if len(entries) > MAX_SEGMENT_IMAGES:
        raise ValueError(f"a segment holds at most {MAX_SEGMENT_IMAGES} images, not {len(entries)}")
    counts = np.array([len(f) for *_, f in entries], np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    points = [np.round(f.points * _COORD_SCALE).astype("<u2").reshape(-1, 2)
              for *_, f in entries]
    descriptors = [np.asarray(f.descriptors, np.uint8).reshape(-1, 32) for *_, f in entries]
    codes, variants = _codes([variant for _, _, variant, _ in entries])
    keys, starts, images = [], [], []
    posted = [descriptor_keys(d[indexed_rows(len(d))]) for d in descriptors]
    owner = np.concatenate([np.full(p.shape[1], i, np.uint64) for i, p in enumerate(posted)]
                           + [np.zeros(0, np.uint64)])
    for t in range(TABLES):
        table = np.concatenate([p[t] for p in posted] + [np.zeros(0, np.uint32)])
        pairs = np.unique((table.astype(np.uint64) << np.uint64(32)) | owner)
        key = (pairs >> np.uint64(32)).astype(np.uint32)
        unique, first = np.unique(key, return_index=True)
        keys.append(unique)
        starts.append(np.concatenate([first, [len(key)]]).astype(np.uint32))
        images.append((pairs & np.uint64(0xFFFFFFFF)).astype(np.uint16))
    return Segment(
        entry_ids=np.array([e for e, *_ in entries], np.int64),
        work_ids=np.array([w for _, w, *_ in entries], np.int64),
        variant_codes=codes, variants=variants,
        sizes=np.array([(f.width, f.height) for *_, f in entries], np.uint16).reshape(-1, 2),
        offsets=offsets,
        checksums=np.array([feature_checksum(p, d) for p, d in zip(points, descriptors,
                                                                     strict=True)], np.uint32),
        points=np.concatenate(points + [np.zeros((0, 2), "<u2")]),
        descriptors=np.concatenate(descriptors + [np.zeros((0, 32), np.uint8)]),
        keys=tuple(keys), starts=tuple(starts), images=tuple(images))


def segment_entries(segment: Segment, skip: Iterable[int] = ()) -> Iterator[
        tuple[int, int, str, LocalFeatures]]:
    """Back from a segment to its entries (for merging segments), less the ``skip`` ids."""
    dropped = set(skip)
    for i, entry_id in enumerate(segment.entry_ids.tolist()):
        if entry_id not in dropped:
            yield (entry_id, int(segment.work_ids[i]),
                   segment.variants[int(segment.variant_codes[i])], segment.features(i))


@dataclass(frozen=True)
class _View:
    """What one query reads: the segments, which of their images are live, how many."""

    segments: tuple[Segment, ...]
    alive: tuple[np.ndarray, ...]
    live: int


def _position(entry_ids: np.ndarray, order: np.ndarray | None, entry_id: int) -> int | None:
    """Where ``entry_id`` is in ``entry_ids`` (sorted, or sorted through ``order``)."""
    ids = entry_ids if order is None else entry_ids[order]
    at = int(np.searchsorted(ids, entry_id))
    if at == len(ids) or int(ids[at]) != entry_id:
        return None
    return at if order is None else int(order[at])


class WordIndex(SharedSignalIndex):
    """Registered ORB feature sets behind an inverted file; thread-safe.

    ``base`` segments (memory-mapped from an index file) are read-only. :meth:`add` puts a
    set in the pending delta; the next query builds the pending sets (only those) into a
    new in-RAM segment, and merges the newest in-RAM segments while the last is no smaller
    than half the one before it (so a long crawl that registers a few works every few
    seconds keeps a handful of segments, and each set is rebuilt a logarithmic number of
    times). :meth:`remove` drops a pending set or tombstones a built one (one byte per
    image says which are live). Entries are found by binary search in each segment's ids:
    no Python object per built entry.
    """

    def __init__(self, base: Sequence[Segment] = ()) -> None:
        self._segments: list[Segment] = []
        self._orders: list[np.ndarray | None] = []
        self._alive: list[np.ndarray] = []
        for segment in base:
            self._append(segment)
        self._frozen = len(self._segments)  # the base segments: never merged
        self._live = sum(len(s) for s in self._segments)
        self._pending: dict[int, tuple[int | None, str, LocalFeatures]] = {}
        self._lock = threading.Lock()
        self._view: _View | None = None

    def _append(self, segment: Segment) -> None:
        ids = np.asarray(segment.entry_ids)
        self._segments.append(segment)  # segments built from the database are sorted by id
        self._orders.append(None if bool(np.all(ids[1:] > ids[:-1]))
                            else np.argsort(ids, kind="stable"))
        self._alive.append(np.ones(len(segment), bool))

    def _find(self, entry_id: int) -> tuple[int, int] | None:
        """``(segment, image)`` of a live built entry."""
        for s in range(len(self._segments) - 1, -1, -1):
            at = _position(self._segments[s].entry_ids, self._orders[s], entry_id)
            if at is not None and self._alive[s][at]:
                return s, at
        return None

    def __len__(self) -> int:
        with self._lock:
            return self._live + len(self._pending)

    def nbytes(self) -> int:
        """Bytes a query reads from postings and per-image tables (memory-mapped or not);
        the feature rows of the few verified candidates are read from disk on demand."""
        view = self._snapshot()
        return sum(s.resident_bytes() for s in view.segments)

    def add(self, entry_id: int, value: str) -> None:
        """Add an encoded set whose owner the caller keeps (:meth:`owner` does not know it)."""
        self.add_features(entry_id, None, "original", LocalFeatures.decode(value))

    def add_features(self, entry_id: int, work_id: int | None, variant: str,
                     features: LocalFeatures) -> None:
        """Add a decoded set, with its owner if :meth:`owner` is to answer for it."""
        with self._lock:
            self._drop(entry_id)
            self._pending[entry_id] = (work_id, variant, features)
            self._view = None

    def remove(self, entry_id: int) -> None:
        with self._lock:
            self._drop(entry_id)

    def _drop(self, entry_id: int) -> None:
        if self._pending.pop(entry_id, None) is not None:
            self._view = None
            return
        found = self._find(entry_id)
        if found is None:
            return
        s, image = found
        if self._view is not None:  # a query may be reading this mask: change a copy
            self._alive[s] = self._alive[s].copy()
        self._alive[s][image] = False
        self._live -= 1
        self._view = None

    def owner(self, entry_id: int) -> tuple[int, str] | None:
        with self._lock:
            if entry_id in self._pending:
                work_id, variant, _ = self._pending[entry_id]
                return None if work_id is None else (work_id, variant)
            found = self._find(entry_id)
            if found is None:
                return None
            segment, image = self._segments[found[0]], found[1]
            work_id = int(segment.work_ids[image])
            return None if work_id < 0 else (
                work_id, segment.variants[int(segment.variant_codes[image])])

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and work ids of the live entries whose work it knows (arrays: a registry's
        worth of Python ints would cost some 100 bytes an entry)."""
        with self._lock:
            ids, works = [], []
            for segment, alive in zip(self._segments, self._alive, strict=True):
                keep = alive & (np.asarray(segment.work_ids) >= 0)
                ids.append(np.asarray(segment.entry_ids)[keep])
                works.append(np.asarray(segment.work_ids)[keep])
            pending = [(e, w) for e, (w, _, _) in self._pending.items() if w is not None]
            ids.append(np.array([e for e, _ in pending], np.int64))
            works.append(np.array([w for _, w in pending], np.int64))
            return np.concatenate(ids), np.concatenate(works)

    def _build_pending(self) -> None:
        """Build the pending sets into new in-RAM segments, then merge the newest in-RAM
        segments while the last is at least half the size of the one before it."""
        pending = [(e, -1 if w is None else w, v, f) for e, (w, v, f) in self._pending.items()]
        self._pending = {}
        for start in range(0, len(pending), MAX_SEGMENT_IMAGES):
            chunk = pending[start:start + MAX_SEGMENT_IMAGES]
            self._append(build_segment(chunk))
            self._live += len(chunk)
            while len(self._segments) - self._frozen >= 2:
                older, newer = self._segments[-2], self._segments[-1]
                if 2 * len(newer) < len(older) or len(older) + len(newer) > MAX_SEGMENT_IMAGES:
                    break
                merged = [*self._live_entries(-2), *self._live_entries(-1)]
                del self._segments[-2:], self._orders[-2:], self._alive[-2:]
                self._append(build_segment(merged))

    def _live_entries(self, s: int) -> Iterator[tuple[int, int, str, LocalFeatures]]:
        segment, alive = self._segments[s], self._alive[s]
        return segment_entries(segment, np.asarray(segment.entry_ids)[~alive].tolist())

    def _snapshot(self) -> _View:
        with self._lock:
            if self._pending:
                self._build_pending()
                self._view = None
            if self._view is None:
                self._view = _View(tuple(self._segments), tuple(self._alive), self._live)
            return self._view

    def candidates(self, query: LocalFeatures, limit: int = MAX_CANDIDATES,
                   keys: np.ndarray | None = None) -> list[tuple[Segment, int, float]]:
        """The best-voted ``limit`` live images for ``query``: ``(segment, image, votes)``;
        ``keys``: the query's :func:`descriptor_keys`, if the caller has them already."""
        view = self._snapshot()
        if not view.live or len(query) < 2:
            return []
        keys = descriptor_keys(query.descriptors) if keys is None else keys
        # each distinct key (or key one bit away) votes once: a pattern repeated all over
        # the copy (text, a texture) must not outvote the work
        probes = [_distinct((keys[t][:, None] ^ _VOTE_FLIPS[None, :]).ravel())
                  for t in range(TABLES)]
        looked = [segment.lookup(probes) for segment in view.segments]
        weights = []
        for t in range(TABLES):
            frequency = sum((found[t][1] for found in looked), np.zeros(len(probes[t]),
                                                                         np.int64))
            # inverse document frequency less IDF_OFFSET: only keys rarer than 1 in e^4 vote
            images = max(view.live, IDF_FLOOR_IMAGES)
            weights.append(np.maximum(np.log(images / np.maximum(frequency, 1)) - IDF_OFFSET,
                                      0.0))
        scored: list[tuple[float, int, int]] = []
        for s, (segment, found) in enumerate(zip(view.segments, looked, strict=True)):
            votes = np.where(view.alive[s], segment.votes(found, weights), 0.0)
            scored += [(float(votes[i]), s, i) for i in most_voted(votes, limit).tolist()]
        scored.sort(key=lambda c: (-c[0], c[1], c[2]))
        return [(view.segments[s], i, v) for v, s, i in scored[:limit]]

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        """Verified sets with at least ``limit`` inliers: ``(id, inliers, placement)``."""
        query: LocalFeatures = value
        min_inliers = max(2, int(limit))
        need = max(2, int(min_inliers * RETRIEVAL_SHARE))
        spots = max(need, math.ceil(ROUGH_SPOT_SHARE * min(MIN_DISTINCT_POINTS, min_inliers)))
        found = []
        keys = descriptor_keys(query.descriptors)
        candidates = self.candidates(query, keys=keys)
        if not candidates:
            return []
        works = [segment.features(image) for segment, image, _ in candidates]
        with _QueryProbes.of(query, keys) as probes:
            pairs = key_matches(query, probes, works)
        for (segment, image, _), features, (work_points, query_points) in zip(
                candidates, works, pairs, strict=True):
            if not roughly_placed(work_points, query_points, need, spots):
                continue  # not even roughly in place: skip the exact (costlier) verification
            placement = verify(query, features, min_inliers)
            if placement is not None:
                found.append((int(segment.entry_ids[image]), float(placement.inliers),
                              placement.as_detail()))
        return sorted(found, key=lambda f: (-f[1], f[0]))


def most_voted(votes: np.ndarray, limit: int) -> np.ndarray:
    """The ``limit`` images with the most ``votes`` (at least :data:`MIN_VOTES`), most first,
    equal votes in image order: ``np.argsort(-votes, kind="stable")[:limit]`` without the
    images below :data:`MIN_VOTES`. Only images with at least the ``limit``-th most votes are
    sorted: a segment of 65,536 images took 5.6 ms to sort whole, 0.6 ms so.

    >>> most_voted(np.array([3.0, 9.0, 1.0, 3.0, 3.0]), 3).tolist()
    [1, 0, 3]
    """
    least = -np.partition(-votes, limit - 1)[limit - 1] if len(votes) > limit else 0.0
    worthy = np.flatnonzero(votes >= max(float(least), MIN_VOTES))  # ascending: ties in order
    return worthy[np.argsort(-votes[worthy], kind="stable")[:limit]]


@dataclass(frozen=True)
class _QueryProbes:
    """A query's probe keys per table: key ``k`` is the ``slots[t][k]``-th distinct probe
    (-1 if none), whose query keypoints are ``points[t][starts[t][j]:starts[t][j + 1]]``; and
    the query's descriptors as words (:func:`_words`). ``slots`` are tables of 2**KEY_BITS
    entries lent by a pool: use the probes in a ``with`` block, which gives them back."""

    slots: tuple[np.ndarray, ...]
    starts: tuple[np.ndarray, ...]
    points: tuple[np.ndarray, ...]
    words: np.ndarray
    unique: tuple[np.ndarray, ...]  # the distinct probes: the slots set apart from -1

    @classmethod
    def of(cls, query: LocalFeatures, query_keys: np.ndarray) -> _QueryProbes:
        """The probes of ``query``, whose :func:`descriptor_keys` are ``query_keys``."""
        slots, starts, points, uniques = [], [], [], []
        for t in range(TABLES):
            probes = (query_keys[t][:, None] ^ _PROBE_FLIPS[None, :]).ravel()
            order = _stable_order(probes)
            ordered = probes[order]
            first = np.nonzero(np.r_[True, ordered[1:] != ordered[:-1]])[0]
            unique = ordered[first]
            slot = _SLOT_TABLES.take()  # faster than a binary search, and no page faults
            slot[unique] = np.arange(len(unique), dtype=np.int32)
            # a probe shared by many of the query's keypoints is a pattern repeated over the
            # copy (a page's text): its pairs are chance ones, and up to a million a table
            slot[unique[np.diff(np.append(first, len(order))) > MAX_PROBE_POINTS]] = -1
            slots.append(slot)
            uniques.append(unique)
            starts.append(np.append(first, len(order)))
            points.append(order // len(_PROBE_FLIPS))
        return cls(tuple(slots), tuple(starts), tuple(points), _words(query.descriptors),
                   tuple(uniques))

    def __enter__(self) -> _QueryProbes:
        return self

    def __exit__(self, *exc: object) -> None:
        for slot, unique in zip(self.slots, self.unique, strict=True):
            slot[unique] = -1
            _SLOT_TABLES.give_back(slot)


class _SlotTables:
    """A pool of slot tables (2**KEY_BITS int32, all -1) for :class:`_QueryProbes`: a fresh
    4 MB table costs a page fault per 4 KB page (3 ms a query for two), a lent one is
    cleared at its few thousand used entries when given back. Thread-safe."""

    def __init__(self) -> None:
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self) -> np.ndarray:
        with self._lock:
            if self._free:
                return self._free.pop()
        return np.full(1 << KEY_BITS, -1, np.int32)

    def give_back(self, slot: np.ndarray) -> None:
        with self._lock:
            self._free.append(slot)


_SLOT_TABLES = _SlotTables()


def _distinct(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` for a 1-D array, a third of its time on a query's keys.

    >>> _distinct(np.array([7, 2, 7, 5, 2], np.uint32)).tolist()
    [2, 5, 7]
    """
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for keys below ``2**KEY_BITS``: a two-pass radix
    sort, low half of the bits first (NumPy sorts integers of 16 bits or fewer stably by
    radix). On the 84,000 probes of a crawled image's query: 1.2 ms, against 3.4 for one sort
    of the keys tagged with their positions and 3.6 for ``argsort``.

    >>> _stable_order(np.array([3, 1, 3, 1, 0, 1 << 19], np.uint32)).tolist()
    [4, 1, 3, 0, 2, 5]
    """
    low_bits = KEY_BITS // 2
    order = np.argsort((keys & ((1 << low_bits) - 1)).astype(np.uint16), kind="stable")
    return order[np.argsort((keys[order] >> low_bits).astype(np.uint16), kind="stable")]


def _words(descriptors: np.ndarray) -> np.ndarray:
    """ORB descriptors (``n x 32`` uint8) as ``4 x n`` uint64: word ``k`` of every descriptor
    contiguous, so that gathering pairs and counting bits runs one word at a time (4x faster
    than on whole rows)."""
    return np.ascontiguousarray(np.ascontiguousarray(descriptors, np.uint8).reshape(-1, 32)
                                .view(np.uint64).T)


def _distances(query_words: np.ndarray, work_words: np.ndarray, q: np.ndarray,
               w: np.ndarray) -> np.ndarray:
    """Hamming distances of descriptor pairs ``(q[i], w[i])``, from :func:`_words` arrays,
    as uint16 (summed in 16 bits: 3x faster than in 64).

    >>> one, zero = np.full((1, 32), 255, np.uint8), np.zeros((2, 32), np.uint8)
    >>> _distances(_words(one), _words(zero), np.array([0, 0]), np.array([1, 0])).tolist()
    [256, 256]
    """
    distance = np.zeros(len(q), np.uint16)
    for k in range(len(query_words)):
        distance += np.bitwise_count(query_words[k].take(q) ^ work_words[k].take(w))
    return distance


def roughly_placed(work_points: np.ndarray, query_points: np.ndarray, need: int,
                   spots: int) -> bool:
    """Whether at least ``need`` of the pairs, on ``spots`` distinct spots of the work, agree
    on one similarity transform (a short, seeded RANSAC, its transform not refined: a gate
    before :func:`~matching.local_features.verify`, not a verdict)."""
    if len(work_points) < need:
        return False
    cv2.setRNGSeed(RANSAC_SEED)
    transform, mask = cv2.estimateAffinePartial2D(
        work_points, query_points, method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_REPROJECTION_PX, maxIters=ROUGH_RANSAC_ITERATIONS,
        confidence=0.99, refineIters=0)  # refining moves the scale a little, not the inliers
    if transform is None or mask is None or int(mask.sum()) < need:
        return False
    inliers = work_points[mask.ravel().astype(bool)]
    return (MIN_SCALE <= math.hypot(transform[0, 0], transform[1, 0]) <= MAX_SCALE
            and distinct_points(inliers, DISTINCT_RADIUS_PX, spots) >= spots)


def key_matches(query: LocalFeatures, probes: _QueryProbes,
                works: Sequence[LocalFeatures]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cheap matches for a rough placement check of each of ``works``: pairs whose keys agree
    (up to one bit) in some table and whose descriptors are close, the nearest query point per
    work point (on a tie, one found in table 0 first, then the earliest query point);
    ``(work points, query points)``. Probe keys shared by more than :data:`MAX_PROBE_POINTS`
    query points pair nothing (:class:`_QueryProbes`).

    All works are matched in one pass of array operations (their keypoints stacked), which
    costs a fraction of matching them one by one.
    """
    offsets = np.concatenate([[0], np.cumsum([len(work) for work in works], dtype=np.int64)])
    stacked = np.concatenate([work.descriptors for work in works] + [np.zeros((0, 32), np.uint8)])
    work_keys, work_words = descriptor_keys(stacked), _words(stacked)
    best = np.full(len(stacked), _NO_PAIR, np.int64)  # per work point: distance, table, query
    for t in range(TABLES):
        at = probes.slots[t][work_keys[t]]
        hits = np.nonzero(at >= 0)[0]
        starts = probes.starts[t][at[hits]]
        counts = probes.starts[t][at[hits] + 1] - starts
        # a few thousand work points at a time: the pairs' arrays stay in the CPU's cache
        # (a page screenshot's repeated text corners make up to a million pairs a table)
        cuts = np.searchsorted(np.cumsum(counts), np.arange(PAIR_CHUNK, int(counts.sum()),
                                                            PAIR_CHUNK))
        for hit, lo, lengths in zip(np.split(hits, cuts), np.split(starts, cuts),
                                    np.split(counts, cuts), strict=True):
            if not len(lengths):
                continue
            ends = np.cumsum(lengths)
            rows = np.arange(int(ends[-1])) + np.repeat(lo - (ends - lengths), lengths)
            q, w = probes.points[t][rows], np.repeat(hit, lengths)  # w ascending
            distance = _distances(probes.words, work_words, q, w)
            close = np.nonzero(distance <= MAX_DESCRIPTOR_DISTANCE)[0]
            if len(close):
                w = w[close]
                rank = ((distance[close].astype(np.int64) << 32) | (t << _TABLE_SHIFT)
                        | q[close])
                first = np.nonzero(np.r_[True, w[1:] != w[:-1]])[0]
                np.minimum.at(best, w[first], np.minimum.reduceat(rank, first))
    w = np.nonzero(best != _NO_PAIR)[0]
    q = best[w] & ((1 << _TABLE_SHIFT) - 1)
    bounds = np.searchsorted(w, offsets)
    return [(work.points[w[bounds[i]:bounds[i + 1]] - offsets[i]],
             query.points[q[bounds[i]:bounds[i + 1]]]) for i, work in enumerate(works)]
