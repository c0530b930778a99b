"""The live signal: how a restream's match (a hit the live service made) is scored, told and
described to the rest of Swordnet, like any signal's.

A live match is not found by a crawl or against registered fingerprints: the live service
matches sampled segments against an event's rolling reference (:mod:`matching.live`). So the
live signal belongs to no kind of work (registration and crawls never use it, and it is not in
the registry's signal table); the registry still finds it by name for the hits it made. Its
fingerprint is a segment's print as compact versioned JSON,
``{"v":1,"duration":D,"frames":[["hex16",...],...],"audio":[u32,...]}``, and two prints score
as a segment against a reference holding the other.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import numpy as np

from matching.live import MATCH_SCORE, ZOOMS, RollingReference, SegmentPrint, print_segment
from matching.signal import Content, SignalIndex, SignalType

FORMAT_VERSION = 1
MAX_VALUE_CHARS = 4_000_000


def encode(segment: SegmentPrint) -> str:
    """A segment's print as the signal's fingerprint value."""
    frames = [[f"{int(code):016x}" for code in row] for row in segment.frames]
    return json.dumps({"v": FORMAT_VERSION, "duration": round(segment.duration, 2),
                       "frames": frames, "audio": [int(x) for x in segment.audio]},
                      separators=(",", ":"))


def decode(value: str) -> SegmentPrint:
    """Parse a fingerprint value strictly; raises ``ValueError`` naming what is wrong."""
    if len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"live fingerprint is {len(value):,} characters, too long")
    try:
        data = json.loads(value)
        assert isinstance(data, dict) and data.get("v") == FORMAT_VERSION
        frames = np.array([[int(code, 16) for code in row] for row in data["frames"]],
                          dtype=np.uint64).reshape(-1, len(ZOOMS))
        audio = np.array(data["audio"], dtype=np.uint32)
        duration = float(data["duration"])
    except (ValueError, TypeError, KeyError, AssertionError, OverflowError) as exc:
        raise ValueError(f"live fingerprint is not a version {FORMAT_VERSION} segment print: "
                         f"{exc or type(exc).__name__}") from None
    return SegmentPrint(duration, frames, audio)


def _clock(seconds: float) -> str:
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


class LiveSignal(SignalType):
    """Restreams of a live event matched against its feed's rolling reference."""

    name: ClassVar[str] = "live"
    work_kind: ClassVar[str] = "live"  # no work has it: the live service alone makes its hits
    default_threshold: ClassVar[float] = MATCH_SCORE
    higher_is_closer: ClassVar[bool] = True
    score_unit: ClassVar[str] = "of the sample"

    @classmethod
    def describe(cls, detail: dict[str, Any]) -> str:
        """The restream's delay behind the feed and how much of its sample matched.

        >>> LiveSignal.describe({"delay_s": 94.6, "seconds": 4.0})
        '1:34 behind the feed, 4 s matched'
        """
        parts = []
        if isinstance(detail.get("delay_s"), int | float):
            parts.append(f"{_clock(max(0.0, detail['delay_s']))} behind the feed")
        if isinstance(detail.get("seconds"), int | float):
            parts.append(f"{detail['seconds']:g} s matched")
        return ", ".join(parts)

    @classmethod
    def fingerprint(cls, content: bytes | Content) -> str:
        raw = content.raw if isinstance(content, Content) else content
        return encode(print_segment(raw))

    @classmethod
    def score(cls, a: str, b: str) -> float:
        """``b``'s segment matched against a reference holding ``a``'s (0 when nothing
        aligns)."""
        reference = RollingReference(window_s=3600.0)
        reference.add(0.0, decode(a))
        found = reference.best(decode(b), 0.0)
        return found.score if found is not None else 0.0

    @classmethod
    def validate(cls, value: str) -> str:
        return encode(decode(value))

    @classmethod
    def new_index(cls) -> SignalIndex:
        raise TypeError("live segments are matched against an event's rolling reference "
                        "(matching.live), never through a fingerprint index")
