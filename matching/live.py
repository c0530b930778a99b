"""Live matching: segments of a stream fingerprinted, and matched against a rolling reference
of the official feed, tolerating the restream's delay, crop, overlay, logo and re-encode.

A segment (:func:`print_segment`) is decoded by ``ffmpeg`` subprocesses from a temporary file,
limited to local files and the containers :mod:`matching.video` and :mod:`matching.audio`
allow. Its picture is sampled every :data:`FRAME_STEP_S` seconds from its first frame,
grey, cut to the content between the letterbox or pillarbox bars its frames share
(:func:`matching.video.content_box`) and reduced to :data:`FRAME_SIDE` px square; each frame
is hashed with the video signal's pHash over its central :data:`CENTRE` (a corner logo, a
ticker or a channel badge lies outside it), at each of :data:`ZOOMS`: a restream that crops
its picture (and scales it back up) shows the centre larger, and one of the zoomed hashes of
the feed's frame then lies a few bits from the restream's unzoomed one (measured on
generated programmes: a 10% crop with a logo at 100 kbit/s sits 10.4 bits from the unzoomed
hash on average and 2.9 from the matching zoom; frames of other content sit at 31).
Near-blank frames hash as :data:`BLANK` and are never compared. Its sound gives Chromaprint
items (:func:`matching.audio.decode_audio`); a segment without sound (or silent) matches on
its picture, one without picture on its sound.

The reference (:class:`RollingReference`) keeps the feed's frame hashes and Chromaprint items
on two grids of wall-clock time (a slot per :data:`FRAME_STEP_S`, a slot per
:data:`~matching.audio.ITEM_S`), filled as segments are added and emptied by :meth:`trim`.
A restream's segment is slid along each grid in one vectorised pass
(:func:`aligned_totals`): frames are compared by Hamming distance (the nearest of the feed
frame's zooms), items by bit error rate. Each is turned into a similarity 0..1 (a mean
distance of :data:`FRAME_NEAR` bits or less is 1, :data:`FRAME_FAR` or more is 0; likewise
:data:`AUDIO_NEAR` and :data:`AUDIO_FAR` for the bit error rate) and the two are combined
where they agree in time (within a frame slot) as ``1 - (1 - frames) * (1 - sound)``: a
restream whose sound was replaced still matches on its picture, and the other way round.
The best offset is the match.

Chromaprint needs about 2.5 s of context for each item, so a segment's last 2.5 s give none:
a reference fed one 4 s segment at a time would hold items for only a third of the time.
Feed it each new segment joined to the previous one (MPEG-TS segments concatenate; fMP4 ones
follow their initialisation section), added at the previous segment's start:
:meth:`RollingReference.add` overwrites what it overlaps (``swordnet.live.reference`` does).
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from matching.audio import ITEM_S, decode_audio
from matching.signal import ContentRejected
from matching.video import CONTAINERS, content_box, phash

# Calibrated by bench/live_matching.py (bench/results/live_matching.json: a 10-minute
# reference of a generated programme, 4 s segments): segments of a restream cropped 10%, with
# a logo, at 100 kbit/s score 1.0 (delay within 0.16 s), 0.91-1.0 on their picture alone;
# segments of another programme score 0.0. Probed apart: other content's sound comes as close
# as a bit error rate of 0.21 (similarity 0.08) and its picture as close as similarity 0.1;
# a restream cropped 20% at 60 kbit/s scores 0.51-1.0 on its picture alone.
# A sample matching the reference at least this well is a match (score 0..1, 1 = identical).
MATCH_SCORE: float = 0.5
# A match at least this close is "near-exact": what an event's auto-confirm rule may accept.
NEAR_EXACT_SCORE: float = 0.85

FRAME_STEP_S = 0.25  # frames sampled this far apart: the phase of two samplings differs by 1/8 s
FRAME_SIDE = 96  # sampled frames are scaled to this many pixels square
CENTRE = 0.6  # the central share of each side that is hashed
ZOOMS = (1.0, 0.95, 0.9, 0.85, 0.8)  # the centre hashed again as if the picture were cropped
BLANK = 0  # the hash of a frame with too little contrast to say anything (pHash never is 0)
BLANK_STD = 8.0  # grey levels: a frame's centre with less contrast than this is blank
MAX_SEGMENT_BYTES = 64 * 2**20
# A frame pair this many bits apart or fewer counts as the same picture in ``seconds``; and
# mean distances map onto similarity between these (unrelated frames sit at ~31 bits).
FRAME_RADIUS = 10
FRAME_NEAR, FRAME_FAR = 8.0, 22.0
# Mean bit error rates of aligned Chromaprint items mapped onto similarity (unrelated: ~0.5).
AUDIO_NEAR, AUDIO_FAR = 0.10, 0.22
AUDIO_WINDOW = 8  # items (about 1 s) judged together for ``seconds``
AUDIO_WINDOW_BER = 0.35
MIN_OVERLAP = 0.5  # an offset is judged only where this share of the segment overlaps


@dataclass(frozen=True)
class SegmentPrint:
    """The fingerprints of one media segment: frame hashes and Chromaprint items, each at a
    fixed step from the segment's start."""

    duration: float
    # uint64, shape (frames, len(ZOOMS)): per frame sampled FRAME_STEP_S apart from t=0, its
    # centre's pHash at each zoom (column 0 unzoomed); BLANK for a blank frame
    frames: np.ndarray
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
    if not content:
        raise ContentRejected("empty segment: 0 bytes")
    if len(content) > MAX_SEGMENT_BYTES:
        raise ContentRejected(f"segment of {len(content):,} bytes is over the "
                              f"{MAX_SEGMENT_BYTES // 2**20} MB limit")
    deadline = time.monotonic() + timeout_s
    try:
        frames = _frames(content, max_seconds, timeout_s)
        picture = ""
    except ContentRejected as exc:
        frames, picture = np.zeros((0, len(ZOOMS)), dtype=np.uint64), str(exc)
    left = deadline - time.monotonic()
    if left <= 0:
        raise ContentRejected(f"segment decoding took over {timeout_s:g} s: refused")
    try:
        found = decode_audio(content, max_seconds=max_seconds, max_bytes=MAX_SEGMENT_BYTES,
                             timeout=left)
        audio, sound, seconds = found.items, "", found.duration
    except ContentRejected as exc:
        audio, sound, seconds = np.zeros(0, dtype=np.uint32), str(exc), 0.0
    if time.monotonic() > deadline:
        raise ContentRejected(f"segment decoding took over {timeout_s:g} s: refused")
    if not np.any(frames[:, 0] != BLANK) and not len(audio):
        raise ContentRejected(f"nothing to match in the segment: {picture or 'blank picture'}; "
                              f"{sound}")
    return SegmentPrint(round(max(len(frames) * FRAME_STEP_S, seconds), 2), frames, audio)


