"""Live matching's cost and scores: CPU per segment printed and matched against a 10-minute
reference, and the scores of a restream's segments and of a lawful programme's.

A 10-minute programme is generated (tests/live_media.py), fed into a
:class:`~matching.live.RollingReference` 4 s segment by 4 s segment (each joined to the one
before, as the live service feeds it), and restreamed cropped 10%, with a logo, at 100 kbit/s.
Segments of the restream (at random phases; with its sound, and its picture alone) and of
another programme are then printed and matched. CPU counts this process and its ffmpeg
children. Prints a table and writes bench/results/live_matching.json.

    .venv/bin/python -m bench.live_matching [--media /tmp/swordnet-live-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from matching.live import MATCH_SCORE, NEAR_EXACT_SCORE, RollingReference, print_segment
from tests.live_media import cut, programme, restream, segments

RESULTS = Path(__file__).resolve().parent / "results" / "live_matching.json"
AIRED = 1_800_000_000.0
SEGMENT_S = 4.0


def _cpu() -> float:
    """CPU seconds of this process and its finished children (ffmpeg)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _cached(path: Path, make: Any) -> Path:
    if not path.exists():
        partial = path.with_name(f"partial-{path.name}")
        make(partial).rename(path)
    return path


def run(folder: Path, seconds: float, samples: int, seed: int) -> dict[str, Any]:
    started = time.time()
    official = _cached(folder / f"official-{seconds:g}.mp4",
                       lambda p: programme(p, seconds=seconds, seed=1))
    pirate = _cached(folder / f"pirate-{seconds:g}.mp4",
                     lambda p: restream(official, p, crop=0.1, logo=True, video_bitrate="100k"))
    lawful = _cached(folder / "lawful.mp4", lambda p: programme(p, seconds=120, seed=2))
    parts = [p.read_bytes() for p in segments(official, folder / f"feed-{seconds:g}",
                                              seconds=SEGMENT_S)]
    generate_s = time.time() - started

    reference = RollingReference(seconds + 60)
    before = _cpu()
    reference.add(AIRED, print_segment(parts[0]))
    for k in range(1, len(parts)):
        reference.add(AIRED + (k - 1) * SEGMENT_S, print_segment(parts[k - 1] + parts[k]))
    feed_cpu = (_cpu() - before) / len(parts)

    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict[str, Any]]] = {"restream": [], "picture_only": [], "lawful": []}
    for kind, source, length in (("restream", pirate, seconds), ("picture_only", pirate, seconds),
                                 ("lawful", lawful, 120.0)):
        for at in rng.uniform(1, length - SEGMENT_S - 1, samples):
            content = cut(source, start=float(at), seconds=SEGMENT_S,
                          audio=kind != "picture_only")
            before = _cpu()
            printed = print_segment(content)
            printed_cpu = _cpu() - before
            before = _cpu()
            found = reference.match(printed, AIRED + seconds + 30)
            match_cpu = _cpu() - before
            nearest = found or reference.best(printed, AIRED + seconds + 30)
            score = nearest.score if nearest else 0.0
            delay_error = (abs(found.reference_start - (AIRED + float(at)))
                           if found and kind != "lawful" else None)
            rows[kind].append({"print_cpu_s": printed_cpu, "match_cpu_s": match_cpu,
                               "score": score, "matched": found is not None,
                               "delay_error_s": delay_error})
    return summarise(rows, feed_cpu, seconds, generate_s)


def summarise(rows: dict[str, list[dict[str, Any]]], feed_cpu: float, seconds: float,
              generate_s: float) -> dict[str, Any]:
    every = rows["restream"] + rows["lawful"]  # picture-only segments decode less
    print_cpu = float(np.mean([r["print_cpu_s"] for r in every]))
    match_cpu = float(np.mean([r["match_cpu_s"] for r in every]))
    lawful_scores = [r["score"] for r in rows["lawful"]]
    return {
        "reference_seconds": seconds,
        "segment_seconds": SEGMENT_S,
        "match_score": MATCH_SCORE,
        "near_exact_score": NEAR_EXACT_SCORE,
        "feed_cpu_s_per_segment": round(feed_cpu, 4),
        "print_cpu_s_per_segment": round(print_cpu, 4),
        "match_cpu_s_per_segment": round(match_cpu, 4),
        "checked_segment_cpu_s": round(print_cpu + match_cpu, 4),
        "streams_per_core_at_one_segment_per_30s": round(30 / (print_cpu + match_cpu), 1),
        "restream": _found(rows["restream"]),
        "picture_only": _found(rows["picture_only"]),
        "lawful": {"segments": len(lawful_scores),
                   "matched": sum(r["matched"] for r in rows["lawful"]),
                   "score_max": max(lawful_scores),
                   "score_median": float(np.median(lawful_scores))},
        "generate_s": round(generate_s, 1),
    }


def _found(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scores = [r["score"] for r in rows]
    errors = [r["delay_error_s"] for r in rows if r["delay_error_s"] is not None]
    return {"segments": len(rows), "matched": sum(r["matched"] for r in rows),
            "near_exact": sum(s >= NEAR_EXACT_SCORE for s in scores),
            "score_min": min(scores), "score_median": float(np.median(scores)),
            "delay_error_max_s": round(max(errors), 2) if errors else None}


def print_table(summary: dict[str, Any]) -> None:
    print(f"live matching, {summary['segment_seconds']:g} s segments, "
          f"{summary['reference_seconds']:g} s reference")
    print(f"{'CPU s per segment':<44}{'':>10}")
    for key in ("feed_cpu_s_per_segment", "print_cpu_s_per_segment", "match_cpu_s_per_segment",
                "checked_segment_cpu_s", "streams_per_core_at_one_segment_per_30s"):
        print(f"  {key:<42}{summary[key]:>10}")
    for key, label in (("restream", "restream (crop 10%, logo, 100k)"),
                       ("picture_only", "the same, picture only")):
        row = summary[key]
        print(f"{label}: {row['matched']}/{row['segments']} matched, {row['near_exact']} "
              f"near-exact, score min {row['score_min']:.3f} median "
              f"{row['score_median']:.3f}, delay error max {row['delay_error_max_s']} s")
    lawful = summary["lawful"]
    print(f"lawful programme: {lawful['matched']}/{lawful['segments']} matched, "
          f"score max {lawful['score_max']:.3f} median {lawful['score_median']:.3f} "
          f"(match at {summary['match_score']}, near-exact at {summary['near_exact_score']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="reference length")
    parser.add_argument("--samples", type=int, default=12, help="segments of each kind")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--media", type=Path, default=Path("/tmp/swordnet-live-bench"),
                        help="keep generated media here and reuse it")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.media.mkdir(parents=True, exist_ok=True)
    started = time.time()
    summary = run(args.media, args.seconds, args.samples, args.seed)
    summary["wall_s"] = round(time.time() - started, 1)
    print_table(summary)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
