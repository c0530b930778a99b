"""The video signal type: perceptual hashes of sampled frames, aligned by time offset.

A video is decoded with OpenCV's FFmpeg backend and sampled at a fixed rate of video time, by
presentation timestamp: a registered work every :data:`SAMPLE_INTERVAL_S` seconds, a crawled
copy twice as often, so whatever a copy's trim, one of its frames lies within a quarter
interval of each work frame (the sampling phase matters: a quarter second of a pan moves a
frame's hash further than re-encoding does). Sampled frames are converted to grey, reduced
to :data:`THUMB_SIDE` px and buffered in chunks of :data:`CROP_CHUNK`: the letterbox and
pillarbox bars of a chunk are the rows and columns mostly dark in every one of its frames
(a bar is constant, content is not; a logo on a bar does not make it content), and they are
cropped before each frame is hashed with imagehash's 64-bit DCT pHash. Near-blank frames
(fades to black, uniform title cards) hash alike in every video, so they are skipped.

The fingerprint is compact, versioned JSON: ``{"v":1,"duration":D,"frames":[[t,"hex16"],...]}``
with ``t`` in seconds from the first frame (two decimals, strictly increasing). Rights holders
may submit one precomputed; :meth:`VideoSignal.validate` checks it strictly.

Matching (:class:`VideoIndex`) keeps every registered frame hash in one
:class:`~matching.hamming.HammingIndex` (rows numbered globally, with each row's entry and
time alongside), so a copy's frames are searched in one vectorised batch. Every frame pair
within :data:`HASH_RADIUS` bits votes for its time offset (work time minus copy time) in bins
one sample wide; an entry's score is the number of frames agreeing on its best offset, with a
tolerance of one bin either side: the fewer of the distinct copy frames and the distinct work
frames in the winning window, so a static scene cannot vote many times. Unrelated videos share
near frames now and then, but not many at one consistent offset. Re-encoding, downscaling and
small logos move a frame's hash a few bits; added bars are cropped; a trimmed start only
changes the offset.

A registered work is fingerprinted whole (:meth:`VideoSignal.fingerprint`, up to
:data:`WORK_MAX_SECONDS`); crawled content (:meth:`VideoSignal.query_value`) only for its first
:data:`COPY_MAX_SECONDS`, with a cap on decoded frames, so an endless stream costs bounded
time and memory. ``bench/video.py`` calibrates the radius and the threshold.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import imagehash
import numpy as np
from PIL import Image

from matching.hamming import HammingIndex
from matching.media import VIDEO, FileKind
from matching.signal import Content, ContentRejected, SignalIndex, SignalType

FORMAT_VERSION = 1
SAMPLE_INTERVAL_S = 0.5  # works: one sampled frame per half second of video time
# Crawled copies are sampled twice as densely, so some copy frame lies within a quarter
# interval of every work frame whatever the copy's trim: halves the motion between them.
COPY_INTERVAL_S = SAMPLE_INTERVAL_S / 2
# Per-frame Hamming radius. bench/video.py (bench/results/video.json): 98.8% of the work
# frames an altered copy shows are within 10 bits of its nearest copy frame (97.1% within 8,
# 99.5% within 12); of unrelated clips' frames, 0.03% have a registered frame within 10 bits
# (none within 8, 0.4% within 12): the index's nearest neighbours come closer as it grows.
HASH_RADIUS = 10
COPY_MAX_SECONDS = 600.0  # crawled copies: the first ten minutes
COPY_MAX_DECODED = 36_000  # decoded frames: ten minutes at 60 fps
WORK_MAX_SECONDS = 4 * 3600.0
WORK_MAX_DECODED = 4 * 3600 * 60
MAX_FRAME_PIXELS = 40_000_000  # like the image decoder's limit
THUMB_SIDE = 160  # sampled frames are reduced to this many pixels on their longer side
CROP_CHUNK = 20  # samples sharing one bar detection (10 s of video)
DARK_LEVEL = 40  # luma at or below this is black (a bar's compression noise stays under 25)
CONTENT_SHARE = 0.5  # a row/column holds content if this share of it is brighter, in any frame
MIN_KEPT_SHARE = 0.3  # a crop keeping less than this of a side is a dark scene: do not crop
BLANK_STD = 8.0  # a cropped frame with less contrast than this (grey levels) is blank
MIN_USABLE_FRAMES = 4  # two seconds of non-blank video
MAX_ROWS_PER_FRAME = 512  # a copy frame near more registered frames than this says nothing
_OPEN_TIMEOUT_MS = 10_000
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
# Container signatures (MP4 and QuickTime, AVI, MPEG transport streams are checked apart):
# Matroska/WebM, FLV, MPEG program and elementary streams, ASF/WMV, RealMedia.
_SIGNATURES = (b"\x1aE\xdf\xa3", b"FLV\x01", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3",
               b"0&\xb2u\x8ef\xcf\x11", b".RMF")
_NOT_VIDEO_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"M4A ", b"M4B ",
                     b"M4P ", b"F4A ", b"F4B ")
_TIME_EPS = 1e-6

# Video containers FFmpeg may open. Others it would also probe (text, ANSI art, images)
# render random bytes as a "frame"; playlists and concat lists refer to other files or URLs.
CONTAINERS = ("mov,matroska,avi,flv,live_flv,mpegts,mpeg,asf,rm,ogg,m4v,h264,hevc,"
              "mpegvideo,mxf,nut,ivf,dv,wtv,obu")
# Read through OpenCV's environment variable (there is no per-capture option for these),
# set only while a capture opens; an operator's own setting wins.
CAPTURE_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
CAPTURE_OPTIONS = f"protocol_whitelist;file|format_whitelist;{CONTAINERS}"
_capture_options_lock = threading.Lock()


def _open_capture(path: str) -> cv2.VideoCapture:
    """A capture of the file ``path``, opened with FFmpeg limited to local files and
    :data:`CONTAINERS`. The environment variable OpenCV reads is set for the opening only,
    under a lock, so no other thread sees it come and go and no other code inherits it."""
    with _capture_options_lock:
        ours = CAPTURE_OPTIONS_ENV not in os.environ
        if ours:
            os.environ[CAPTURE_OPTIONS_ENV] = CAPTURE_OPTIONS
        try:
            return cv2.VideoCapture(path, cv2.CAP_FFMPEG,
                                    [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _OPEN_TIMEOUT_MS,
                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, _OPEN_TIMEOUT_MS])
        finally:
            if ours:
                del os.environ[CAPTURE_OPTIONS_ENV]


@dataclass(frozen=True)
class VideoFrames:
    """Sampled frames of one video: times (s, increasing), 64-bit pHashes, and the duration."""

    times: np.ndarray  # float64
    codes: np.ndarray  # uint64
    duration: float

    def __len__(self) -> int:
        return len(self.times)

    def encode(self) -> str:
        """The fingerprint value: compact versioned JSON."""
        frames = [[round(float(t), 2), f"{int(c):016x}"]
                  for t, c in zip(self.times, self.codes, strict=True)]
        return json.dumps({"v": FORMAT_VERSION, "duration": round(self.duration, 2),
                           "frames": frames}, separators=(",", ":"))

    @classmethod
    def decode(cls, value: str) -> VideoFrames:
        """Parse and check a fingerprint value strictly; raises ``ValueError``."""
        if not isinstance(value, str):
            raise ValueError(f"video fingerprint must be a string, not {type(value).__name__}")
        max_frames = int(WORK_MAX_SECONDS / SAMPLE_INTERVAL_S) + 1
        if len(value) > 64 * max_frames:
            raise ValueError(f"video fingerprint is {len(value):,} characters, too long")
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"video fingerprint is not JSON: {exc}") from None
        if not isinstance(data, dict) or set(data) != {"v", "duration", "frames"}:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f'video fingerprint must be an object with keys "v", "duration", '
                             f'"frames"; got {keys}')
        if type(data["v"]) is not int or data["v"] != FORMAT_VERSION:
            raise ValueError(f"unsupported video fingerprint version {data['v']!r} "
                             f"(expected {FORMAT_VERSION})")
        duration = _seconds(data["duration"], "duration")
        frames = data["frames"]
        if not isinstance(frames, list) or not frames:
            raise ValueError("video fingerprint has no frames")
        if len(frames) > max_frames:
            raise ValueError(f"video fingerprint has {len(frames)} frames, over {max_frames}")
        times = np.empty(len(frames), dtype=np.float64)
        codes = np.empty(len(frames), dtype=np.uint64)
        for i, frame in enumerate(frames):
            if not isinstance(frame, list) or len(frame) != 2:
                raise ValueError(f"frame {i} must be [seconds, hash], got {frame!r:.60}")
            t, code = frame
            times[i] = round(_seconds(t, f"frame {i} time"), 2)
            if i and times[i] <= times[i - 1]:
                raise ValueError(f"frame {i} time {t} does not follow {times[i - 1]:g}: "
                                 f"timestamps must increase")
            if times[i] > duration:
                raise ValueError(f"frame {i} time {t} is past the duration {duration:g}")
            if not isinstance(code, str) or not _HEX16.fullmatch(code):
                raise ValueError(f"frame {i} hash must be 16 hex digits, got {code!r:.40}")
            codes[i] = int(code, 16)
        return cls(times, codes, round(duration, 2))


def _seconds(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number of seconds, got {value!r:.40}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be finite and not negative, got {value!r}")
    return float(value)


def _sniff(content: bytes) -> str | None:
    """Why ``content`` is clearly not a video file, from its first bytes, or None."""
    head = content[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "a WAV audio file, with no video stream"
    if head[:3] == b"ID3" or head[:4] == b"fLaC":
        return "an audio file (MP3/FLAC), with no video stream"
    if head.lstrip()[:7] == b"#EXTM3U":
        return "a streaming playlist (HLS), not a video file"
    return None


def _span(content: np.ndarray) -> tuple[int, int]:
    """First and past-last True index of a row/column mask (all of it if implausible)."""
    (found,) = np.nonzero(content)
    if not len(found) or found[-1] + 1 - found[0] < MIN_KEPT_SHARE * len(content):
        return 0, len(content)
    return int(found[0]), int(found[-1]) + 1


def content_box(frames: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of a chunk of grey frames ``(n, h, w)`` left after cropping bars."""
    bright = frames > DARK_LEVEL
    rows = bright.mean(axis=2).max(axis=0) > CONTENT_SHARE
    cols = bright.mean(axis=1).max(axis=0) > CONTENT_SHARE
    return slice(*_span(rows)), slice(*_span(cols))


