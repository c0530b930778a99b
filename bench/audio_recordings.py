"""Audio benchmark on real recordings: recall per alteration and false hits on game music.

Run from the repository root (after ``make bench-setup``, which installs the music as root)::

    .venv/bin/python bench/audio_recordings.py [--distractors 1000] [--catalogue 10000]

Works are real music from three Debian packages (section games), each listed with its
licence as its ``/usr/share/doc/PKG/copyright`` gives it (see :data:`PACKAGES`). Of each
package's tracks of 60 s or more (sorted by file name), every other one is registered: its
60 s from 30 s in (from 60 s before its end if shorter than 90 s), as FLAC bytes through
:func:`registration_fingerprints` as ``swordnet works add`` does. The other tracks, and those
under 60 s, are not registered: 20 s clips of them from up to five offsets spread over each
are distractors, a hard test of precision (same composer, instruments and production as the
works). Three pairs of tracks are versions of one piece (a remaster or an earlier
arrangement, :data:`VERSIONS`); a hit on the other version is listed apart, neither as a
false hit nor as a wrong work.

Everything else is ``bench/audio.py``'s: its 12 alterations
(:class:`bench.audio.Alterations`, one held out from the choice of the speaker variant), its
1,000 generated distractors (music, speech, noise, tones, silence) and its synthetic
catalogue of 10,000 three-minute tracks, all in the same index. Writes
``bench/results/audio_recordings.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.audio import RESULTS as GENERATED_RESULTS  # noqa: E402
from bench.audio import (  # noqa: E402
    Alterations,
    add_catalogue,
    by_work,
    distractors,
    ffmpeg_filter,
    match_distractors,
    register,
    sentences,
    wav_bytes,
)
from bench.audiogen import RATE, music, speech  # noqa: E402
from bench.report import write_results  # noqa: E402
from bench.video import write_work  # noqa: E402
from matching.audio import AudioIndex, AudioPrint, ChromaprintSignal  # noqa: E402
from matching.signal import ContentRejected  # noqa: E402
from matching.video import VideoContent  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "audio_recordings.json"
WORK_S = 60.0
WORK_START_S = 30.0
CLIP_S = 20.0
CLIPS_PER_TRACK = 5
CHECKS = ("onsets_r", "pitch_share", "notes_heard")  # what a hit's line passed, if asked


@dataclass(frozen=True)
class Package:
    """A Debian package of music: where its tracks are and its licence."""

    name: str
    folder: str
    pattern: str
    licence: str
    copyright: str


PACKAGES = (
    Package("wesnoth-1.16-music", "/usr/share/games/wesnoth/1.16/data/core/music", "*.ogg",
            "GPL-2+", "2003-2009 David White and the Battle for Wesnoth contributors"),
    Package("warzone2100-music", "/usr/share/games/warzone2100/music", "**/*.opus",
            "GPL-2+", "1999-2004 Eidos Interactive, 2005-2013 Warzone 2100 Project"),
    Package("singularity-music", "/usr/share/games/singularity/music", "**/*.ogg",
            "CC-BY-SA-3.0", "2007-2008, 2012 Max McCracken"),
)
# tracks that are versions of one piece (a remaster, an earlier arrangement): a hit on the
# other version is neither a copy found nor a false hit, and is listed apart
VERSIONS = (
    frozenset({"wesnoth-1.16-music:frantic-old.ogg", "wesnoth-1.16-music:frantic.ogg"}),
    frozenset({"warzone2100-music:albums/aftermath_soundtrack/menu_enhanced.opus",
               "warzone2100-music:menu.opus"}),
    frozenset({"warzone2100-music:albums/aftermath_soundtrack/track3_enhanced.opus",
               "warzone2100-music:albums/original_soundtrack/track3.opus"}),
)


@dataclass(frozen=True)
class Track:
    """One recording of a package: its path relative to the package folder and length."""

    package: Package
    name: str
    seconds: float

    @property
    def path(self) -> Path:
        return Path(self.package.folder) / self.name

    def label(self) -> str:
        return f"{self.package.name}:{self.name}"

    def versions(self) -> frozenset[str]:
        """Labels of the other versions of this track's piece."""
        return next((pair - {self.label()} for pair in VERSIONS if self.label() in pair),
                    frozenset())


def duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "csv=p=0", str(path)], check=True, capture_output=True)
    return float(out.stdout)


def tracks() -> list[Track]:
    """Every installed package's recordings, in package then file-name order."""
    found = []
    for package in PACKAGES:
        folder = Path(package.folder)
        for path in sorted(folder.glob(package.pattern)):
            found.append(Track(package, str(path.relative_to(folder)), duration(path)))
    return found


def split(found: list[Track]) -> tuple[list[Track], list[Track]]:
    """(works, unregistered): every other track of 60 s or more of each package is a work."""
    works, others = [], []
    for package in PACKAGES:
        long = [t for t in found if t.package == package and t.seconds >= WORK_S]
        works += long[::2]
        others += long[1::2] + [t for t in found if t.package == package
                                and t.seconds < WORK_S]
    return works, others


def clip(path: Path, start: float, seconds: float) -> np.ndarray:
    """``seconds`` of ``path`` from ``start``, mono float samples at the benches' rate."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", f"{start:.2f}",
                          "-t", f"{seconds:.2f}", "-i", str(path), "-ac", "1", "-ar",
                          str(RATE), "-f", "s16le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768


def work_start(track: Track) -> float:
    return max(0.0, min(WORK_START_S, track.seconds - WORK_S))


def clip_starts(track: Track) -> list[float]:
    """Up to :data:`CLIPS_PER_TRACK` offsets spread over the track (one if it is short)."""
    last = track.seconds - CLIP_S
    if last <= 0:
        return [0.0]
    return sorted({round(float(s), 1) for s in np.linspace(0, last, CLIPS_PER_TRACK)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--distractors", type=int, default=1000,
                        help="bench/audio.py's generated distractors")
    parser.add_argument("--catalogue", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    threshold = ChromaprintSignal.default_threshold
    missing = [p.name for p in PACKAGES if not Path(p.folder).is_dir()]
    if missing:
        print(f"note: {', '.join(missing)} not installed; bench/audio_recordings.py needs: "
              f"sudo apt-get install {' '.join(missing)} (or sudo make bench-setup)")
        return

    found = tracks()
    works, others = split(found)
    print(f"{len(found)} tracks: {len(works)} works, {len(others)} unregistered", flush=True)
    print("registering ...", flush=True)
    index = AudioIndex()
    samples = []
    variants = 0
    for number, track in enumerate(works):
        samples.append(clip(track.path, work_start(track), WORK_S))
        content = ffmpeg_filter(wav_bytes(samples[-1]), "-c:a", "flac", suffix=".flac")
        variants = max(variants, register(index, number, content))

    print("making the catalogue ...", flush=True)
    sources = [ChromaprintSignal.query_value(wav_bytes(music(500_000 + i, 40.0))).items
               for i in range(40)]
    add_catalogue(index, args.catalogue, variants, sources)

    with tempfile.TemporaryDirectory() as folder:
        backdrop = write_work(Path(folder) / "backdrop.mp4", 4040, WORK_S + 1, 5, (160, 96))
        voice = speech(sentences(np.random.default_rng(5), 30), "en-us", 170)
        alterations = Alterations(backdrop, voice)
        print("matching copies ...", flush=True)
        versions: list[dict[str, Any]] = []
        rows, misses, wrong = match_copies(index, works, samples, alterations, threshold,
                                           versions)

    print("matching distractors ...", flush=True)
    real_hits, real_counts, real_refused = match_real_distractors(index, works, others,
                                                                  threshold, versions)
    generated_hits, generated_refused = match_distractors(
        index, distractors(args.distractors, CLIP_S), threshold)

    summary = {
        "packages": [{"package": p.name, "licence": p.licence, "copyright": p.copyright,
                      "copyright_file": f"/usr/share/doc/{p.name}/copyright",
                      "tracks": sum(t.package == p for t in found),
                      "works": sum(t.package == p for t in works)} for p in PACKAGES],
        "works": [{"number": n, "package": t.package.name, "track": t.name,
                   "licence": t.package.licence, "track_s": round(t.seconds, 1),
                   "registered_from_s": round(work_start(t), 1),
                   "registered_s": round(len(samples[n]) / RATE, 1)}
                  for n, t in enumerate(works)],
        "threshold_s": threshold,
        "alterations": table(rows),
        "misses": misses,
        "wrong_work": wrong,
        "real_distractors": real_counts,
        "real_distractors_refused": real_refused,
        "real_distractor_false_hits": real_hits,
        "other_versions": versions,
        "generated_distractors": args.distractors,
        "generated_distractor_false_hits": generated_hits,
        "generated_distractors_refused": generated_refused,
        "catalogue_tracks": len(works) + args.catalogue,
        "index_entries": len(index),
        "total_s": round(time.perf_counter() - started, 1),
    }
    report(summary)
    write_results(args.output, summary)


def match_copies(index: AudioIndex, works: list[Track], samples: list[np.ndarray],
                 alterations: Alterations, threshold: float, versions: list[dict[str, Any]]
                 ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Each work's 11 altered copies matched: per-alteration rows, the misses (with the
    work's best scores, see :func:`best_scores`) and the hits on a wrong work; hits on
    another version of the work go to ``versions``."""
    rows: dict[str, dict[str, Any]] = {}
    misses, wrong = [], []
    for number, (track, work) in enumerate(zip(works, samples, strict=True)):
        for name, (content, copy_kind, start) in alterations.all(work, number).items():
            row = rows.setdefault(name, {"copies": 0, "found": 0, "wrong_work": 0,
                                         "offset_errors": [], "scores": [], "by_package": {}})
            shared = VideoContent(content) if copy_kind == "video" else content
            query = ChromaprintSignal.query_value(shared)
            found = by_work(index.query_detailed(query, threshold))
            row["copies"] += 1
            package_row = row["by_package"].setdefault(track.package.name, [0, 0])
            package_row[0] += 1
            right = [f for f in found if f[0] == number]
            for other, score, _ in (f for f in found if f[0] != number):
                matched = works[other].label() if other < len(works) else f"catalogue {other}"
                hit = {"track": track.label(), "alteration": name, "matched": matched,
                       "score_s": round(score, 1)}
                if matched in track.versions():
                    versions.append(hit)
                else:
                    row["wrong_work"] += 1
                    wrong.append(hit)
            if right:
                row["found"] += 1
                package_row[1] += 1
                row["scores"].append(right[0][1])
                if start is not None:
                    row["offset_errors"].append(abs(right[0][2]["offset_s"] - start))
            else:
                misses.append({"track": track.label(), "alteration": name,
                               **best_scores(index, query, number)})
    return rows, misses, wrong


