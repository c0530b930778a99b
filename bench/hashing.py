"""Fingerprinting throughput per core on 1024x768 JPEGs: stage 1 alone, and with stage 2.

Run from the repository root after ``make bench-setup``::

    .venv/bin/python bench/hashing.py [--images 300] [--filler-works 0,250,1000]

One process, OpenCV limited to one thread; times are this process's CPU time (the machine is
shared: wall time would count other processes' turns). The images are 1024x768 JPEG
renderings of the benchmark's held-out photographs and page screenshots (none is a
registered work, so every one goes through stage 2, the worst case), matched against the 13
registered works of ``bench/detection.py``. Stage 2's cost is measured again with more
registered works (generated abstract pictures from :func:`swordnet.demo.samples.artwork`,
unrelated to the test images) to show how it grows with the registry. Prints a table and
writes ``bench/results/hashing.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402

from bench.detection import RESULTS as DETECTION_RESULTS  # noqa: E402
from bench.detection import register_photo  # noqa: E402
from bench.imageset import (  # noqa: E402
    HELD_OUT_NAMES,
    WORK_NAMES,
    encode,
    load_photo,
    page_canvas,
)
from matching.match_index import MatchIndex  # noqa: E402
from matching.stages import (  # noqa: E402
    first_stage_matches,
    first_stage_queries,
    later_stage_matches,
    registration_fingerprints,
)
from matching.word_index import WordIndex  # noqa: E402
from swordnet.demo.samples import artwork  # noqa: E402

RESULTS = DETECTION_RESULTS.parent / "hashing.json"
SIZE = (1024, 768)


def build_index() -> MatchIndex:
    index = MatchIndex()
    for work_id, name in enumerate(WORK_NAMES, start=1):
        register_photo(index, work_id, name)
    return index


def add_filler_works(index: MatchIndex, first_id: int, count: int) -> None:
    """Register ``count`` generated pictures as extra works (all signals)."""
    for n in range(count):
        content = encode(artwork(100_000 + first_id + n, size=(640, 480)))
        for algorithm, variant, value in registration_fingerprints("image", content):
            index.add(len(index) + 1, first_id + n, algorithm, value, variant=variant)


def stage2_ms(index: MatchIndex, images: list[bytes]) -> float:
    """Stage 2's CPU milliseconds per image of ``images``."""
    start = time.process_time()
    for content in images:
        later_stage_matches(index, "image", content)
    return 1000 * (time.process_time() - start) / len(images)


def test_images(count: int) -> list[bytes]:
    """``count`` 1024x768 JPEGs (quality 85): crops of held-out photos and page screenshots."""
    photos = [load_photo(name) for name in HELD_OUT_NAMES]
    images = []
    for k in range(count):
        rnd = random.Random(k)
        if k % 2:
            image = page_canvas(*SIZE, rnd)
        else:
            photo = rnd.choice(photos)
            left, top = rnd.randint(0, photo.width // 4), rnd.randint(0, photo.height // 4)
            image = photo.crop((left, top, left + photo.width * 3 // 4,
                                top + photo.height * 3 // 4)).resize(SIZE)
        images.append(encode(image, quality=85))
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--filler-works", default="250,1000",
                        help="registry sizes (extra works) to re-measure stage 2 at")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    index = build_index()
    images = test_images(args.images)

    start = time.process_time()
    settled = 0
    for content in images:
        settled += bool(first_stage_matches(index, first_stage_queries("image", content)))
    stage1_s = time.process_time() - start

    stage2_s = stage2_ms(index, images) * len(images) / 1000
    scaling = {str(len(WORK_NAMES)): round(1000 * stage2_s / len(images), 2)}
    fillers = 0
    for wanted in sorted(int(x) for x in args.filler_works.split(",") if x):
        add_filler_works(index, len(WORK_NAMES) + fillers + 1, wanted - fillers)
        fillers = wanted
        stage2_ms(index, images[:1])  # the in-RAM postings rebuild once after the adds
        sample = images[: max(50, len(images) // 4)]
        scaling[str(len(WORK_NAMES) + fillers)] = round(stage2_ms(index, sample), 2)
    orb_index = index.signal_index("orb")
    assert isinstance(orb_index, WordIndex)
    orb_bytes_per_work = orb_index.nbytes() / len(orb_index)

    n = len(images)
    result = {
        "images": n,
        "image_size": f"{SIZE[0]}x{SIZE[1]} JPEG q85",
        "registered_works": len(WORK_NAMES),
        "cpu": platform.processor() or platform.machine(),
        "cores_used": 1,
        "timing": "process CPU time",
        "load_average_1min": round(os.getloadavg()[0], 1),
        "stage1_images_per_s": round(n / stage1_s, 1),
        "stage1_ms_per_image": round(1000 * stage1_s / n, 2),
        "settled_by_stage1": settled,
        "stage2_ms_per_image": round(1000 * stage2_s / n, 2),
        "both_stages_images_per_s": round(n / (stage1_s + stage2_s), 1),
        "stage2_ms_per_image_by_registered_works": scaling,
        "stage2_index_array_bytes_per_work": round(orb_bytes_per_work),
    }
    print(f"{'measure':32} {'value':>10}")
    for key, value in result.items():
        print(f"{key:32} {value!s:>10}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
