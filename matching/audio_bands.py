"""Band-energy bits: a second audio feature, telling apart the places where a recording
repeats its chords and notes.

Chromaprint hears chroma (pitch classes, octaves folded, over a few seconds), so a song that
repeats a passage note for note matches an excerpt as well at the repeat as where it was cut.
This feature hears how energy moves: every :data:`HOP` samples (at :data:`SAMPLE_RATE`), a
:data:`FRAME`-sample window's energy in :data:`BANDS` + 1 log-spaced bands between
:data:`LOW_HZ` and :data:`HIGH_HZ` gives :data:`BANDS` bits, each saying whether the energy
difference of two neighbouring bands grew since a Chromaprint item (:data:`ITEM` samples)
before (after Haitsma and Kalker's audio fingerprint, 2002), and :data:`BANDS` more saying
whether it changed by at least :data:`STRONG` (a factor of e): a note's attack, velocity and
timbre. A static filter (a phone speaker) cancels out of it. Only strong bits are compared
(weak ones flip under any noise). A registered work keeps one frame per Chromaprint item; a
copy is read :data:`PHASES` times per item, so that it aligns with the work to a third of
one. ``bench/audio.py``: the right offset of excerpts of songs repeating themselves every
6 or 21 s. Speech or noise over the music swamps these bands, so the feature does not tell
a voice-over copy from other music on the same chords: it picks offsets, it rejects nothing.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

SAMPLE_RATE = 11_025
ITEM = 1365  # samples per Chromaprint item
PHASES = 3  # copy frames per item
HOP = ITEM // PHASES
FRAME = 4096
BANDS = 16
STRONG = 1.0  # a log-energy change at least this large sets a frame's strong bit
LOW_HZ, HIGH_HZ = 300.0, 2000.0
_EDGES = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 2)
_FREQS = np.arange(FRAME // 2 + 1) * SAMPLE_RATE / FRAME
_WEIGHTS = np.stack([(_FREQS >= lo) & (_FREQS < hi)  # noqa: SIM300
                     for lo, hi in zip(_EDGES[:-1], _EDGES[1:], strict=True)],
                    axis=1).astype(np.float32)
_WINDOW = np.hanning(FRAME).astype(np.float32)
_BITS = (1 << np.arange(BANDS)).astype(np.uint32)


class BandBits:
    """Streams int16 PCM in and band bits out, a frame every ``hop`` samples: a uint32 per
    frame, bit ``b`` set when the energy difference of bands ``b`` and ``b + 1`` grew since
    the frame :data:`ITEM` samples before, bit ``16 + b`` when it changed by :data:`STRONG`."""

    def __init__(self, hop: int) -> None:
        self.hop = hop
        self._lag = ITEM // hop
        self._buffer = np.zeros(0, dtype=np.float32)
        self._history = np.zeros((0, BANDS), dtype=np.float32)
        self._codes: list[np.ndarray] = []

    def feed(self, pcm: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, pcm.astype(np.float32)])
        frames = (len(self._buffer) - FRAME) // self.hop + 1
        if frames <= 0:
            return
        starts = np.arange(frames) * self.hop
        windows = np.lib.stride_tricks.sliding_window_view(self._buffer, FRAME)[starts]
        energy = (np.abs(np.fft.rfft(windows * _WINDOW, axis=1)) ** 2) @ _WEIGHTS
        contrast = np.diff(np.log(energy + 1.0), axis=1).astype(np.float32)
        if not len(self._history):  # the first frames compare with the first
            self._history = np.repeat(contrast[:1], self._lag, axis=0)
        joined = np.concatenate([self._history, contrast])
        change = joined[self._lag:] - joined[:-self._lag]
        self._history = joined[-self._lag:]
        self._codes.append(((change > 0) @ _BITS) | ((np.abs(change) >= STRONG) @ _BITS) << 16)
        self._buffer = self._buffer[frames * self.hop:]

    def finish(self, phases: int) -> np.ndarray:
        """The frames so far as (``phases``, items): phase ``p`` of item ``j`` is the frame
        read ``p`` hops after the item starts."""
        codes = np.concatenate(self._codes) if self._codes else np.zeros(0, np.uint32)
        items = len(codes) // phases
        return codes[: items * phases].astype(np.uint32).reshape(items, phases).T.copy()


def encode(bands: np.ndarray) -> str:
    """A registered work's bits (one frame per item) as base64 text."""
    return base64.b64encode(bands.astype("<u4").tobytes()).decode("ascii")


def decode(text: str, items: int) -> np.ndarray:
    """:func:`encode`'s text back to (1, frames) bits; raises ``ValueError``."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"bands is not base64: {text!r:.40}") from None
    if len(raw) % 4 or len(raw) // 4 > items + 32:  # a few frames more than items
        raise ValueError(f"bands holds {len(raw):,} bytes, not 4 for each of up to "
                         f"{items:,} items")
    return np.frombuffer(raw, dtype="<u4").astype(np.uint32)[None, :]


def errors(work: np.ndarray, copy: np.ndarray, windows: np.ndarray, offsets: np.ndarray,
           window: int) -> float:
    """The mean bit error rate, on the work's strong bits, of the copy's windows ``windows``
    (each of ``window`` items, lying ``offsets`` items before the work's), each window at the
    best of the alignments within an item of its offset; 1.0 if nothing is compared.

    ``work`` is (1, items) and ``copy`` (phases, items), as :meth:`BandBits.finish` gives.
    """
    slack = np.arange(-1, 3)  # work item minus copy item and offset: later phases reach on
    items = windows[:, None] * window + np.arange(window)[None, :]  # windows x window
    at = items[:, :, None] + offsets[:, None, None] + slack[None, None, :]
    valid = (items[:, :, None] < copy.shape[1]) & (at >= 0) & (at < work.shape[1])
    theirs = work[0, np.clip(at, 0, work.shape[1] - 1)]  # windows x window x slack
    strong = np.where(valid, theirs >> 16, 0)
    ours = copy[:, np.minimum(items, copy.shape[1] - 1)] & 0xFFFF  # phases x windows x window
    differ = np.bitwise_count((ours[..., None] ^ theirs[None]) & strong[None])
    wrong = differ.sum(axis=2, dtype=np.int64)  # phases x windows x slack
    counted = np.bitwise_count(strong).sum(axis=1, dtype=np.int64)[None]  # 1 x windows x slack
    rate = np.where(counted > 0, wrong / np.maximum(counted, 1), np.inf)
    per_window = rate.min(axis=(0, 2))
    compared = per_window[np.isfinite(per_window)]
    return float(compared.mean()) if len(compared) else 1.0
