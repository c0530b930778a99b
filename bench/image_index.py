"""Stage-2 index at registry scale: the memory-mapped inverted file against the previous index.

Run from the repository root after ``make bench-setup``::

    .venv/bin/python bench/image_index.py [--sizes 1000,4000] [--queries 40]

Registers the 13 works of ``bench/detection.py`` plus filler images (tiles of those
photographs at other positions, scales and angles, and generated pictures, alternately)
as ORB feature sets, writes them as an index file (:mod:`matching.index_file`) and maps it
read-only, as crawl workers do. Queries are 1024x768 JPEGs that stage 2 sees on a crawl:
crops of held-out photographs and page screenshots (nothing registered: every one is a
full search) and altered copies of the works (each must be found). For each registry
size it prints stage 2's milliseconds per query with the inverted file and with the
previous index (FLANN LSH over every descriptor in RAM, ``bench/lsh_baseline.py``), the
bytes per image each holds for queries, and the recall on the copies. One core (OpenCV
one thread). Writes ``bench/results/image_index.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
from PIL import Image  # noqa: E402

from bench.hashing import test_images  # noqa: E402
from bench.imageset import ALTERATIONS, WORK_NAMES, encode, load_photo  # noqa: E402
from bench.lsh_baseline import LocalFeatureIndex  # noqa: E402
from matching import index_file  # noqa: E402
from matching.image import OrbSignal  # noqa: E402
from matching.local_features import LocalFeatures  # noqa: E402
from matching.signal import ContentRejected  # noqa: E402
from matching.word_index import WordIndex, build_segment  # noqa: E402
from swordnet.demo.samples import artwork  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "image_index.json"
LIMIT = OrbSignal.default_threshold
COPY_ALTERATIONS = ("crop_75", "border_10", "rotate_5", "embed_60")


def filler(n: int, photos: list[Image.Image]) -> Image.Image:
    """The ``n``-th filler: a rotated, scaled tile of a work's photograph, or generated art."""
    rnd = random.Random(n)
    if n % 2:
        return artwork(200_000 + n, size=(640, 480))
    photo = photos[n // 2 % len(photos)]
    side = rnd.randint(min(photo.size) // 3, min(photo.size) * 2 // 3)
    left, top = rnd.randint(0, photo.width - side), rnd.randint(0, photo.height - side)
    tile = photo.crop((left, top, left + side, top + side)).rotate(rnd.uniform(-20, 20))
    return tile.resize((480, 480))


def features(image: Image.Image) -> LocalFeatures | None:
    try:
        return LocalFeatures.decode(OrbSignal.fingerprint(encode(image)))
    except ContentRejected:  # a too-smooth generated picture: not registrable
        return None


def measure(index: WordIndex | LocalFeatureIndex, queries: list[LocalFeatures],
            copies: list[tuple[int, LocalFeatures]]) -> tuple[float, float]:
    index.query(queries[0], LIMIT)  # builds in-RAM state once
    start = time.perf_counter()
    for query in queries:
        index.query(query, LIMIT)
    ms = 1000 * (time.perf_counter() - start) / len(queries)
    found = sum(work in {e for e, _ in index.query(copy, LIMIT)} for work, copy in copies)
    return ms, found / len(copies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000", help="registered images to measure at")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    photos = [load_photo(name) for name in WORK_NAMES]
    registered: list[LocalFeatures] = []
    for photo in photos:
        found = features(photo)
        assert found is not None
        registered.append(found)
    copies = [(work_id, OrbSignal.query_value(encode(ALTERATIONS[name](
        photo, random.Random(f"{name}/{work_id}")))))
        for work_id, photo in enumerate(photos) for name in COPY_ALTERATIONS]
    queries = [OrbSignal.query_value(content) for content in test_images(args.queries)]
    rows = []
    n = 0
    for size in sorted(int(x) for x in args.sizes.split(",") if x):
        start = time.perf_counter()
        while len(registered) < size:
            made = features(filler(n, photos))
            n += 1
            if made is not None:
                registered.append(made)
        registration_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as folder:
            directory = Path(folder)
            start = time.perf_counter()
            manifest = index_file.write_segment(directory, index_file.Manifest(), build_segment(
                [(i, i, "original", f) for i, f in enumerate(registered)]))
            index_file.commit(directory, manifest)
            build_s = time.perf_counter() - start
            loaded = index_file.load(directory)
            assert loaded is not None
            mapped = WordIndex(loaded[1])
            file_bytes = sum(p.stat().st_size for p in directory.rglob("*.npy"))
            words_ms, words_recall = measure(mapped, queries, copies)
            word_bytes = mapped.nbytes() / size
        baseline = LocalFeatureIndex()
        for i, f in enumerate(registered):
            baseline.add(i, f.encode())
        lsh_ms, lsh_recall = measure(baseline, queries, copies)
        rows.append({
            "registered_images": size,
            "inverted_file_ms_per_query": round(words_ms, 1),
            "previous_index_ms_per_query": round(lsh_ms, 1),
            "inverted_file_query_bytes_per_image": round(word_bytes),
            "previous_index_ram_bytes_per_image": round(baseline.nbytes() / size),
            "index_file_bytes_per_image": round(file_bytes / size),
            "index_file_write_s": round(build_s, 2),
            "filler_registration_s": round(registration_s, 1),
            "copies_found_inverted_file": round(words_recall, 3),
            "copies_found_previous_index": round(lsh_recall, 3),
        })
        print(json.dumps(rows[-1]), flush=True)
        result = {"cpu": platform.processor() or platform.machine(), "cores_used": 1,
                  "queries": len(queries), "copies": len(copies), "rows": rows}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")  # after each size
    keys = list(rows[0])
    print(" ".join(f"{k[:26]:>26}" for k in keys))
    for row in rows:
        print(" ".join(f"{row[k]!s:>26}" for k in keys))


if __name__ == "__main__":
    main()
