"""Video benchmark: recall per alteration, false hits, frame-distance calibration, throughput.

Run from the repository root::

    .venv/bin/python bench/video.py [--works 20] [--distractors 20] [--size 480x270] [--fps 24]

Generates synthetic works (panning smooth colour textures with moving shapes, a new scene
every 2-5 s, some scenes fading to black), altered copies of each (re-encoded with another
codec or at low quality, downscaled, letterboxed, with a corner logo, trimmed, at half the
frame rate, and all of these at once) and unrelated clips from other seeds. Registers the
works in an in-memory match index as ``swordnet works add`` does, matches every copy and
distractor (its bytes, as a crawler fetches them) through stage 1 as a crawl does, and
prints recall and false hits per alteration, the per-frame Hamming distances that calibrate
:data:`matching.video.HASH_RADIUS`, the scores that calibrate the threshold, and throughput
in seconds of video per second of wall time. Writes ``bench/results/video.json``.

The clip helpers (:func:`write_work`, :func:`alter`, :data:`ALTERATIONS`) are also used by
``tests/test_video_signal.py``. Everything comes from fixed seeds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_results  # noqa: E402
from matching.match_index import MatchIndex  # noqa: E402
from matching.stages import (  # noqa: E402
    first_stage_matches,
    first_stage_queries,
    registration_fingerprints,
)
from matching.video import (  # noqa: E402
    COPY_INTERVAL_S,
    HASH_RADIUS,
    SAMPLE_INTERVAL_S,
    VideoFrames,
    VideoSignal,
)

RESULTS = Path(__file__).resolve().parent / "results" / "video.json"
LOGO_TEXT = "PIRATE.TV"


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth colour texture: coarse blobs plus finer, weaker detail."""
    image = np.zeros((height, width, 3), dtype=np.float32)
    for cells, weight in ((6, 1.0), (20, 0.35)):
        grid = rng.random((cells * height // width + 2, cells + 2, 3), dtype=np.float32)
        image += weight * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    image -= image.min()
    return (255 * image / max(float(image.max()), 1e-6)).astype(np.uint8)


def _scene(rng: np.random.Generator, seconds: float, fps: float,
           size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Frames of one scene: a pan across a texture, shapes moving over it, maybe a fade."""
    width, height = size
    texture = _texture(rng, 2 * height, 2 * width)
    start = rng.random(2) * (width, height)
    velocity = (rng.random(2) * (width, height) - start) / seconds  # stays inside the texture
    shapes = [(rng.random(2) * (width, height), (rng.random(2) - 0.5) * width / 2,
               tuple(int(c) for c in rng.integers(0, 256, 3)),
               int(rng.integers(height // 16, height // 5)), bool(rng.random() < 0.5))
              for _ in range(int(rng.integers(2, 6)))]
    fade = rng.random() < 0.3
    for i in range(round(seconds * fps)):
        t = i / fps
        x, y = (start + velocity * t).astype(int)
        frame = texture[y : y + height, x : x + width].copy()
        for position, speed, colour, radius, round_shape in shapes:
            cx, cy = ((position + speed * t) % (width, height)).astype(int)
            if round_shape:
                cv2.circle(frame, (int(cx), int(cy)), radius, colour, -1, cv2.LINE_AA)
            else:
                cv2.rectangle(frame, (int(cx), int(cy)), (int(cx) + 2 * radius,
                              int(cy) + radius), colour, -1)
        if fade and t > seconds - 1:  # fade to black over the last second
            frame = (frame * max(0.0, seconds - 0.1 - t)).astype(np.uint8)
        yield frame


def work_frames(seed: int, seconds: float, fps: float,
                size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Every frame of synthetic work ``seed``: scenes of 2-5 s."""
    rng = np.random.default_rng(seed)
    left = round(seconds * fps)
    while left > 0:
        length = min(left, round(float(rng.uniform(2, 5)) * fps))
        yield from _scene(rng, length / fps, fps, size)
        left -= length


def _writer(path: Path, fourcc: str, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
    return writer


def write_work(path: Path, seed: int, seconds: float, fps: float = 24,
               size: tuple[int, int] = (480, 270), fourcc: str = "mp4v") -> Path:
    """Write synthetic work ``seed`` (``size`` must be even in both dimensions)."""
    writer = _writer(path, fourcc, fps, size)
    for frame in work_frames(seed, seconds, fps, size):
        writer.write(frame)
    writer.release()
    return path


@dataclass(frozen=True)
class Alteration:
    """How a pirate copy differs from the work it was made from."""

    suffix: str
    fourcc: str
    trim_s: float = 0.0  # the copy starts this far into the work
    keep_s: float | None = None  # and lasts this long (an excerpt)
    scale: float = 1.0
    letterbox: bool = False  # into a 4:3 frame, black bars above and below
    logo: bool = False  # an opaque channel logo in the top-right corner
    jpeg_quality: int | None = None  # every frame through JPEG at this quality first
    fps_divisor: int = 1  # keep every n-th frame


ALTERATIONS: dict[str, Alteration] = {
    "reencode_vp8": Alteration(".webm", "VP80"),
    "reencode_low_quality": Alteration(".avi", "MJPG", jpeg_quality=15),
    "downscale_half": Alteration(".mp4", "mp4v", scale=0.5),
    "letterbox": Alteration(".avi", "MJPG", letterbox=True),
    "logo": Alteration(".mp4", "mp4v", logo=True),
    "trimmed_10s": Alteration(".mp4", "mp4v", trim_s=10.0),
    "excerpt_15s": Alteration(".mp4", "mp4v", trim_s=12.0, keep_s=15.0),
    "half_frame_rate": Alteration(".avi", "XVID", fps_divisor=2),
    "combined": Alteration(".avi", "MJPG", trim_s=7.3, scale=0.5, letterbox=True, logo=True,
                           jpeg_quality=40),
}


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


def _altered(frame: np.ndarray, alteration: Alteration) -> np.ndarray:
    if alteration.jpeg_quality is not None:
        _, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, alteration.jpeg_quality])
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if alteration.scale != 1.0:
        size = (_even(frame.shape[1] * alteration.scale), _even(frame.shape[0] * alteration.scale))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    if alteration.letterbox:
        height, width = frame.shape[:2]
        canvas = np.zeros((_even(width * 3 / 4), width, 3), dtype=np.uint8)
        top = (canvas.shape[0] - height) // 2
        canvas[top : top + height] = frame
        frame = canvas
    if alteration.logo:
        height, width = frame.shape[:2]
        x, y = int(width * 0.72), int(height * 0.04)
        cv2.rectangle(frame, (x, y), (int(width * 0.97), int(height * 0.14)), (40, 40, 200), -1)
        cv2.putText(frame, LOGO_TEXT, (x + 3, int(height * 0.12)), cv2.FONT_HERSHEY_SIMPLEX,
                    height / 600, (255, 255, 255), 1, cv2.LINE_AA)
    return frame


def alter(work: Path, copy: Path, alteration: Alteration) -> Path:
    """Decode ``work`` and write the pirate copy ``alteration`` makes of it to ``copy``."""
    capture = cv2.VideoCapture(str(work))
    fps = capture.get(cv2.CAP_PROP_FPS)
    writer = None
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1
        t = (index - 1) / fps - alteration.trim_s
        if t < -1e-6 or (index - 1) % alteration.fps_divisor:
            continue
        if alteration.keep_s is not None and t >= alteration.keep_s - 1e-6:
            break
        frame = _altered(frame, alteration)
        if writer is None:
            writer = _writer(copy, alteration.fourcc, fps / alteration.fps_divisor,
                             (frame.shape[1], frame.shape[0]))
        writer.write(frame)
    capture.release()
    if writer is None:
        raise RuntimeError(f"no frames decoded from {work}")
    writer.release()
    return copy


def _frame_distances(copy: VideoFrames, work: VideoFrames, offset: float) -> np.ndarray:
    """Per work frame the copy shows, the Hamming distance to the nearest copy frame sampled
    within a copy interval of it (copy time + ``offset`` = work time)."""
    gap = np.abs(work.times[:, None] - (copy.times[None, :] + offset)) <= COPY_INTERVAL_S
    bits = np.bitwise_count(work.codes[:, None] ^ copy.codes[None, :]).astype(np.int64)
    bits[~gap] = 64
    return bits.min(axis=1)[gap.any(axis=1)]


def _nearest(copy: VideoFrames, works: list[VideoFrames]) -> np.ndarray:
    """Per copy frame, the Hamming distance to the nearest frame of any work."""
    codes = np.concatenate([w.codes for w in works])
    return np.bitwise_count(copy.codes[:, None] ^ codes[None, :]).min(axis=1).astype(np.int64)


def _share_within(values: list[int]) -> dict[str, float]:
    """Share of frame distances within the radius and within two bits either side of it."""
    array = np.asarray(values, dtype=np.int64)
    return {f"<={r}": float(np.mean(array <= r)) if len(array) else 0.0
            for r in (HASH_RADIUS - 2, HASH_RADIUS, HASH_RADIUS + 2)}


def _quantiles(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values)
    return {f"p{q}": float(np.percentile(array, q)) for q in (1, 5, 50, 95, 99)} | {
        "min": float(array.min()), "max": float(array.max())}


def _cached(path: Path, make: Callable[[Path], Path]) -> Path:
    """``path``, made by ``make(partial path)`` unless an earlier run left it there."""
    if not path.exists():
        partial = path.with_name(f"partial-{path.name}")
        make(partial).rename(path)
    return path


def run(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    size = tuple(int(v) for v in args.size.split("x"))
    rng = np.random.default_rng(args.seed)
    lengths = rng.uniform(args.min_seconds, args.max_seconds, args.works + args.distractors)
    alterations = {name: ALTERATIONS[name] for name in args.alterations.split(",")}
    started = time.perf_counter()
    works, copies, distractors = [], [], []
    for n, seconds in enumerate(lengths.tolist()):
        seed = args.seed + n if n < args.works else args.seed + 10_000 + n
        stem = f"{seed}-{args.size}-{args.fps:g}fps-{seconds:.2f}s"
        path = _cached(folder / f"{stem}.mp4", lambda p, seed=seed, seconds=seconds:
                       write_work(p, seed, seconds, args.fps, size))  # type: ignore[arg-type]
        if n >= args.works:
            distractors.append(("unrelated", None, path, seconds))
            continue
        works.append((n + 1, path, seconds))
        for name, alteration in alterations.items():
            copy = _cached(folder / f"{stem}-{name}{alteration.suffix}",
                           lambda p, work=path, a=alteration: alter(work, p, a))
            left = seconds - alteration.trim_s
            copies.append((name, n + 1, copy, min(left, alteration.keep_s or left)))
    generate_s = time.perf_counter() - started

    index = MatchIndex()
    registered: dict[int, VideoFrames] = {}
    started = time.perf_counter()
    for work_id, path, _ in works:
        for algorithm, variant, value in registration_fingerprints("video", path.read_bytes()):
            index.add(len(index) + 1, work_id, algorithm, value, variant=variant)
            registered[work_id] = VideoFrames.decode(value)
    register_s = time.perf_counter() - started

    rows = []
    match_s = 0.0
    for label, work_id, path, seconds in copies + distractors:
        content = path.read_bytes()
        started = time.perf_counter()
        queries = first_stage_queries("video", content)
        found = first_stage_matches(index, queries)
        match_s += time.perf_counter() - started
        value = queries["video"]
        near = index.match("video", value, limit=1)  # how close everything came
        best_other = max((m.score for m in near if m.work_id != work_id), default=0.0)
        true = next((m for m in found if m.work_id == work_id), None)
        row: dict[str, object] = {
            "label": label, "work": work_id, "seconds": seconds,
            "found": [m.work_id for m in found], "score": true.score if true else None,
            "detail": true.detail if true else None, "best_other_score": best_other,
            "true_score": next((m.score for m in near if m.work_id == work_id), 0.0),
        }
        if work_id is not None:
            offset = ALTERATIONS[label].trim_s
            row["distances"] = _frame_distances(value, registered[work_id], offset).tolist()
            row["offset_ok"] = bool(true) and abs(true.detail["offset_s"] - offset) <= 0.75
        else:
            row["distances"] = _nearest(value, list(registered.values())).tolist()
        rows.append(row)
    return summarise(rows, args, generate_s, register_s, match_s,
                     sum(seconds for _, _, seconds in works))


def summarise(rows: list[dict], args: argparse.Namespace, generate_s: float, register_s: float,
              match_s: float, work_seconds: float) -> dict[str, object]:
    """Recall, false hits, score and distance distributions and throughput."""
    per_alteration: dict[str, dict[str, object]] = {}
    for label in dict.fromkeys([*(str(r["label"]) for r in rows), "unrelated"]):
        group = [r for r in rows if r["label"] == label]
        if label == "unrelated":
            hits = sum(bool(r["found"]) for r in group)
            per_alteration[label] = {"clips": len(group), "recall": None, "false_hits": hits,
                                     "max_score": max((r["best_other_score"] for r in group),
                                                      default=0.0)}
            continue
        per_alteration[label] = {
            "clips": len(group),
            "recall": sum(r["score"] is not None for r in group) / len(group),
            "false_hits": sum(bool(set(r["found"]) - {r["work"]}) for r in group),
            "offset_ok": sum(bool(r["offset_ok"]) for r in group),
            "min_true_score": min(r["true_score"] for r in group),
            "max_other_score": max(r["best_other_score"] for r in group),
        }
    true_distances = [d for r in rows if r["work"] is not None for d in r["distances"]]
    null_distances = [d for r in rows if r["work"] is None for d in r["distances"]]
    copy_seconds = sum(float(r["seconds"]) for r in rows)
    return {
        "works": args.works, "distractors": args.distractors, "size": args.size, "fps": args.fps,
        "seconds": [args.min_seconds, args.max_seconds], "radius_bits": HASH_RADIUS,
        "threshold_frames": VideoSignal.default_threshold, "sample_interval_s": SAMPLE_INTERVAL_S,
        "alterations": per_alteration,
        "aligned_frame_bits": _quantiles(true_distances),
        "unrelated_nearest_frame_bits": _quantiles(null_distances),
        "aligned_frames_within_radius": _share_within(true_distances),
        "unrelated_frames_within_radius": _share_within(null_distances),
        "aligned_frame_bits_histogram": np.bincount(true_distances, minlength=65).tolist(),
        "unrelated_nearest_frame_bits_histogram":
            np.bincount(null_distances, minlength=65).tolist(),
        "register_video_s_per_s": work_seconds / register_s,
        "match_video_s_per_s": copy_seconds / match_s,
        "registered_video_s": round(work_seconds, 1), "matched_video_s": round(copy_seconds, 1),
        "generate_s": round(generate_s, 1),
    }


def print_table(summary: dict[str, object]) -> None:
    alterations = summary["alterations"]
    assert isinstance(alterations, dict)
    print(f"{'alteration':22} {'clips':>5} {'recall':>7} {'false hits':>10} {'offset ok':>9} "
          f"{'min true':>8} {'max other':>9}")
    for label, row in alterations.items():
        recall = "" if row["recall"] is None else f"{row['recall']:.1%}"
        print(f"{label:22} {row['clips']:>5} {recall:>7} {row['false_hits']:>10} "
              f"{row.get('offset_ok', ''):>9} {row.get('min_true_score', ''):>8} "
              f"{row.get('max_other_score', row.get('max_score')):>9}")
    for key in ("radius_bits", "threshold_frames", "aligned_frame_bits",
                "unrelated_nearest_frame_bits", "aligned_frames_within_radius",
                "unrelated_frames_within_radius", "registered_video_s", "matched_video_s"):
        print(f"{key}: {summary[key]}")
    print(f"registration: {summary['register_video_s_per_s']:.1f} s of video per wall second")
    print(f"matching: {summary['match_video_s_per_s']:.1f} s of video per wall second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--works", type=int, default=20)
    parser.add_argument("--distractors", type=int, default=20, help="unrelated clips")
    parser.add_argument("--min-seconds", type=float, default=30.0)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--size", default="480x270", help="WIDTHxHEIGHT, both even")
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alterations", default=",".join(ALTERATIONS),
                        help="comma-separated subset of: " + ", ".join(ALTERATIONS))
    parser.add_argument("--clips", type=Path,
                        help="keep generated clips here and reuse them (default: a temporary "
                             "folder, deleted)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    started = time.time()
    if args.clips:
        args.clips.mkdir(parents=True, exist_ok=True)
        summary = run(args, args.clips)
    else:
        with tempfile.TemporaryDirectory(prefix="swordnet-video-bench-") as folder:
            summary = run(args, Path(folder))
    summary["wall_s"] = round(time.time() - started, 1)
    print_table(summary)
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
