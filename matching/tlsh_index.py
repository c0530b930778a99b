"""The TLSH signal's index: TLSH digest lines in numpy arrays, distances computed vectorised.

Rows are sorted by their length byte, so a query line is scored only against rows whose
length byte is within reach of the limit; the rest is bit arithmetic that reproduces
``tlsh.diff`` exactly (see :func:`_distances`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from matching.signal import SignalIndex
from matching.software_values import (
    QueryLine,
    match_detail,
    parse_value,
    query_lines,
    rank,
    tlsh_digest,
)

_M55 = np.uint64(0x5555_5555_5555_5555)
_ONE = np.uint64(1)


@dataclass
class _Rows:
    """Decoded TLSH lines: the header fields and the 128 2-bit buckets as 4 words each."""

    ids: np.ndarray  # entry id (int64)
    line: np.ndarray  # the line's position in its entry's value (int32)
    lvalue: np.ndarray  # log-length byte (int16)
    checksum: np.ndarray  # (uint8)
    q1: np.ndarray  # quartile ratios (int16)
    q2: np.ndarray
    words: np.ndarray  # (n, 4) uint64

    @classmethod
    def decode(cls, ids: list[int], lines: list[int], digests: list[str]) -> _Rows:
        raw = np.frombuffer(bytes.fromhex("".join(d[2:] for d in digests)), dtype=np.uint8)
        raw = raw.reshape(-1, 35)
        swapped = ((raw[:, 1] & 0x0F) << 4) | (raw[:, 1] >> 4)  # stored nibble-swapped
        return cls(np.array(ids, dtype=np.int64), np.array(lines, dtype=np.int32),
                   swapped.astype(np.int16), raw[:, 0].copy(),
                   (raw[:, 2] >> 4).astype(np.int16), (raw[:, 2] & 0x0F).astype(np.int16),
                   np.ascontiguousarray(raw[:, 3:]).view("<u8").reshape(-1, 4))

    @classmethod
    def concat(cls, parts: list[_Rows]) -> _Rows:
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("ids", "line", "lvalue", "checksum", "q1", "q2", "words")))

    def take(self, order: np.ndarray | slice) -> _Rows:
        return _Rows(self.ids[order], self.line[order], self.lvalue[order],
                     self.checksum[order], self.q1[order], self.q2[order], self.words[order])

    def __len__(self) -> int:
        return len(self.ids)


_NO_ROWS = _Rows.decode([], [], [])


def _mod_diff(a: np.ndarray, b: int, span: int) -> np.ndarray:
    d = np.abs(a - b)
    return np.minimum(d, span - d)


def _distances(rows: _Rows, query: _Rows, at: int) -> np.ndarray:
    """TLSH distances (as ``tlsh.diff``) of every row to query row ``at``.

    Buckets are 2-bit values; ``tlsh.diff`` adds ``|a - b|`` per bucket, with 6 for 3. With
    ``x = a ^ b`` split in low and high bits ``l``, ``h``: one low bit costs 1, one high bit
    2, both 1 (01 against 10) or 6 (00 against 11, when the bucket's bits are equal), so the
    sum is ``pc(l) + 2 pc(h) - 2 pc(l & h) + 5 pc(l & h & eq)``.
    """
    length = _mod_diff(rows.lvalue, int(query.lvalue[at]), 256)
    total = np.where(length <= 1, length, length * 12)
    for mine, theirs in ((rows.q1, query.q1), (rows.q2, query.q2)):
        d = _mod_diff(mine, int(theirs[at]), 16)
        total += np.where(d <= 1, d, (d - 1) * 12)
    total += rows.checksum != query.checksum[at]
    word = query.words[at]
    x = rows.words ^ word
    low = x & _M55
    high = (x >> _ONE) & _M55
    both = low & high
    equal = ~(word ^ (word >> _ONE)) & _M55
    body = (np.bitwise_count(low).sum(axis=1, dtype=np.int32)
            + 2 * np.bitwise_count(high).sum(axis=1, dtype=np.int32)
            - 2 * np.bitwise_count(both).sum(axis=1, dtype=np.int32)
            + 5 * np.bitwise_count(both & equal).sum(axis=1, dtype=np.int32))
    return total + body


class _Table:
    """Rows sorted by their length byte, so a query scores only those within reach."""

    def __init__(self, rows: _Rows) -> None:
        self.rows = rows.take(np.argsort(rows.lvalue, kind="stable"))
        self.dead = np.zeros(len(rows), dtype=bool)
        self.n_dead = 0
        self._by_id = np.argsort(self.rows.ids, kind="stable")
        self._sorted_ids = self.rows.ids[self._by_id]

    def __len__(self) -> int:
        return len(self.rows)

    def kill(self, entry_id: int) -> None:
        lo, hi = np.searchsorted(self._sorted_ids, [entry_id, entry_id + 1])
        at = self._by_id[lo:hi]
        self.n_dead += int((~self.dead[at]).sum())
        self.dead[at] = True

    def live(self) -> _Rows:
        return self.rows.take(np.flatnonzero(~self.dead))

    def search(self, query: _Rows, at: int, limit: float) -> tuple[np.ndarray, ...]:
        """``(ids, lines, distances)`` of live rows within ``limit`` of query row ``at``."""
        # An L difference of d > 1 costs 12 d: rows further off cannot be within the limit.
        reach = max(min(1, math.floor(limit)), math.floor(limit / 12))
        lvalue = int(query.lvalue[at])
        if 2 * reach + 1 >= 256:
            spans = [(0, 255)]
        else:
            lo, hi = lvalue - reach, lvalue + reach
            spans = [(max(lo, 0), min(hi, 255))]
            if lo < 0:
                spans.append((lo + 256, 255))
            if hi > 255:
                spans.append((0, hi - 256))
        found = []
        for lo, hi in spans:
            start, end = np.searchsorted(self.rows.lvalue, [lo, hi + 1])
            if start == end:
                continue
            window = self.rows.take(slice(start, end))  # views, not copies
            distances = _distances(window, query, at)
            keep = np.flatnonzero((distances <= limit) & ~self.dead[start:end])
            found.append((window.ids[keep], window.line[keep], distances[keep]))
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64)
        return tuple(np.concatenate(column) for column in zip(*found, strict=True))


class TlshIndex(SignalIndex):
    """TLSH lines in numpy arrays sorted by length byte; distances computed vectorised.

    A query line is scored only against rows whose length byte is within reach of the limit
    (exact: the length term alone would exceed it), the rest in vectorised bit arithmetic that
    reproduces ``tlsh.diff``. Adds go to a small delta table merged into the main one when it
    outgrows ``delta_limit`` (or 1/8 of the main table); removals are tombstones.
    """

    def __init__(self, *, delta_limit: int = 4096) -> None:
        self._delta_limit = delta_limit
        self._labels: dict[int, tuple[str | None, ...]] = {}  # every live entry
        self._main = _Table(_NO_ROWS)
        self._delta: dict[int, list[str]] = {}  # entries added since the last merge
        self._delta_table: _Table | None = None

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, entry_id: int, value: str) -> None:
        self.extend([(entry_id, value)])

    def extend(self, entries: list[tuple[int, str]]) -> None:
        parsed = [(entry_id, parse_value(value, tlsh_digest, allow_empty=False))
                  for entry_id, value in entries]  # all valid before anything changes
        for entry_id, lines in parsed:
            self._discard(entry_id)
            self._delta[entry_id] = [digest for digest, _ in lines]
            self._labels[entry_id] = tuple(label for _, label in lines)
        self._delta_table = None
        if len(self._delta) > max(self._delta_limit, (len(self._main) - self._main.n_dead) // 8):
            self._main = _Table(_Rows.concat([self._main.live(), self._delta_rows()]))
            self._delta = {}

    def remove(self, entry_id: int) -> None:
        self._discard(entry_id)
        if self._main.n_dead > len(self._main) // 2:
            self._main = _Table(self._main.live())

    def _discard(self, entry_id: int) -> None:
        if self._labels.pop(entry_id, None) is None:
            return
        if self._delta.pop(entry_id, None) is not None:
            self._delta_table = None
        else:
            self._main.kill(entry_id)

    def _delta_rows(self) -> _Rows:
        ids, lines, digests = [], [], []
        for entry_id, entry_digests in self._delta.items():
            for line, digest in enumerate(entry_digests):
                ids.append(entry_id)
                lines.append(line)
                digests.append(digest)
        return _Rows.decode(ids, lines, digests)

    def query(self, value: str | tuple[QueryLine, ...], limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: str | tuple[QueryLine, ...], limit: float
                       ) -> list[tuple[int, float, dict[str, Any]]]:
        lines = query_lines(value, tlsh_digest)
        if limit < 0 or not lines or not self._labels:
            return []
        if self._delta_table is None:
            self._delta_table = _Table(self._delta_rows())
        query = _Rows.decode([0] * len(lines), list(range(len(lines))),
                             [line.digest for line in lines])
        best: dict[int, tuple[int, int, QueryLine, str | None]] = {}
        for at, line in enumerate(lines):
            for table in (self._main, self._delta_table):
                ids, work_lines, distances = table.search(query, at, limit)
                for entry_id, work_line, distance in zip(
                        ids.tolist(), work_lines.tolist(), distances.tolist(), strict=True):
                    work_label = self._labels[entry_id][work_line]
                    key = (distance, rank(line, work_label))
                    if entry_id not in best or key < best[entry_id][:2]:
                        best[entry_id] = (*key, line, work_label)
        return [(entry_id, float(distance), match_detail(line, work_label))
                for entry_id, (distance, _, line, work_label)
                in sorted(best.items(), key=lambda item: (item[1][:2], item[0]))]
