"""Rectangular picture regions inside an image: the cells of a collage, pictures on a page.

A crawled image may carry a registered work as one part of itself: one tile of a collage,
or a picture pasted into a page screenshot. Matched whole, the work is a small share of the
image's keypoints and none of its pHash; matched on its own, cropped, it is an ordinary
copy. This module only finds the rectangles (pure geometry on pixels, about a millisecond
at the small size it works at); :class:`matching.decode.ImageContent` crops them and
:mod:`matching.stages` matches each crop like a copy of its own.

Two finders, both cheap:

- **Gutters.** A recursive cut along straight lines of one flat colour that run across the
  whole image (or the whole cell being cut): a collage's separators and margins.
- **Pictures on a flat page.** When one background colour covers much of the image, what
  differs from it is opened (text strokes, thin rules and icons vanish) and every large,
  solid, textured blob left is a picture.

Boxes are fractions of the image's width and height, largest first, at most
:data:`MAX_REGIONS`; boxes covering nearly the whole image are left out (the whole image is
matched anyway).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

ANALYSIS_SIDE = 320        # long side the finders work at (at most), in pixels
MAX_REGIONS = 9            # cap per image: a 3x3 collage's cells
MIN_SIDE_SHARE = 0.15      # a region's sides: at least this share of the image's short side
MAX_AREA_SHARE = 0.8       # bigger regions are (nearly) the whole image, matched anyway
FLAT_STD = 4.0             # grey-level std along a line for it to count as flat
SEPARATOR_TOLERANCE = 12.0  # grey levels between a collage's separators (one colour)
MAX_CUT_DEPTH = 3          # rows, then columns, then rows again
BACKGROUND_SHARE = 0.25    # a page background covers at least this share of the image
BACKGROUND_TOLERANCE = 20  # grey/colour levels within which a pixel is background
OPENING_SHARE = 0.015      # opening kernel: this share of the long side (text strokes go)
MIN_FILL = 0.6             # share of a picture's box its blob covers
MIN_DETAIL = 4.0           # mean absolute grey Laplacian over a region, at least
FLAT_LEVEL = 2.0           # a pixel whose absolute Laplacian is below this is flat
MAX_FLAT_SHARE = 0.5       # a region is at most this share flat (text on a page is more)
SAME_BOX_IOU = 0.7         # boxes overlapping this much are one region


@dataclass(frozen=True)
class Box:
    """A rectangle as fractions of the image's width and height: left, top, right, bottom."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def area(self) -> float:
        return (self.right - self.left) * (self.bottom - self.top)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The box in pixels of an image ``width`` x ``height``: left, top, right, bottom.

        >>> Box(0.25, 0.5, 0.75, 1.0).pixels(400, 200)
        (100, 100, 300, 200)
        """
        return (round(self.left * width), round(self.top * height),
                round(self.right * width), round(self.bottom * height))

    def iou(self, other: Box) -> float:
        """Intersection over union.

        >>> Box(0, 0, 0.5, 1).iou(Box(0.25, 0, 0.75, 1))
        0.3333333333333333
        """
        w = min(self.right, other.right) - max(self.left, other.left)
        h = min(self.bottom, other.bottom) - max(self.top, other.top)
        inter = max(0.0, w) * max(0.0, h)
        return inter / (self.area + other.area - inter) if inter else 0.0


def find_regions(rgb: np.ndarray) -> list[Box]:
    """Picture regions of an RGB image (``h x w x 3`` uint8), largest first, at most
    :data:`MAX_REGIONS`; none for an ordinary photograph."""
    small = _shrink(rgb)
    height, width = small.shape[:2]
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
    found = [_to_box(cell, width, height) for cell in _cut(gray, (0, 0, width, height), 0)]
    found += [_to_box(rect, width, height) for rect in _pictures(small, gray)]
    min_side = MIN_SIDE_SHARE * min(width, height)
    laplacian = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    kept: list[Box] = []
    for box in sorted(found, key=lambda b: -b.area):
        left, top, right, bottom = box.pixels(width, height)
        if (min(right - left, bottom - top) < min_side or box.area > MAX_AREA_SHARE
                or any(box.iou(other) > SAME_BOX_IOU for other in kept)):
            continue
        detail = laplacian[top:bottom, left:right]
        if (float(detail.mean()) < MIN_DETAIL
                or float((detail < FLAT_LEVEL).mean()) > MAX_FLAT_SHARE):
            continue  # flat, or mostly flat: a box, a band of page, text on a plain ground
        kept.append(box)
    return kept[:MAX_REGIONS]


def _shrink(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` shrunk by a whole factor (cheap) to at most about :data:`ANALYSIS_SIDE`."""
    height, width = rgb.shape[:2]
    factor = -(-max(height, width) // ANALYSIS_SIDE)
    if factor <= 1:
        return np.ascontiguousarray(rgb)
    size = (max(1, width // factor), max(1, height // factor))
    return cv2.resize(rgb[:size[1] * factor, :size[0] * factor], size,
                      interpolation=cv2.INTER_AREA)


def _to_box(rect: tuple[int, int, int, int], width: int, height: int) -> Box:
    left, top, right, bottom = rect
    return Box(left / width, top / height, right / width, bottom / height)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of every run of True in a 1-D mask.

    >>> _runs(np.array([0, 1, 1, 0, 1], bool))
    [(1, 3), (4, 5)]
    """
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _cut(gray: np.ndarray, rect: tuple[int, int, int, int], depth: int,
         level: float | None = None) -> list[tuple[int, int, int, int]]:
    """Cells of ``rect`` between flat lines that cross it (rows first), cut recursively.

    Separators are all of one grey ``level``, that of the first cut's flat lines: flat rows
    inside a tile (a clear sky, a dark corner) of another shade do not cut it.
    """
    left, top, right, bottom = rect
    block = gray[top:bottom, left:right]
    min_run = max(2, round(MIN_SIDE_SHARE * min(gray.shape)))
    for axis in (1, 0):  # axis 1: along each row, so flat rows cut it into strips
        flat = block.std(axis=axis) <= FLAT_STD
        if not flat.any():
            continue
        means = block.mean(axis=axis)
        line_level = float(np.median(means[flat])) if level is None else level
        flat &= np.abs(means - line_level) <= SEPARATOR_TOLERANCE
        parts = [run for run in _runs(~flat) if run[1] - run[0] >= min_run]
        if not parts or parts == [(0, len(flat))]:
            continue
        if axis == 1:
            cells = [(left, top + a, right, top + b) for a, b in parts]
        else:
            cells = [(left + a, top, left + b, bottom) for a, b in parts]
        if depth >= MAX_CUT_DEPTH:
            return cells
        found = []
        for cell in cells:  # a cell cut again gives way to what is inside (a row of a grid
            inner = _cut(gray, cell, depth + 1, line_level)  # to its tiles, a picture to it
            found += inner or [cell]             # without its margins); deep inside, a tile
            if depth >= 1 and len(inner) > 1:    # cut in two at flat lines stays too
                found.append(cell)
        return found
    return []


def _pictures(rgb: np.ndarray, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Large, solid, textured blobs that stand out from a flat page background."""
    height, width = gray.shape
    quantised = (rgb // 16).reshape(-1, 3).astype(np.int32)
    codes = quantised[:, 0] * 256 + quantised[:, 1] * 16 + quantised[:, 2]
    counts = np.bincount(codes, minlength=4096)
    mode = int(counts.argmax())
    if counts[mode] < BACKGROUND_SHARE * codes.size:
        return []
    mask = (codes == mode).reshape(height, width).astype(np.uint8)
    background = np.array(cv2.mean(rgb, mask=mask)[:3])
    # within the tolerance in every channel (integers, so the bounds round inwards)
    near = cv2.inRange(rgb, np.ceil(background - BACKGROUND_TOLERANCE),
                       np.floor(background + BACKGROUND_TOLERANCE))
    differs = (near == 0).astype(np.uint8)
    size = max(3, round(OPENING_SHARE * max(height, width)))
    kernel = np.ones((size, size), np.uint8)
    solid = cv2.morphologyEx(differs, cv2.MORPH_OPEN, kernel)
    solid = cv2.morphologyEx(solid, cv2.MORPH_CLOSE, kernel)
    count, labels, stats, _centres = cv2.connectedComponentsWithStats(solid, connectivity=4)
    found = []
    for label in range(1, count):
        left, top, w, h, area = (int(v) for v in stats[label])
        if area < MIN_FILL * w * h or min(w, h) < 8:
            continue
        blob = labels[top:top + h, left:left + w] == label
        rows = _runs(blob.mean(axis=1) >= MIN_FILL)  # text touching the picture's edge
        cols = _runs(blob.mean(axis=0) >= MIN_FILL)  # joined its blob: trim it off
        if rows and cols:
            (y0, y1), (x0, x1) = max(rows, key=_length), max(cols, key=_length)
            found.append((left + x0, top + y0, left + x1, top + y1))
    return found


def _length(run: tuple[int, int]) -> int:
    return run[1] - run[0]
