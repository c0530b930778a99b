"""Candidate retrieval and verification for stage-2 (ORB) fingerprints.

Every registered feature set's descriptors sit in one stacked matrix. A query's descriptors
are matched to their nearest registered descriptor (OpenCV brute-force Hamming, vectorised
in C); each registered set collects one vote per query keypoint whose nearest neighbour it
owns. The best-voted few are then verified geometrically
(:func:`matching.local_features.verify`), and only verified sets are returned.

Adding or removing a set takes effect at once: the stacked matrix is rebuilt lazily on the
next query (a memory copy, milliseconds for thousands of works). Retrieval cost grows
linearly with the number of registered descriptors (1,000 per work); see
docs/architecture.md for the measured cost and the scale limit.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import cv2
import numpy as np

from matching.local_features import LocalFeatures, verify
from matching.signal import SignalIndex

VOTE_DISTANCE = 48   # a nearest neighbour further than this (of 256 bits) casts no vote
MAX_CANDIDATES = 5   # feature sets verified per query, best-voted first


class LocalFeatureIndex(SignalIndex):
    """Registered ORB feature sets; thread-safe (the crawler queries from worker threads)."""

    def __init__(self) -> None:
        self._sets: dict[int, LocalFeatures] = {}
        self._lock = threading.Lock()
        self._stacked: tuple[np.ndarray, np.ndarray] | None = None
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING)

    def __len__(self) -> int:
        return len(self._sets)

    def add(self, entry_id: int, value: str) -> None:
        features = LocalFeatures.decode(value)
        with self._lock:
            self._sets[entry_id] = features
            self._stacked = None

    def remove(self, entry_id: int) -> None:
        with self._lock:
            if self._sets.pop(entry_id, None) is not None:
                self._stacked = None

    def _snapshot(self) -> tuple[np.ndarray, np.ndarray, dict[int, LocalFeatures]]:
        with self._lock:
            if self._stacked is None:
                ids = list(self._sets)
                descriptors = [self._sets[i].descriptors for i in ids]
                owners = [np.full(len(d), i, np.int64) for i, d in zip(ids, descriptors,
                                                                       strict=True)]
                self._stacked = (
                    np.concatenate(descriptors) if descriptors else np.zeros((0, 32), np.uint8),
                    np.concatenate(owners) if owners else np.zeros(0, np.int64))
            return (*self._stacked, dict(self._sets))

    def _candidates(self, query: LocalFeatures, descriptors: np.ndarray,
                    owners: np.ndarray) -> list[int]:
        """Registered sets worth verifying against ``query``, best-voted first."""
        if len(query) == 0 or len(descriptors) == 0:
            return []
        nearest = self._matcher.match(query.descriptors, descriptors)
        votes = Counter(int(owners[m.trainIdx]) for m in nearest if m.distance <= VOTE_DISTANCE)
        return [entry_id for entry_id, _ in votes.most_common(MAX_CANDIDATES)]

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        """Verified sets with at least ``limit`` inliers: ``(id, inliers, placement)``."""
        query: LocalFeatures = value
        descriptors, owners, sets = self._snapshot()
        found = []
        for entry_id in self._candidates(query, descriptors, owners):
            placement = verify(query, sets[entry_id], max(1, int(limit)))
            if placement is not None:
                found.append((entry_id, float(placement.inliers), placement.as_detail()))
        return sorted(found, key=lambda f: -f[1])
