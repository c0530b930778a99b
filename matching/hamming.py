"""An in-memory index of 64-bit hashes answering Hamming-radius queries with numpy.

Each query is one vectorised XOR + popcount over all stored codes (no Python loop over
entries). Adds and removes are O(1) amortised, so a new work is matchable at once.
"""

from __future__ import annotations

import numpy as np

from matching.signal import SignalIndex

_INITIAL_CAPACITY = 1024


def hex_to_u64(value: str) -> int:
    """Parse a 16-hex-digit hash.

    >>> hex_to_u64("00000000000000ff")
    255
    """
    if len(value) != 16:
        raise ValueError(f"expected 16 hex digits, got {len(value)}: {value!r}")
    return int(value, 16)


class HammingIndex(SignalIndex):
    """Exact radius search over 64-bit codes stored in a growable numpy array."""

    def __init__(self) -> None:
        self._codes = np.zeros(_INITIAL_CAPACITY, dtype=np.uint64)
        self._ids = np.zeros(_INITIAL_CAPACITY, dtype=np.int64)
        self._size = 0
        self._position: dict[int, int] = {}

    def __len__(self) -> int:
        return self._size

    def add(self, entry_id: int, value: str) -> None:
        code = hex_to_u64(value)
        if entry_id in self._position:
            self._codes[self._position[entry_id]] = code
            return
        if self._size == len(self._codes):
            self._codes = np.concatenate([self._codes, np.zeros_like(self._codes)])
            self._ids = np.concatenate([self._ids, np.zeros_like(self._ids)])
        self._codes[self._size] = code
        self._ids[self._size] = entry_id
        self._position[entry_id] = self._size
        self._size += 1

    def remove(self, entry_id: int) -> None:
        pos = self._position.pop(entry_id, None)
        if pos is None:
            return
        last = self._size - 1
        if pos != last:
            moved_id = int(self._ids[last])
            self._codes[pos] = self._codes[last]
            self._ids[pos] = moved_id
            self._position[moved_id] = pos
        self._size = last

    def query(self, value: str, max_distance: float) -> list[tuple[int, float]]:
        query = np.uint64(hex_to_u64(value))
        distances = np.bitwise_count(self._codes[: self._size] ^ query)
        (found,) = np.nonzero(distances <= max_distance)
        order = found[np.argsort(distances[found], kind="stable")]
        return [(int(self._ids[i]), float(distances[i])) for i in order]
