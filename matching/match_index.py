"""The match index: every registered fingerprint, searchable per algorithm.

Entries are fingerprint ids; each remembers its work and that work's threshold (a per-work
threshold overrides the signal's default). Pure: loading from the database happens in
:mod:`swordnet.works.registry`.
"""

from __future__ import annotations

import copy
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matching.registry import signal_type
from matching.signal import SharedSignalIndex, SignalIndex


@dataclass(frozen=True)
class Match:
    """A registered work found in a copy, with which stage and method found it and why."""

    fingerprint_id: int
    work_id: int
    algorithm: str
    variant: str
    stage: int
    score: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Entry:
    work_id: int
    algorithm: str
    variant: str
    threshold: float


class _EntryTable(MutableMapping[int, _Entry]):
    """Fingerprint id -> :class:`_Entry`, mostly in numpy columns sorted by id (about 20
    bytes an entry, where a dict of entry objects costs some 300 in every crawl worker),
    plus a dict of recent additions folded into the columns when it outgrows a quarter of
    them. Algorithm, variant and threshold together are one small code."""

    FOLD = 4096

    def __init__(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._works = np.zeros(0, np.int64)
        self._codes = np.zeros(0, np.uint32)
        self._alive = np.zeros(0, bool)
        self._live = 0
        self._kinds: list[tuple[str, str, float]] = []
        self._kind_codes: dict[tuple[str, str, float], int] = {}
        self._recent: dict[int, _Entry] = {}

    def _find(self, entry_id: int) -> int | None:
        at = int(np.searchsorted(self._ids, entry_id))
        if at < len(self._ids) and int(self._ids[at]) == entry_id and self._alive[at]:
            return at
        return None

    def _at(self, at: int) -> _Entry:
        algorithm, variant, threshold = self._kinds[int(self._codes[at])]
        return _Entry(int(self._works[at]), algorithm, variant, threshold)

    def __getitem__(self, entry_id: int) -> _Entry:
        found = self._recent.get(entry_id)
        if found is not None:
            return found
        at = self._find(entry_id)
        if at is None:
            raise KeyError(entry_id)
        return self._at(at)

    def __setitem__(self, entry_id: int, entry: _Entry) -> None:
        at = self._find(entry_id)
        if at is not None:
            self._alive[at] = False
            self._live -= 1
        self._recent[entry_id] = entry
        if len(self._recent) > max(self.FOLD, self._live // 4):
            self._fold()

    def __delitem__(self, entry_id: int) -> None:
        if self._recent.pop(entry_id, None) is not None:
            return
        at = self._find(entry_id)
        if at is None:
            raise KeyError(entry_id)
        self._alive[at] = False
        self._live -= 1

    def __iter__(self) -> Iterator[int]:
        yield from self._ids[self._alive].tolist()
        yield from list(self._recent)

    def __len__(self) -> int:
        return self._live + len(self._recent)

    def works(self, algorithm: str) -> np.ndarray:
        """The distinct work ids of ``algorithm``'s entries, ascending."""
        codes = [c for c, kind in enumerate(self._kinds) if kind[0] == algorithm]
        keep = self._alive & np.isin(self._codes, codes)
        recent = [e.work_id for e in self._recent.values() if e.algorithm == algorithm]
        return np.unique(np.concatenate([self._works[keep], np.array(recent, np.int64)]))

    def settle(self) -> None:
        """Fold the recent additions into the columns if there are many (after a bulk
        load: up to a quarter of the entries would otherwise stay in the dict)."""
        if len(self._recent) > self.FOLD:
            self._fold()

    def _code(self, entry: _Entry) -> int:
        kind = (entry.algorithm, entry.variant, entry.threshold)
        code = self._kind_codes.get(kind)
        if code is None:
            code = self._kind_codes[kind] = len(self._kinds)
            self._kinds.append(kind)
        return code

    def _fold(self) -> None:
        recent = self._recent
        ids = np.concatenate([self._ids[self._alive], np.fromiter(recent, np.int64,
                                                                  len(recent))])
        works = np.concatenate([self._works[self._alive], np.fromiter(
            (e.work_id for e in recent.values()), np.int64, len(recent))])
        codes = np.concatenate([self._codes[self._alive], np.fromiter(
            (self._code(e) for e in recent.values()), np.uint32, len(recent))])
        order = np.argsort(ids, kind="stable")
        self._ids, self._works, self._codes = ids[order], works[order], codes[order]
        self._alive = np.ones(len(ids), bool)
        self._live = len(ids)
        self._recent = {}


class MatchIndex:
    """Per-algorithm signal indexes plus what each fingerprint id stands for."""

    def __init__(self) -> None:
        self._indexes: dict[str, SignalIndex] = {}
        self._entries = _EntryTable()
        # algorithm -> its entries' distinct work ids, made when asked (a set per algorithm
        # would cost some 60 bytes a work in every crawl worker); cleared on every change
        self._works: dict[str, np.ndarray] = {}
        self._loosest: dict[str, float] = {}
        # Thresholds that replace one work's own ({work_id: {algorithm: threshold}}).
        self._overrides: dict[int, Mapping[str, float]] = {}
        # algorithm -> per-work thresholds, for indexes whose entries know their works
        self._shared: dict[str, dict[int, float]] = {}
        self._shared_works: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        shared = sum(len(self._indexes[a]) for a in self._shared)
        return len(self._entries) + shared - sum(
            1 for e in self._entries.values() if e.algorithm in self._shared)

    def attach(self, algorithm: str, index: SharedSignalIndex,
               thresholds: dict[int, float]) -> None:
        """Serve ``algorithm`` from ``index`` (an index file's: its entries know their
        works, so none is recorded here); ``thresholds`` are per-work overrides. Later
        :meth:`extend` calls add to it."""
        signal = signal_type(algorithm)
        self._indexes[algorithm] = index
        self._shared[algorithm] = dict(thresholds)
        self._shared_works[algorithm] = np.unique(index.entries()[1])
        pick = min if signal.higher_is_closer else max
        self._loosest[algorithm] = pick([signal.default_threshold, *thresholds.values()])

    def fingerprint_ids(self) -> np.ndarray:
        """Every indexed fingerprint id, ascending (an array: a set of a registry's ids would
        cost some 60 bytes an id)."""
        found = [np.fromiter(self._entries, np.int64, len(self._entries))]
        for algorithm in self._shared:
            index = self._indexes[algorithm]
            assert isinstance(index, SharedSignalIndex)
            found.append(index.entries()[0])
        return np.unique(np.concatenate(found))

    def remove_fingerprints(self, fingerprint_ids: Iterable[int]) -> None:
        """Forget fingerprints (of deleted works); unknown ids are ignored."""
        self._works.clear()
        for fingerprint_id in fingerprint_ids:
            entry = self._entries.pop(fingerprint_id, None)
            if entry is not None:
                self._indexes[entry.algorithm].remove(fingerprint_id)
            for algorithm in self._shared:
                self._indexes[algorithm].remove(fingerprint_id)
        for algorithm in self._shared:
            index = self._indexes[algorithm]
            assert isinstance(index, SharedSignalIndex)
            self._shared_works[algorithm] = np.unique(index.entries()[1])

    def _entry(self, algorithm: str, fingerprint_id: int) -> _Entry | None:
        entry = self._entries.get(fingerprint_id)
        thresholds = self._shared.get(algorithm)
        if entry is not None or thresholds is None:
            return entry
        index = self._indexes[algorithm]
        assert isinstance(index, SharedSignalIndex)
        owner = index.owner(fingerprint_id)
        if owner is None:
            return None
        return _Entry(owner[0], algorithm, owner[1],
                      thresholds.get(owner[0], signal_type(algorithm).default_threshold))

    def signal_index(self, algorithm: str) -> SignalIndex | None:
        """The index holding ``algorithm``'s fingerprints, if any were added."""
        return self._indexes.get(algorithm)

    def has_work(self, algorithm: str, work_id: int) -> bool:
        """Whether ``work_id`` has any fingerprint of ``algorithm`` indexed."""
        works = self._works.get(algorithm)
        if works is None:
            works = self._works[algorithm] = self._entries.works(algorithm)
        for found in (works, self._shared_works.get(algorithm)):
            if found is not None and len(found):
                at = min(int(np.searchsorted(found, work_id)), len(found) - 1)
                if int(found[at]) == work_id:
                    return True
        return False

    def has(self, algorithm: str) -> bool:
        """Whether any fingerprint of ``algorithm`` is indexed."""
        index = self._indexes.get(algorithm)
        return index is not None and len(index) > 0

    def add(
        self,
        fingerprint_id: int,
        work_id: int,
        algorithm: str,
        value: str,
        *,
        variant: str = "original",
        threshold: float | None = None,
    ) -> None:
        self.extend([(fingerprint_id, work_id, algorithm, value, variant, threshold)])

    def extend(self, fingerprints: Iterable[tuple[int, int, str, str, str, float | None]]) -> None:
        """Add ``(fingerprint_id, work_id, algorithm, value, variant, threshold)`` rows in bulk.

        A ``None`` threshold means the signal's default.
        """
        by_algorithm: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for fingerprint_id, work_id, algorithm, value, variant, threshold in fingerprints:
            signal = signal_type(algorithm)
            limit = signal.default_threshold if threshold is None else threshold
            # one string object per algorithm and variant, not one per row read: a registry
            # of 10^6 images would otherwise hold millions of copies of "original"
            algorithm, variant = sys.intern(algorithm), sys.intern(variant)
            self._entries[fingerprint_id] = _Entry(work_id, algorithm, variant, limit)
            loosest = self._loosest.get(algorithm, limit)
            self._loosest[algorithm] = (min if signal.higher_is_closer else max)(loosest, limit)
            by_algorithm[algorithm].append((fingerprint_id, value))
        self._entries.settle()
        self._works.clear()
        for algorithm, entries in by_algorithm.items():
            index = self._indexes.get(algorithm)
            if index is None:
                index = self._indexes[algorithm] = signal_type(algorithm).new_index()
            index.extend(entries)

    def with_thresholds(self, work_id: int, thresholds: Mapping[str, float]) -> MatchIndex:
        """A view of this index (sharing its fingerprints) that judges ``work_id`` by
        ``thresholds`` instead of its own, e.g. those in force when a hit was confirmed.

        >>> index = MatchIndex()
        >>> index.add(1, 7, "phash", "ffffffffffffffff", threshold=2)
        >>> [m.work_id for m in index.match("phash", "fffffffffffffff0")]
        []
        >>> lenient = index.with_thresholds(7, {"phash": 6})
        >>> [m.work_id for m in lenient.match("phash", "fffffffffffffff0")]
        [7]
        """
        view = copy.copy(self)
        view._overrides = {**self._overrides, work_id: dict(thresholds)}
        view._loosest = dict(self._loosest)
        for algorithm, limit in thresholds.items():
            if algorithm in view._loosest:
                pick = max if not signal_type(algorithm).higher_is_closer else min
                view._loosest[algorithm] = pick(view._loosest[algorithm], limit)
        return view

    def _threshold(self, entry: _Entry) -> float:
        return self._overrides.get(entry.work_id, {}).get(entry.algorithm, entry.threshold)

    def remove_work(self, work_id: int) -> None:
        for algorithm in self._shared:
            index = self._indexes[algorithm]
            assert isinstance(index, SharedSignalIndex)
            ids, works = index.entries()
            for fingerprint_id in ids[works == work_id].tolist():
                index.remove(fingerprint_id)
            works = self._shared_works[algorithm]
            self._shared_works[algorithm] = works[works != work_id]
        for fingerprint_id, entry in list(self._entries.items()):
            if entry.work_id == work_id:
                self._indexes[entry.algorithm].remove(fingerprint_id)
                del self._entries[fingerprint_id]
        self._works.clear()

    def match(self, algorithm: str, value: Any, *, limit: float | None = None) -> list[Match]:
        """Registered works within their thresholds of ``value``, best fingerprint per work.

        ``value`` is what the signal's ``query_value`` returns for crawled content. ``limit``
        replaces every threshold (to measure how close non-matches come).
        """
        index = self._indexes.get(algorithm)
        if index is None:
            return []
        signal = signal_type(algorithm)
        best: dict[int, Match] = {}
        loosest = self._loosest[algorithm] if limit is None else limit
        for fingerprint_id, score, detail in index.query_detailed(value, loosest):
            entry = self._entry(algorithm, fingerprint_id)
            threshold = self._threshold(entry) if entry is not None and limit is None \
                else loosest
            if entry is None or entry.work_id in best or not signal.accepts(score, threshold):
                continue
            best[entry.work_id] = Match(fingerprint_id, entry.work_id, algorithm, entry.variant,
                                        signal.stage, score, detail)
        direction = -1 if signal.higher_is_closer else 1
        return sorted(best.values(), key=lambda m: (direction * m.score, m.work_id))