def _frames(content: bytes, max_seconds: float, timeout_s: float) -> np.ndarray:
    """Hashes (frames, zooms) of the segment's picture; ContentRejected if it has none."""
    side = FRAME_SIDE
    output = ["-map", "0:v:0", "-an", "-sn", "-dn", "-t", f"{max_seconds:g}",
               "-vf", f"setpts=PTS-STARTPTS,fps={1 / FRAME_STEP_S:g},"
                      f"scale={side}:{side}:flags=area,format=gray",
               "-f", "rawvideo", "-"]
    # No suffix: FFmpeg would favour the demuxer it names over the content's own format.
    with tempfile.NamedTemporaryFile(prefix="swordnet-segment-") as file:
        file.write(content)
        file.flush()
        command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
                   "-protocol_whitelist", "file", "-format_whitelist", CONTAINERS,
                   "-i", file.name, *output]
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout_s)
        except FileNotFoundError:
            raise ContentRejected("segment decoding needs ffmpeg (Debian: ffmpeg), which is "
                                  "not installed") from None
        except subprocess.TimeoutExpired:
            raise ContentRejected(f"segment decoding took over {timeout_s:g} s: "
                                  f"refused") from None
    pixels = np.frombuffer(done.stdout, dtype=np.uint8)
    count = min(len(pixels) // (side * side), math.ceil(max_seconds / FRAME_STEP_S))
    if not count:
        text = done.stderr.decode("utf-8", "replace")
        if "matches no streams" in text:
            raise ContentRejected("no video stream")
        last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()),
                    "nothing decoded")
        raise ContentRejected(f"no picture FFmpeg can decode: {last.rsplit(': ', 1)[-1]:.80}")
    grey = pixels[: count * side * side].reshape(count, side, side)
    rows, cols = content_box(grey)  # letterbox or pillarbox bars a restream added
    if (rows.stop - rows.start, cols.stop - cols.start) != (side, side):
        grey = np.stack([cv2.resize(frame[rows, cols], (side, side),
                                    interpolation=cv2.INTER_AREA) for frame in grey])
    return np.array([_hashes(frame) for frame in grey], dtype=np.uint64).reshape(count, -1)


