"""Pitch contour: a fourth audio feature, telling a copy of a recording from another piece on
the same chords at the same tempo.

Chromaprint hears chroma and :mod:`matching.audio_onsets` the low band's event timing, so a
piece in a work's key on its chords at nearly its tempo passes both (``bench/audio.py``'s
generator gives such pieces the work's bass and drums): only the melody differs. Every
:data:`HOP` samples (a third of a Chromaprint item, at :data:`SAMPLE_RATE`), a
:data:`FRAME`-sample window's energy in :data:`SEMITONES` semitone bands from
:data:`LOWEST_MIDI` (about 196 Hz) up gives one byte: the semitone standing out most above
its own mean over the :data:`CONTEXT` hops either side (a held chord, a drone, a static
filter or steady noise cancel out of it; the note just played stays), or :data:`UNVOICED`
where none stands out by :data:`MIN_RISE`. For music that is the melody's note, for speech
the voice's strongest harmonic. A registered work and a copy are read alike.

A work also keeps a wide contour (since fingerprint format 5): the same reading over
:data:`WIDE_SEMITONES` semitones, up to about 5 kHz (the top of what Chromaprint's
11,025 Hz audio holds). A melody whose upper harmonics carry its energy is named there where
the narrow contour names the chord under it, so another melody on the work's chords at its
tempo no longer shares most of the notes :func:`heard` asks about. A copy's levels cover
the wide range; its contour stays the narrow one.

:func:`agreement` compares the copy's contour with the work's along a verified line: per
matched window, the share of hops where both name a semitone and name the same one, at the
best shift within :data:`MAX_LAG` hops of the window's offset (which absorbs Chromaprint's
item-wide placement and a sped-up copy's drift, as pitch-preserving speed changes keep the
notes), averaged over the windows. A voice over the music outshouts the melody there, so a
copy also keeps its semitone levels (:meth:`PitchContour.levels`; a work does not) and
:func:`heard` asks whether they rise and fall with the work's named notes instead.
"""

from __future__ import annotations

import numpy as np

from matching import audio_onsets

