"""The previous stage-2 index, kept as the baseline of ``bench/image_index.py``.

Candidate retrieval and verification for stage-2 (ORB) fingerprints.

Every registered feature set's descriptors sit in one stacked matrix searched by an
approximate nearest-neighbour index for binary descriptors (FLANN's multi-probe LSH, part
of OpenCV). Each query descriptor takes its few nearest registered descriptors and supports
each work among them through that work's nearest one, if it is close and unambiguous
within the work (Lowe's ratio test). Works are judged separately, so the same photo
registered by two holders does not cancel itself out. The best-supported works are then
verified exactly (:func:`matching.local_features.verify`: brute-force matching against that
work alone and a seeded RANSAC similarity fit), so a score does not depend on the LSH
tables' random hash functions: the same copy and work always score the same.

Adding or removing a set takes effect at once: the stacked matrix and the LSH tables are
rebuilt lazily on the next query (tens of milliseconds for 100,000 descriptors, i.e. a few
hundred works).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from matching.local_features import (
    MAX_DESCRIPTOR_DISTANCE,
    RATIO,
    LocalFeatures,
    fit_placement,
    verify,
)
from matching.signal import SignalIndex

MAX_CANDIDATES = 3  # works verified per query, best-supported first
NEIGHBOURS = 2      # registered rows looked at per query descriptor
RETRIEVAL_SHARE = 0.4  # LSH finds about half the true neighbours: a set needs this share of
                       # the inliers among its approximate matches before exact verification
# 12 tables of 20-bit keys, no multi-probe: about 55% of true nearest neighbours, but the cost
# stays nearly flat as the registry grows (multi-probing 12-bit keys found 97% and cost
# 18 ms at 12k descriptors, 224 ms at 105k; this costs 2.6 ms and 10 ms there).
_LSH: dict[str, bool | int | float | str] = {"algorithm": 6, "table_number": 12, "key_size": 20,
                                             "multi_probe_level": 0}
_CHECKS = {"checks": 32}


@dataclass(frozen=True)
class _Stack:
    """All registered descriptors, who owns each row, and the LSH tables over them."""

    descriptors: np.ndarray
    owners: np.ndarray   # entry id per row
    points: np.ndarray   # keypoint (x, y) per row, in the owner's reduced image
    sets: dict[int, LocalFeatures]
    lsh: Any


class LocalFeatureIndex(SignalIndex):
    """Registered ORB feature sets; thread-safe (the crawler queries from worker threads)."""

    def __init__(self) -> None:
        self._sets: dict[int, LocalFeatures] = {}
        self._lock = threading.Lock()
        self._stack: _Stack | None = None

    def __len__(self) -> int:
        return len(self._sets)

    def nbytes(self) -> int:
        """Bytes held in the stacked arrays (FLANN's own hash tables are not counted)."""
        stack = self._snapshot()
        if stack is None:
            return 0
        return stack.descriptors.nbytes + stack.points.nbytes + stack.owners.nbytes

    def add(self, entry_id: int, value: str) -> None:
        features = LocalFeatures.decode(value)
        with self._lock:
            self._sets[entry_id] = features
            self._stack = None

    def remove(self, entry_id: int) -> None:
        with self._lock:
            if self._sets.pop(entry_id, None) is not None:
                self._stack = None

    def _snapshot(self) -> _Stack | None:
        with self._lock:
            if self._stack is None:
                sets = {i: f for i, f in self._sets.items() if len(f)}
                if not sets:
                    return None
                descriptors = np.concatenate([f.descriptors for f in sets.values()])
                points = np.concatenate([f.points for f in sets.values()])
                start = 0
                for entry_id, features in sets.items():  # keep one copy: views of the stack
                    end = start + len(features)
                    sets[entry_id] = self._sets[entry_id] = LocalFeatures(
                        points[start:end], descriptors[start:end], features.width,
                        features.height)
                    start = end
                self._stack = _Stack(
                    descriptors,
                    np.concatenate([np.full(len(f), i, np.int64) for i, f in sets.items()]),
                    points, sets, cv2.flann.Index(descriptors, _LSH))
            return self._stack

    @staticmethod
    def _correspondences(query: LocalFeatures,
                         stack: _Stack) -> dict[int, dict[int, tuple[float, int]]]:
        """Per registered set: its descriptor row -> (distance, query keypoint), one-to-one.

        Each query descriptor looks at its :data:`NEIGHBOURS` nearest registered rows and
        supports every set among them through that set's nearest row, if it is close and
        clearly nearer than the set's next row (Lowe's ratio test within one set).
        """
        rows, distances = stack.lsh.knnSearch(query.descriptors, NEIGHBOURS, params=_CHECKS)
        rows = rows.astype(np.int64)
        valid = (rows >= 0) & (rows < len(stack.owners))
        owner = np.where(valid, stack.owners[np.clip(rows, 0, len(stack.owners) - 1)],
                         -1 - np.arange(NEIGHBOURS))  # invalid slots own nothing shared
        supports: dict[int, dict[int, tuple[float, int]]] = defaultdict(dict)
        for j in range(NEIGHBOURS):
            keep = valid[:, j] & (distances[:, j] <= MAX_DESCRIPTOR_DISTANCE)
            for i in range(j):  # only the set's nearest row counts
                keep &= owner[:, i] != owner[:, j]
            next_same = np.full(len(rows), np.inf, np.float32)
            for later in range(NEIGHBOURS - 1, j, -1):
                next_same = np.where(owner[:, later] == owner[:, j], distances[:, later],
                                     next_same)
            keep &= distances[:, j] < RATIO * next_same
            for q in np.nonzero(keep)[0]:
                row, dist = int(rows[q, j]), float(distances[q, j])
                per_set = supports[int(owner[q, j])]
                kept = per_set.get(row)
                if kept is None or dist < kept[0]:
                    per_set[row] = (dist, int(q))
        return supports

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        """Verified sets with at least ``limit`` inliers: ``(id, inliers, placement)``."""
        query: LocalFeatures = value
        stack = self._snapshot()
        if stack is None or len(query) < 2:
            return []
        best_row = self._correspondences(query, stack)
        min_inliers = max(2, int(limit))
        ranked = sorted(best_row.items(), key=lambda item: -len(item[1]))[:MAX_CANDIDATES]
        found = []
        for entry_id, support in ranked:
            if len(support) < min_inliers * RETRIEVAL_SHARE:
                break
            train_rows = np.fromiter(support, np.int64, len(support))
            query_rows = np.fromiter((q for _, q in support.values()), np.int64, len(support))
            rough = fit_placement(stack.points[train_rows], query.points[query_rows],
                                  stack.sets[entry_id], int(min_inliers * RETRIEVAL_SHARE))
            if rough is None:  # the approximate matches do not even roughly agree: skip the
                continue       # exact (costlier) verification
            placement = verify(query, stack.sets[entry_id], min_inliers)
            if placement is not None:
                found.append((entry_id, float(placement.inliers), placement.as_detail()))
        return sorted(found, key=lambda f: -f[1])
