"""Key frames of videos for reviewers: a registered work's kept frames beside a copy's.

At registration a video work's key frames are kept in the evidence store: the first frame at
or after every :data:`KEY_FRAME_INTERVAL_S` seconds of video time (timestamps as the video
signal counts them), the interval doubled whenever a long work would keep more than
:data:`MAX_KEY_FRAMES` (a two-hour film: one every 16 s). Each is reduced to
:data:`FRAME_SIDE` px and re-encoded into one JPEG contact sheet; a small JSON manifest (the
work's preview, type ``frames``) names the sheet and the frames' timestamps. Works' own files
are not kept, so a work registered before this has no frames until the same file is
registered again.

For a video hit (:func:`video_strips`) reviewers see two aligned rows: work key frames across
the matched ``work_range`` and, for each, the copy's frame at the same moment (work time minus
the hit's ``offset_s``), decoded from the copy's evidence capture with the video signal's
FFmpeg limits and re-encoded as JPEG. Nothing crawled reaches the browser as it was.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from matching.video import (
    COPY_MAX_DECODED,
    COPY_MAX_SECONDS,
    MAX_FRAME_PIXELS,
    WORK_MAX_DECODED,
    WORK_MAX_SECONDS,
    _open_capture,
)
from swordnet.core.errors import BadInput
from swordnet.core.models import Work
from swordnet.evidence.store import EvidenceStore
from swordnet.works.previews import store_json_preview, stored_json_preview

PREVIEW_TYPE = "frames"
MANIFEST_VERSION = 1
KEY_FRAME_INTERVAL_S = 2.0  # at least; doubled while a work would keep too many frames
MAX_KEY_FRAMES = 480
FRAME_SIDE = 160  # a kept or shown frame's longer side, in pixels
SHEET_COLUMNS = 24
JPEG_QUALITY = 82
STRIP_FRAMES = 8  # frames per row of a hit's strips
_EPS = 1e-6


class FramesUnavailable(BadInput):
    """A video whose frames cannot be shown (not decodable, no frames there)."""


@dataclass(frozen=True)
class KeyFrames:
    """A work's kept key frames: their timestamps and where the contact sheet is."""

    interval: float
    times: tuple[float, ...]
    sheet_sha256: str
    tile: tuple[int, int]
    columns: int


@dataclass(frozen=True)
class StripFrame:
    """One frame of a strip: its time in its video (seconds) and the JPEG, if there is one."""

    t: float
    jpeg: bytes | None


@dataclass(frozen=True)
class VideoStrips:
    """A video hit's two rows, aligned frame by frame, and what to tell the reviewer."""

    work: tuple[StripFrame, ...]
    copy: tuple[StripFrame, ...]
    offset_s: float
    work_note: str | None = None  # why the work row is empty
    copy_note: str | None = None  # why the copy row is empty or short


def _frames(content: bytes, max_seconds: float,
            max_decoded: int) -> Iterator[tuple[float, cv2.VideoCapture]]:
    """The video's frames as ``(t, capture)`` after each grab, ``t`` in seconds from the first
    frame, counted as :func:`matching.video.sample_video` counts it; the caller retrieves the
    frames it wants. Raises :class:`FramesUnavailable`."""
    with tempfile.NamedTemporaryFile(prefix="swordnet-frames-") as file:
        file.write(content)
        file.flush()
        capture = _open_capture(file.name)
        try:
            if not capture.isOpened():
                raise FramesUnavailable("not a video FFmpeg can open (corrupt, truncated or "
                                        "not a video)")
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if width <= 0 or height <= 0 or width * height > MAX_FRAME_PIXELS:
                raise FramesUnavailable(f"no video frames of a usable size ({width}x{height})")
            fps = capture.get(cv2.CAP_PROP_FPS)
            step = 1 / fps if math.isfinite(fps) and 1 <= fps <= 1000 else 1 / 25
            decoded, origin, last = 0, 0.0, -math.inf
            while decoded < max_decoded and capture.grab():
                position = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
                if not decoded:
                    origin = position if math.isfinite(position) and position >= 0 else 0.0
                decoded += 1
                t = position - origin
                if not math.isfinite(t) or t <= last:
                    t = last + step if decoded > 1 else 0.0
                if t >= max_seconds:
                    return
                last = t
                yield t, capture
            if not decoded:
                raise FramesUnavailable("no decodable video frames (a corrupt or truncated "
                                        "file)")
        finally:
            capture.release()


