"""The match index: every registered fingerprint, searchable per algorithm.

Entries are fingerprint ids; each remembers its work and that work's threshold (a per-work
threshold overrides the signal's default). Pure: loading from the database happens in
:mod:`swordnet.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from matching.registry import signal_type
from matching.signal import SignalIndex


@dataclass(frozen=True)
class Match:
    fingerprint_id: int
    work_id: int
    algorithm: str
    variant: str
    distance: float


@dataclass(frozen=True)
class _Entry:
    work_id: int
    algorithm: str
    variant: str
    threshold: float


class MatchIndex:
    """Per-algorithm signal indexes plus what each fingerprint id stands for."""

    def __init__(self) -> None:
        self._indexes: dict[str, SignalIndex] = {}
        self._entries: dict[int, _Entry] = {}
        self._max_threshold: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._entries)

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
        signal = signal_type(algorithm)
        limit = signal.default_threshold if threshold is None else threshold
        index = self._indexes.get(algorithm)
        if index is None:
            index = self._indexes[algorithm] = signal.new_index()
        index.add(fingerprint_id, value)
        self._entries[fingerprint_id] = _Entry(work_id, algorithm, variant, limit)
        self._max_threshold[algorithm] = max(self._max_threshold.get(algorithm, 0.0), limit)

    def remove_work(self, work_id: int) -> None:
        for fingerprint_id, entry in list(self._entries.items()):
            if entry.work_id == work_id:
                self._indexes[entry.algorithm].remove(fingerprint_id)
                del self._entries[fingerprint_id]

    def match(self, algorithm: str, value: str) -> list[Match]:
        """Registered works within their thresholds of ``value``, best fingerprint per work."""
        index = self._indexes.get(algorithm)
        if index is None:
            return []
        best: dict[int, Match] = {}
        for fingerprint_id, distance in index.query(value, self._max_threshold[algorithm]):
            entry = self._entries[fingerprint_id]
            if distance > entry.threshold or entry.work_id in best:
                continue
            best[entry.work_id] = Match(
                fingerprint_id, entry.work_id, algorithm, entry.variant, distance
            )
        return sorted(best.values(), key=lambda m: (m.distance, m.work_id))
