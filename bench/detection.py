"""Detection benchmark: recall per alteration and false-positive rate, two-stage vs pHash alone.

Run from the repository root after ``make bench-setup`` (or ``pip install -e '.[bench]'``)::

    .venv/bin/python bench/detection.py [--per-work 3] [--distractors 3200] [--workers 2]
                                        [--registry bench/.data/scale/KEY/registry-100000]

Registers the works of :mod:`bench.imageset` in an in-memory match index exactly as
``swordnet works add`` does (or, with ``--registry``, loads the match index of a Swordnet
home holding them among many other works, as a crawl worker loads it: a registry that
``bench/scale.py`` built, the 13 works among its filler works, so that recall and false
positives are measured at that registry's size; a match to a filler is a wrong work for a
copy and a false positive for a distractor), then matches every altered copy and every
distractor (JPEG bytes, as a crawler fetches them) with the configuration the product ships
(stage 1 pHash, stage 2 ORB on what stage 1 did not settle) and with pHash alone. Prints a
table and writes ``bench/results/detection.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from bench.imageset import (  # noqa: E402
    ALL_ALTERATIONS,
    HARD_ALTERATIONS,
    WORK_NAMES,
    altered_copies,
    distractors,
    encode,
    load_photo,
)
from bench.report import write_results  # noqa: E402
from matching.image import OrbSignal  # noqa: E402
from matching.match_index import MatchIndex  # noqa: E402
from matching.registry import content_for  # noqa: E402
from matching.signal import ContentRejected, ContentSkipped  # noqa: E402
from matching.stages import (  # noqa: E402
    first_stage_matches,
    first_stage_queries,
    needs_later_stages,
    region_matches,
    registration_fingerprints,
    settle_whole,
)
from swordnet.core.config import Settings  # noqa: E402
from swordnet.core.db import open_database  # noqa: E402
from swordnet.core.models import Work  # noqa: E402
from swordnet.works.image_index import (  # noqa: E402
    LiveMatchIndex,
    index_directory,
    update_index_file,
)

MARGIN_PROBE_INLIERS = 4
RESULTS = Path(__file__).resolve().parent / "results" / "detection.json"
_index: MatchIndex | None = None
_work_ids: dict[int, str] = {}


def _build_index(registry: Path | None = None) -> None:
    """Register every work (all signals, all variants) in this process's index, or load the
    index of the Swordnet home ``registry``."""
    global _index
    if registry is not None:
        database = open_database(_registry_settings(registry), apply_migrations=False)
        with database.session() as session:
            _index = LiveMatchIndex(session, index_directory(registry)).index
            _work_ids.update((work_id, title) for work_id, title
                             in session.execute(select(Work.id, Work.title)))
        database.engine.dispose()
        return
    _index = MatchIndex()
    for work_id, name in enumerate(WORK_NAMES, start=1):
        _work_ids[work_id] = name
        register_photo(_index, work_id, name)


def register_photo(index: MatchIndex, work_id: int, name: str) -> None:
    """Register photograph ``name`` as ``swordnet works add`` would (all signals, variants)."""
    content = encode(load_photo(name), quality=95)
    for algorithm, variant, value in registration_fingerprints("image", content):
        index.add(len(index) + 1, work_id, algorithm, value, variant=variant)


def _registry_settings(home: Path) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{home / 'swordnet.db'}")


def open_registry(home: Path) -> int:
    """Bring the node's index file of the registry at ``home`` up to date (as the first crawl
    worker does), before the workers map it; how many works it holds. Exits with a one-line
    reason if it is not a registry holding the benchmark's works."""
    if not (home / "swordnet.db").is_file():
        raise SystemExit(f"--registry {home}: no swordnet.db there (bench/scale.py builds one)")
    database = open_database(_registry_settings(home), apply_migrations=False)
    with database.session() as session:
        update_index_file(session, index_directory(home))
        titles = set(session.scalars(select(Work.title)))
        works = session.query(Work).count()
    database.engine.dispose()
    missing = sorted(set(WORK_NAMES) - titles)
    if missing:
        raise SystemExit(f"--registry {home}: the benchmark's works are missing ({missing[0]}, "
                         f"...): register them as bench/scale.py does")
    return works


