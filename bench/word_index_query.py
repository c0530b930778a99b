"""Stage-2 index query cost alone, old code against new, on the registry of ``bench/scale.py``.

Run from the repository root after ``make bench-setup`` and after ``bench/scale.py`` has
cached the fillers' fingerprints (``bench/.data/scale/``)::

    .venv/bin/python bench/word_index_query.py --old ../ref/matching/word_index.py \\
        [--sizes 1e3,1e4] [--queries 30] [--rounds 3]

``--old`` is another checkout's ``matching/word_index.py`` (the code to compare against).
Per registry size N (the 13 works of ``bench/detection.py`` and the first N cached fillers,
built into in-RAM segments, the same arrays for both), it computes once the ORB query
values stage 2 asks for on each crawled image (the whole image and each of its regions,
as :func:`matching.stages.settle` does for an image stage 1 did not settle): 1024x768
images containing no work, and copies of the 13 works (``bench/scale.py``'s sanity check).
It then times ``WordIndex.query_detailed`` over all of them, old and new code alternated
(old, new, old, new, ...) on one core, CPU time; ORB extraction is not counted. Both must
answer exactly the same (checked on every query), and the copies found are counted.
Prints a table and writes ``bench/results/word_index_query.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from bench.imageset import WORK_NAMES  # noqa: E402
from bench.scale import DATA, FingerprintCache, load_sources, queries, work_photo  # noqa: E402
from matching import index_file, word_index  # noqa: E402
from matching.image import OrbSignal  # noqa: E402
from matching.local_features import LocalFeatures  # noqa: E402
from matching.registry import content_for  # noqa: E402
from matching.signal import ContentRejected, ContentSkipped  # noqa: E402
from matching.stages import registration_fingerprints  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "word_index_query.json"
LIMIT = OrbSignal.default_threshold


def load_old(path: Path) -> ModuleType:
    """``path`` imported as a module of its own (``word_index_old``)."""
    spec = importlib.util.spec_from_file_location("word_index_old", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["word_index_old"] = module
    spec.loader.exec_module(module)
    return module


def registered(cache: FingerprintCache, fillers: int) -> list[tuple[int, int, str, LocalFeatures]]:
    """The 13 works and the first ``fillers`` cached fillers as ``(entry, work, variant, set)``."""
    values = [next(v for a, _, v in registration_fingerprints("image", work_photo(name))
                   if a == OrbSignal.name) for name in WORK_NAMES]
    for _, fingerprints in cache.accepted(fillers):
        values += [v for a, _, v in fingerprints if a == OrbSignal.name]
    return [(i, i, "original", LocalFeatures.decode(v)) for i, v in enumerate(values)]


def stage2_values(content: bytes) -> list[LocalFeatures]:
    """The ORB query values stage 2 computes for ``content``: the whole, then each region."""
    whole = content_for("image", content)
    values = []
    for part in [whole, *(r.content for r in whole.regions())]:
        try:
            values.append(OrbSignal.query_value(part))
        except (ContentRejected, ContentSkipped):
            continue
    return values


def indexes(entries: list[tuple[int, int, str, LocalFeatures]], old: ModuleType,
            directory: Path) -> tuple[Any, Any]:
    """Old and new ``WordIndex`` over the same segments, written to an index file in
    ``directory`` and memory-mapped from it (as a crawl worker maps them)."""
    manifest = index_file.Manifest()
    for s in range(0, len(entries), old.MAX_SEGMENT_IMAGES):
        manifest = index_file.write_segment(
            directory, manifest, word_index.build_segment(entries[s:s + old.MAX_SEGMENT_IMAGES]))
    index_file.commit(directory, manifest)
    loaded = index_file.load(directory)
    assert loaded is not None
    fields = [f.name for f in dataclasses.fields(word_index.Segment)]
    segments = [old.Segment(**{f: getattr(s, f) for f in fields}) for s in loaded.words]
    return old.WordIndex(segments), word_index.WordIndex(loaded.words)


def measure(n: int, cache: FingerprintCache, old: ModuleType, plain: list[list[LocalFeatures]],
            copies: list[tuple[int, list[LocalFeatures]]], rounds: int) -> dict[str, Any]:
    entries = registered(cache, n)
    with tempfile.TemporaryDirectory(dir=DATA) as directory:
        old_index, new_index = indexes(entries, old, Path(directory))
        del entries
        return compare(old_index, new_index, plain, copies, rounds)


def compare(old_index: Any, new_index: Any, plain: list[list[LocalFeatures]],
            copies: list[tuple[int, list[LocalFeatures]]], rounds: int) -> dict[str, Any]:
    """Answers and CPU time of the two indexes on the same query values."""
    answers = {}
    for name, index in (("old", old_index), ("new", new_index)):
        answers[name] = [[index.query_detailed(v, LIMIT) for v in values]
                         for values in plain + [values for _, values in copies]]
    if answers["old"] != answers["new"]:
        differ = sum(a != b for a, b in zip(answers["old"], answers["new"], strict=True))
        print(f"  old and new answer differently on {differ} images", file=sys.stderr)
    found = {name: sum(any(work == e for vs in got[len(plain) + k] for e, *_ in vs)
                       for k, (work, _) in enumerate(copies)) for name, got in answers.items()}
    wrong = {name: sum(1 for per_image in got[:len(plain)] for vs in per_image for _ in vs)
             + sum(1 for k, (work, _) in enumerate(copies) for vs in got[len(plain) + k]
                   for e, *_ in vs if e != work) for name, got in answers.items()}
    spent = {"old": 0.0, "new": 0.0}
    for _ in range(rounds):
        for name, index in (("old", old_index), ("new", new_index)):
            start = time.process_time()
            for values in plain:
                for value in values:
                    index.query_detailed(value, LIMIT)
            spent[name] += time.process_time() - start
    per_image = {name: 1000 * s / rounds / len(plain) for name, s in spent.items()}
    return {"registered_images": len(new_index), "crawled_images": len(plain),
            "queries_per_image": sum(map(len, plain)) / len(plain),
            "old_ms_per_image": per_image["old"], "new_ms_per_image": per_image["new"],
            "same_answers": answers["old"] == answers["new"], "copies": len(copies),
            "copies_found_old": found["old"], "copies_found_new": found["new"],
            "wrong_matches_old": wrong["old"], "wrong_matches_new": wrong["new"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="old matching/word_index.py")
    parser.add_argument("--sizes", default="1e3,1e4", help="filler works per run")
    parser.add_argument("--queries", type=int, default=40,
                        help="crawled images per size (and up to 39 copies)")
    parser.add_argument("--rounds", type=int, default=3, help="old/new alternations")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    old = load_old(args.old)
    cache = FingerprintCache(load_sources())
    print(f"  fingerprint cache {DATA / cache.key}", file=sys.stderr)
    mixed = queries(args.queries)
    works = {name: i for i, name in enumerate(WORK_NAMES)}
    plain = [stage2_values(q.content) for q in mixed if q.work is None]
    copies = [(works[q.work], stage2_values(q.content)) for q in mixed if q.work is not None]
    runs = []
    print(f"{'registered':>10} {'old ms':>7} {'new ms':>7} {'same':>5} {'copies old/new':>15}")
    for n in (int(float(s)) for s in args.sizes.split(",")):
        run = measure(n, cache, old, plain, copies, args.rounds)
        runs.append(run)
        print(f"{run['registered_images']:>10,} {run['old_ms_per_image']:>7.1f} "
              f"{run['new_ms_per_image']:>7.1f} {run['same_answers']!s:>5} "
              f"{run['copies_found_old']:>7}/{run['copies_found_new']:<7}", flush=True)
        args.out.write_text(json.dumps({"rounds": args.rounds, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
