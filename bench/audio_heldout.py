"""Audio precision on held-out generated music: false hits among pieces bench/audio.py lacks.

Run from the repository root::

    .venv/bin/python bench/audio_heldout.py [--ranges 100600-101800,101800-103000,103000-104200]
                                            [--near-only]

The works are ``bench/audio.py``'s 40 (32 generated pieces of 60 s, seeds 1,000-1,031, and 8
spoken ones), registered alone. Each seed of each range gives a 20 s generated piece (as
``bench/audio.py``'s music distractors, whose seeds are 100,000-100,599), matched against them
at the signal's threshold. Every hit is false. Per range, the table counts the pieces, those
with a line of Chromaprint windows reaching the threshold on some work, those of which a line
also keeps the work's event timing (the onset check), and the final hits.

``--near-only`` matches only the pieces sharing at least two of a work's four chords (in
place, at one of the four rotations) at a tempo within 6% of its, read from the generator's
first draws for the seed: the only ones whose bass and drums can line up with a work's, so
the only ones that reached the onset check in the runs without it (about a third of the
pieces, and a third of the time). Writes ``bench/results/audio_heldout.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.audio import VOICES, ffmpeg_filter, sentences, wav_bytes  # noqa: E402
from bench.audiogen import _MAJOR, _MINOR, _PROGRESSIONS, RATE, music, speech  # noqa: E402
from bench.report import write_results  # noqa: E402
from matching.audio import AudioIndex, AudioPrint, ChromaprintSignal, Line  # noqa: E402
from matching.stages import registration_fingerprints  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "audio_heldout.json"
RANGES = "100600-101800,101800-103000,103000-104200"


class StagedIndex(AudioIndex):
    """An index noting, per query, which works had a line reach the threshold and which a
    line keeping their event timing (the onset check passed: ``onsets_r`` is then set)."""

    def __init__(self) -> None:
        super().__init__()
        self.lined: set[int] = set()
        self.timed: set[int] = set()

    def _passes(self, slot: int, copy: AudioPrint, found: list[Line], number: int) -> bool:
        passed = super()._passes(slot, copy, found, number)
        self.lined.add(slot)
        if passed or "onsets_r" in found[number][1]:
            self.timed.add(slot)
        return passed


def plan(seed: int) -> tuple[tuple[frozenset[int], ...], float]:
    """A generated piece's four chords (pitch classes) and tempo, as bench/audiogen.py draws
    them first from its seed."""
    rng = np.random.default_rng(seed)
    root = int(rng.integers(45, 57))
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    bpm = float(rng.uniform(72, 168))
    chords = tuple(frozenset((root + scale[(degree + k) % 7]) % 12 for k in (0, 2, 4))
                   for degree in progression)
    return chords, bpm


def near(seed: int, works: list[tuple[tuple[frozenset[int], ...], float]]) -> bool:
    """Whether the piece shares two of a work's chords in place at a tempo within 6%."""
    chords, bpm = plan(seed)
    return any(abs(bpm / work_bpm - 1) <= 0.06 and max(
        sum(a == b for a, b in zip(chords, work[r:] + work[:r], strict=True))
        for r in range(4)) >= 2 for work, work_bpm in works)


_INDEX: StagedIndex | None = None


def works_index() -> StagedIndex:
    """bench/audio.py's 40 works, registered once per process."""
    global _INDEX
    if _INDEX is None:
        _INDEX = StagedIndex()
        rng = np.random.default_rng(7)
        for number in range(40):
            samples = music(1000 + number, 60.0) if number < 32 else speech(
                sentences(rng, 40), VOICES[(number - 32) % len(VOICES)], 150)[: 60 * RATE]
            content = ffmpeg_filter(wav_bytes(samples), "-c:a", "flac", suffix=".flac")
            for algorithm, _, value in registration_fingerprints("audio", content):
                if algorithm == ChromaprintSignal.name:
                    _INDEX.add(number, value)
    return _INDEX


def run_range(text: str, near_only: bool) -> dict[str, Any]:
    """One range's counts, and its hits."""
    index, threshold = works_index(), ChromaprintSignal.default_threshold
    works = [plan(1000 + number) for number in range(32)]
    first, last = map(int, text.split("-"))
    row: dict[str, Any] = {"pieces": 0, "chromaprint_matches": 0, "onset_passes": 0,
                           "false_hits": 0, "hits": []}
    for seed in range(first, last):
        if near_only and not near(seed, works):
            continue
        index.lined, index.timed = set(), set()
        found = index.query_detailed(ChromaprintSignal.query_value(
            wav_bytes(music(seed, 20.0))), threshold)
        row["pieces"] += 1
        row["chromaprint_matches"] += bool(index.lined)
        row["onset_passes"] += bool(index.timed)
        row["false_hits"] += bool(found)
        row["hits"] += [{"seed": seed, "work": 1000 + work, "seconds": seconds,
                         **{k: v for k, v in detail.items() if k in (
                             "onsets_r", "pitch_share", "notes_heard")}}
                        for work, seconds, detail in found]
    print(f"{text}: {row}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranges", default=RANGES, help="first-last seeds (last excluded)")
    parser.add_argument("--near-only", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="ranges matched at once")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    ranges = args.ranges.split(",")
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(run_range, ranges, [args.near_only] * len(ranges)))
    table = dict(zip(ranges, rows, strict=True))
    summary = {"works": 40, "piece_seconds": 20.0,
               "threshold_s": ChromaprintSignal.default_threshold,
               "near_only": args.near_only, "ranges": table,
               "total_s": round(time.perf_counter() - started, 1)}
    print(f"\n{'seeds':20} {'pieces':>7} {'chromaprint':>11} {'onsets':>7} {'false hits':>10}")
    for text, row in table.items():
        print(f"{text:20} {row['pieces']:>7} {row['chromaprint_matches']:>11} "
              f"{row['onset_passes']:>7} {row['false_hits']:>10}")
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
