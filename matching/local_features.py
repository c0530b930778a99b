"""Stage 2 of image matching: ORB local features confirmed by geometric verification.

A global hash changes when a copy is cropped hard, framed by a border, rotated or pasted
into a larger screenshot. Local features survive all four: both images are reduced to
:data:`SIDE` pixels on the long side, ORB finds up to :data:`FEATURES` keypoints with
256-bit binary descriptors, descriptor matches pass Lowe's ratio test, and a RANSAC fit of a
similarity transform (rotation, uniform scale, translation: what cropping, borders, resizing
and embedding do) keeps only the matches that agree on one placement of the work in the
copy. The inlier count is the score; the transform says where the work sits in the copy.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import attrgetter
from typing import Any

import cv2
import numpy as np
from PIL import Image

SIDE = 640          # long side of a registered work, in pixels
FEATURES = 1000     # keypoints kept per registered work
FAST_THRESHOLD = 8  # OpenCV's default (20) finds too few corners on smooth photos
RATIO = 0.8
MAX_DESCRIPTOR_DISTANCE = 64
RANSAC_REPROJECTION_PX = 4.0
# The inliers must sit on this many distinct spots of the work, this far apart (work pixels at
# SIDE). ORB finds one corner at several pyramid levels, so a chance alignment of 10-14
# "inliers" on unrelated images stood on only 3-5 spots; true copies stand on 9 or more.
MIN_DISTINCT_POINTS = 8
DISTINCT_RADIUS_PX = 8.0
MIN_SCALE, MAX_SCALE = 0.15, 8.0
RANSAC_SEED = 20261121
SPREAD_CELLS = 6          # extract_spread_and_mirror: a 6 x 6 grid over the copy
SPREAD_OVERSAMPLING = 4   # corners detected per keypoint kept, for the cells to choose from
VIEW_GAP_PX = 1000.0      # side_by_side: space between views, far beyond any RANSAC tolerance
_COORD_SCALE = 8  # keypoint coordinates stored as uint16 in 1/8 px
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class LocalFeatures:
    """Keypoint positions (N x 2 float32, in the reduced image) and ORB descriptors (N x 32)."""

    points: np.ndarray
    descriptors: np.ndarray
    width: int
    height: int

    def __len__(self) -> int:
        return len(self.points)

    def encode(self) -> str:
        """A text form for the fingerprints table (a zlib stream + base64).

        Stored, not deflated: ORB descriptors are random bits, so deflating saved 3% of the
        bytes for 0.5 ms per registered image (a twentieth of registration's CPU time).
        Values stored deflated before decode the same.
        """
        header = struct.pack("<BHHI", _FORMAT_VERSION, self.width, self.height, len(self))
        coords = np.round(self.points * _COORD_SCALE).astype("<u2").tobytes()
        raw = header + coords + self.descriptors.astype(np.uint8).tobytes()
        return base64.b64encode(zlib.compress(raw, 0)).decode("ascii")

    @classmethod
    def decode(cls, value: str) -> LocalFeatures:
        """Parse :meth:`encode` output; raises ``ValueError`` if malformed."""
        try:
            raw = zlib.decompress(base64.b64decode(value, validate=True))
            version, width, height, count = struct.unpack_from("<BHHI", raw)
        except (ValueError, zlib.error, struct.error) as exc:
            raise ValueError(f"not an encoded ORB feature set ({exc})") from None
        header = struct.calcsize("<BHHI")
        if version != _FORMAT_VERSION or len(raw) != header + count * (4 + 32):
            raise ValueError("not an encoded ORB feature set (bad version or length)")
        coords = np.frombuffer(raw, "<u2", count * 2, header).reshape(count, 2)
        descriptors = np.frombuffer(raw, np.uint8, count * 32, header + count * 4)
        return cls(coords.astype(np.float32) / _COORD_SCALE,
                   descriptors.reshape(count, 32).copy(), width, height)


def reduce(image: Image.Image, side: int = SIDE) -> np.ndarray:
    """Grayscale, long side scaled to ``side`` (up or down), as a uint8 array.

    Enlarged (a work smaller than :data:`SIDE`) by OpenCV's bicubic resize, 6x faster than
    Pillow's (0.3 against 1.7 ms); reduced by Pillow's bilinear, whose antialiasing OpenCV's
    fast bilinear lacks: with that, photos of a screen lost recall in bench/detection.py.
    """
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    gray = image if image.mode == "L" else image.convert("L")  # no copy of a gray one
    if scale > 1:
        return cv2.resize(np.asarray(gray), size, interpolation=cv2.INTER_CUBIC)
    return np.asarray(gray.resize(size, Image.Resampling.BILINEAR))


def extract(image: Image.Image, side: int = SIDE, features: int = FEATURES) -> LocalFeatures:
    """ORB keypoints and descriptors of ``image`` (possibly none, for a featureless image)."""
    gray = reduce(image, side)
    orb = cv2.ORB.create(nfeatures=features, fastThreshold=FAST_THRESHOLD)
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None or not keypoints:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8),
                             gray.shape[1], gray.shape[0])
    points = np.asarray(cv2.KeyPoint.convert(keypoints), np.float32).reshape(-1, 2)
    return LocalFeatures(points, descriptors, gray.shape[1], gray.shape[0])


def _level_quotas(features: int, levels: int, scale_factor: float) -> np.ndarray:
    """Keypoints per pyramid level as ORB itself shares them out (geometrically, coarse last)."""
    shares = (1 / scale_factor) ** np.arange(levels)
    return np.round(features * shares / shares.sum()).astype(np.int64)


def _spread(xy: np.ndarray, response: np.ndarray, level: np.ndarray, size: tuple[int, int],
            cells: int, quotas: np.ndarray) -> np.ndarray:
    """Which keypoints (positions ``xy``, ``response`` and pyramid ``level`` of each) to keep,
    in ascending order: each level's quota shared equally between ``cells`` x ``cells``
    cells (strongest first in each), what empty cells leave unused going to the strongest
    keypoints left anywhere on that level.

    Vectorised over levels and cells (1.5 -> 0.9 ms for a copy's 6,000 corners): stable
    sorts of the strength order, so ties in ``response`` go to the earlier keypoint; cells
    and levels as int16, which numpy sorts by radix.
    """
    width, height = size
    cell = (np.minimum(xy[:, 0] * cells // width, cells - 1) * cells
            + np.minimum(xy[:, 1] * cells // height, cells - 1)).astype(np.int16)
    none = len(quotas)  # the level of keypoints on no level with a quota
    level = np.where((level >= 0) & (level < none), level, none).astype(np.int16)
    quota = np.append(np.maximum(quotas, 0), 0)
    strongest = np.argsort(-response, kind="stable")
    group = level * (cells * cells) + cell
    by_cell = _stable_by(group, strongest)
    taken = np.zeros(len(response), bool)
    taken[by_cell] = _places(group[by_cell]) < -(-quota[level[by_cell]] // (cells * cells))
    taken_per_level = np.bincount(level[taken], minlength=none + 1)
    over = np.nonzero(taken & (taken_per_level > quota)[level])[0]
    if len(over):  # levels whose cells' shares overshoot keep their strongest, cell by cell
        over = _stable_by(level, _stable_by(-response, _stable_by(cell, over)))
        taken[over[_places(level[over]) >= quota[level[over]]]] = False
    rest = strongest[~taken[strongest]]
    rest = _stable_by(level, rest)
    spare = np.maximum(quota - taken_per_level, 0)
    taken[rest[_places(level[rest]) < spare[level[rest]]]] = True
    return np.nonzero(taken)[0]


def _stable_by(key: np.ndarray, items: np.ndarray) -> np.ndarray:
    """``items`` (keypoint numbers) stably sorted by their ``key``."""
    return items[np.argsort(key[items], kind="stable")]


def _places(groups: np.ndarray) -> np.ndarray:
    """Each element's place in its run of equal values of ``groups`` (sorted): 0, 1, ..."""
    index = np.arange(len(groups))
    starts = np.ones(len(groups), bool)
    starts[1:] = groups[1:] != groups[:-1]
    return index - np.maximum.accumulate(np.where(starts, index, 0))


def _keypoint_arrays(keypoints: Sequence[cv2.KeyPoint]) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """Positions (``n x 2``), responses and pyramid levels of ``keypoints``, as arrays."""
    xy = np.asarray(cv2.KeyPoint.convert(keypoints), np.float64).reshape(-1, 2)
    count = len(keypoints)
    return (xy, np.fromiter(map(attrgetter("response"), keypoints), np.float64, count),
            np.fromiter(map(attrgetter("octave"), keypoints), np.int64, count))


def extract_spread_and_mirror(image: Image.Image, side: int, features: int,
                              mirror_features: int,
                              cells: int = SPREAD_CELLS) -> tuple[LocalFeatures, LocalFeatures]:
    """ORB features of ``image`` (``features`` keypoints) and of its mirror image
    (``mirror_features``), both at ``side``, spread over the image: every cell of a
    ``cells`` x ``cells`` grid gets its share of each pyramid level's quota.

    For crawled copies: plain ORB keeps the strongest corners of the whole image, and on a
    page screenshot the text's glyph corners outbid a smaller photo pasted into it, so a work
    at a third of the page's width got almost no keypoints.

    FAST corners and their Harris scores are mirror-symmetric, so the mirror image's corners
    are the image's mirrored: the mirrored keypoints are spread and described on the mirrored
    pixels, without a second detection (which cost twice the description). ORB maps pixel
    ``x`` of pyramid level ``l`` to ``x * scale**l``, so a keypoint is mirrored on its own
    level's width; its orientation is reflected.
    """
    gray = reduce(image, side)
    orb = cv2.ORB.create(nfeatures=max(features, mirror_features) * SPREAD_OVERSAMPLING,
                         fastThreshold=FAST_THRESHOLD)
    detected = orb.detect(gray, None)
    size = (gray.shape[1], gray.shape[0])
    levels, factor = orb.getNLevels(), orb.getScaleFactor()
    xy, response, level = _keypoint_arrays(detected)
    scale = factor ** level.astype(np.float64)
    mirrored_xy = np.column_stack([(np.round(size[0] / scale) - 1) * scale - xy[:, 0],
                                   xy[:, 1]])
    kept = _spread(xy, response, level, size, cells, _level_quotas(features, levels, factor))
    chosen = _spread(mirrored_xy, response, level, size, cells,
                     _level_quotas(mirror_features, levels, factor))
    mirrored = [cv2.KeyPoint(x, y, keypoint.size, (180.0 - keypoint.angle) % 360.0,
                             keypoint.response, keypoint.octave)
                for x, y, keypoint in zip(*mirrored_xy[chosen].T.tolist(),
                                          map(detected.__getitem__, chosen.tolist()),
                                          strict=True)]
    return (_described(orb, gray, list(map(detected.__getitem__, kept.tolist()))),
            _described(orb, np.ascontiguousarray(gray[:, ::-1]), mirrored))


def _described(orb: cv2.ORB, gray: np.ndarray, keypoints: list[cv2.KeyPoint]) -> LocalFeatures:
    """``keypoints`` of ``gray`` with their ORB descriptors (those ORB could describe)."""
    described, descriptors = orb.compute(gray, keypoints) if keypoints else ((), None)
    if descriptors is None or not described:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8),
                             gray.shape[1], gray.shape[0])
    points = np.asarray(cv2.KeyPoint.convert(described), np.float32).reshape(-1, 2)
    return LocalFeatures(points, descriptors, gray.shape[1], gray.shape[0])