# read at the onset envelopes' rate and hop: three contour values per Chromaprint item
SAMPLE_RATE, ITEM, PHASES = audio_onsets.SAMPLE_RATE, audio_onsets.ITEM, audio_onsets.PHASES
HOP = ITEM // PHASES
FRAME = 2048  # 5.4 Hz per FFT bin: half a semitone at 196 Hz
LOWEST_MIDI = 55  # G3, 196 Hz
SEMITONES = 40  # up to D#7 (about 2.5 kHz at the top band's edge)
WIDE_SEMITONES = 57  # up to B8's band (about 5.1 kHz at its top edge, under 5.5 kHz)
CONTEXT = 24  # hops (about 1 s) either side over which a semitone's mean level is taken
MIN_RISE = 1.0  # natural-log units (4.3 dB) a semitone must stand out by to be named
UNVOICED = 255
FLOOR = 1e4  # added to a band's power (int16 samples, Hann window) before its logarithm
MAX_LAG = 4  # hops either side of a window's offset searched
NEAR = 12  # hops (about half a second) apart at most, the pairs :func:`heard` compares
MIN_PAIRS = 10  # such pairs naming two semitones a window needs to be judged
_FREQS = np.arange(FRAME // 2 + 1) * SAMPLE_RATE / FRAME
_CENTRES = 440.0 * 2 ** ((np.arange(WIDE_SEMITONES) + LOWEST_MIDI - 69) / 12)
_WEIGHTS = np.stack([(_FREQS >= c * 2 ** (-1 / 24)) & (_FREQS < c * 2 ** (1 / 24))  # noqa: SIM300
                     for c in _CENTRES], axis=1).astype(np.float32)
_WINDOW = np.hanning(FRAME).astype(np.float32)


class PitchContour:
    """Streams int16 PCM in and the contour out: a byte for each :data:`HOP` samples (the
    :data:`FRAME` samples starting there), once :data:`CONTEXT` hops after it are read; with
    ``wide``, the wide contour too (:meth:`wide`)."""

    def __init__(self, keep_levels: bool = False, wide: bool = False) -> None:
        self._buffer = np.zeros(0, dtype=np.float32)
        self._levels = np.zeros((0, WIDE_SEMITONES), dtype=np.float32)  # from hop _first on
        self._kept: list[np.ndarray] | None = [] if keep_levels else None
        self._first = 0  # the hop number of _levels[0]
        self._done = 0  # hops given out
        self._values: list[np.ndarray] = []
        self._wide: list[np.ndarray] | None = [] if wide else None

    def feed(self, pcm: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, pcm.astype(np.float32)])
        frames = (len(self._buffer) - FRAME) // HOP + 1
        if frames <= 0:
            return
        windows = np.lib.stride_tricks.sliding_window_view(self._buffer, FRAME)[::HOP][:frames]
        power = (np.abs(np.fft.rfft(windows * _WINDOW, axis=1)) ** 2) @ _WEIGHTS
        levels = np.log(power + FLOOR)
        if self._kept is not None:
            self._kept.append(levels.astype(np.float16))
        self._levels = np.concatenate([self._levels, levels])
        self._buffer = self._buffer[frames * HOP:]
        self._emit(self._first + len(self._levels) - CONTEXT)

    def _emit(self, until: int) -> None:
        """Give out the hops before ``until``, each against the levels around it that are
        read; keep the levels later hops still need."""
        if until <= self._done:
            return
        hops = np.arange(self._done, until) - self._first
        sums = np.concatenate([np.zeros((1, WIDE_SEMITONES)),
                               np.cumsum(self._levels, axis=0, dtype=np.float64)])
        low = np.maximum(hops - CONTEXT, 0)
        high = np.minimum(hops + CONTEXT + 1, len(self._levels))
        mean = (sums[high] - sums[low]) / (high - low)[:, None]
        rise = self._levels[hops] - mean
        self._values.append(_named(rise[:, :SEMITONES]))
        if self._wide is not None:
            self._wide.append(_named(rise))
        self._done = until
        keep = max(0, self._done - CONTEXT - self._first)
        self._levels, self._first = self._levels[keep:], self._first + keep

    def finish(self) -> np.ndarray:
        """The contour of everything read: (hops,) uint8, :data:`PHASES` hops per item."""
        self._emit(self._first + len(self._levels))
        if not self._values:
            return np.zeros(0, np.uint8)
        return np.concatenate(self._values)

    def wide(self) -> np.ndarray | None:
        """The wide contour of everything read (semitones of :data:`WIDE_SEMITONES`), if
        asked for; call after :meth:`finish`."""
        if self._wide is None:
            return None
        return np.concatenate(self._wide) if self._wide else np.zeros(0, np.uint8)

    def levels(self) -> np.ndarray | None:
        """Every hop's semitone log levels, (hops, :data:`WIDE_SEMITONES`) float16, if
        kept."""
        if self._kept is None:
            return None
        return np.concatenate(self._kept) if self._kept else np.zeros((0, WIDE_SEMITONES),
                                                                        np.float16)


def _named(rise: np.ndarray) -> np.ndarray:
    """Per hop, the semitone rising most, or :data:`UNVOICED` where none rises by
    :data:`MIN_RISE`."""
    best = rise.argmax(axis=1)
    named = rise[np.arange(len(rise)), best] >= MIN_RISE
    return np.where(named, best, UNVOICED).astype(np.uint8)


def encode(contour: np.ndarray) -> str:
    """A registered work's contour (narrow or wide) as base64 text."""
    return audio_onsets.encode(contour)


def decode(text: str, items: int, field: str = "pitch",
           semitones: int = SEMITONES) -> np.ndarray:
    """:func:`encode`'s text back to a contour of ``semitones`` (the value's ``field``);
    raises ``ValueError``."""
    contour: np.ndarray = audio_onsets.decode_rows(text, items, field, 1)[0]
    wrong = np.flatnonzero((contour >= semitones) & (contour != UNVOICED))
    if len(wrong):
        raise ValueError(f"{field} byte {int(wrong[0]):,} is {int(contour[wrong[0]])}, not "
                         f"a semitone 0-{semitones - 1} or {UNVOICED} (none)")
    return contour


