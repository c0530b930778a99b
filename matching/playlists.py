"""HLS and DASH playlists parsed: a master playlist's variants, a media playlist's segments.

INTERFACE SEED (owner: stream-sampling helper): signatures fixed, bodies to be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from matching.signal import ContentRejected


class PlaylistError(ContentRejected):
    """A playlist that cannot be read; the message names what is wrong with it."""


@dataclass(frozen=True)
class Variant:
    """One rendition a master playlist offers."""

    url: str
    bandwidth: int | None
    resolution: tuple[int, int] | None


@dataclass(frozen=True)
class Segment:
    """One media segment of a media playlist."""

    url: str
    sequence: int
    duration: float
    program_time: datetime | None  # EXT-X-PROGRAM-DATE-TIME, or DASH's computed time
    encrypted: bool


@dataclass(frozen=True)
class MediaPlaylist:
    """The segments a media playlist lists now, and whether the stream has ended."""

    segments: tuple[Segment, ...]
    target_duration: float
    ended: bool


def parse_playlist(text: str, base_url: str, *, now: datetime) -> MediaPlaylist | list[Variant]:
    """Parse an HLS playlist (master or media) or a DASH MPD; raises :class:`PlaylistError`."""
    raise NotImplementedError