def side_by_side(views: list[LocalFeatures]) -> LocalFeatures:
    """Several views of one copy as one feature set: the views placed left to right, far
    enough apart (:data:`VIEW_GAP_PX`) that no placement of a work can span two of them.

    The geometric verification then finds a work in whichever view shows it (the copy, or
    the copy mirrored), and the index needs to know nothing about views.
    """
    points, offset = [], 0.0
    for view in views:
        points.append(view.points + np.array([offset, 0], np.float32))
        offset += view.width + VIEW_GAP_PX
    return LocalFeatures(np.concatenate(points).astype(np.float32),
                         np.concatenate([view.descriptors for view in views]),
                         round(offset - VIEW_GAP_PX), max(view.height for view in views))


@dataclass(frozen=True)
class Placement:
    """Where a work was found in a copy: the geometric verification's verdict."""

    inliers: int
    candidates: int
    scale: float        # copy pixels per work pixel (both at reduced size)
    rotation_deg: float
    coverage: float     # share of the work's area spanned by the inliers' bounding box

    def as_detail(self) -> dict[str, float | int]:
        return {"inliers": self.inliers, "candidate_matches": self.candidates,
                "scale": round(self.scale, 3), "rotation_deg": round(self.rotation_deg, 1),
                "work_coverage": round(self.coverage, 3)}


