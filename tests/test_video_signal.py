"""The video signal: altered copies match their work, unrelated and bad videos do not.

Clips are synthetic (``bench/video.py``'s generator: panning textures and moving shapes, a new
scene every 2-5 s), 320x180 at 10 fps, written with OpenCV; they are matched through the
production path (registration fingerprints, stage-1 queries, :class:`MatchIndex`).
"""

from __future__ import annotations

import io
import json
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.video import ALTERATIONS, alter, write_work
from matching import video
from matching.match_index import Match, MatchIndex
from matching.registry import signal_type, signals_for_kind
from matching.signal import ContentRejected
from matching.stages import first_stage_matches, first_stage_queries, registration_fingerprints
from matching.video import VideoFrames, VideoSignal

FPS, SIZE, SECONDS = 10, (320, 180), 24.0
WORK_SEEDS = (101, 102, 103)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    for seed in WORK_SEEDS:
        write_work(folder / f"work{seed}.mp4", seed, SECONDS, FPS, SIZE)
    write_work(folder / "unrelated.mp4", 999, SECONDS, FPS, SIZE)
    write_work(folder / "work101.avi", 101, SECONDS, FPS, SIZE, fourcc="MJPG")
    return folder


@pytest.fixture(scope="module")
def index(clips: Path) -> MatchIndex:
    """The three works registered as ``swordnet works add`` does (work id = seed)."""
    index = MatchIndex()
    for seed in WORK_SEEDS:
        content = (clips / f"work{seed}.mp4").read_bytes()
        for algorithm, variant, value in registration_fingerprints("video", content):
            index.add(len(index) + 1, seed, algorithm, value, variant=variant)
    return index


def matches(index: MatchIndex, content: bytes) -> list[Match]:
    """Stage-1 matches of crawled ``content``, as a crawl finds them."""
    return first_stage_matches(index, first_stage_queries("video", content))


def test_the_signal_is_registered_for_video_works() -> None:
    assert signal_type("video") is VideoSignal
    assert signals_for_kind("video")[0] is VideoSignal  # the soundtrack's signal comes after
    assert VideoSignal.max_content_bytes == 256 * 2**20
    assert VideoSignal.higher_is_closer and VideoSignal.score_unit == "frames"


@pytest.mark.parametrize("alteration", ["reencode_vp8", "downscale_half", "letterbox", "logo",
                                        "trimmed_10s", "combined"])
def test_altered_copies_match_their_work_with_the_segment(
    clips: Path, index: MatchIndex, alteration: str
) -> None:
    spec = ALTERATIONS[alteration]
    copy = alter(clips / "work102.mp4", clips / f"copy-{alteration}{spec.suffix}", spec)
    found = matches(index, copy.read_bytes())
    assert [m.work_id for m in found] == [102]
    match = found[0]
    assert match.score >= VideoSignal.default_threshold
    assert match.score == match.detail["frames"]
    detail = match.detail
    assert detail["offset_s"] == pytest.approx(spec.trim_s, abs=0.75)
    assert detail["copy_range"][0] <= 1.0  # matched from the copy's start ...
    assert detail["work_range"][0] == pytest.approx(spec.trim_s, abs=1.0)
    assert detail["work_range"][1] >= SECONDS - 2  # ... to the work's end
    # most of the overlap agrees (two work samples per second)
    assert match.score >= 0.6 * (SECONDS - spec.trim_s) / video.SAMPLE_INTERVAL_S


def test_a_codec_change_keeps_every_frame(clips: Path, index: MatchIndex) -> None:
    found = matches(index, (clips / "work101.avi").read_bytes())  # MJPEG of the same frames
    assert [m.work_id for m in found] == [101]
    assert found[0].score >= 0.9 * SECONDS / video.SAMPLE_INTERVAL_S
    assert found[0].detail["offset_s"] == 0