def _retrieve(capture: cv2.VideoCapture) -> Image.Image | None:
    """The grabbed frame as an RGB image at most :data:`FRAME_SIDE` px on its longer side."""
    ok, frame = capture.retrieve()
    if not ok or frame is None or not frame.size:
        return None
    if frame.ndim == 2 or frame.shape[2] == 1:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    else:
        code = cv2.COLOR_BGRA2RGB if frame.shape[2] == 4 else cv2.COLOR_BGR2RGB
        frame = cv2.cvtColor(frame, code)
    h, w = frame.shape[:2]
    scale = min(1.0, FRAME_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if scale < 1:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return Image.fromarray(np.ascontiguousarray(frame))


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def key_frames(content: bytes) -> tuple[float, list[tuple[float, Image.Image]]]:
    """The interval used and the key frames ``(t, image)`` of a whole video."""
    interval, kept, next_sample = KEY_FRAME_INTERVAL_S, [], 0.0
    for t, capture in _frames(content, WORK_MAX_SECONDS, WORK_MAX_DECODED):
        if t + _EPS < next_sample:
            continue
        image = _retrieve(capture)
        if image is not None:
            kept.append((t, image))
        next_sample = (math.floor(t / interval + _EPS) + 1) * interval
        if len(kept) > MAX_KEY_FRAMES:  # twice the interval: the first frame of each slot
            interval *= 2
            slots: dict[int, tuple[float, Image.Image]] = {}
            for frame in kept:
                slots.setdefault(math.floor(frame[0] / interval + _EPS), frame)
            kept = list(slots.values())
            next_sample = (math.floor(t / interval + _EPS) + 1) * interval
    if not kept:
        raise FramesUnavailable("no video frames could be read")
    return interval, kept


def store_video_preview(store: EvidenceStore, work: Work, content: bytes) -> None:
    """Keep a video work's key frames (one contact sheet and its manifest) as its preview;
    nothing for other kinds, or a video whose frames cannot be read."""
    if work.kind != "video":
        return
    try:
        interval, frames = key_frames(content)
    except FramesUnavailable:
        return
    tile = frames[0][1].size
    columns = min(SHEET_COLUMNS, len(frames))
    rows = math.ceil(len(frames) / columns)
    sheet = Image.new("RGB", (columns * tile[0], rows * tile[1]))
    for i, (_, image) in enumerate(frames):
        if image.size != tile:  # the resolution changed mid-stream
            image = image.resize(tile)
        sheet.paste(image, ((i % columns) * tile[0], (i // columns) * tile[1]))
    stored_sheet = store.put_bytes(_jpeg(sheet), ".jpg")
    manifest = {"v": MANIFEST_VERSION, "interval": interval, "tile": list(tile),
                "columns": columns, "sheet": stored_sheet.sha256,
                "times": [round(t, 3) for t, _ in frames]}
    store_json_preview(store, work, PREVIEW_TYPE, manifest)


def stored_key_frames(store: EvidenceStore, work: Work) -> KeyFrames | None:
    """The work's kept key frames, or None if it has none (or they are gone)."""
    data = stored_json_preview(store, work, PREVIEW_TYPE)
    if data is None:
        return None
    return KeyFrames(float(data["interval"]), tuple(float(t) for t in data["times"]),
                     str(data["sheet"]), (int(data["tile"][0]), int(data["tile"][1])),
                     int(data["columns"]))


def strip_times(frames: KeyFrames, work_range: tuple[float, float], offset: float,
                copy_end: float = COPY_MAX_SECONDS, count: int = STRIP_FRAMES) -> list[float]:
    """Up to ``count`` key frame times spread across ``work_range`` (half an interval of slack
    either side), only those the copy can show (work time minus ``offset`` from 0 to
    ``copy_end``, the last copy time matched); else the key frame nearest the range's
    middle."""
    low, high = work_range[0] - frames.interval / 2, work_range[1] + frames.interval / 2
    shown = [t for t in frames.times if -_EPS <= t - offset <= copy_end + _EPS]
    inside = [t for t in shown if low <= t <= high]
    if not inside:
        middle = (work_range[0] + work_range[1]) / 2
        return [min(shown, key=lambda t: abs(t - middle))] if shown else []
    if len(inside) <= count:
        return inside
    return [inside[round(i * (len(inside) - 1) / (count - 1))] for i in range(count)]


def _work_strip(store: EvidenceStore, frames: KeyFrames, times: list[float]) -> list[StripFrame]:
    with store.open_object(frames.sheet_sha256, ".jpg") as f, Image.open(f) as sheet:
        sheet.load()
        w, h = frames.tile
        strip = []
        for t in times:
            i = frames.times.index(t)
            x, y = (i % frames.columns) * w, (i // frames.columns) * h
            strip.append(StripFrame(t, _jpeg(sheet.crop((x, y, x + w, y + h)).convert("RGB"))))
    return strip


def frames_at(content: bytes, targets: list[float]) -> list[StripFrame]:
    """The copy's frame at each target time (the first at or after half a frame before it),
    within the crawl's limits; a target past the copy's end has no JPEG."""
    wanted = sorted(t for t in targets if 0 <= t < COPY_MAX_SECONDS)
    found: dict[float, StripFrame] = {}
    previous = None
    for t, capture in _frames(content, COPY_MAX_SECONDS, COPY_MAX_DECODED):
        half = (t - previous) / 2 if previous is not None else 0.0
        previous = t
        if not wanted:
            break
        if t + half + _EPS < wanted[0]:
            continue
        image = _retrieve(capture)
        while wanted and t + half + _EPS >= wanted[0]:
            target = wanted.pop(0)
            found[target] = StripFrame(t, _jpeg(image) if image is not None else None)
    return [found.get(t, StripFrame(t, None)) for t in targets]


def video_strips(store: EvidenceStore, work: Work, detail: dict[str, Any],
                 copy: bytes | None, copy_problem: str | None = None) -> VideoStrips:
    """A video hit's aligned rows: the work's key frames across its matched range and the
    copy's frames at the same moments. ``copy`` is the copy's bytes, or None with
    ``copy_problem`` saying why they cannot be read."""
    offset = float(detail.get("offset_s", 0.0))
    work_range = _range(detail.get("work_range"))
    copy_range = _range(detail.get("copy_range"))
    frames = stored_key_frames(store, work)
    work_note = None
    if frames is None:
        work_note = ("This work has no stored frames: it was registered before key frames "
                     "were kept. Register the same file again to keep them (Swordnet does not "
                     "keep works' files).")
        span = copy_range or (0.0, 0.0)
        targets = [span[0] + (span[1] - span[0]) * i / (STRIP_FRAMES - 1)
                   for i in range(STRIP_FRAMES)]
        work_row: list[StripFrame] = []
    else:
        times = strip_times(frames, work_range or (0.0, frames.times[-1]), offset,
                            copy_range[1] if copy_range else COPY_MAX_SECONDS)
        try:
            work_row = _work_strip(store, frames, times)
        except (OSError, ValueError) as exc:  # the sheet is gone or damaged
            work_row, work_note = [], f"The work's stored key frames cannot be read ({exc})."
        if not times:
            work_note = "None of the work's key frames lies where the copy can show it."
        targets = [t - offset for t in times]
    if copy is None:
        return VideoStrips(tuple(work_row), (), offset, work_note,
                           f"The copy's frames cannot be shown: {copy_problem}.")
    try:
        copy_row = frames_at(copy, targets)
    except FramesUnavailable as exc:
        return VideoStrips(tuple(work_row), (), offset, work_note,
                           f"The copy's frames cannot be shown: {exc}.")
    missing = sum(frame.jpeg is None for frame in copy_row)
    copy_note = (f"{missing} of the copy's frames could not be decoded (the captured file "
                 "ends early or is damaged)." if missing else None)
    return VideoStrips(tuple(work_row), tuple(copy_row), offset, work_note, copy_note)


def _range(value: Any) -> tuple[float, float] | None:
    if (isinstance(value, list | tuple) and len(value) == 2
            and all(isinstance(v, int | float) and math.isfinite(v) for v in value)):
        return float(value[0]), float(value[1])
    return None