def best_scores(index: AudioIndex, query: AudioPrint, number: int) -> dict[str, Any]:
    """Work ``number``'s best score for a copy it missed, at any length: as matched
    (``score_s``) and on Chromaprint and band bits alone, without the onset and pitch checks
    (``chromaprint_only_s``); None where no line was found."""
    plain = replace(query, onsets=None, pitch=None, levels=None)
    scores: dict[str, Any] = {}
    for key, value in (("score_s", query), ("chromaprint_only_s", plain)):
        found = [f[1] for f in by_work(index.query_detailed(value, 0)) if f[0] == number]
        scores[key] = round(found[0], 1) if found else None
    return scores


def match_real_distractors(index: AudioIndex, works: list[Track], others: list[Track],
                           threshold: float, versions: list[dict[str, Any]]
                           ) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """20 s clips of the unregistered tracks matched: the false hits, and the clips
    matched and refused per package. Clips of another version of a work are matched too but
    not counted; what they match of it goes to ``versions``."""
    registered = {t.label(): n for n, t in enumerate(works)}
    hits = []
    counts: dict[str, int] = {}
    refused: dict[str, int] = {}
    for track in others:
        version_of = [registered[v] for v in track.versions() if v in registered]
        for start in clip_starts(track):
            content = wav_bytes(clip(track.path, start, CLIP_S))
            where = f"{track.label()} at {start:.0f} s"
            try:
                query = ChromaprintSignal.query_value(content)
            except ContentRejected:
                refused[track.package.name] = refused.get(track.package.name, 0) + 1
                continue
            found = by_work(index.query_detailed(query, threshold))
            if version_of:
                versions.append({"track": where, "alteration": "20 s clip",
                                 "matched": works[version_of[0]].label(),
                                 "score_s": next((round(f[1], 1) for f in found
                                                  if f[0] == version_of[0]), None)})
                found = [f for f in found if f[0] not in version_of]
            else:
                counts[track.package.name] = counts.get(track.package.name, 0) + 1
            for number, score, detail in found:
                hits.append({"clip": where, "matched": works[number].label()
                             if number < len(works) else f"catalogue {number}",
                             "score_s": round(score, 1), "work_range": detail.get("work_range"),
                             **{k: detail[k] for k in CHECKS if k in detail}})
    return hits, counts, refused


