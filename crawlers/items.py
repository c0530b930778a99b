"""The items a spider hands to the pipelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from matching.match_index import Match


@dataclass
class PageInfo:
    """The page a media file was found on (captured when one of its media matches)."""

    url: str
    status: int
    fetched_at: datetime
    ip: str | None
    sha256: str
    size: int
    content_type: str | None
    title: str | None


@dataclass
class MediaItem:
    """A fetched media file, filled in as it moves through the pipelines."""

    url: str
    status: int
    fetched_at: datetime
    ip: str | None
    content_type: str | None
    body: bytes = field(repr=False)
    page: PageInfo = field(repr=False)
    sha256: str = ""
    kind: str = "image"
    fingerprints: dict[str, str] = field(default_factory=dict)  # stage 1, by algorithm
    note: str | None = None  # how the content was read, e.g. first frame of an animation
    matches: list[Match] = field(default_factory=list)
