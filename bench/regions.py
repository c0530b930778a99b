"""Region finder benchmark: how often it finds regions, and its CPU cost per image.

Run from the repository root after ``make bench-setup``::

    .venv/bin/python bench/regions.py [--distractors 3200] [--crawled 400]

Times :func:`matching.regions.find_regions` alone (process CPU time) on the 256 px decode
stage 1 makes anyway, over the detection benchmark's distractors, its collages and page
screenshots, and the crawl benchmark's pictures (:func:`bench.crawlsite.textured_photo`, what a
pirate site's pages carry). What the region step costs beyond the finder (matching the crops)
is measured by ``bench/detection.py``. Prints a table and writes ``bench/results/regions.json``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crawlsite import textured_photo  # noqa: E402
from bench.imageset import (  # noqa: E402
    ALL_ALTERATIONS,
    WORK_NAMES,
    distractors,
    encode,
    load_photo,
)
from bench.report import write_results  # noqa: E402
from matching.decode import REGION_FIND_SIDE, ImageContent  # noqa: E402
from matching.regions import find_regions  # noqa: E402
from matching.signal import ContentRejected  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "regions.json"
REPEATS = 5  # the finder is timed this many times per image (its cost is ~1 ms)


def _images(distractor_count: int, crawled: int) -> Iterator[tuple[str, bytes]]:
    for sample in distractors(distractor_count):
        yield f"distractor:{sample.label}", encode(sample.image)
    for k in range(crawled):
        yield "crawled_picture", encode(textured_photo(k))
    works = {name: load_photo(name) for name in WORK_NAMES}
    for alteration in ("collage_3x3", "embed_30", "jpeg_q70"):
        for name, image in works.items():
            copy = ALL_ALTERATIONS[alteration](image, random.Random(f"{alteration}/{name}/0"))
            yield f"copy:{alteration}", encode(copy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distractors", type=int, default=3200)
    parser.add_argument("--crawled", type=int, default=400)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    cpu: dict[str, list[float]] = defaultdict(list)
    regions: dict[str, list[int]] = defaultdict(list)
    for family, raw in _images(args.distractors, args.crawled):
        try:
            pixels = np.asarray(ImageContent(raw).gated(REGION_FIND_SIDE))
        except ContentRejected:  # skipped by the quality gate: no region step either
            continue
        start = time.process_time()
        for _ in range(REPEATS):
            found = find_regions(pixels)
        cpu[family].append((time.process_time() - start) / REPEATS)
        regions[family].append(len(found))
    table = {family: {"images": len(cpu[family]),
                      "share_with_regions": sum(n > 0 for n in regions[family])
                      / len(regions[family]),
                      "mean_regions": sum(regions[family]) / len(regions[family]),
                      "finder_cpu_ms": 1000 * sum(cpu[family]) / len(cpu[family])}
             for family in sorted(cpu)}
    every = [t for times in cpu.values() for t in times]
    summary = {"families": table, "finder_cpu_ms_all": 1000 * sum(every) / len(every)}
    print(f"{'family':32} {'images':>6} {'with regions':>13} {'regions':>8} {'finder ms':>10}")
    for family, row in table.items():
        print(f"{family:32} {row['images']:>6} {row['share_with_regions']:>13.1%} "
              f"{row['mean_regions']:>8.2f} {row['finder_cpu_ms']:>10.2f}")
    print(f"finder CPU ms per image, all: {summary['finder_cpu_ms_all']:.2f}")
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