def phash(grey: np.ndarray) -> int:
    """imagehash's 64-bit DCT pHash of a grey frame, as an int (bit 63 first)."""
    bits = imagehash.phash(Image.fromarray(grey)).hash.ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


class _Sampler:
    """Collects sampled frames, crops each chunk's bars, hashes the frames that are not blank."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.codes: list[int] = []
        self.sampled = 0
        self._pending: list[tuple[float, np.ndarray]] = []

    def add(self, t: float, frame: np.ndarray) -> None:
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        elif frame.ndim == 3:
            code = cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY
            frame = cv2.cvtColor(frame, code)
        grey = frame
        h, w = grey.shape[:2]
        scale = THUMB_SIDE / max(h, w)
        if scale < 1:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        if self._pending and self._pending[0][1].shape != grey.shape:
            self.flush()  # the resolution changed mid-stream
        self._pending.append((t, grey))
        self.sampled += 1
        if len(self._pending) == CROP_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows, cols = content_box(np.stack([grey for _, grey in self._pending]))
        for t, grey in self._pending:
            crop = grey[rows, cols]
            if min(crop.shape) >= 8 and float(crop.std()) >= BLANK_STD:
                self.times.append(t)
                self.codes.append(phash(crop))
        self._pending = []


def sample_video(content: bytes, *, interval: float, max_seconds: float, max_decoded: int,
                 max_bytes: int) -> VideoFrames:
    """Decode ``content`` and hash its sampled frames; raises :class:`ContentRejected`."""
    if not content:
        raise ContentRejected("empty file: 0 bytes, not a video")
    if len(content) > max_bytes:
        limit = f"{max_bytes // 2**20} MB" if max_bytes % 2**20 == 0 else f"{max_bytes:,} byte"
        raise ContentRejected(f"video of {len(content):,} bytes is over the {limit} limit")
    reason = _sniff(content)
    if reason:
        raise ContentRejected(f"not a video: {reason}")
    # OpenCV reads files only; the temporary file is deleted when the block exits.
    # No suffix: FFmpeg would favour the demuxer it names over the content's own format.
    with tempfile.NamedTemporaryFile(prefix="swordnet-video-") as file:
        file.write(content)
        file.flush()
        capture = _open_capture(file.name)
        try:
            return _read(capture, interval, max_seconds, max_decoded)
        finally:
            capture.release()


def _read(capture: cv2.VideoCapture, interval: float, max_seconds: float,
          max_decoded: int) -> VideoFrames:
    if not capture.isOpened():
        raise ContentRejected("not a video FFmpeg can open: no video stream found "
                              "(not a video, or a corrupt or truncated one)")
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if width <= 0 or height <= 0:
        raise ContentRejected("no video stream: the file has no frames of any size")
    if width * height > MAX_FRAME_PIXELS:
        raise ContentRejected(f"video frames of {width}x{height} pixels are over the "
                              f"{MAX_FRAME_PIXELS:,} pixel limit")
    fps = capture.get(cv2.CAP_PROP_FPS)
    step = 1 / fps if math.isfinite(fps) and 1 <= fps <= 1000 else 1 / 25
    sampler = _Sampler()
    decoded, origin, last, next_sample = 0, 0.0, -math.inf, 0.0
    while decoded < max_decoded and capture.grab():
        position = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
        if not decoded:
            origin = position if math.isfinite(position) and position >= 0 else 0.0
        decoded += 1
        t = position - origin
        if not math.isfinite(t) or t <= last:  # missing or repeated timestamps: count frames
            t = last + step if decoded > 1 else 0.0
        if t >= max_seconds:
            break
        last = t
        if t + _TIME_EPS < next_sample:
            continue
        ok, frame = capture.retrieve()
        if ok and frame is not None and frame.size:
            sampler.add(t, frame)
        next_sample = (math.floor(t / interval + _TIME_EPS) + 1) * interval
    sampler.flush()
    if not decoded:
        raise ContentRejected("no decodable video frames (a corrupt or truncated file)")
    duration = max(0.0, last) + step
    usable = len(sampler.times)
    if not usable:
        raise ContentRejected(f"no usable video frames: all {sampler.sampled} sampled frames "
                              f"are blank (black or uniform)")
    if usable < MIN_USABLE_FRAMES:
        raise ContentRejected(f"video too short: {usable} usable frames in {duration:.1f} s, "
                              f"at least {MIN_USABLE_FRAMES} needed")
    times = np.round(np.array(sampler.times, dtype=np.float64), 2)
    return VideoFrames(times, np.array(sampler.codes, dtype=np.uint64), round(duration, 2))


class VideoContent(Content):
    """A video file (sampled by :func:`sample_video`: a work and a copy are sampled
    differently, so there is nothing for two decodings to share)."""

    @classmethod
    def recognise(cls, head: bytes) -> int:
        """2 for the signatures of the containers FFmpeg is allowed to open, else 0 (audio in
        an MP4 or Ogg container is not video).

        >>> VideoContent.recognise(bytes(4) + b"ftypisom"), VideoContent.recognise(b"ID3")
        (2, 0)
        """
        box, brand = head[4:8], head[8:12]
        if box == b"ftyp":
            return 0 if brand in _NOT_VIDEO_BRANDS else 2
        if box in (b"moov", b"mdat", b"wide") or head.startswith(_SIGNATURES):
            return 2
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            return 2
        if head[:4] == b"OggS" and b"\x80theora" in head[:512]:
            return 2
        return 2 if len(head) > 376 and head[0] == head[188] == head[376] == 0x47 else 0


class VideoSignal(SignalType):
    """Frame pHashes sampled twice a second; a copy matches on frames agreeing on one offset."""

    name: ClassVar[str] = "video"
    work_kind: ClassVar[str] = "video"
    higher_is_closer: ClassVar[bool] = True
    score_unit: ClassVar[str] = "frames"
    # Work frames agreeing on one offset (two per second of video). bench/video.py: unrelated
    # clips reach 1, altered copies 27 or more (a 15 s excerpt) and 62 or more when whole;
    # 8 (4 s of agreeing video) leaves room for closer coincidences in a large catalogue.
    default_threshold: ClassVar[float] = 8
    max_content_bytes: ClassVar[int] = 256 * 1024 * 1024
    file_kinds: ClassVar[tuple[FileKind, ...]] = (VIDEO,)
    content_type: ClassVar[type[Content]] = VideoContent

    @classmethod
    def fingerprint(cls, content: bytes | Content) -> str:
        """The whole video's fingerprint (a registered work), up to :data:`WORK_MAX_SECONDS`."""
        return sample_video(VideoContent.of(content).raw, interval=SAMPLE_INTERVAL_S,
                            max_seconds=WORK_MAX_SECONDS, max_decoded=WORK_MAX_DECODED,
                            max_bytes=cls.max_content_bytes).encode()

    @classmethod
    def query_value(cls, content: bytes | Content) -> VideoFrames:
        """Frames of crawled content: its first :data:`COPY_MAX_SECONDS` only."""
        return sample_video(VideoContent.of(content).raw, interval=COPY_INTERVAL_S,
                            max_seconds=COPY_MAX_SECONDS, max_decoded=COPY_MAX_DECODED,
                            max_bytes=cls.max_content_bytes)

    @classmethod
    def describe(cls, detail: dict[str, Any]) -> str:
        """The stretch of the work found, and where it lies in the copy.

        >>> VideoSignal.describe({"work_range": [10.0, 40.5], "copy_range": [0.0, 30.5]})
        'work 0:10-0:40 at copy 0:00-0:30'
        """
        if "work_range" not in detail or "copy_range" not in detail:
            return ""
        work, copy = detail["work_range"], detail["copy_range"]
        return (f"work {_clock(work[0])}-{_clock(work[1])} at copy "
                f"{_clock(copy[0])}-{_clock(copy[1])}")

    @classmethod
    def score(cls, a: str, b: str) -> float:
        """Frames of copy ``b`` agreeing on one offset into work ``a``."""
        index = VideoIndex()
        index.add(0, a)
        found = index.query(b, 0)
        return found[0][1] if found else 0.0

    @classmethod
    def validate(cls, value: str) -> str:
        return VideoFrames.decode(value.strip() if isinstance(value, str) else value).encode()

    @classmethod
    def new_index(cls) -> SignalIndex:
        return VideoIndex()


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def _distinct_per_cell(cell: np.ndarray, item: np.ndarray, cells: int) -> np.ndarray:
    """How many distinct ``item`` values each cell holds (both arrays non-negative ints)."""
    pairs = np.unique(cell * (int(item.max()) + 1) + item)
    return np.bincount(pairs // (int(item.max()) + 1), minlength=cells)


class VideoIndex(SignalIndex):
    """Registered videos' frame hashes in one Hamming index; queries vote on time offsets.

    Rows (one per registered frame) are numbered in order of addition; ``_row_entry`` and
    ``_row_time`` grow by doubling, so adding a work appends and never rebuilds the others
    (the Hamming index merges its own segments as it always does).
    """

    def __init__(self, radius: int = HASH_RADIUS) -> None:
        self.radius = radius
        self._hashes = HammingIndex()
        self._row_entry = np.zeros(1024, dtype=np.int64)
        self._row_time = np.zeros(1024, dtype=np.float64)
        self._rows = 0
        self._entries: dict[int, range] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry_id: int, value: str) -> None:
        self.extend([(entry_id, value)])

    def extend(self, entries: list[tuple[int, str]]) -> None:
        # Parse everything before changing anything; an id given twice keeps its last value.
        decoded = list({entry_id: VideoFrames.decode(value) for entry_id, value in entries}.items())
        for entry_id, _ in decoded:
            self.remove(entry_id)
        total = sum(len(frames) for _, frames in decoded)
        if not total:
            return
        if self._rows + total > len(self._row_entry):
            capacity = max(2 * len(self._row_entry), self._rows + total)
            for name in ("_row_entry", "_row_time"):
                old = getattr(self, name)
                grown = np.zeros(capacity, dtype=old.dtype)
                grown[: self._rows] = old[: self._rows]
                setattr(self, name, grown)
        first = self._rows
        for entry_id, frames in decoded:
            rows = range(self._rows, self._rows + len(frames))
            self._row_entry[rows.start : rows.stop] = entry_id
            self._row_time[rows.start : rows.stop] = frames.times
            self._entries[entry_id] = rows
            self._rows = rows.stop
        self._hashes.add_many(np.arange(first, self._rows, dtype=np.int64),
                              np.concatenate([frames.codes for _, frames in decoded]))

    def remove(self, entry_id: int) -> None:
        rows = self._entries.pop(entry_id, None)
        for row in rows or ():
            self._hashes.remove(row)

    def query(self, value: Any, limit: float) -> list[tuple[int, float]]:
        return [(entry_id, score) for entry_id, score, _ in self.query_detailed(value, limit)]

    def query_detailed(self, value: Any, limit: float) -> list[tuple[int, float, dict[str, Any]]]:
        """Entries with at least ``limit`` frames of ``value`` agreeing on one offset.

        ``value`` is a fingerprint string or :class:`VideoFrames` (``query_value``'s result).
        """
        frames = value if isinstance(value, VideoFrames) else VideoFrames.decode(value)
        if not self._entries or not len(frames):
            return []
        found = self._hashes.query_many(frames.codes, self.radius)
        counts = np.array([len(ids) for ids, _ in found], dtype=np.int64)
        counts[counts > MAX_ROWS_PER_FRAME] = 0
        if not counts.any():
            return []
        query = np.repeat(np.arange(len(frames)), counts)
        rows = np.concatenate([ids for (ids, _), n in zip(found, counts, strict=True) if n])
        entry_ids, entry = np.unique(self._row_entry[rows], return_inverse=True)
        offsets = self._row_time[rows] - frames.times[query]
        bins = np.rint(offsets / SAMPLE_INTERVAL_S).astype(np.int64)
        # Each pair votes for its own offset bin and the two beside it.
        centre = np.concatenate([bins - 1, bins, bins + 1])
        lowest = int(centre.min())
        span = int(centre.max()) - lowest + 1
        cell_keys, cell = np.unique(np.tile(entry, 3) * span + (centre - lowest),
                                    return_inverse=True)
        _, row_number = np.unique(rows, return_inverse=True)
        scores = np.minimum(_distinct_per_cell(cell, np.tile(query, 3), len(cell_keys)),
                            _distinct_per_cell(cell, np.tile(row_number, 3), len(cell_keys)))
        cell_entry = cell_keys // span
        order = np.lexsort((-scores, cell_entry))  # per entry, the best cell first
        best = order[np.r_[True, cell_entry[order][1:] != cell_entry[order][:-1]]]
        results = []
        for cell_number in best[scores[best] >= limit]:
            index = int(cell_entry[cell_number])
            centre_bin = int(cell_keys[cell_number] % span) + lowest
            near = (entry == index) & (np.abs(bins - centre_bin) <= 1)
            work_times = self._row_time[rows[near]]
            copy_times = frames.times[query[near]]
            results.append((int(entry_ids[index]), float(scores[cell_number]), {
                "work_range": [float(work_times.min()), float(work_times.max())],
                "copy_range": [float(copy_times.min()), float(copy_times.max())],
                "offset_s": round(float(np.median(offsets[near])), 2),
                "frames": int(scores[cell_number]),
            }))
        return sorted(results, key=lambda r: (-r[1], r[0]))
