"""The wide pitch contour (fingerprint format 5): another melody on a work's chords at its
tempo, which the narrow contour let through (its notes there are mostly the chords'), is
not a match, while a copy with a voice over it still is; a version 4 value matches as before.

Song 1027's melody carries most of its energy in its third harmonic, above the narrow
contour's 2.5 kHz; generated piece 100,747 is in its key on its chords at its tempo
(``bench/audio_heldout.py``'s choice range).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.audiogen import RATE, music
from matching import audio
from matching.audio import ChromaprintSignal
from matching.match_index import MatchIndex
from tests.test_audio_signal import SECONDS, encoded, matches, song_and_piece, voiced, without_wide


@pytest.fixture(scope="module")
def same_chords_and_tempo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes]:
    """Song 1027's value, and 20 s of piece 100,747."""
    return song_and_piece(tmp_path_factory.mktemp("wide"), music(1027, SECONDS), 100747)


def index_of(value: str) -> MatchIndex:
    index = MatchIndex()
    index.add(1, 1027, "chromaprint", value)
    return index


def test_another_melody_the_narrow_contour_misses_is_not_a_match_and_a_voice_over_copy_is(
        same_chords_and_tempo: tuple[str, bytes], tmp_path: Path) -> None:
    value, other = same_chords_and_tempo
    index = index_of(value)
    assert matches(index, other) == []
    song = music(1027, SECONDS)
    [found] = matches(index, encoded(tmp_path, "voiced.wav", voiced(song)))
    assert found.work_id == 1027 and abs(found.detail["offset_s"]) <= 1.0
    assert found.detail["notes_heard"] >= audio.MIN_HEARD_WIDE
    start = 20.0
    excerpt = song[int(start * RATE):int((start + 20) * RATE)]
    [found] = matches(index, encoded(tmp_path, "part.wav", voiced(excerpt)))
    assert found.work_id == 1027 and abs(found.detail["offset_s"] - start) <= 1.0


def test_a_version_4_value_matches_as_before_without_the_wide_contour(
        same_chords_and_tempo: tuple[str, bytes]) -> None:
    """A work registered before the wide contour (version 4) is matched as then: the piece
    on its chords at its tempo passes the narrow check."""
    value, other = same_chords_and_tempo
    old = without_wide(value)
    assert ChromaprintSignal.validate(old) == old
    [found] = matches(index_of(old), other)
    assert found.work_id == 1027
    assert found.detail["notes_heard"] >= audio.MIN_HEARD_STRAIGHT