def test_an_unrelated_video_does_not_match(clips: Path, index: MatchIndex) -> None:
    query = VideoSignal.query_value((clips / "unrelated.mp4").read_bytes())
    assert index.match("video", query) == []
    closest = max((m.score for m in index.match("video", query, limit=0)), default=0.0)
    assert closest < VideoSignal.default_threshold / 2


def test_a_precomputed_fingerprint_matches_the_real_copy(clips: Path) -> None:
    value = VideoSignal.validate(VideoSignal.fingerprint((clips / "work103.mp4").read_bytes()))
    index = MatchIndex()
    index.add(1, 7, "video", value)
    spec = ALTERATIONS["combined"]
    copy = alter(clips / "work103.mp4", clips / f"copy103{spec.suffix}", spec)
    found = matches(index, copy.read_bytes())
    assert [m.work_id for m in found] == [7]
    assert VideoSignal.score(value, VideoSignal.query_value(copy.read_bytes()).encode()) \
        == found[0].score


def test_works_are_added_and_removed_without_disturbing_the_others(clips: Path) -> None:
    values = {seed: VideoSignal.fingerprint((clips / f"work{seed}.mp4").read_bytes())
              for seed in WORK_SEEDS}
    index = MatchIndex()
    index.add(1, 101, "video", values[101])
    query = VideoSignal.query_value((clips / "work102.mp4").read_bytes())
    assert index.match("video", query) == []
    index.add(2, 102, "video", values[102])
    index.add(3, 103, "video", values[103])
    assert [m.work_id for m in index.match("video", query)] == [102]
    index.remove_work(102)
    assert index.match("video", query) == []
    assert [m.work_id for m in index.match(
        "video", VideoSignal.query_value((clips / "work103.mp4").read_bytes()))] == [103]


def test_the_fingerprint_format(clips: Path) -> None:
    value = VideoSignal.fingerprint((clips / "work101.mp4").read_bytes())
    data = json.loads(value)
    assert data["v"] == 1 and data["duration"] == pytest.approx(SECONDS, abs=0.2)
    times = [t for t, _ in data["frames"]]
    assert times[0] == 0 and all(b > a for a, b in zip(times, times[1:], strict=False))
    assert max(np.diff(times)) <= 1.5  # two samples a second, bar skipped fades
    assert len(times) >= 0.8 * SECONDS / video.SAMPLE_INTERVAL_S
    assert VideoSignal.validate(value) == value  # already normal
    assert VideoSignal.score(value, value) == len(times)


