"""A sound match in the review queue: its segments drawn as spectrograms and played.

A hit found by a signal previewed as sound (``SignalType.preview == "audio"``) whose detail
names ``work_range`` and ``copy_range`` (seconds) and the ``fraction`` of the copy matched is
described as "work 1:10–1:40 at copy 0:00–0:30, 83% of the copy". Its work's segment comes
from the work's stored sound (an audio work's preview, a video work's soundtrack kept beside
its key frames), the copy's from the evidence capture (an audio file, or a video whose
soundtrack matched); both are re-encoded by ffmpeg on request
(:mod:`swordnet.works.audio_codec`), never sent as crawled. Access is the hit's: a rights
holder hears and sees only their own hits. What was made lately is kept in memory, so a
player asking for parts of an excerpt (:mod:`swordnet.web.ranges`) does not re-encode it.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from casefiles.captures import RecordUnreadable, capture_record
from matching.registry import signal_type
from swordnet.accounts import access
from swordnet.core.errors import NotFound
from swordnet.core.models import Hit
from swordnet.web.console_base import Signed
from swordnet.web.deps import DbSession
from swordnet.web.params import PathId
from swordnet.web.ranges import ranged
from swordnet.works.audio_codec import (
    OGG_MEDIA_TYPE,
    SPECTROGRAM_HEIGHT,
    AudioUnreadable,
    opus_excerpt,
    spectrogram_png,
    spectrogram_width,
)
from swordnet.works.previews import stored_sound_seconds, work_sound, work_sound_sha256

router = APIRouter(include_in_schema=False)
EXCERPT_SECONDS = 120.0  # the longest excerpt of a sound match heard or drawn
MADE_KEPT = 16  # excerpts and spectrograms kept in memory (at most ~0.5 MB each)
Side = Literal["work", "copy"]


def clock(seconds: float) -> str:
    """A time in a recording as reviewers read it.

    >>> clock(70.4), clock(0), clock(3725)
    ('1:10', '0:00', '1:02:05')
    """
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class SoundMatch:
    """Where a sound match's segments are in the work and the copy (seconds), and how much of
    the copy matched (a fraction, or None if the signal did not say)."""

    work_range: tuple[float, float]
    copy_range: tuple[float, float]
    fraction: float | None

    @property
    def summary(self) -> str:
        """The match in words.

        >>> SoundMatch((70.0, 100.0), (0.0, 30.0), 0.83).summary
        'work 1:10–1:40 at copy 0:00–0:30, 83% of the copy'
        """
        (ws, we), (cs, ce) = self.work_range, self.copy_range
        said = f"work {clock(ws)}–{clock(we)} at copy {clock(cs)}–{clock(ce)}"
        return said + (f", {self.fraction:.0%} of the copy" if self.fraction is not None else "")

    def segment(self, side: str) -> tuple[float, float]:
        """Start and length of the excerpt of ``side`` ("work" or "copy") shown, capped."""
        start, end = self.work_range if side == "work" else self.copy_range
        return start, min(end - start, EXCERPT_SECONDS)

    def picture_size(self, side: str) -> tuple[int, int]:
        """Width and height of ``side``'s spectrogram, known before it is drawn."""
        return spectrogram_width(self.segment(side)[1]), SPECTROGRAM_HEIGHT

    def shown(self, side: str) -> str:
        """The excerpt of ``side`` shown, as times.

        >>> SoundMatch((70.0, 400.0), (0.0, 30.0), None).shown("work")
        '1:10–3:10'
        """
        start, length = self.segment(side)
        return f"{clock(start)}–{clock(start + length)}"


