"""An exact Hamming-radius index over 64-bit hashes: multi-index hashing (MIH) in numpy.

A linear scan touches every code per query, so its cost grows with the index. MIH splits each
code into ``m`` substrings and keeps one table per substring. Two codes within ``r`` bits have
some substring within about ``r / m`` bits (the pigeonhole principle, refined in
:meth:`_Segment._plan`), so a query probes only the buckets whose keys are that near its own
substrings and verifies the codes found there with XOR + popcount. Results are exact: every
code within the radius is in a probed bucket, and every reported one is verified. It is plain
numpy (vectorised over all probes of a batch of queries), so it needs no compiled extension.

One immutable :class:`_Segment` numbers its entries in ascending id order and holds:

* ``m`` tables stacked in single arrays: ``codes`` (each table's full codes ordered by that
  table's key, so a bucket is verified with contiguous reads), ``pos`` (back to the entry
  number) and ``offsets`` (``uint32`` bucket starts, ``2**bits`` per table). From 2M entries
  there are three keys of 22/21/21 bits: 8 + 4 bytes per table and entry, plus ids and
  tombstones, is 45 bytes, plus 32 MB of offsets (48 bytes per entry at 10M). Smaller segments
  use four 16-bit keys (57 bytes plus 1 MB); tiny ones no tables: they are scanned.
* ``ids`` (sorted, so a removal is a binary search) and ``dead`` (tombstones).

Live updates without a rebuild: :meth:`HammingIndex.add` appends to a delta buffer that
queries scan (microseconds), and a removal tombstones the entry. Every ``delta_limit`` adds the
delta is merged into a "recent" segment, rebuilding it; when that outgrows 1/8 of the main
segment, both are merged into a new main segment. Those merges are pauses inside ``add``
(up to about 0.3 s for the recent segment at 10M entries, and 4 s for a main merge there, once
per 1.25M adds): amortised, an add costs about 5 us at 1M entries and 40 us at 10M. Bulk
loads should use :meth:`HammingIndex.add_many`, which builds a segment directly.

Shared by processes: the same tables can live in an index file (:mod:`matching.index_file`)
as :class:`CodeSegment` objects, which also record each entry's work and variant.
:class:`SharedHammingIndex` searches them memory-mapped (one copy in the page cache for a
node's processes; only tombstones and probe plans are each process's own) plus an in-RAM
:class:`HammingIndex` of the entries added since, with the same results.

Per query and segment a cost model picks probing or scanning (scanning wins for large radii
and tiny segments); its constants were measured on an AMD EPYC with numpy 2.4. Measurements:
``bench/index.py``, results in ``bench/results/index.json``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from matching.signal import SharedSignalIndex, SignalIndex

_TABLE_MIN = 1 << 14  # smaller segments have no tables: a scan is as fast
_WIDE_MIN = 1 << 21  # from here three 22/21/21-bit keys; below, four 16-bit keys
_MERGE_RATIO = 8  # the recent segment merges into the main one beyond 1/8 of its size
_DEAD_LIMIT = 0.5  # a segment with more tombstones than this fraction is rebuilt

# Cost model, in units of one verified candidate: one probed bucket, one scanned entry.
_PROBE_COST = 1.5
_SCAN_COST = 0.15
_STEP_PROBES = 1 << 14  # probes per vectorised step: keeps temporaries in the CPU cache
_STEP_SCAN = 1 << 16  # scanned codes per vectorised step

_U32 = np.uint64(0xFFFF_FFFF)


def hex_to_u64(value: str) -> int:
    """Parse a 16-hex-digit hash.

    >>> hex_to_u64("00000000000000ff")
    255
    """
    if len(value) != 16:
        raise ValueError(f"expected 16 hex digits, got {len(value)}: {value!r}")
    return int(value, 16)


@lru_cache(maxsize=64)
def _masks(bits: int, weight: int) -> np.ndarray:
    """Every ``bits``-bit XOR mask of at most ``weight`` set bits (keys near a key)."""
    values = np.arange(1 << bits, dtype=np.uint32)
    return np.flatnonzero(np.bitwise_count(values) <= weight).astype(np.int64)


def _ball(bits: int, weight: int) -> int:
    """How many ``bits``-bit keys lie within ``weight`` of a key (0 for a negative weight)."""
    return sum(math.comb(bits, k) for k in range(min(weight, bits) + 1))


def _scan(codes: np.ndarray, queries: np.ndarray, radius: int) -> tuple[np.ndarray, ...]:
    """Brute force: ``(query number, code number, distance)`` of every pair within radius."""
    found: list[tuple[np.ndarray, ...]] = []
    step = max(1, _STEP_SCAN // max(len(codes), 1))
    for first in range(0, len(queries) if len(codes) else 0, step):
        distances = np.bitwise_count(codes ^ queries[first : first + step, None])
        query, entry = np.nonzero(distances <= radius)
        found.append((query + first, entry, distances[query, entry]))
    return _concat(found, 3)


def _concat(parts: list[tuple[np.ndarray, ...]], width: int) -> tuple[np.ndarray, ...]:
    """Column-wise concatenation of result tuples (empty int64 columns if there are none)."""
    if len(parts) < 2:
        return parts[0] if parts else tuple(np.zeros(0, dtype=np.int64) for _ in range(width))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _layout(n: int) -> tuple[int, ...]:
    """Key widths of a segment of ``n`` entries: none (scanned), four 16-bit or 22/21/21."""
    if n < _TABLE_MIN:
        return ()
    return (22, 21, 21) if n >= _WIDE_MIN else (16, 16, 16, 16)


class _Segment:
    """An immutable multi-index over a fixed set of entries, with tombstones for removals.

    Its arrays are built by :meth:`build` or memory-mapped from an index file
    (:class:`CodeSegment`); the tombstones and probe plans are always the process's own.
    """

    def __init__(self, ids: np.ndarray, codes: np.ndarray, pos: np.ndarray | None,
                 offsets: np.ndarray, widths: tuple[int, ...]) -> None:
        """Wrap tables laid out as :meth:`build` lays them out."""
        self.ids = ids
        self.dead = np.zeros(len(ids), dtype=bool)
        self.n_dead = 0
        self.widths = widths
        self.shifts = np.array([sum(widths[:t]) for t in range(len(widths))], dtype=np.uint64)
        self.key_masks = np.array([(1 << w) - 1 for w in widths], dtype=np.uint64)
        # Table t's codes sit at [t*n, (t+1)*n) and its 2**bits bucket starts at ``bases[t]``;
        # a bucket ends where the next one (or the next table's first one) starts. Widths do
        # not increase, so every base is a multiple of its table's 2**bits.
        self.bases = np.cumsum([0, *(1 << w for w in widths[:-1])], dtype=np.int64) \
            if widths else np.zeros(0, dtype=np.int64)
        self.codes, self.pos, self.offsets = codes, pos, offsets
        self._plans: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}

    @classmethod
    def build(cls, ids: np.ndarray, codes: np.ndarray) -> _Segment:
        """Index ``codes`` under ``ids`` (unique, ascending)."""
        n = len(ids)
        widths = _layout(n)
        if not widths:
            return cls(ids, codes, None, np.zeros(1, dtype=np.uint32), ())
        if len(widths) * n >= 1 << 32:
            raise ValueError(f"a segment holds fewer than {2**32 // len(widths)} entries")
        codes_parts, pos_parts, offset_parts = [], [], []
        for table, width in enumerate(widths):
            mask = np.uint64((1 << width) - 1)
            keys = (codes >> np.uint64(sum(widths[:table]))) & mask
            order = np.sort((keys << np.uint64(32)) | np.arange(n, dtype=np.uint64))
            order = (order & _U32).astype(np.uint32)
            counts = np.bincount(keys.astype(np.intp), minlength=int(mask) + 1)
            starts = np.cumsum(counts) - counts + table * n
            codes_parts.append(codes[order])
            pos_parts.append(order)
            offset_parts.append(starts.astype(np.uint32))
        offset_parts.append(np.array([len(widths) * n], dtype=np.uint32))
        return cls(ids, np.concatenate(codes_parts), np.concatenate(pos_parts),
                   np.concatenate(offset_parts), widths)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def live(self) -> int:
        return len(self.ids) - self.n_dead

    @property
    def nbytes(self) -> int:
        arrays = [self.ids, self.dead, self.codes, self.offsets]
        arrays += [] if self.pos is None else [self.pos]
        arrays += [a for plan in self._plans.values() if plan for a in plan]
        return sum(a.nbytes for a in arrays)

    def live_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, codes)`` of the entries not removed, in id order."""
        codes = self.codes[: len(self)]
        if self.pos is not None:
            codes = np.empty_like(codes)
            codes[self.pos[: len(self)]] = self.codes[: len(self)]
        keep = ~self.dead
        return self.ids[keep], codes[keep]

    def find(self, entry_id: int) -> int:
        """The entry number of a live ``entry_id``, or -1."""
        at = int(np.searchsorted(self.ids, entry_id))
        if at < len(self.ids) and self.ids[at] == entry_id and not self.dead[at]:
            return at
        return -1

    def kill(self, entries: np.ndarray) -> None:
        """Tombstone live entries by entry number."""
        self.dead[entries] = True
        self.n_dead += len(entries)

    def kill_ids(self, ids: np.ndarray) -> None:
        """Tombstone whichever of ``ids`` (distinct) are live here."""
        if len(self.ids):
            at = np.searchsorted(self.ids, ids).clip(max=len(self.ids) - 1)
            self.kill(at[(self.ids[at] == ids) & ~self.dead[at]])

    def search(self, queries: np.ndarray, radius: int) -> tuple[np.ndarray, ...]:
        """``(query number, id, distance)`` of every live entry within ``radius``."""
        plan = self._plan(radius)
        if plan is None:
            query, entry, distance = _scan(self.codes[: len(self)], queries, radius)
            if self.pos is not None:
                entry = self.pos[entry]
        else:
            step = max(1, _STEP_PROBES // len(plan[0]))
            found: list[tuple[np.ndarray, ...]] = []
            for first in range(0, len(queries), step):
                query, entry, distance = self._probe(queries[first : first + step], radius, plan)
                found.append((query + first, entry, distance))
            query, entry, distance = _concat(found, 3)
        keep = ~self.dead[entry]
        return query[keep], self.ids[entry[keep]], distance[keep]

    def _plan(self, radius: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Which buckets a query probes at ``radius``, or None when a scan is cheaper.

        Generalised pigeonhole: with ``radius = m*a + b`` (``0 <= b < m``), a code within the
        radius has, for any choice of ``b + 1`` tables, a key within ``a`` of the query's in
        one of those tables or within ``a - 1`` in one of the others (otherwise the distances
        would sum past the radius). The cheapest choice by the cost model is taken. Returns
        per probe: the table number, and the XOR mask with the table's base in ``offsets`` (its
        bits lie above the key's, so one XOR both flips key bits and adds the base).
        """
        if radius in self._plans:
            return self._plans[radius]
        plan = None
        if self.widths:
            a, b = divmod(radius, len(self.widths))
            best: tuple[int, ...] = ()
            best_cost = _SCAN_COST * len(self)
            for wide in itertools.combinations(range(len(self.widths)), b + 1):
                weights = [a if t in wide else a - 1 for t in range(len(self.widths))]
                cost = sum(
                    _ball(w, k) * (_PROBE_COST + len(self) / 2**w)
                    for w, k in zip(self.widths, weights, strict=True)
                )
                if cost < best_cost:
                    best, best_cost = tuple(weights), cost
            if best:
                pairs = zip(self.widths, best, strict=True)
                tables = [(t, _masks(w, k)) for t, (w, k) in enumerate(pairs)]
                plan = (
                    np.concatenate([np.full(len(m), t) for t, m in tables]),
                    np.concatenate([m | self.bases[t] for t, m in tables]),
                )
        self._plans[radius] = plan
        return plan

    def _probe(
        self, queries: np.ndarray, radius: int, plan: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, ...]:
        """Probe the planned buckets for a few queries and verify the codes in them.

        Returns ``(query number, entry number, distance)``, each match once.
        """
        assert self.pos is not None  # only segments with tables have plans, and positions
        tables, masks = plan
        keys = ((queries[:, None] >> self.shifts) & self.key_masks).astype(np.int64)
        keys = keys[:, tables]
        keys ^= masks
        keys = keys.ravel()
        starts = self.offsets[keys]
        lengths = self.offsets[1:][keys] - starts
        per_query = lengths.reshape(len(queries), -1).sum(axis=1, dtype=np.int64)
        nonempty = np.flatnonzero(lengths)
        if not len(nonempty):
            return _concat([], 3)
        starts = starts[nonempty].astype(np.int64)
        lengths = lengths[nonempty].astype(np.int64)
        # Candidate positions: a run of ones from each bucket's start, so a cumulative sum of
        # steps (1 inside a bucket, a jump to the next bucket's start) lists every position.
        ends = np.cumsum(lengths)
        steps = np.ones(int(ends[-1]), dtype=np.int64)
        steps[0] = starts[0]
        steps[ends[:-1]] = starts[1:] - (starts[:-1] + lengths[:-1]) + 1
        candidates = np.cumsum(steps, out=steps)
        codes = self.codes[candidates]
        if len(queries) == 1:
            codes ^= queries[0]
        else:
            codes ^= np.repeat(queries, per_query)
        distances = np.bitwise_count(codes)
        (hits,) = np.nonzero(distances <= radius)
        query = np.searchsorted(np.cumsum(per_query), hits, side="right")
        entry = self.pos[candidates[hits]].astype(np.int64)
        # A match may turn up in several tables: keep each (query, entry) once.
        _, first = np.unique(query * len(self) + entry, return_index=True)
        return query[first], entry[first], distances[hits[first]]


_EMPTY = np.zeros(0, dtype=np.int64)


class HammingIndex(SignalIndex):
    """Exact radius search over 64-bit codes; sub-linear via multi-index hashing.

    Holds a main and a recent :class:`_Segment` plus a delta buffer of at most ``delta_limit``
    entries (see the module docstring). Batch methods take and return numpy arrays.
    """

    def __init__(self, *, delta_limit: int = 4096) -> None:
        if delta_limit < 1:
            raise ValueError(f"delta_limit must be positive, got {delta_limit}")
        self._delta_limit = delta_limit
        self._main = _Segment.build(_EMPTY, _EMPTY.astype(np.uint64))
        self._recent: _Segment | None = None
        self._delta_ids = np.zeros(delta_limit, dtype=np.int64)
        self._delta_codes = np.zeros(delta_limit, dtype=np.uint64)
        self._delta_size = 0

    def __len__(self) -> int:
        return sum(s.live for s in self._segments()) + self._delta_size

    @property
    def nbytes(self) -> int:
        """Bytes held in numpy arrays: tables, ids, tombstones, probe plans and the delta."""
        delta = self._delta_ids.nbytes + self._delta_codes.nbytes
        return sum(s.nbytes for s in self._segments()) + delta

    def add(self, entry_id: int, value: str) -> None:
        code = hex_to_u64(value)
        self._discard(entry_id)
        self._delta_ids[self._delta_size] = entry_id
        self._delta_codes[self._delta_size] = code
        self._delta_size += 1
        if self._delta_size == self._delta_limit:
            self._merge(_EMPTY, _EMPTY.astype(np.uint64))

    def add_many(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Add (or replace) many entries at once, as if by :meth:`add` in order."""
        ids = np.asarray(ids, dtype=np.int64)
        codes = np.asarray(codes, dtype=np.uint64)
        if ids.shape != codes.shape or ids.ndim != 1:
            raise ValueError("ids and codes must be 1-D arrays of the same length")
        if np.any(ids[1:] <= ids[:-1]):  # not strictly ascending: sort, last code for an id wins
            _, last = np.unique(ids[::-1], return_index=True)
            ids, codes = ids[::-1][last], codes[::-1][last]
        size = self._delta_size
        stale = np.isin(self._delta_ids[:size], ids)
        if stale.any():
            keep = np.flatnonzero(~stale)
            self._delta_ids[: len(keep)] = self._delta_ids[keep]
            self._delta_codes[: len(keep)] = self._delta_codes[keep]
            self._delta_size = len(keep)
        for segment in self._segments():
            segment.kill_ids(ids)
        if self._delta_size + len(ids) < self._delta_limit:
            end = self._delta_size + len(ids)
            self._delta_ids[self._delta_size : end] = ids
            self._delta_codes[self._delta_size : end] = codes
            self._delta_size = end
        else:
            self._merge(ids, codes)
        self._clean()

    def extend(self, entries: list[tuple[int, str]]) -> None:
        """Bulk-load hex values (the registry's start-up path) through :meth:`add_many`."""
        if entries:
            self.add_many(np.fromiter((i for i, _ in entries), np.int64, len(entries)),
                          np.fromiter((hex_to_u64(v) for _, v in entries), np.uint64,
                                      len(entries)))

    def remove(self, entry_id: int) -> None:
        self._discard(entry_id)
        self._clean()

    def query(self, value: str, limit: float) -> list[tuple[int, float]]:
        """``(entry_id, distance)`` within ``limit`` bits of ``value``, nearest first."""
        queries = np.array([hex_to_u64(value)], dtype=np.uint64)
        ids, distances = self.query_many(queries, limit)[0]
        return list(zip(ids.tolist(), distances.tolist(), strict=True))

    def query_many(
        self, codes: np.ndarray, max_distance: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query code: ``(ids, distances)`` within ``max_distance``, nearest first.

        Ties are ordered by id; distances are float64 like :meth:`query`'s.
        """
        queries = np.asarray(codes, dtype=np.uint64).ravel()
        if max_distance < 0:
            return [(_EMPTY, np.zeros(0)) for _ in queries]
        radius = min(math.floor(max_distance), 64)
        found = [segment.search(queries, radius) for segment in self._segments()]
        query, entry, distance = _scan(self._delta_codes[: self._delta_size], queries, radius)
        found.append((query, self._delta_ids[entry], distance))
        query, ids, distances = _concat(found, 3)
        order = np.lexsort((ids, distances, query))
        query, ids, distances = query[order], ids[order], distances[order].astype(np.float64)
        bounds = np.searchsorted(query, np.arange(len(queries) + 1)).tolist()
        return [(ids[lo:hi], distances[lo:hi]) for lo, hi in itertools.pairwise(bounds)]

    def _segments(self) -> list[_Segment]:
        return [self._main] if self._recent is None else [self._main, self._recent]

    def _discard(self, entry_id: int) -> None:
        """Remove a live ``entry_id`` wherever it is (the delta, recent or main segment)."""
        size = self._delta_size
        (at,) = np.nonzero(self._delta_ids[:size] == entry_id)
        if len(at):
            last = size - 1
            self._delta_ids[at[0]] = self._delta_ids[last]
            self._delta_codes[at[0]] = self._delta_codes[last]
            self._delta_size = last
            return
        for segment in self._segments():
            entry = segment.find(entry_id)
            if entry >= 0:
                segment.kill(np.array([entry]))
                return

    def _merge(self, ids: np.ndarray, codes: np.ndarray) -> None:
        """Empty the delta (plus ``ids``/``codes``) into the recent or the main segment."""
        fresh_ids = np.concatenate([self._delta_ids[: self._delta_size], ids])
        fresh_codes = np.concatenate([self._delta_codes[: self._delta_size], codes])
        self._delta_size = 0
        # Oldest first: ids usually ascend with age, and then no sort is needed.
        parts = [] if self._recent is None else [self._recent.live_entries()]
        parts.append((fresh_ids, fresh_codes))
        if sum(len(p[0]) for p in parts) * _MERGE_RATIO > self._main.live:
            self._main, self._recent = _build([self._main.live_entries(), *parts]), None
        else:
            self._recent = _build(parts)

    def _clean(self) -> None:
        """Rebuild a segment that is mostly tombstones, so removals free their memory."""
        for segment in self._segments():
            if segment.n_dead > _DEAD_LIMIT * len(segment):
                rebuilt = _build([segment.live_entries()])
                if segment is self._main:
                    self._main = rebuilt
                else:
                    self._recent = rebuilt


def _build(parts: list[tuple[np.ndarray, np.ndarray]]) -> _Segment:
    """A segment over the union of ``(ids, codes)`` parts, whose ids are all distinct."""
    ids = np.concatenate([p[0] for p in parts])
    codes = np.concatenate([p[1] for p in parts])
    if np.any(ids[1:] < ids[:-1]):
        order = np.argsort(ids)
        ids, codes = ids[order], codes[order]
    return _Segment.build(ids, codes)


@dataclass(frozen=True)
class CodeSegment:
    """A segment as an index file stores it (:mod:`matching.index_file`), with what each
    entry stands for: entry ``ids[i]`` (ascending) is of work ``work_ids[i]``, variant
    ``variants[variant_codes[i]]``; ``codes``, ``pos``, ``offsets`` and key ``widths`` are
    the tables of :class:`_Segment` (``pos`` empty when it has none: it is scanned)."""

    ids: np.ndarray
    work_ids: np.ndarray
    variant_codes: np.ndarray
    variants: tuple[str, ...]
    codes: np.ndarray
    pos: np.ndarray
    offsets: np.ndarray
    widths: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by its file name stem."""
        return {"ids": self.ids, "work_ids": self.work_ids, "variant_codes": self.variant_codes,
                "codes": self.codes, "pos": self.pos, "offsets": self.offsets,
                "widths": self.widths}

    def tables(self) -> _Segment:
        """Its tables as a searchable segment (sharing the arrays, with its own tombstones)."""
        widths = tuple(int(w) for w in self.widths)
        return _Segment(self.ids, self.codes, self.pos if widths else None, self.offsets, widths)

    def entries(self, skip: Iterable[int] = ()) -> tuple[np.ndarray, ...]:
        """``(ids, work ids, variant names, codes)`` of its entries less the ``skip`` ids."""
        segment = self.tables()
        segment.kill_ids(np.unique(np.fromiter(skip, np.int64)))
        ids, codes = segment.live_entries()
        keep = ~segment.dead
        variants = np.array(self.variants, dtype=object)[self.variant_codes[keep]] \
            if len(self.variants) else np.zeros(0, dtype=object)
        return ids, np.asarray(self.work_ids[keep]), variants, codes


def build_code_segment(ids: np.ndarray, work_ids: np.ndarray, variants: Sequence[str],
                       codes: np.ndarray) -> CodeSegment:
    """A :class:`CodeSegment` of entries ``ids`` (distinct) with their works, variant names
    and 64-bit codes."""
    order = np.argsort(np.asarray(ids, np.int64), kind="stable")
    names = tuple(sorted(set(variants)))
    position = {v: i for i, v in enumerate(names)}
    variant_codes = np.array([position[v] for v in variants], np.uint8).reshape(-1)[order]
    segment = _Segment.build(np.asarray(ids, np.int64)[order],
                             np.asarray(codes, np.uint64)[order])
    return CodeSegment(
        ids=segment.ids, work_ids=np.asarray(work_ids, np.int64)[order],
        variant_codes=variant_codes, variants=names, codes=segment.codes,
        pos=np.zeros(0, np.uint32) if segment.pos is None else segment.pos,
        offsets=segment.offsets, widths=np.array(segment.widths, np.uint8))


class SharedHammingIndex(SharedSignalIndex):
    """:class:`HammingIndex`'s exact radius search over :class:`CodeSegment` objects (an
    index file's, memory-mapped: one copy shared by a node's processes), plus a
    :class:`HammingIndex` of the entries added since. Knows the work of every entry of its
    segments; entries added later have their owner kept by the caller."""

    def __init__(self, stored: Sequence[CodeSegment] = ()) -> None:
        self._stored = tuple(stored)
        self._segments = [s.tables() for s in self._stored]
        self._delta = HammingIndex()

    def __len__(self) -> int:
        return sum(s.live for s in self._segments) + len(self._delta)

    @property
    def nbytes(self) -> int:
        """Bytes of its arrays, mapped or not (as :attr:`HammingIndex.nbytes`)."""
        return sum(s.nbytes for s in self._segments) + self._delta.nbytes

    def _kill(self, ids: np.ndarray) -> None:
        for segment in self._segments:
            segment.kill_ids(ids)

    def add(self, entry_id: int, value: str) -> None:
        self._kill(np.array([entry_id], np.int64))
        self._delta.add(entry_id, value)

    def extend(self, entries: list[tuple[int, str]]) -> None:
        self._kill(np.unique(np.fromiter((i for i, _ in entries), np.int64, len(entries))))
        self._delta.extend(entries)

    def remove(self, entry_id: int) -> None:
        self._kill(np.array([entry_id], np.int64))
        self._delta.remove(entry_id)

    def owner(self, entry_id: int) -> tuple[int, str] | None:
        for stored, segment in zip(self._stored, self._segments, strict=True):
            at = segment.find(entry_id)
            if at >= 0:
                return int(stored.work_ids[at]), stored.variants[int(stored.variant_codes[at])]
        return None

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and work ids of the live entries of its segments (not of later additions)."""
        parts = [(stored.ids[~segment.dead], stored.work_ids[~segment.dead])
                 for stored, segment in zip(self._stored, self._segments, strict=True)]
        return (np.concatenate([p[0] for p in parts] + [_EMPTY]),
                np.concatenate([p[1] for p in parts] + [_EMPTY]))

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        """``(entry_id, distance)`` within ``limit`` bits of ``value``, nearest first (ties by
        id), as :meth:`HammingIndex.query`."""
        if limit < 0:
            return []
        query = np.array([hex_to_u64(value)], dtype=np.uint64)
        radius = min(math.floor(limit), 64)
        found = [segment.search(query, radius)[1:] for segment in self._segments]
        ids, distances = self._delta.query_many(query, limit)[0]
        found.append((ids, distances))
        ids = np.concatenate([f[0] for f in found])
        distances = np.concatenate([f[1] for f in found]).astype(np.float64)
        order = np.lexsort((ids, distances))
        return list(zip(ids[order].tolist(), distances[order].tolist(), strict=True))
