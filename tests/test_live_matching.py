"""Live matching: a restream's segments found in the rolling reference of the official feed,
with their delay, and nothing else found (matching/live.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from matching.audio import ITEM_S
from matching.live import (
    FRAME_STEP_S,
    MAX_SEGMENT_BYTES,
    NEAR_EXACT_SCORE,
    ZOOMS,
    RollingReference,
    SegmentPrint,
    aligned_totals,
    print_segment,
)
from matching.signal import ContentRejected
from tests.live_media import cut, programme, restream, segments

# One xdist worker runs this whole module, so its media are generated once, not per worker.
pytestmark = pytest.mark.xdist_group("live_matching")

AIRED = 1_800_000_000.0  # wall-clock time the programme's first segment aired on the feed
SEGMENT_S = 4.0
# Media only as long as the tests below read: the feed until the 90 s delay's match airs
# (37.3 + 90 s and a segment), the restreams until their last cut (100 + 4 s, 71.4 + 4 s).
PROGRAMME_S, PIRATE_S, LETTERBOXED_S = 135, 105, 76


@dataclass(frozen=True)
class Media:
    programme: Path
    restream: Path
    letterboxed: Path
    lawful: Path
    feed: list[tuple[float, SegmentPrint]]  # what the reference takes in, with its start


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("live-media")
    official = programme(folder / "official.mp4", seconds=PROGRAMME_S, seed=1)
    pirate = restream(official, folder / "pirate.mp4", crop=0.1, logo=True,
                      video_bitrate="100k", seconds=PIRATE_S)
    letterboxed = restream(official, folder / "letterboxed.mp4", crop=0.05, logo=False,
                           video_bitrate="150k", letterbox=True, seconds=LETTERBOXED_S)
    lawful = programme(folder / "lawful.mp4", seconds=40, seed=2)
    parts = [path.read_bytes() for path in segments(official, folder / "feed",
                                                    seconds=SEGMENT_S)]
    # each segment joined to the one before, so Chromaprint has context across the boundary
    feed = [(AIRED, print_segment(parts[0]))]
    feed += [(AIRED + (k - 1) * SEGMENT_S, print_segment(parts[k - 1] + parts[k]))
             for k in range(1, len(parts))]
    return Media(official, pirate, letterboxed, lawful, feed)


def reference(media: Media, *, window_s: float, aired_until: float) -> RollingReference:
    """The reference as it stands when the feed has aired ``aired_until`` s of the programme."""
    rolling = RollingReference(window_s)
    for start, segment in media.feed:
        if start + segment.duration <= AIRED + aired_until:
            rolling.add(start, segment)
    rolling.trim(AIRED + aired_until)
    return rolling


@pytest.mark.parametrize("delay", [20.0, 90.0])
def test_a_restream_segment_matches_with_its_delay(media: Media, delay: float) -> None:
    content_at = 37.3  # the restream's segment shows the programme from here
    rolling = reference(media, window_s=120, aired_until=content_at + delay)
    segment = print_segment(cut(media.restream, start=content_at, seconds=SEGMENT_S))
    found = rolling.match(segment, AIRED + content_at + delay)
    assert found is not None
    assert found.score >= NEAR_EXACT_SCORE
    assert found.delay_s == pytest.approx(delay, abs=1.0)
    assert found.reference_start == pytest.approx(AIRED + content_at, abs=1.0)
    assert found.audio_similarity is not None and found.frame_similarity is not None
    assert found.seconds >= 2


def test_a_lawful_programme_does_not_match(media: Media) -> None:
    rolling = reference(media, window_s=600, aired_until=PROGRAMME_S)
    for start in (3.0, 17.5, 31.0):
        segment = print_segment(cut(media.lawful, start=start, seconds=SEGMENT_S))
        assert len(segment.audio) and len(segment.frames)
        assert rolling.match(segment, AIRED + 140) is None


def test_a_segment_older_than_the_window_does_not_match_after_trim(media: Media) -> None:
    rolling = reference(media, window_s=60, aired_until=75)
    segment = print_segment(cut(media.restream, start=20.0, seconds=SEGMENT_S))
    assert rolling.match(segment, AIRED + 75) is not None  # still held: 20 s is in 15..75
    rolling.trim(AIRED + 130)
    span = rolling.span()
    assert span is not None and span[0] >= AIRED + 70
    assert rolling.match(segment, AIRED + 130) is None


def test_a_gap_in_the_feed_matches_nothing_and_matching_resumes_after_it(media: Media) -> None:
    rolling = RollingReference(300)
    for start, segment in media.feed:
        if not AIRED + 40 <= start < AIRED + 80:  # the feed dropped from 44 s to 80 s
            rolling.add(start, segment)
    for content_at, held in ((20.0, True), (55.0, False), (100.0, True)):
        segment = print_segment(cut(media.restream, start=content_at, seconds=SEGMENT_S))
        found = rolling.match(segment, AIRED + content_at + 30)
        assert (found is not None) is held
        if found is not None:
            assert found.delay_s == pytest.approx(30.0, abs=1.0)


def test_audio_only_and_video_only_segments_match(media: Media) -> None:
    rolling = reference(media, window_s=120, aired_until=110)
    sound = print_segment(cut(media.restream, start=52.6, seconds=SEGMENT_S, video=False))
    assert sound.frames.shape == (0, len(ZOOMS)) and len(sound.audio)
    heard = rolling.match(sound, AIRED + 82.6)
    assert heard is not None and heard.frame_similarity is None
    assert heard.delay_s == pytest.approx(30.0, abs=1.0)
    picture = print_segment(cut(media.restream, start=52.6, seconds=SEGMENT_S, audio=False))
    assert not len(picture.audio) and len(picture.frames)
    seen = rolling.match(picture, AIRED + 82.6)
    assert seen is not None and seen.audio_similarity is None
    assert seen.delay_s == pytest.approx(30.0, abs=1.0)


def test_a_letterboxed_restream_matches_on_its_picture(media: Media) -> None:
    rolling = reference(media, window_s=120, aired_until=100)
    picture = print_segment(cut(media.letterboxed, start=71.4, seconds=SEGMENT_S, audio=False))
    found = rolling.match(picture, AIRED + 100)
    assert found is not None and found.frame_similarity is not None
    assert found.frame_similarity >= NEAR_EXACT_SCORE
    assert found.reference_start == pytest.approx(AIRED + 71.4, abs=1.0)


@pytest.mark.parametrize("content", [b"", b"not a video at all\n" * 200,
                                     b"#EXTM3U\n#EXTINF:4,\nsegment0.ts\n", bytes(188 * 50)])
def test_undecodable_bytes_are_refused_with_a_reason(content: bytes) -> None:
    with pytest.raises(ContentRejected) as refused:
        print_segment(content)
    assert refused.value.args[0] and "\n" not in refused.value.args[0]


def test_an_mp4_is_printed_only_up_to_max_seconds(media: Media) -> None:
    printed = print_segment(media.lawful.read_bytes(), max_seconds=10)
    assert len(printed.frames) == round(10 / FRAME_STEP_S)
    assert 9 <= printed.duration <= 10.5
    assert len(printed.audio) * ITEM_S <= 10


def test_an_oversized_or_slow_segment_is_refused(media: Media) -> None:
    with pytest.raises(ContentRejected, match="over the 64 MB limit"):
        print_segment(bytes(MAX_SEGMENT_BYTES + 1))
    with pytest.raises(ContentRejected, match="took over 0.001 s"):
        print_segment(media.lawful.read_bytes(), timeout_s=0.001)


def test_an_empty_reference_matches_nothing(media: Media) -> None:
    rolling = RollingReference(60)
    assert rolling.span() is None
    assert rolling.match(media.feed[3][1], AIRED + 30) is None


def test_aligned_totals_agree_with_a_brute_force_sum() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        segment, reference_len = int(rng.integers(1, 6)), int(rng.integers(1, 12))
        distances = rng.integers(0, 64, (segment, reference_len))
        valid = rng.random((segment, reference_len)) < 0.7
        totals, counts = aligned_totals(distances, valid)
        for offset in range(-(segment - 1), reference_len):
            pairs = [(q, offset + q) for q in range(segment)
                     if 0 <= offset + q < reference_len and valid[q, offset + q]]
            assert totals[offset + segment - 1] == sum(int(distances[p]) for p in pairs)
            assert counts[offset + segment - 1] == len(pairs)


def _flip(values: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    """``values`` with ``bits`` random bits of each flipped (at most; positions may repeat)."""
    width = values.dtype.itemsize * 8
    flipped = values.copy()
    for _ in range(bits):
        flipped ^= (values.dtype.type(1) << rng.integers(0, width, values.shape
                                                          ).astype(values.dtype))
    return flipped


def test_the_offset_search_finds_a_noisy_slice_of_random_prints() -> None:
    rng = np.random.default_rng(11)
    frames = rng.integers(1, 2**63, (480, len(ZOOMS)), dtype=np.uint64)  # 120 s
    audio = rng.integers(0, 2**32, int(120 / ITEM_S), dtype=np.uint32)
    rolling = RollingReference(600)
    rolling.add(AIRED, SegmentPrint(120.0, frames, audio))
    for _ in range(10):
        at = int(rng.integers(0, 460))  # frame slot where the slice starts
        item = round(at * FRAME_STEP_S / ITEM_S)
        sliced = SegmentPrint(4.0, _flip(frames[at : at + 16], 4, rng),
                              _flip(audio[item : item + 32], 2, rng))
        found = rolling.match(sliced, AIRED + at * FRAME_STEP_S + 25)
        assert found is not None and found.score >= NEAR_EXACT_SCORE
        assert found.reference_start == pytest.approx(AIRED + at * FRAME_STEP_S, abs=0.26)
        assert found.delay_s == pytest.approx(25, abs=0.26)
        unrelated = SegmentPrint(4.0, rng.integers(1, 2**63, (16, len(ZOOMS)), dtype=np.uint64),
                                 rng.integers(0, 2**32, 32, dtype=np.uint32))
        assert rolling.match(unrelated, AIRED + 130) is None
