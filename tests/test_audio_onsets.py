"""Onset envelopes (matching/audio_onsets.py): a copy cut anywhere keeps the work's timing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.audiogen import RATE, music, write_audio
from matching import audio, audio_onsets
from matching.match_index import MatchIndex
from matching.stages import first_stage_matches, first_stage_queries, registration_fingerprints

ITEM_S = audio_onsets.ITEM / audio_onsets.SAMPLE_RATE


def rumbling(seed: int, seconds: float) -> np.ndarray:
    """Generated music over a steady low rumble (noise between 40 and 300 Hz, as loud as the
    music): like a real mix, its low band holds sound between the beats, whose onset
    strengths vary with where each frame falls."""
    samples = music(seed, seconds)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(len(samples)))
    freqs = np.fft.rfftfreq(len(samples), 1 / RATE)
    spectrum[(freqs < 40) | (freqs > 300)] = 0
    rumble = np.fft.irfft(spectrum, len(samples))
    mixed = samples / np.abs(samples).max() + rumble / np.abs(rumble).max()
    return 0.9 * mixed / np.abs(mixed).max()


def test_a_copy_cut_between_chromaprint_items_is_found(tmp_path: Path) -> None:
    """A copy's onsets are read at five phases a hop, so one falls near each of the work's
    readings wherever the copy was cut: cut at 20.0 s (half an item off the work's item
    grid: its onsets were 0.43 along the line before, under the 0.5 needed) or on the grid,
    the copy is found at its offset and its onsets follow the work's closely."""
    song = rumbling(1007, 60.0)
    index = MatchIndex()
    content = write_audio(tmp_path / "song.flac", song).read_bytes()
    for number, (algorithm, variant, value) in enumerate(
            registration_fingerprints("audio", content), 1):
        index.add(number, 1007, algorithm, value, variant=variant)
    on_grid = 162 * ITEM_S
    for start in (20.0, on_grid, on_grid + ITEM_S / 2):
        # shorter than a whole-copy line (which is asked no onsets), so the onsets are read
        end = start + audio.WHOLE_SECONDS - 1.0
        copy = write_audio(tmp_path / "copy.wav",
                           song[round(start * RATE):round(end * RATE)]).read_bytes()
        [found] = first_stage_matches(index, first_stage_queries("audio", copy))
        assert found.work_id == 1007 and abs(found.detail["offset_s"] - start) <= 1.0, start
        straight, _ = found.detail["onsets_r"]
        assert straight >= 0.9 > audio.MIN_ONSETS_STRAIGHT, start


def test_a_copys_readings_do_not_depend_on_how_its_audio_arrives() -> None:
    """Fed whole or in chunks of any size, a copy's envelopes are the same; the readings at
    its first phase are the work's own envelopes of the same audio."""
    pcm = (rumbling(1003, 12.0)[::2] * 20000).astype(np.int16)  # 11,025 Hz
    whole = audio_onsets.OnsetEnvelope(audio_onsets.COPY_PHASES)
    whole.feed(pcm)
    chunked = audio_onsets.OnsetEnvelope(audio_onsets.COPY_PHASES)
    for start in range(0, len(pcm), 301):
        chunked.feed(pcm[start:start + 301])
    readings = whole.finish()
    assert np.array_equal(readings, chunked.finish())
    work = audio_onsets.OnsetEnvelope()
    work.feed(pcm)
    envelopes = work.finish()
    phases = audio_onsets.COPY_PHASES
    hops = readings.shape[1]  # whole hops: all five readings of the last one taken
    assert readings.shape[0] == 2 * phases and envelopes.shape[1] - hops in (0, 1)
    assert np.array_equal(readings[[0, phases]], envelopes[:, :hops])
    assert not np.array_equal(readings[0], readings[phases // 2])


def test_a_copy_read_off_the_line_agrees_at_its_shift_within_the_lag() -> None:
    """A copy whose readings lie any number of readings off the work's hops, up to
    :data:`audio_onsets.MAX_LAG` hops either way, follows the work exactly at that shift;
    further off, it follows nothing."""
    phases = audio_onsets.COPY_PHASES
    rng = np.random.default_rng(18)
    fine = rng.integers(0, 256, (2, 200 * phases + 400)).astype(np.uint8)  # per reading
    work = fine[:, 200:200 + 200 * phases:phases]  # 200 hops
    windows, window = np.arange(1, 3), 16  # hops 48 to 143 of the copy, on the work's
    for readings_off in (0, 7, -13, phases * audio_onsets.MAX_LAG, -1 - 3 * phases):
        start = 200 + readings_off
        copy = fine[:, start:start + 200 * phases].reshape(2, 200, phases) \
            .transpose(0, 2, 1).reshape(2 * phases, 200)
        assert audio_onsets.agreement(work, copy, windows, np.zeros(2), window) \
            == pytest.approx((1.0, 1.0)), readings_off
    start = 200 + phases * audio_onsets.MAX_LAG + 3
    copy = fine[:, start:start + 200 * phases].reshape(2, 200, phases) \
        .transpose(0, 2, 1).reshape(2 * phases, 200)
    straight, bent = audio_onsets.agreement(work, copy, windows, np.zeros(2), window)
    assert straight < audio.MIN_ONSETS_STRAIGHT and bent < audio.MIN_ONSETS_BENT