def _range(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    try:
        start, end = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        return None
    return (start, end) if math.isfinite(start) and math.isfinite(end) and 0 <= start < end \
        else None


def sound_match(hit: Hit) -> SoundMatch | None:
    """The segments of a hit found by a signal previewed as sound, None for any other hit
    (or one whose detail does not name both segments)."""
    if signal_type(hit.algorithm).preview != "audio":
        return None
    detail = hit.detail or {}
    work_range, copy_range = _range(detail.get("work_range")), _range(detail.get("copy_range"))
    if work_range is None or copy_range is None:
        return None
    fraction = detail.get("fraction")
    shown = float(fraction) if isinstance(fraction, int | float) and 0 <= fraction <= 1 else None
    return SoundMatch(work_range, copy_range, shown)


@dataclass(frozen=True)
class _Sound:
    """Where one side's segment is: what holds it (a stored preview, a capture), how to read
    it, and the segment's start and length."""

    source: str
    read: Callable[[], bytes]
    start: float
    seconds: float


def _sound_of(request: Request, session: DbSession, viewer: Signed, hit_id: int,
              side: Side) -> _Sound:
    """``side``'s segment of a hit the viewer may see; NotFound says what is missing."""
    hit = access.get_hit(session, viewer.principal, hit_id)
    match = sound_match(hit)
    if match is None:
        raise NotFound(f"hit {hit_id} is not a sound match with its segments")
    store = request.app.state.store
    start, seconds = match.segment(side)
    if side == "work":
        work = hit.work
        digest = work_sound_sha256(work)
        if digest is None:
            raise NotFound(f"hit {hit_id}: work {hit.work_id} has no stored sound")
        kept = stored_sound_seconds(work)
        if start >= kept:
            raise NotFound(f"hit {hit_id}: work {hit.work_id}'s stored sound is its first "
                           f"{clock(kept)}, the segment starts at {clock(start)}")

        def stored() -> bytes:
            content = work_sound(store, work)
            if content is None:
                raise NotFound(f"hit {hit_id}: work {work.id}'s stored sound is missing")
            return content
        return _Sound(f"sound {digest}", stored, start, seconds)
    capture = hit.media_capture
    if capture is None:
        raise NotFound(f"hit {hit_id}: the copy was not captured")

    def payload() -> bytes:
        try:
            return capture_record(session, store, capture, check_file=False).payload
        except RecordUnreadable as exc:
            raise NotFound(f"hit {hit_id}: the copy's capture cannot be read ({exc})") from None
    return _Sound(f"capture {capture.id}", payload, start, seconds)


_made: OrderedDict[tuple[str, str, float, float], bytes] = OrderedDict()
_made_lock = threading.Lock()


def _make(what: str, sound: _Sound, hit_id: int, side: Side,
          maker: Callable[[bytes, float, float], bytes]) -> bytes:
    key = (what, sound.source, sound.start, sound.seconds)
    with _made_lock:
        if key in _made:
            _made.move_to_end(key)
            return _made[key]
    try:
        made = maker(sound.read(), sound.start, sound.seconds)
    except AudioUnreadable as exc:
        raise NotFound(f"hit {hit_id}: the {side}'s sound cannot be decoded ({exc})") from None
    with _made_lock:
        _made[key] = made
        while len(_made) > MADE_KEPT:
            _made.popitem(last=False)
    return made


PRIVATE = {"Cache-Control": "private, max-age=3600"}


@router.get("/hits/{hit_id}/sound/{side}.ogg")
def sound_excerpt(hit_id: PathId, side: Side, request: Request, session: DbSession,
                  viewer: Signed) -> Response:
    """The matched segment of the work or the copy, re-encoded as mono Opus (one byte range
    of it if asked)."""
    sound = _sound_of(request, session, viewer, hit_id, side)
    return ranged(request, _make("ogg", sound, hit_id, side, opus_excerpt), OGG_MEDIA_TYPE,
                  PRIVATE)


@router.get("/hits/{hit_id}/sound/{side}.png")
def sound_spectrogram(hit_id: PathId, side: Side, request: Request, session: DbSession,
                      viewer: Signed) -> Response:
    """A spectrogram (PNG) of the matched segment of the work or the copy."""
    sound = _sound_of(request, session, viewer, hit_id, side)
    made = _make("png", sound, hit_id, side, spectrogram_png)
    return Response(made, media_type="image/png", headers=PRIVATE)