def _classify(job: tuple[str, str | None, bytes]) -> dict[str, object]:
    """Match one image both ways; which works each configuration found, and the time taken.

    The content is decoded once for all stages, as a crawl worker does. Stage times are
    this process's CPU seconds (the machine may be shared: wall time would measure the load);
    the region step (what :func:`matching.stages.settle` does when the whole image matched
    nothing) is timed on its own.
    """
    label, work, raw = job
    assert _index is not None
    content = content_for("image", raw)
    result: dict[str, object] = {"label": label, "work": work, "regions_cpu_s": 0.0,
                                 "regions_ran": False, "in_region": False}
    start = time.process_time()
    try:
        first = first_stage_matches(_index, first_stage_queries("image", content))
    except ContentSkipped:
        result.update(skipped=True, phash=[], two_stage=[], stage2_ran=False,
                      stage1_s=time.process_time() - start, stage2_s=0.0)
        return result
    except ContentRejected as exc:
        raise SystemExit(f"benchmark image {label}/{work} rejected: {exc}") from None
    stage1_s = time.process_time() - start
    found = first
    stage2_s = 0.0
    if needs_later_stages(first):
        start = time.process_time()
        found = settle_whole(_index, "image", content, first)
        stage2_s = time.process_time() - start
        if not found:
            cpu = time.process_time()
            found = region_matches(_index, "image", content)
            result.update(regions_cpu_s=time.process_time() - cpu, regions_ran=True,
                          in_region=bool(found))
    nearest_miss = 0.0
    if work is None and not found:  # how close stage 2 came to a false match (the margin)
        try:
            near = _index.match("orb", OrbSignal.query_value(content),
                                limit=MARGIN_PROBE_INLIERS)
        except ContentSkipped:  # stage 2's own quality gate: it would not have looked
            near = []
        nearest_miss = max((m.score for m in near), default=0.0)
    result.update(skipped=False, phash=[_work_ids[m.work_id] for m in first],
                  two_stage=[_work_ids[m.work_id] for m in found],
                  stage2_ran=needs_later_stages(first),
                  stage1_s=stage1_s, stage2_s=stage2_s,
                  nearest_miss=nearest_miss, stage=found[0].stage if found else None,
                  score=found[0].score if found else None)
    return result


def _jobs(per_work: int, distractor_count: int,  # noqa: ANN202 - generator of job tuples
          alterations: list[str]):
    works = {name: load_photo(name) for name in WORK_NAMES}
    for sample in altered_copies(works, per_work, alterations):
        yield sample.label, sample.work, encode(sample.image)
    for sample in distractors(distractor_count):
        yield sample.label, None, encode(sample.image)


def summarise(rows: list[dict[str, object]], registered: int) -> dict[str, object]:
    """Recall per alteration and false-positive rates for both configurations, against
    ``registered`` works."""
    recall: dict[str, dict[str, float | int]] = {}
    by_alteration: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        if row["work"] is not None:
            by_alteration[str(row["label"])].append(row)
    for alteration in (a for a in ALL_ALTERATIONS if a in by_alteration):
        group = by_alteration[alteration]
        found = {config: sum(row["work"] in row[config] for row in group)  # type: ignore[operator]
                 for config in ("phash", "two_stage")}
        stages = Counter(row["stage"] for row in group if row["work"] in row["two_stage"]  # type: ignore[operator]
                         and not row["in_region"])
        recall[alteration] = {"copies": len(group), "hard": alteration in HARD_ALTERATIONS,
                              "phash": found["phash"] / len(group),
                              "two_stage": found["two_stage"] / len(group),
                              "found_by_stage_2": stages.get(2, 0),
                              "found_in_a_region": sum(
                                  bool(row["in_region"]) and row["work"] in row["two_stage"]  # type: ignore[operator]
                                  for row in group)}
    negatives = [row for row in rows if row["work"] is None]
    wrong_work = {config: sum(bool(set(row[config]) - {row["work"]})  # type: ignore[arg-type]
                              for row in rows if row["work"] is not None)
                  for config in ("phash", "two_stage")}
    false_images = {config: sum(bool(row[config]) for row in negatives)
                    for config in ("phash", "two_stage")}
    false_pairs = {config: sum(len(row[config]) for row in negatives)  # type: ignore[arg-type]
                   for config in ("phash", "two_stage")}
    stage2_rows = [row for row in rows if row["stage2_ran"]]
    region_rows = [row for row in rows if row["regions_ran"]]
    families = Counter(str(row["label"]) for row in negatives)
    return {
        "works": len(WORK_NAMES),
        "registered_works": registered,
        "copies": sum(1 for row in rows if row["work"] is not None),
        "distractors": len(negatives),
        "distractor_families": dict(families),
        "skipped_by_quality_gate": Counter(str(row["label"]) for row in rows if row["skipped"]),
        "recall": recall,
        "mean_recall": {config: sum(r[config] for r in recall.values()) / len(recall)
                        for config in ("phash", "two_stage")},
        "false_positive_images": false_images,
        "false_positive_rate_per_image": {c: n / len(negatives) for c, n in false_images.items()},
        "false_positive_rate_per_pair": {c: n / (len(negatives) * registered)
                                         for c, n in false_pairs.items()},
        "copies_matched_to_a_wrong_work": wrong_work,
        "two_stage_false_positives": [
            {"family": row["label"], "matched": row["two_stage"], "stage": row["stage"],
             "score": row["score"], "in_region": row["in_region"]}
            for row in negatives if row["two_stage"]],
        "most_inliers_on_a_distractor": max(float(r.get("nearest_miss", 0)) for r in negatives),
        "stage2_threshold_inliers": OrbSignal.default_threshold,
        "stage2_share_of_images": len(stage2_rows) / len(rows),
        "mean_stage1_ms": 1000 * sum(float(r["stage1_s"]) for r in rows) / len(rows),  # type: ignore[arg-type]
        "mean_stage2_ms_when_run": 1000 * sum(float(r["stage2_s"]) for r in stage2_rows)  # type: ignore[arg-type]
        / max(1, len(stage2_rows)),
        "region_step_share_of_images": len(region_rows) / len(rows),
        "region_step_cpu_ms_per_image": 1000 * sum(float(r["regions_cpu_s"]) for r in rows)  # type: ignore[arg-type]
        / len(rows),
        "region_step_cpu_ms_per_distractor": 1000 * sum(
            float(r["regions_cpu_s"]) for r in negatives) / len(negatives),  # type: ignore[arg-type]
        "region_step_cpu_ms_when_run": 1000 * sum(float(r["regions_cpu_s"])  # type: ignore[arg-type]
                                                  for r in region_rows) / max(1, len(region_rows)),
    }