@cache
def _faiss() -> Any:
    """The ``faiss`` module, imported on first use (it takes 0.2-0.6 s: not on every command
    line start), on one OpenMP thread: verification runs in crawl worker processes, one per
    core, which FAISS's threads would only compete with."""
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


def nearest_two(query: np.ndarray, work: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hamming distances and rows of the two rows of ``work`` nearest to each row of
    ``query`` (ORB descriptors, ``n x 32`` uint8), nearest first; what
    ``cv2.BFMatcher.knnMatch(k=2)`` computes, as arrays.

    A brute-force search with FAISS, 3x faster than OpenCV's ``batchDistance`` on a query's
    4,000 descriptors against a work's 1,000. Which of two equally near rows comes first may
    differ from OpenCV's, but a tie never passes the ratio test, so the matches are the same.

    >>> rows = np.zeros((3, 32), np.uint8); rows[1, 0], rows[2, :2] = 1, 255
    >>> distance, nearest = nearest_two(rows[2:], rows)
    >>> distance.tolist(), nearest.tolist()
    ([[0, 15]], [[2, 1]])
    """
    index = _faiss().IndexBinaryFlat(8 * query.shape[1])
    index.add(np.ascontiguousarray(work, np.uint8))
    distance, nearest = index.search(np.ascontiguousarray(query, np.uint8), 2)
    return distance, nearest


def correspondences(query: LocalFeatures, work: LocalFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Matched point pairs (work points, query points) that pass the ratio test.

    One query point per work point (the closest; the first in query order on a tie), so
    repeated text glyphs cannot pile onto one keypoint of the work; pairs in the order their
    work point was first claimed by a query point.
    """
    if len(query) < 2 or len(work) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    distance, nearest = nearest_two(query.descriptors, work.descriptors)
    first, second = distance[:, 0].astype(np.float64), distance[:, 1].astype(np.float64)
    passed = np.nonzero((nearest[:, 1] >= 0) & (first < RATIO * second)
                        & (first <= MAX_DESCRIPTOR_DISTANCE))[0]
    train = nearest[passed, 0]
    order = np.lexsort((passed, first[passed], train))  # by work point, closest, earliest
    train_sorted = train[order]
    starts = np.nonzero(np.diff(train_sorted, prepend=-1))[0]
    claimed = np.minimum.reduceat(passed[order], starts) if len(starts) else starts
    kept = order[starts][np.argsort(claimed, kind="stable")]
    return (work.points[train[kept]].astype(np.float32).reshape(-1, 2),
            query.points[passed[kept]].astype(np.float32).reshape(-1, 2))


def verify(query: LocalFeatures, work: LocalFeatures, min_inliers: int) -> Placement | None:
    """The placement of ``work`` inside ``query`` if at least ``min_inliers`` matches agree."""
    work_points, query_points = correspondences(query, work)
    return fit_placement(work_points, query_points, work, min_inliers)


def distinct_points(points: np.ndarray, radius: float, enough: int) -> int:
    """How many of ``points`` lie more than ``radius`` apart, counted greedily up to ``enough``.

    >>> distinct_points(np.array([[0, 0], [1, 1], [20, 0], [20, 2], [0, 30]], float), 8, 10)
    3
    """
    kept = np.empty((0, 2), np.float64)
    for point in points:
        if not len(kept) or np.min(np.hypot(*(kept - point).T)) > radius:
            kept = np.vstack([kept, point])
            if len(kept) >= enough:
                break
    return len(kept)


def fit_placement(work_points: np.ndarray, query_points: np.ndarray, work: LocalFeatures,
                  min_inliers: int) -> Placement | None:
    """RANSAC-fit one similarity transform to point pairs; ``None`` unless enough agree."""
    if len(work_points) < max(min_inliers, 2):
        return None
    cv2.setRNGSeed(RANSAC_SEED)  # per-thread RNG: the same pair always scores the same
    transform, mask = cv2.estimateAffinePartial2D(
        work_points, query_points, method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_REPROJECTION_PX, maxIters=2000, confidence=0.995)
    if transform is None or mask is None:
        return None
    inlier_mask = mask.ravel().astype(bool)
    if not _enough(work_points[inlier_mask], min_inliers):
        return None
    scale = math.hypot(transform[0, 0], transform[1, 0])
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return None
    return Placement(int(inlier_mask.sum()), len(work_points), scale,
                     math.degrees(math.atan2(transform[1, 0], transform[0, 0])),
                     _coverage(work_points[inlier_mask], work))


def _enough(inlier_points: np.ndarray, min_inliers: int) -> bool:
    """At least ``min_inliers`` inliers, on enough distinct spots of the work."""
    wanted = min(MIN_DISTINCT_POINTS, min_inliers)
    return (len(inlier_points) >= min_inliers
            and distinct_points(inlier_points, DISTINCT_RADIUS_PX, wanted) >= wanted)


def _coverage(inlier_points: np.ndarray, work: LocalFeatures) -> float:
    box = np.ptp(inlier_points, axis=0)
    return float(box[0] * box[1]) / float(work.width * work.height)
