"""How stage-2 vote accumulation grows with the registry: postings read per query, and time.

Run from the repository root after ``make bench-setup`` and after ``bench/scale.py`` has
cached at least ``--segment`` fillers' fingerprints (``bench/.data/scale/``)::

    .venv/bin/python bench/word_index_votes.py [--sizes 1e3,1e4] [--segment 65536] \\
        [--copies 2,4,8,16] [--queries 20]

Per registry size N (the 13 works of ``bench/detection.py`` and the first N cached fillers,
written to an index file and memory-mapped, as a crawl worker maps it), for the ORB query
values stage 2 computes on 1024x768 crawled images that contain no work
(``bench/word_index_query.py``'s ``stage2_values``): the distinct keys a query looks up,
the postings those keys hold (their document frequencies, summed), the postings that
actually vote (keys rare enough to weigh more than nothing, the ones
``Segment.votes`` gathers), the longest such list, and the CPU time of
``WordIndex.candidates`` and of the whole ``WordIndex.query_detailed``, per crawled image.

Registries past the cache stand in as ``--copies`` references to one full segment of
``--segment`` images: every key's document frequency multiplies by the copy count, as it
does for a registry of that many more fillers drawn the same way, and the segment count is
the one a real registry of that size has (65,536 images a segment). Answers on such a
registry hold duplicates; the vote cost does not depend on that. Prints a table and writes
``bench/results/word_index_votes.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench.scale import DATA, FingerprintCache, load_sources, queries  # noqa: E402
from bench.word_index_query import LIMIT, registered, stage2_values  # noqa: E402
from matching import index_file  # noqa: E402
from matching.local_features import LocalFeatures  # noqa: E402
from matching.word_index import (  # noqa: E402
    IDF_FLOOR_IMAGES,
    IDF_OFFSET,
    MAX_SEGMENT_IMAGES,
    TABLES,
    Segment,
    WordIndex,
    build_segment,
    descriptor_keys,
)

RESULTS = ROOT / "bench" / "results" / "word_index_votes.json"


def mapped_segments(cache: FingerprintCache, fillers: int, directory: Path) -> list[Segment]:
    """The 13 works and ``fillers`` fillers, written to an index file and mapped from it."""
    entries = registered(cache, fillers)
    manifest = index_file.Manifest()
    for s in range(0, len(entries), MAX_SEGMENT_IMAGES):
        manifest = index_file.write_segment(
            directory, manifest, build_segment(entries[s:s + MAX_SEGMENT_IMAGES]))
    del entries
    index_file.commit(directory, manifest)
    loaded = index_file.load(directory)
    assert loaded is not None
    return loaded.words


def postings(segments: list[Segment], value: LocalFeatures) -> tuple[int, int, int, int]:
    """Distinct keys looked up, postings under them, postings that vote, longest voting list
    (both tables), for one query value: what ``WordIndex.candidates`` reads."""
    keys = descriptor_keys(value.descriptors)
    probes = [np.unique(keys[t]) for t in range(TABLES)]
    looked = [segment.lookup(probes) for segment in segments]
    images = max(sum(len(s) for s in segments), IDF_FLOOR_IMAGES)
    distinct = held = voting = longest = 0
    for t in range(TABLES):
        frequency = sum((found[t][1] for found in looked), np.zeros(len(probes[t]), np.int64))
        votes = np.log(images / np.maximum(frequency, 1)) - IDF_OFFSET > 0
        distinct += len(probes[t])
        held += int(frequency.sum())
        voting += int(frequency[votes].sum())
        longest = max(longest, int(frequency[votes].max(initial=0)))
    return distinct, held, voting, longest


def measure(segments: list[Segment], plain: list[list[LocalFeatures]],
            rounds: int) -> dict[str, Any]:
    index = WordIndex(segments)
    counted = [postings(segments, value) for values in plain for value in values]
    per_image = len(counted) / len(plain)
    spent = {"candidates": 0.0, "query": 0.0}
    for _ in range(rounds):
        for name in spent:
            start = time.process_time()
            for values in plain:
                for value in values:
                    if name == "candidates":
                        index.candidates(value)
                    else:
                        index.query_detailed(value, LIMIT)
            spent[name] += time.process_time() - start
    return {
        "registered_images": len(index), "segments": len(segments),
        "queries_per_image": per_image,
        "distinct_keys_per_query": statistics.fmean(c[0] for c in counted),
        "postings_per_query": statistics.fmean(c[1] for c in counted),
        "voting_postings_per_query": statistics.fmean(c[2] for c in counted),
        "voting_postings_per_image": statistics.fmean(c[2] for c in counted) * per_image,
        "longest_voting_list": max(c[3] for c in counted),
        "candidates_ms_per_image": 1000 * spent["candidates"] / rounds / len(plain),
        "query_ms_per_image": 1000 * spent["query"] / rounds / len(plain),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e3,1e4", help="filler works per run")
    parser.add_argument("--segment", type=int, default=MAX_SEGMENT_IMAGES - 13,
                        help="fillers of the segment that --copies repeats (0: none)")
    parser.add_argument("--copies", default="2,4,8,16", help="references to that segment")
    parser.add_argument("--queries", type=int, default=20, help="crawled images")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes over them")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cache = FingerprintCache(load_sources())
    plain = [stage2_values(q.content) for q in queries(args.queries) if q.work is None]
    runs: list[dict[str, Any]] = []
    print(f"{'registered':>10} {'segs':>4} {'keys/q':>7} {'postings/q':>10} "
          f"{'voting/q':>9} {'voting/img':>10} {'longest':>7} {'cand ms':>7} {'query ms':>8}")

    def record(segments: list[Segment]) -> None:
        run = measure(segments, plain, args.rounds)
        runs.append(run)
        print(f"{run['registered_images']:>10,} {run['segments']:>4} "
              f"{run['distinct_keys_per_query']:>7.0f} {run['postings_per_query']:>10,.0f} "
              f"{run['voting_postings_per_query']:>9,.0f} "
              f"{run['voting_postings_per_image']:>10,.0f} {run['longest_voting_list']:>7,} "
              f"{run['candidates_ms_per_image']:>7.1f} {run['query_ms_per_image']:>8.1f}",
              flush=True)
        report = {"load_average_1min": os.getloadavg()[0], "queries": args.queries,
                  "rounds": args.rounds, "timing": "process CPU time, one thread",
                  "runs": runs}
        args.out.write_text(json.dumps(report, indent=2) + "\n")

    with tempfile.TemporaryDirectory(dir=DATA) as directory:
        for n in (int(float(s)) for s in args.sizes.split(",")):
            record(mapped_segments(cache, n, Path(directory) / f"n{n}"))
        if args.segment:
            full = mapped_segments(cache, args.segment, Path(directory) / "full")
            for copies in [1, *(int(c) for c in args.copies.split(","))]:
                record(full * copies)


if __name__ == "__main__":
    main()
