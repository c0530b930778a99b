"""Live matching: segments of a stream fingerprinted, and matched against a rolling reference
of the official feed, tolerating the restream's delay, crop, overlay, logo and re-encode.

INTERFACE SEED (owner: live-matching helper): signatures fixed, bodies to be written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A sample matching the reference at least this well is a match (score 0..1, 1 = identical).
MATCH_SCORE: float = 0.5
# A match at least this close is "near-exact": what an event's auto-confirm rule may accept.
NEAR_EXACT_SCORE: float = 0.85


@dataclass(frozen=True)
class SegmentPrint:
    """The fingerprints of one media segment: frame hashes and Chromaprint items, each at a
    fixed step from the segment's start."""

    duration: float
    frames: np.ndarray  # uint64 pHash per sampled frame, FRAME_STEP_S apart, from t=0
    audio: np.ndarray  # uint32 Chromaprint items, ITEM_S apart, from t=0; empty: no sound


@dataclass(frozen=True)
class LiveMatch:
    """How a sampled segment matched the reference."""

    score: float  # 0..1
    delay_s: float  # how far the restream runs behind the feed
    reference_start: float  # wall-clock time (epoch s) the matched content aired on the feed
    seconds: float  # how much of the segment matched
    audio_similarity: float | None
    frame_similarity: float | None


def print_segment(content: bytes, *, max_seconds: float = 30.0,
                  timeout_s: float = 20.0) -> SegmentPrint:
    """Fingerprint a media segment (MPEG-TS, fMP4, MP4, ...) with ffmpeg; raises
    ``matching.signal.ContentRejected`` with a one-line reason when it cannot be decoded."""
    raise NotImplementedError


class RollingReference:
    """The official feed's fingerprints over the last ``window_s`` seconds of wall-clock time."""

    def __init__(self, window_s: float) -> None:
        raise NotImplementedError

    def add(self, start: float, segment: SegmentPrint) -> None:
        """Append a feed segment that aired from wall-clock time ``start`` (epoch s)."""
        raise NotImplementedError

    def trim(self, now: float) -> None:
        """Forget what aired before ``now - window_s``."""
        raise NotImplementedError

    def span(self) -> tuple[float, float] | None:
        """The wall-clock interval the reference covers, or None when empty."""
        raise NotImplementedError

    def match(self, segment: SegmentPrint, edge: float) -> LiveMatch | None:
        """Match a restream's segment that went live (at the restream) at wall-clock ``edge``;
        None when it scores below :data:`MATCH_SCORE`."""
        raise NotImplementedError