def test_crawled_copies_are_read_for_a_bounded_time(
    clips: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(video, "COPY_MAX_SECONDS", 6.0)
    query = VideoSignal.query_value((clips / "work101.mp4").read_bytes())
    assert query.times.max() < 6.0 and query.duration <= 6.0
    monkeypatch.setattr(video, "COPY_MAX_DECODED", 30)  # 3 s at 10 fps
    assert VideoSignal.query_value((clips / "work101.mp4").read_bytes()).times.max() < 3.0


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes((np.sin(np.arange(16000) / 5) * 8000).astype(np.int16).tobytes())
    return buffer.getvalue()


def half(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


def write_frames(path: Path, frames: list[np.ndarray], fourcc: str = "mp4v") -> bytes:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, SIZE)
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path.read_bytes()


@pytest.mark.parametrize(("make", "reason"), [
    (lambda clips: b"", "empty file"),
    (lambda clips: wav_bytes(), "WAV audio file, with no video stream"),
    (lambda clips: np.random.default_rng(5).bytes(200_000), "not a video FFmpeg can open"),
    (lambda clips: half(clips / "work101.mp4"),
     "not a video FFmpeg can open.*corrupt or truncated"),
    (lambda clips: b"#EXTM3U\n#EXTINF:10,\nhttp://example.com/a.ts\n", "playlist"),
    (lambda clips: write_frames(clips / "black.mp4", [np.zeros((180, 320, 3), np.uint8)] * 50),
     r"no usable video frames: all \d+ sampled frames are blank"),
])
def test_bad_videos_are_rejected_with_a_reason(
    clips: Path, make: Callable[[Path], bytes], reason: str
) -> None:
    content = make(clips)
    for method in (VideoSignal.fingerprint, VideoSignal.query_value):
        with pytest.raises(ContentRejected, match=reason):
            method(content)


def test_too_short_videos_are_rejected(clips: Path) -> None:
    frames = list(np.random.default_rng(1).integers(0, 255, (12, 180, 320, 3), dtype=np.uint8))
    content = write_frames(clips / "short.mp4", frames)  # 1.2 s
    with pytest.raises(ContentRejected, match=r"video too short: 3 usable frames in 1\.2 s"):
        VideoSignal.fingerprint(content)


def test_a_truncated_avi_matches_on_what_decodes(clips: Path, index: MatchIndex) -> None:
    found = matches(index, half(clips / "work101.avi"))
    assert [m.work_id for m in found] == [101]
    assert found[0].detail["copy_range"][1] <= SECONDS / 2 + 1


def test_oversized_content_is_refused_before_anything_is_written(
    clips: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_temporary_file(*args: object, **kwargs: object) -> None:
        raise AssertionError("wrote a temporary file for oversized content")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temporary_file)
    monkeypatch.setattr(VideoSignal, "max_content_bytes", 10_000)
    with pytest.raises(ContentRejected, match="over the 10,000 byte limit"):
        VideoSignal.query_value((clips / "work101.mp4").read_bytes())


def test_no_temporary_file_is_left_behind(clips: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # not shared with other tests
    VideoSignal.query_value((clips / "work101.mp4").read_bytes())
    with pytest.raises(ContentRejected):
        VideoSignal.query_value(b"junk" * 1000)
    assert list(tmp_path.iterdir()) == []


GOOD = {"v": 1, "duration": 2.0, "frames": [[0, "00ff00ff00ff00ff"], [0.5, "0f0f0f0f0f0f0f0f"]]}


@pytest.mark.parametrize(("value", "reason"), [
    ("{not json", "not JSON"),
    (json.dumps([1, 2]), "must be an object"),
    (json.dumps({**GOOD, "extra": 1}), "must be an object with keys"),
    (json.dumps({**GOOD, "v": 2}), "unsupported video fingerprint version 2"),
    (json.dumps({**GOOD, "v": True}), "unsupported video fingerprint version"),
    (json.dumps({**GOOD, "frames": []}), "no frames"),
    (json.dumps({**GOOD, "frames": [[0, "xyz"]]}), "hash must be 16 hex digits"),
    (json.dumps({**GOOD, "frames": [[0, "0x0f0f0f0f0f0f0f"]]}), "hash must be 16 hex digits"),
    (json.dumps({**GOOD, "frames": [[-1, "00ff00ff00ff00ff"]]}), "not negative"),
    (json.dumps({**GOOD, "frames": [[1, "00ff00ff00ff00ff"], [0.5, "00ff00ff00ff00ff"]]}),
     "timestamps must increase"),
    (json.dumps({**GOOD, "frames": [[3, "00ff00ff00ff00ff"]]}), "past the duration"),
    (json.dumps({**GOOD, "frames": [[0, "00ff00ff00ff00ff", 1]]}), r"must be \[seconds, hash\]"),
    (json.dumps({**GOOD, "duration": "2"}), "duration must be a number"),
    ('{"v":1,"duration":NaN,"frames":[[0,"00ff00ff00ff00ff"]]}', "finite"),
])
def test_validate_rejects_malformed_values(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        VideoSignal.validate(value)


def test_validate_normalises_precomputed_values() -> None:
    loose = json.dumps({"frames": [[0, "00FF00FF00FF00FF"], [0.5004, "0f0f0f0f0f0f0f0f"]],
                        "duration": 2, "v": 1}, indent=2)
    assert VideoSignal.validate(f"  {loose}\n") == json.dumps(GOOD, separators=(",", ":")) \
        .replace('[0,"', '[0.0,"')
    assert VideoFrames.decode(VideoSignal.validate(loose)).codes[0] == 0x00FF00FF00FF00FF
