"""Bulk image registration per core, and where its CPU time goes, step by step.

Run from the repository root after ``make bench-setup``::

    .venv/bin/python -m bench.registration [--images 300] [--rounds 3]

The images are the fresh fillers of ``bench/scale.py``'s registration sample (real photos
cropped, rescaled and tiled by :mod:`bench.fillers`, JPEG-encoded), drawn once. Each round
runs ``registration_fingerprints`` over all of them (**images/s per core**: inputs over this
process's CPU time, rejected ones included, as ``bench/scale.py`` counts them), then
times each step on every accepted image apart: the decode with its quality gate (decoded
again for this), each signal's ``registration_variants`` and the reviewers' preview (the
JPEG thumbnail kept with each work, made from that decode as registration makes it). Each
round also registers them all as ``swordnet works import`` does (**imported images/s per
core**): each file in its own unit of work, with its fingerprints, names and preview, into
a new SQLite database and evidence store. OpenCV/BLAS
on one thread; one warm-up image first (imports that happen on first use are not per-image
costs). The best round is reported: CPU time on a loaded machine only ever grows. Prints a
table and writes ``bench/results/registration.json``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

from bench.fillers import filler, load_sources  # noqa: E402
from bench.imageset import encode  # noqa: E402
from bench.report import write_results  # noqa: E402
from bench.scale import FRESH_FILLERS, RESULTS  # noqa: E402
from matching.registry import content_for, signals_for_kind  # noqa: E402
from matching.signal import ContentRejected  # noqa: E402
from matching.stages import registration_fingerprints  # noqa: E402
from swordnet.core.config import load_settings  # noqa: E402
from swordnet.core.db import open_database  # noqa: E402
from swordnet.evidence.store import EvidenceStore  # noqa: E402
from swordnet.works.previews import work_thumbnail  # noqa: E402
from swordnet.works.registry import register_work  # noqa: E402

OUTPUT = RESULTS.parent / "registration.json"
TARGET_IMAGES_PER_S = 100.0  # issue 16


def end_to_end_s(contents: list[bytes]) -> float:
    """CPU seconds of ``registration_fingerprints`` over ``contents``."""
    start = time.process_time()
    for content in contents:
        with contextlib.suppress(ContentRejected):
            registration_fingerprints("image", content)
    return time.process_time() - start


def import_s(contents: list[bytes]) -> float:
    """CPU seconds of registering ``contents`` as ``swordnet works import`` does, into a new
    SQLite database and evidence store (opening them is not timed)."""
    with tempfile.TemporaryDirectory(prefix="bench-registration-") as home:
        settings = load_settings({"SWORDNET_HOME": home})
        db = open_database(settings)
        store = EvidenceStore(settings.evidence_dir)
        start = time.process_time()
        for k, content in enumerate(contents):
            with contextlib.suppress(ContentRejected), db.session() as session:
                register_work(session, content, title=f"filler {k}", holder_name="Bench",
                              source_name=f"filler_{k}.jpg", preview_store=store)
        spent = time.process_time() - start
        db.dispose()
    return spent


def steps_s(contents: list[bytes]) -> tuple[dict[str, float], int]:
    """CPU seconds of each registration step over the accepted images, and their count."""
    spent = {"decode": 0.0, **{signal.name: 0.0 for signal in signals_for_kind("image")},
             "preview": 0.0}
    accepted = 0
    for content in contents:
        shared = content_for("image", content)
        timings = {}
        try:
            start = time.process_time()
            shared.gated(None)
            timings["decode"] = time.process_time() - start
            for signal in signals_for_kind("image"):
                start = time.process_time()
                signal.registration_variants(shared)
                timings[signal.name] = time.process_time() - start
            start = time.process_time()
            work_thumbnail(shared)
            timings["preview"] = time.process_time() - start
        except ContentRejected:
            continue
        accepted += 1
        for step, seconds in timings.items():
            spent[step] += seconds
    return spent, accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    sources = load_sources()
    contents = [encode(filler(sources, FRESH_FILLERS + k)) for k in range(args.images)]
    end_to_end_s(contents[:1])
    load_before = os.getloadavg()[0]
    rounds = []
    for _ in range(args.rounds):
        total = end_to_end_s(contents)
        imported = import_s(contents)
        spent, accepted = steps_s(contents)
        rounds.append({"images_per_s": len(contents) / total,
                       "ms_per_image": 1000 * total / len(contents),
                       "imported_images_per_s": len(contents) / imported,
                       "import_ms_per_image": 1000 * imported / len(contents),
                       "accepted": accepted,
                       "step_ms_per_accepted_image": {
                           step: 1000 * seconds / accepted for step, seconds in spent.items()}})
    best = max(rounds, key=lambda r: r["images_per_s"])
    best_import = max(r["imported_images_per_s"] for r in rounds)
    print(f"{'step':<22}{'ms per accepted image':>24}")
    for step, ms in best["step_ms_per_accepted_image"].items():
        print(f"{step:<22}{ms:>24.2f}")
    print(f"{len(contents)} images ({best['accepted']} accepted): "
          f"{best['images_per_s']:.1f} registrations/s per core "
          f"(rounds: {', '.join(format(r['images_per_s'], '.1f') for r in rounds)}; "
          f"target {TARGET_IMAGES_PER_S:.0f}); as works import: "
          f"{best_import:.1f}/s (rounds: "
          f"{', '.join(format(r['imported_images_per_s'], '.1f') for r in rounds)})")
    write_results(Path(args.output), {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1min_before_after": [load_before, os.getloadavg()[0]]},
        "settings": {"images": len(contents), "rounds": args.rounds,
                     "timing": "process CPU time, OpenCV/BLAS on one thread, best round"},
        "target_images_per_s": TARGET_IMAGES_PER_S,
        "best": best,
        "best_imported_images_per_s": best_import,
        "rounds": rounds,
    })


if __name__ == "__main__":
    main()
