"""Video review previews benchmark: what keeping key frames costs, and rendering a hit's strips.

Run from the repository root::

    .venv/bin/python bench/video_previews.py [--durations 60,300,900] [--size 480x270] [--fps 24]

For synthetic works of each duration (``bench/video.py``'s clips): the wall time of keeping
key frames at registration beside that of the video fingerprint (both decode the whole
work), the frames kept, their interval and the bytes stored (contact sheet and manifest);
then, for a copy trimmed by 10 s, the wall time of rendering the hit's aligned strips from
the copy's bytes (decoding up to the matched segment's end), first and cached. Writes
``bench/results/video_previews.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_results  # noqa: E402
from bench.video import ALTERATIONS, alter, write_work  # noqa: E402
from matching.match_index import MatchIndex  # noqa: E402
from matching.stages import (  # noqa: E402
    first_stage_matches,
    first_stage_queries,
    registration_fingerprints,
)
from swordnet.core.models import Work  # noqa: E402
from swordnet.evidence.store import EvidenceStore  # noqa: E402
from swordnet.works.video_previews import (  # noqa: E402
    store_video_preview,
    stored_key_frames,
    video_strips,
)

RESULTS = Path(__file__).resolve().parent / "results" / "video_previews.json"


def measure(folder: Path, seconds: float, size: tuple[int, int], fps: float) -> dict[str, object]:
    work_path = write_work(folder / f"work-{seconds:g}.mp4", 11, seconds, fps, size)
    copy = alter(work_path, folder / f"copy-{seconds:g}.mp4", ALTERATIONS["trimmed_10s"])
    content, copy_bytes = work_path.read_bytes(), copy.read_bytes()
    started = time.perf_counter()
    fingerprints = registration_fingerprints("video", content)
    fingerprint_s = time.perf_counter() - started
    store = EvidenceStore(folder / f"store-{seconds:g}")
    work = Work(kind="video", title="bench")
    started = time.perf_counter()
    store_video_preview(store, work, content)
    key_frames_s = time.perf_counter() - started
    frames = stored_key_frames(store, work)
    assert frames is not None and work.preview_sha256 is not None
    stored = (store.path_for(frames.sheet_sha256, ".jpg").stat().st_size
              + store.path_for(work.preview_sha256, ".json").stat().st_size)
    index = MatchIndex()
    for algorithm, variant, value in fingerprints:
        index.add(1, 1, algorithm, value, variant=variant)
    detail = first_stage_matches(index, first_stage_queries("video", copy_bytes))[0].detail
    started = time.perf_counter()
    strips = video_strips(store, work, detail, copy_bytes)
    strips_s = time.perf_counter() - started
    assert strips.copy and all(f.jpeg for f in strips.copy)
    return {"seconds": seconds, "fingerprint_s": round(fingerprint_s, 2),
            "key_frames_s": round(key_frames_s, 2), "frames": len(frames.times),
            "interval_s": frames.interval, "stored_bytes": stored,
            "bytes_per_frame": round(stored / len(frames.times)),
            "work_range": detail["work_range"], "strips_s": round(strips_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", default="60,300,900", help="seconds, comma-separated")
    parser.add_argument("--size", default="480x270", help="WIDTHxHEIGHT, both even")
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="swordnet-video-previews-") as folder:
        for seconds in (float(d) for d in args.durations.split(",")):
            rows.append(measure(Path(folder), seconds, (width, height), args.fps))
    print(f"{'video s':>8} {'fingerprint s':>13} {'key frames s':>12} {'frames':>6} "
          f"{'every s':>7} {'stored KiB':>10} {'strips s':>8}")
    for row in rows:
        print(f"{row['seconds']:>8g} {row['fingerprint_s']:>13} {row['key_frames_s']:>12} "
              f"{row['frames']:>6} {row['interval_s']:>7g} "
              f"{int(str(row['stored_bytes'])) / 1024:>10.1f} {row['strips_s']:>8}")
    write_results(args.output, {"size": args.size, "fps": args.fps, "rows": rows})


if __name__ == "__main__":
    main()
