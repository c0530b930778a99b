"""Onset envelopes: a third audio feature, telling a copy of a recording from other music on
the same chords.

Chromaprint hears chroma, so another piece in a work's key on its chord progression, at a
tempo a few per cent away, matches it over most of a clip (``bench/audio.py``: one
distractor in 120 plays a work's chords in its key). A copy keeps the recording's event
timing (its beats and note onsets) under re-encoding, noise, a phone speaker or a voice over
it; the other piece does not. Every :data:`HOP` samples (a third of a Chromaprint item, at
:data:`SAMPLE_RATE`), a :data:`FRAME`-sample window gives two onset strengths, each kept as a
byte, low in the spectrum where the kick and the bass strike and speech is weak: the
spectral flux between :data:`LOW_HZ` and :data:`HIGH_HZ` (the mean rise of each bin's log
power since the frame before), and the rise of the log energy between :data:`LOW_HZ` and
:data:`BASS_HZ`. A registered work and a copy are read alike, but a copy more often: its
envelopes are read :data:`COPY_PHASES` times a hop, a fifth of a hop apart: the
work's envelopes hold one reading a hop, and a copy cut anywhere (a first 20 s cut: 20.0 s is
half a Chromaprint item off the work's grid) is read between them. Real music's low band
sounds between its beats too, and where each frame falls decides much of its flux, so a copy
read a fraction of a hop off correlates far less than one read in step (a scratch run on
``bench/audio_recordings.py``'s works: 0.37-0.45 against 0.99), and interpolating between
readings does not bring it back; the reading nearest each of the work's is in step within a
tenth of a hop.

:func:`agreement` correlates the copy's envelopes with the work's along a verified line of
offsets: per matched window the Pearson correlation, averaged over the windows, at the best
shift within :data:`MAX_LAG` hops of the line (Chromaprint places a window to an item, give
or take one), a reading apart, each of the work's hops against the copy's reading nearest its
moment. Held straight along the line, the flux tells: unrelated music on the same
chords scores low even where its beats fall near the work's, as its tempo differs and its
onsets slide away (a scratch replay of the lines Chromaprint finds for ``bench/audio.py``'s
600 music distractors and ``bench/audio_recordings.py``'s 218 real clips: at most 0.38 but
for the same-tempo piece below, 0.66; voice-over copies at least 0.69 generated, 0.52 real).
A sped-up copy's line drifts, and Chromaprint's coarse bits place its slope only to about
half a per cent, so the line may also bend by up to :data:`MAX_SLOPE`; bent, the line lets
music at nearly the work's tempo line its beats up too (the same replay: one piece at the
work's tempo 0.98, one 0.84, the others 0.77 at most; sped-up copies 0.92 and more
generated, 0.61-0.99 real), so a bent fit must reach a higher bar, then the pitch check.

Not enough for every piece: the generated music's bass and drums follow from its key, chords
and tempo alone, so a piece at the work's tempo within a per cent or so has the same low-band
timing. Among 1,200 further generated pieces (seeds the bench's 1,000 do not hold), 6 of
the 17 that Chromaprint matches passed (straight up to 0.82, bent up to 0.91, measured
before copies were read at five phases): only the melody tells them apart, and this feature
does not hear it. :mod:`matching.audio_pitch` does, and ``matching/audio.py`` asks it of a
line passing by the bent fit alone.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

SAMPLE_RATE = 11_025
ITEM = 1365  # samples per Chromaprint item
PHASES = 3  # envelope values per item
COPY_PHASES = 5  # a copy's readings per hop (HOP // 5 samples apart)
HOP = ITEM // PHASES
FRAME = 1024
LOW_HZ, HIGH_HZ, BASS_HZ = 40.0, 300.0, 150.0
FLOOR = 1e3  # added to a bin's power (int16 samples, Hann window) before its logarithm
SCALE = 16.0  # a stored byte is the flux times this (flux above 15.9 saturates)
MAX_LAG = 4  # hops either side of the line searched, a copy's reading apart
MAX_SLOPE = 0.01  # the line may bend by this share of the copy, in quarter steps
MIN_SPREAD = 2.0  # a work's flux (bytes) varying less than this along a line has no events
_FREQS = np.arange(FRAME // 2 + 1) * SAMPLE_RATE / FRAME
_BINS = (_FREQS >= LOW_HZ) & (_FREQS < HIGH_HZ)
_BASS = ((_FREQS >= LOW_HZ) & (_FREQS < BASS_HZ))[_BINS]
_WINDOW = np.hanning(FRAME).astype(np.float32)
_SLOPES = np.linspace(-MAX_SLOPE, MAX_SLOPE, 9)


class OnsetEnvelope:
    """Streams int16 PCM in and the onset envelopes out: every :data:`HOP` samples, two
    bytes for the :data:`FRAME` samples starting there (the flux, then the bass rise); with
    ``phases`` above 1 (a copy's, :data:`COPY_PHASES`), as many readings a hop, each
    ``HOP // phases`` samples after the one before and compared with the frame a hop
    before it."""

    def __init__(self, phases: int = 1) -> None:
        self._phases = phases
        self._step = HOP // phases
        self._buffer = np.zeros(0, dtype=np.float32)
        self._last: np.ndarray | None = None  # the last hop's frames' log power per bin
        self._last_bass: np.ndarray | None = None  # and their bass log energy
        self._values: list[np.ndarray] = []

    def feed(self, pcm: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, pcm.astype(np.float32)])
        frames = (len(self._buffer) - FRAME) // self._step + 1
        if frames <= 0:
            return
        windows = np.lib.stride_tricks.sliding_window_view(
            self._buffer, FRAME)[::self._step][:frames]
        power = np.abs(np.fft.rfft(windows * _WINDOW, axis=1)[:, _BINS]) ** 2
        level = np.log(power + FLOOR)
        bass = np.log(power[:, _BASS].sum(axis=1) + FLOOR)
        # each frame against the one a hop before; the very first hop's against themselves
        known = 0 if self._last is None else len(self._last)
        levels = level if self._last is None else np.concatenate([self._last, level])
        basses = bass if self._last_bass is None else np.concatenate([self._last_bass, bass])
        at = np.arange(known, known + frames)
        before = np.where(at >= self._phases, at - self._phases, at)
        strengths = np.stack([np.maximum(level - levels[before], 0.0).mean(axis=1),
                              np.maximum(bass - basses[before], 0.0)])
        self._values.append(np.minimum(np.rint(strengths * SCALE), 255).astype(np.uint8))
        self._last, self._last_bass = levels[-self._phases:], basses[-self._phases:]
        self._buffer = self._buffer[frames * self._step:]

    def finish(self) -> np.ndarray:
        """The envelopes so far: (2 x phases, hops) uint8 (the flux at each phase, then the
        bass rise at each), :data:`PHASES` hops per item."""
        if not self._values:
            return np.zeros((2 * self._phases, 0), np.uint8)
        values = np.concatenate(self._values, axis=1)
        hops = values.shape[1] // self._phases
        return values[:, :hops * self._phases].reshape(2, hops, self._phases) \
            .transpose(0, 2, 1).reshape(2 * self._phases, hops)


def encode(envelopes: np.ndarray) -> str:
    """A registered work's envelopes (the flux's, then the bass rise's) as base64 text; any
    rows of one byte per hop alike (:mod:`matching.audio_pitch`'s contour)."""
    return base64.b64encode(envelopes.astype(np.uint8).tobytes()).decode("ascii")


def decode_rows(text: str, items: int, name: str, rows: int) -> np.ndarray:
    """:func:`encode`'s text back to (``rows``, hops) bytes for a fingerprint of ``items``
    Chromaprint items; raises ``ValueError`` naming the value's key ``name``."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name} is not base64: {text!r:.40}") from None
    most = PHASES * (items + 32)  # Chromaprint gives a few items fewer than frames
    if not raw or len(raw) % rows or len(raw) // rows > most:
        raise ValueError(f"{name} holds {len(raw):,} bytes, not {rows} for each of 1 to "
                         f"{most:,} hops ({PHASES} for each of {items:,} items, and a few more)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(rows, -1).copy()


def decode(text: str, items: int) -> np.ndarray:
    """:func:`encode`'s text back to (2, hops) envelopes; raises ``ValueError``."""
    return decode_rows(text, items, "onsets", 2)


def agreement(work: np.ndarray, copy: np.ndarray, windows: np.ndarray, offsets: np.ndarray,
              window: int) -> tuple[float, float] | None:
    """How well the copy's onsets follow the work's along a verified line: the mean over the
    copy's windows ``windows`` (each of ``window`` items, lying ``offsets`` items before the
    work's) of the Pearson correlation of their flux at the best shift of the line held
    straight, and of their bass rise at the best shift and bend; -1.0 where nothing is
    compared. None where the work has no events there to follow (a held tone, a drone: its
    flux varies by under :data:`MIN_SPREAD`), so timing can tell nothing. ``work`` is
    (2, hops), as :meth:`OnsetEnvelope.finish` gives it, and ``copy`` (2 x phases, hops)."""
    phases = copy.shape[0] // 2
    span = window * PHASES
    hops = windows[:, None] * span + np.arange(span)[None, :]
    hops = hops[hops[:, -1] < copy.shape[1]]
    if not len(hops) or work.shape[1] < 2:
        return -1.0, -1.0
    # the line through the offsets (items), refined here to a fraction of a hop
    centres = windows * window + window / 2
    slope, start = np.polyfit(centres, offsets, 1) if len(set(centres)) > 1 \
        else (0.0, float(offsets[0]))
    line = hops * (1 + slope) + PHASES * start
    if work[0, np.clip(np.rint(line).astype(np.int64), 0, work.shape[1] - 1)].std() \
            < MIN_SPREAD:
        return None
    bend = hops - hops.mean()
    straight = _correlation(work[0], copy[:phases], hops, [line])
    bent = _correlation(work[1], copy[phases:], hops,
                        [line + slope * bend for slope in _SLOPES])
    return straight, bent


def _correlation(work: np.ndarray, copy: np.ndarray, hops: np.ndarray,
                 lines: list[np.ndarray]) -> float:
    """The best over the shifts (a copy's reading apart, up to :data:`MAX_LAG` hops) and
    ``lines`` (each windows x hops: the work's hop, fractional, for each of the copy's
    ``hops``) of the windows' mean Pearson correlation between the work's hops nearest the
    line and the copy's readings (``copy``: phases x hops, an odd number of phases) nearest
    their moments.

    Shifts a whole hop apart pair the same readings of the copy with hops of the work one
    apart, so each of the ``phases`` sets of such shifts gathers the copy's readings once
    and the work's hops at all the set's shifts as one row. The correlation's sums are of
    bytes and products of bytes, exact in float32 while they stay under 2 ** 24 (a
    window's 48 hops: under 3.2 million)."""
    phases, n = copy.shape[0], hops.shape[1]
    exact = np.float32 if n * 255 ** 2 < 2 ** 24 else np.float64
    readings = copy.T.reshape(-1).astype(exact)  # reading i is hop i // phases's
    # the work's hops between zeros: a hop beyond the work compares as 0
    steps = np.arange(-MAX_LAG, MAX_LAG + 1)  # whole hops
    pad = len(steps)
    padded = np.concatenate([np.zeros(pad, exact), work.astype(exact), np.zeros(pad, exact)])
    # lines x phases x windows x hops: the moment of each shift's set, in 1/phases hops
    moment = np.rint(phases * np.stack(lines)).astype(np.int64)[:, None] \
        + np.arange(phases)[None, :, None, None]
    nearest = (moment + phases // 2) // phases  # the work's hop nearest the moment
    # the copy's reading as far from its hop as the work's hop is from the moment
    theirs = readings[np.clip(phases * (hops + nearest) - moment, 0, len(readings) - 1)]
    # ... x steps x hops: the work's hops MAX_LAG before to MAX_LAG after the nearest
    ours = padded[np.clip(nearest, -MAX_LAG - 1, len(work) + MAX_LAG)[..., None, :]
                  + (pad + steps)[:, None]]

    def total(spec: str, *arrays: np.ndarray) -> np.ndarray:
        return np.einsum(spec, *arrays).astype(np.float64)  # exact: see the docstring

    their_sum = total("lpwh->lpw", theirs)[..., None]
    our_sum = total("lpwsh->lpws", ours)
    their_var = n * total("lpwh,lpwh->lpw", theirs, theirs)[..., None] - their_sum ** 2
    our_var = n * total("lpwsh,lpwsh->lpws", ours, ours) - our_sum ** 2
    covariance = n * total("lpwh,lpwsh->lpws", theirs, ours) - their_sum * our_sum
    scale = np.sqrt(their_var * our_var)
    r = np.where(scale > 0, covariance / np.maximum(scale, 1e-12), 0.0).mean(axis=2)
    # of the shifts phase + phases * step readings, those within MAX_LAG hops
    shift = np.arange(phases)[:, None] + phases * steps[None, :]
    return max(-1.0, float(r[:, np.abs(shift) <= MAX_LAG * phases].max()))
