"""The SHA-256 signal's index: exact lookup of digest lines (see :mod:`matching.software`)."""

from __future__ import annotations

from typing import Any

from matching.signal import SignalIndex
from matching.software_values import (
    QueryLine,
    match_detail,
    parse_value,
    query_lines,
    rank,
    sha256_digest,
)


class Sha256Index(SignalIndex):
    """Exact lookup of SHA-256 lines: a dict from digest to the entries holding it."""

    def __init__(self) -> None:
        self._by_digest: dict[str, dict[int, str | None]] = {}
        self._entries: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry_id: int, value: str) -> None:
        lines = parse_value(value, sha256_digest, allow_empty=False)
        self.remove(entry_id)
        self._entries[entry_id] = [digest for digest, _ in lines]
        for digest, label in lines:
            self._by_digest.setdefault(digest, {}).setdefault(entry_id, label)

    def remove(self, entry_id: int) -> None:
        for digest in self._entries.pop(entry_id, ()):
            holders = self._by_digest.get(digest, {})
            holders.pop(entry_id, None)
            if not holders:
                self._by_digest.pop(digest, None)

    def query(self, value: str | tuple[QueryLine, ...], limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: str | tuple[QueryLine, ...], limit: float
                       ) -> list[tuple[int, float, dict[str, Any]]]:
        if limit < 0:
            return []
        best: dict[int, tuple[int, QueryLine, str | None]] = {}
        for line in query_lines(value, sha256_digest):
            for entry_id, work_label in self._by_digest.get(line.digest, {}).items():
                order = rank(line, work_label)
                if entry_id not in best or order < best[entry_id][0]:
                    best[entry_id] = (order, line, work_label)
        return [(entry_id, 0.0, match_detail(line, work_label))
                for entry_id, (_, line, work_label)
                in sorted(best.items(), key=lambda item: (item[1][0], item[0]))]
