"""Sampling a stream: its playlist and newest segment fetched safely (outbound policy, size
caps, timeouts), with what a WARC record needs kept.

INTERFACE SEED (owner: stream-sampling helper): signatures fixed, bodies to be written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from swordnet.core.outbound import AddressPolicy


@dataclass(frozen=True)
class Fetched:
    """One HTTP exchange as received: what the evidence (WARC) and the Capture need."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    ip: str | None
    fetched_at: datetime
    request_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Sample:
    """What sampling a stream found. ``outcome`` is "ok" (a segment fetched) or one of the
    failure outcomes of ``swordnet.core.models.LIVE_CHECK_OUTCOMES`` (offline, not_found,
    encrypted, refused, too_large, looping, bad_playlist, failed), with a one-line reason."""

    outcome: str
    reason: str
    playlists: list[Fetched]  # master then media playlist, as fetched
    segment: Fetched | None
    sequence: int | None
    duration: float | None
    edge: float | None  # wall-clock time (epoch s) the segment went live at its source


class StreamSampler:
    """Fetches playlists and segments within the outbound policy and the caps."""

    def __init__(self, policy: AddressPolicy, *, max_playlist_bytes: int = 1_000_000,
                 max_segment_bytes: int = 20_000_000, timeout_s: float = 15.0,
                 clock: Callable[[], datetime],
                 resolve: Callable[[str, int], Sequence[str]] | None = None) -> None:
        """``resolve`` maps (host, port) to addresses (default: the system resolver); every
        address is checked against ``policy`` and the connection made to a checked one."""
        raise NotImplementedError

    def sample(self, url: str, *, last_sequence: int | None = None) -> Sample:
        """Fetch ``url``'s playlist and its newest segment; ``last_sequence`` (the newest
        sequence the previous sample saw) lets a playlist that loops or stands still be told."""
        raise NotImplementedError

    def new_segments(self, url: str, *, after_sequence: int | None,
                     limit: int = 10) -> list[Sample]:
        """Every segment after ``after_sequence`` still listed (the whole window when None),
        oldest first, at most ``limit``: what the official feed's reference takes in."""
        raise NotImplementedError