def agreement(work: np.ndarray, copy: np.ndarray, windows: np.ndarray, offsets: np.ndarray,
              window: int) -> float | None:
    """How well the copy's contour follows the work's along a verified line: the mean over
    the copy's windows ``windows`` (each of ``window`` items, lying ``offsets`` items before
    the work's) of the share of their hops naming the work's semitone there, at each window's
    best shift within :data:`MAX_LAG` hops. None where the work names no semitone there
    (a drum solo, noise): pitch can tell nothing."""
    span = window * PHASES
    hops = windows[:, None] * span + np.arange(span)[None, :]
    keep = hops[:, -1] < len(copy)
    hops, offsets = hops[keep], offsets[keep]
    if not len(hops):
        return None
    at = hops[:, None, :] + PHASES * offsets[:, None, None] \
        + np.arange(-MAX_LAG, MAX_LAG + 1)[None, :, None]  # windows x lags x hops
    inside = (at >= 0) & (at < len(work))
    theirs = np.where(inside, work[np.clip(at, 0, len(work) - 1)], UNVOICED)
    if not (theirs != UNVOICED).any():
        return None
    ours = copy[hops][:, None, :]
    same = ((theirs == ours) & (ours != UNVOICED)).sum(axis=2)
    return float((same.max(axis=1) / span).mean())


def heard(work: np.ndarray, levels: np.ndarray, windows: np.ndarray, offsets: np.ndarray,
          window: int) -> float | None:
    """How well the copy's spectrum follows the work's notes along a verified line, where a
    voice over the copy outshouts them (:func:`agreement` then fails): for each pair of hops
    within :data:`NEAR` of each other in one of the copy's windows ``windows`` (each of
    ``window`` items, lying ``offsets`` items before the work's) where the work names two
    different semitones ``a`` then ``b``, whether the copy's ``levels`` (its semitone log
    levels, :meth:`PitchContour.levels`) say the same: ``a`` louder at the first hop than at
    the second plus ``b`` louder at the second than at the first is above 0. A voice adds
    energy to both hops' bands alike; another melody on the work's chords agrees by chance,
    but for the chords' own changes. The share of such pairs agreeing, per window, averaged
    over the windows with at least :data:`MIN_PAIRS`, at the best shift of the whole line
    within :data:`MAX_LAG` hops. None where no window has that many (the work names few
    notes there): pitch can tell nothing."""
    span = window * PHASES
    hops = windows[:, None] * span + np.arange(span)[None, :]
    keep = hops[:, -1] < len(levels)
    hops, offsets = hops[keep], offsets[keep]
    if not len(hops):
        return None
    # the work's note for each of the copy's hops at every shift within MAX_LAG + NEAR of
    # the line (shifts x windows x hops; UNVOICED off the work), and the copy's level there
    shifts = np.arange(-MAX_LAG - NEAR, MAX_LAG + NEAR + 1)
    at = hops[None] + PHASES * offsets[None, :, None] + shifts[:, None, None]
    notes = np.where((at >= 0) & (at < len(work)), work[np.clip(at, 0, len(work) - 1)],
                     UNVOICED)
    named = np.minimum(notes, levels.shape[1] - 1)
    own = levels[hops[None], named].astype(np.float32)
    # the lags searched are shifts NEAR to NEAR + 2 MAX_LAG; a pair of hops ``step`` apart
    # names semitone a at the first, b at the second, and the copy's levels of a and b at
    # the other hop lie ``step`` shifts off the lag: before it for a, after it for b
    lags = 2 * MAX_LAG + 1
    voiced = notes[NEAR:NEAR + lags] != UNVOICED
    named = named[NEAR:NEAR + lags]
    at_lag = own[NEAR:NEAR + lags]
    agreed = np.zeros((lags, len(hops)))
    pairs = np.zeros((lags, len(hops)))
    for step in range(1, NEAR + 1):
        counted = voiced[:, :, :-step] & voiced[:, :, step:] \
            & (named[:, :, :-step] != named[:, :, step:])
        before, after = own[NEAR - step:NEAR - step + lags], own[NEAR + step:NEAR + step + lags]
        change = at_lag[:, :, :-step] - before[:, :, step:] + at_lag[:, :, step:] \
            - after[:, :, :-step]
        agreed += (counted & (change > 0)).sum(axis=2) \
            + 0.5 * (counted & (change == 0)).sum(axis=2)
        pairs += counted.sum(axis=2)
    best: float | None = None
    for lag_agreed, lag_pairs in zip(agreed, pairs, strict=True):
        judged = lag_pairs >= MIN_PAIRS
        if judged.any():
            share = float((lag_agreed[judged] / lag_pairs[judged]).mean())
            best = share if best is None else max(best, share)
    return best