def _hashes(frame: np.ndarray) -> list[int]:
    """The pHash of ``frame``'s centre at each of :data:`ZOOMS` (all BLANK if featureless)."""
    side = frame.shape[0]
    codes = []
    for zoom in ZOOMS:
        margin = round(side * (1 - CENTRE * zoom) / 2)
        centre = frame[margin : side - margin, margin : side - margin]
        if zoom == ZOOMS[0] and float(centre.std()) < BLANK_STD:
            return [BLANK] * len(ZOOMS)
        codes.append(phash(centre))
    return codes


def aligned_totals(distances: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a segment slid along a reference: ``distances[q, r]`` between segment position
    ``q`` and reference slot ``r``, ``valid[q, r]`` whether that pair counts. Returns, for each
    offset ``o`` from ``-(Q - 1)`` to ``R - 1`` (index ``o + Q - 1``), the sum of the valid
    distances of the pairs ``(q, o + q)`` and how many there are.

    >>> totals, counts = aligned_totals(np.array([[1, 2, 3], [4, 5, 6]]), np.ones((2, 3), bool))
    >>> totals.tolist(), counts.tolist()
    ([4, 6, 8, 3], [1, 2, 2, 1])
    """
    segment, reference = distances.shape
    width = reference + segment - 1
    padded = np.zeros((segment, reference + 2 * (segment - 1)), dtype=np.int64)
    padded[:, segment - 1 : segment - 1 + reference] = np.where(valid, distances, 0)
    counted = np.zeros(padded.shape, dtype=np.int64)
    counted[:, segment - 1 : segment - 1 + reference] = valid
    at = np.arange(width)[None, :] + np.arange(segment)[:, None]
    return (np.take_along_axis(padded, at, axis=1).sum(axis=0),
            np.take_along_axis(counted, at, axis=1).sum(axis=0))


def _columns(frames: np.ndarray) -> np.ndarray:
    """Frame hashes as (frames, zooms): a print made with one hash per frame has one zoom."""
    return frames if frames.ndim == 2 else frames.reshape(-1, 1)


def _similarity(distance: np.ndarray, near: float, far: float) -> np.ndarray:
    return np.clip((far - distance) / (far - near), 0.0, 1.0)


class _Grid:
    """Values on slots ``step`` seconds apart of wall-clock time: slot ``first + i`` of the
    arrays holds what aired at ``origin + (first + i) * step``; ``valid`` marks filled slots."""

    def __init__(self, step: float, columns: int, dtype: type) -> None:
        self.step = step
        self.first = 0
        self.values: np.ndarray = np.zeros((0, columns), dtype=dtype)
        self.valid = np.zeros(0, dtype=bool)

    def put(self, origin: float, start: float, values: np.ndarray, valid: np.ndarray) -> None:
        if not len(values):
            return
        if not len(self.valid):
            self.first = round((start - origin) / self.step)
        slot = round((start - origin) / self.step) - self.first
        if slot < 0:  # earlier than anything held: make room in front
            self._resize(-slot, len(self.valid))
            slot = 0
        self._resize(0, max(0, slot + len(values) - len(self.valid)))
        self.values[slot : slot + len(values)] = values
        self.valid[slot : slot + len(values)] = valid

    def _resize(self, front: int, back: int) -> None:
        columns = self.values.shape[1]
        self.values = np.concatenate([np.zeros((front, columns), self.values.dtype),
                                      self.values,
                                      np.zeros((back, columns), self.values.dtype)])
        self.valid = np.concatenate([np.zeros(front, bool), self.valid, np.zeros(back, bool)])
        self.first -= front

    def drop_before(self, origin: float, cutoff: float) -> None:
        keep = max(0, math.ceil((cutoff - origin) / self.step - 1e-9) - self.first)
        if keep:
            self.values, self.valid = self.values[keep:], self.valid[keep:]
            self.first += keep
        if not self.valid.any():
            self.values, self.valid = self.values[:0], self.valid[:0]

    def span(self, origin: float) -> tuple[float, float] | None:
        filled = np.flatnonzero(self.valid)
        if not len(filled):
            return None
        return (origin + (self.first + int(filled[0])) * self.step,
                origin + (self.first + int(filled[-1]) + 1) * self.step)


class RollingReference:
    """The official feed's fingerprints over the last ``window_s`` seconds of wall-clock time.

    Safe to share between threads: the feed's adds and the checkers' matches take one lock.
    """

    def __init__(self, window_s: float) -> None:
        if not window_s > 0:
            raise ValueError(f"window_s must be positive, got {window_s!r}")
        self.window_s = window_s
        self._lock = threading.RLock()
        self._origin: float | None = None
        self._frames = _Grid(FRAME_STEP_S, len(ZOOMS), np.uint64)
        self._audio = _Grid(ITEM_S, 1, np.uint32)

    def add(self, start: float, segment: SegmentPrint) -> None:
        """Append a feed segment that aired from wall-clock time ``start`` (epoch s); what it
        overlaps is overwritten, and content older than the window before the newest held
        is not kept."""
        with self._lock:
            newest = self.span()
            end = start + segment.duration
            if newest is not None and end < newest[1] - self.window_s:
                return
            if newest is not None and start > newest[1] + self.window_s:
                self._frames.drop_before(0.0, math.inf)  # a gap longer than the window
                self._audio.drop_before(0.0, math.inf)
            if self._origin is None or self.span() is None:
                self._origin = start
            frames = _columns(segment.frames)
            self._frames.put(self._origin, start, frames, frames[:, 0] != BLANK)
            self._audio.put(self._origin, start, segment.audio.reshape(-1, 1),
                            np.ones(len(segment.audio), dtype=bool))
            self.trim(max(end, newest[1] if newest else end))

    def trim(self, now: float) -> None:
        """Forget what aired before ``now - window_s``."""
        with self._lock:
            if self._origin is not None:
                self._frames.drop_before(self._origin, now - self.window_s)
                self._audio.drop_before(self._origin, now - self.window_s)

    def span(self) -> tuple[float, float] | None:
        """The wall-clock interval the reference covers, or None when empty."""
        with self._lock:
            if self._origin is None:
                return None
            spans = [s for s in (self._frames.span(self._origin), self._audio.span(self._origin))
                     if s is not None]
            if not spans:
                return None
            return min(s[0] for s in spans), max(s[1] for s in spans)

    def held(self) -> tuple[float, float]:
        """Seconds of the feed held with a picture to compare (blank frames left out), and
        with sound."""
        with self._lock:
            return (float(self._frames.valid.sum()) * FRAME_STEP_S,
                    float(self._audio.valid.sum()) * ITEM_S)

    def match(self, segment: SegmentPrint, edge: float) -> LiveMatch | None:
        """Match a restream's segment that went live (at the restream) at wall-clock ``edge``;
        None when it scores below :data:`MATCH_SCORE`."""
        found = self.best(segment, edge)
        return found if found is not None and found.score >= MATCH_SCORE else None

    def best(self, segment: SegmentPrint, edge: float) -> LiveMatch | None:
        """The segment's best alignment in the reference whatever its score (what a segment
        that does not match fell short with); None when nothing can be compared."""
        with self._lock:
            if self._origin is None:
                return None
            found = [x for x in (self._frame_offsets(segment), self._audio_offsets(segment))
                     if x is not None]
            if not found:
                return None
            # Both on the frame grid's slots (numbered from the origin): an audio offset counts
            # for the frame slots within one slot of its time.
            low = min(int(x.slots.min()) for x in found)
            high = max(int(x.slots.max()) + 1 for x in found)
            sims = {x.audio: np.full(high - low, -1.0) for x in found}
            seconds = {x.audio: np.zeros(high - low) for x in found}
            for x in found:
                np.maximum.at(sims[x.audio], x.slots - low, np.nan_to_num(x.sims, nan=-1.0))
                np.maximum.at(seconds[x.audio], x.slots - low, x.seconds)
            if True in sims:
                pooled = sims[True]
                widened = pooled.copy()
                widened[1:] = np.maximum(widened[1:], pooled[:-1])
                widened[:-1] = np.maximum(widened[:-1], pooled[1:])
                sims[True] = widened
            frames = sims.get(False, np.full(high - low, -1.0))
            audio = sims.get(True, np.full(high - low, -1.0))
            scores = 1 - (1 - np.maximum(frames, 0)) * (1 - np.maximum(audio, 0))
            scores[(frames < 0) & (audio < 0)] = -1.0
            # ties (a similarity saturated at 1) go to the offset where both agree best
            best = int(np.lexsort((np.maximum(frames, 0) + np.maximum(audio, 0), scores))[-1])
            if scores[best] < 0:
                return None
            reference_start = self._origin + (low + best) * FRAME_STEP_S
            matched = max(float(kind[best]) for kind in seconds.values())
            return LiveMatch(
                score=round(float(scores[best]), 3),
                delay_s=round(edge - reference_start, 2),
                reference_start=round(reference_start, 2),
                seconds=round(min(matched, segment.duration), 2),
                audio_similarity=round(float(audio[best]), 3) if audio[best] >= 0 else None,
                frame_similarity=round(float(frames[best]), 3) if frames[best] >= 0 else None)

    def _frame_offsets(self, segment: SegmentPrint) -> _Offsets | None:
        """The segment's frames slid along the reference's, or None if either has none."""
        query = _columns(segment.frames)[:, 0]
        reference = self._frames
        usable = query != BLANK
        if not usable.any() or not reference.valid.any():
            return None
        nearest = np.full((len(query), len(reference.valid)), 64, dtype=np.int64)
        for zoom in range(reference.values.shape[1]):  # one zoom at a time: less memory
            np.minimum(nearest, np.bitwise_count(query[:, None] ^ reference.values[None, :, zoom]),
                       out=nearest)
        valid = usable[:, None] & reference.valid[None, :]
        totals, counts = aligned_totals(nearest, valid)
        hits, _ = aligned_totals((nearest <= FRAME_RADIUS).astype(np.int64), valid)
        judged = counts >= max(1, MIN_OVERLAP * int(usable.sum()))
        sims = np.where(judged, _similarity(totals / np.maximum(counts, 1),
                                            FRAME_NEAR, FRAME_FAR), np.nan)
        slots = reference.first - (len(query) - 1) + np.arange(len(sims))
        return _Offsets(False, slots, sims, hits * FRAME_STEP_S)

    def _audio_offsets(self, segment: SegmentPrint) -> _Offsets | None:
        """The segment's Chromaprint items slid along the reference's, or None if either
        has none; each offset is given the frame slot nearest its time."""
        query = segment.audio
        reference = self._audio
        if not len(query) or not reference.valid.any():
            return None
        errors = np.bitwise_count(query[:, None] ^ reference.values[None, :, 0]).astype(np.int64)
        valid = np.broadcast_to(reference.valid[None, :], errors.shape)
        totals, counts = aligned_totals(errors, valid)
        judged = counts >= max(1, MIN_OVERLAP * len(query))
        sims = np.where(judged, _similarity(totals / np.maximum(32 * counts, 1),
                                            AUDIO_NEAR, AUDIO_FAR), np.nan)
        windows = np.zeros(len(sims), dtype=np.int64)
        for start in range(0, len(query) - AUDIO_WINDOW + 1, AUDIO_WINDOW):
            part = slice(start, start + AUDIO_WINDOW)
            w_totals, w_counts = aligned_totals(errors[part], valid[part])
            good = (w_counts == AUDIO_WINDOW) & (w_totals <= AUDIO_WINDOW_BER * 32 * w_counts)
            at = np.arange(len(windows)) + start + AUDIO_WINDOW - len(query)
            inside = (at >= 0) & (at < len(good))
            windows[inside] += good[at[inside]]
        absolute = reference.first - (len(query) - 1) + np.arange(len(sims))
        slots = np.rint(absolute * ITEM_S / FRAME_STEP_S).astype(np.int64)
        return _Offsets(True, slots, sims, windows * AUDIO_WINDOW * ITEM_S)


@dataclass(frozen=True)
class _Offsets:
    """A segment slid along one of the reference's grids: per offset, the frame slot its
    start lies on, the similarity (NaN where too little overlaps) and seconds matched."""

    audio: bool
    slots: np.ndarray
    sims: np.ndarray
    seconds: np.ndarray