def print_table(summary: dict[str, object]) -> None:
    recall = summary["recall"]
    assert isinstance(recall, dict)
    print(f"{'alteration':24} {'copies':>6} {'pHash alone':>12} {'two-stage':>10} "
          f"{'by stage 2':>11} {'in region':>10}  target")
    for alteration, row in recall.items():
        target = 0.9 if row["hard"] else 0.95
        print(f"{alteration:24} {row['copies']:>6} {row['phash']:>12.1%} {row['two_stage']:>10.1%}"
              f" {row['found_by_stage_2']:>11} {row['found_in_a_region']:>10}  >= {target:.0%} "
              f"{'met' if row['two_stage'] >= target else 'MISSED'}")
    mean = summary["mean_recall"]
    assert isinstance(mean, dict)
    print(f"{'mean recall':24} {'':>6} {mean['phash']:>12.1%} {mean['two_stage']:>10.1%}")
    for key in ("distractors", "false_positive_images", "false_positive_rate_per_image",
                "false_positive_rate_per_pair", "copies_matched_to_a_wrong_work",
                "most_inliers_on_a_distractor", "stage2_threshold_inliers",
                "skipped_by_quality_gate", "stage2_share_of_images", "mean_stage1_ms",
                "mean_stage2_ms_when_run", "region_step_share_of_images",
                "region_step_cpu_ms_per_image", "region_step_cpu_ms_per_distractor",
                "region_step_cpu_ms_when_run"):
        print(f"{key}: {summary[key]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-work", type=int, default=3, help="copies per work and alteration")
    parser.add_argument("--distractors", type=int, default=3200)
    parser.add_argument("--alterations", default=",".join(ALL_ALTERATIONS),
                        help="comma-separated subset of: " + ", ".join(ALL_ALTERATIONS))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--registry", type=Path,
                        help="a Swordnet home holding the works among others (bench/scale.py's "
                             "bench/.data/scale/KEY/registry-N) to match against")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    unknown = set(args.alterations.split(",")) - set(ALL_ALTERATIONS)
    if unknown:
        parser.error(f"unknown alteration(s): {', '.join(sorted(unknown))}")
    started = time.time()
    registered = len(WORK_NAMES) if args.registry is None else open_registry(args.registry)
    with ProcessPoolExecutor(args.workers, initializer=_build_index,
                             initargs=(args.registry,)) as pool:
        rows = list(pool.map(_classify, _jobs(args.per_work, args.distractors,
                                                    args.alterations.split(",")), chunksize=8))
    summary = summarise(rows, registered)
    summary["wall_s"] = round(time.time() - started, 1)
    summary["workers"] = args.workers
    print_table(summary)
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