def table(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, row in rows.items():
        worst = max(row["offset_errors"], default=None)
        out[name] = {"copies": row["copies"], "recall": round(row["found"] / row["copies"], 3),
                     "by_package": {k: f"{v[1]}/{v[0]}" for k, v in row["by_package"].items()},
                     "wrong_work": row["wrong_work"],
                     "max_offset_error_s": None if worst is None else round(worst, 2),
                     "min_score_found_s": round(min(row["scores"]), 1) if row["scores"]
                     else None}
    return out


def report(summary: dict[str, Any]) -> None:
    """Print the works and their licences, the table (beside bench/audio.py's generated
    music, from its last results) and the distractors' false hits."""
    generated: dict[str, Any] = {}
    if GENERATED_RESULTS.exists():
        generated = json.loads(GENERATED_RESULTS.read_text())["alterations"]
    print()
    print(f"{'package':20} {'licence':13} {'tracks':>6} {'works':>5}")
    for p in summary["packages"]:
        print(f"{p['package']:20} {p['licence']:13} {p['tracks']:>6} {p['works']:>5}")
    print("works: " + ", ".join(f"{w['number']} {w['track']}" for w in summary["works"]))
    print()
    print(f"{'alteration':22} {'recall':>7} {'(generated music)':>17} {'wrong':>5} "
          f"{'max offset err':>14} {'weakest found':>13}")
    for name, row in summary["alterations"].items():
        worst, weakest = row["max_offset_error_s"], row["min_score_found_s"]
        gen = generated.get(name, {}).get("by_kind", {}).get("music", "-")
        print(f"{name:22} {row['recall']:>7.1%} {gen:>17} {row['wrong_work']:>5} "
              f"{'-' if worst is None else f'{worst:.2f} s':>14} "
              f"{'-' if weakest is None else f'{weakest:.1f} s':>13}")
    for miss in summary["misses"]:
        print(f"missed: {miss['track']} ({miss['alteration']}): best score "
              f"{miss['score_s']} s, {miss['chromaprint_only_s']} s without the onset and "
              "pitch checks")
    for hit in summary["wrong_work"]:
        print(f"wrong work: {hit['track']} ({hit['alteration']}) -> {hit['matched']} "
              f"{hit['score_s']} s")
    real = sum(summary["real_distractors"].values())
    print(f"real distractors: {real} clips of unregistered tracks "
          f"{json.dumps(summary['real_distractors'])}, refused "
          f"{json.dumps(summary['real_distractors_refused'])}, "
          f"false hits {len(summary['real_distractor_false_hits'])}")
    for hit in summary["real_distractor_false_hits"]:
        checks = ", ".join(f"{k} {hit[k]}" for k in CHECKS if k in hit)
        print(f"  false hit: {hit['clip']} -> {hit['matched']} {hit['score_s']} s "
              f"(work {hit['work_range']}; {checks})")
    for version in summary["other_versions"]:
        print(f"other version: {version['track']} ({version['alteration']}) -> "
              f"{version['matched']} {version['score_s']} s")
    print(f"generated distractors: {summary['generated_distractors']} clips, false hits "
          f"{sum(summary['generated_distractor_false_hits'].values())} "
          f"{json.dumps(summary['generated_distractor_false_hits'])}, refused "
          f"{json.dumps(summary['generated_distractors_refused'])}")
    print(f"index: {summary['catalogue_tracks']:,} tracks ({summary['index_entries']:,} "
          f"entries, variants included); whole run {summary['total_s']:.0f} s")


if __name__ == "__main__":
    main()
