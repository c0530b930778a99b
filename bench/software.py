"""Software benchmark: recall per alteration and false hits of the SHA-256 and TLSH signals.

Run from the repository root::

    .venv/bin/python bench/software.py [--works 36] [--archives 12] [--unrelated 400]

Real ELF binaries of this machine (``/usr/bin``, ``/usr/sbin``, ``/usr/lib``) and of the
virtualenv's site-packages, grouped by where they come from: the Debian source package (from
dpkg's file lists) or the Python distribution, and by library name (``libz.so.1`` and a
wheel's vendored ``libz-1a2b3c.so.1`` are one family). Registered works are one binary per
group plus zip "releases" of three binaries each from further groups, registered exactly as
``swordnet works add --kind software`` does. Copies are exact, repacked (bytes patched, version
strings and banners changed, an overlay appended, all three), altered harder (random data
inserted mid-file, 2% of the bytes patched; and, to show where TLSH stops, 10% patched and
25% inserted), zipped and re-zipped (other names, compression
level and member order, extra files). Unrelated content is every other
binary of groups and families no work comes from (plus zips of them), so a hit there is a
false one. Each copy is matched as a crawl does (stage 1, both signals, default thresholds);
a threshold sweep over TLSH shows the margin. The TLSH index's cost is measured at 100,000
random digests. Prints tables and writes ``bench/results/software.json``.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
import os
import platform
import random
import re
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_results  # noqa: E402
from matching.match_index import MatchIndex  # noqa: E402
from matching.software import TlshSignal  # noqa: E402
from matching.stages import (  # noqa: E402
    first_stage_matches,
    first_stage_queries,
    registration_fingerprints,
)

RESULTS = Path(__file__).resolve().parent / "results" / "software.json"
SYSTEM_DIRS = ("/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/lib")
MIN_BYTES, MAX_BYTES = 16 * 1024, 8 * 1024 * 1024
SWEEP = (20, 30, 40, 50, 60, 70, 80, 100, 120)
VERSION = re.compile(rb"\d+\.\d+(?:\.\d+)+")
PRINTABLE = re.compile(rb"[A-Za-z][ -~]{11,}")
ALTERATIONS = ("exact", "patched bytes", "version strings", "overlay 10%", "overlay 50%",
               "repacked (all three)", "inserted 5%", "heavily patched 2%",
               "patched 10% (limit)", "inserted 25% (limit)", "zipped",
               "zipped repacked", "release exact", "release re-zipped", "release member alone",
               "release patched member")


def _dpkg_sources() -> dict[str, str]:
    """Installed file -> Debian source package ({} without dpkg)."""
    try:
        listing = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${source:Package}\n"],
                                 capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    source = dict(line.split()[:2] for line in listing.splitlines() if len(line.split()) >= 2)
    owners = {}
    for path in glob.glob("/var/lib/dpkg/info/*.list"):
        package = Path(path).stem.split(":")[0]
        with open(path, errors="replace") as listed:
            for line in listed:
                owners[line.rstrip("\n")] = source.get(package, package)
    return owners


def family(path: Path) -> str:
    """A library's or program's name without version or a wheel's hash: ``libz``, ``ls``."""
    name = path.name.split(".so")[0].split(".cpython")[0]
    return re.sub(r"-[0-9a-f]{8}$", "", name).lower()


def collect_binaries() -> list[tuple[Path, str, str]]:
    """``(path, group, family)`` of distinct ELF files of a useful size, in a stable order."""
    owners = _dpkg_sources()
    site = Path(sys.prefix) / "lib"
    candidates = [(Path(e.path), "system") for d in SYSTEM_DIRS if os.path.isdir(d)
                  for e in os.scandir(d) if e.is_file(follow_symlinks=False)]
    candidates += [(Path(p), "venv") for p in glob.glob(f"{site}/**/*.so*", recursive=True)]
    seen: set[str] = set()
    found = []
    for path, origin in sorted(candidates):
        try:
            if not MIN_BYTES <= path.stat().st_size <= MAX_BYTES or path.is_symlink():
                continue
            data = path.read_bytes()
        except OSError:
            continue
        digest = hashlib.sha256(data).hexdigest()
        if not data.startswith(b"\x7fELF") or digest in seen:
            continue
        seen.add(digest)
        if origin == "venv":
            group = "py:" + path.relative_to(site).parts[2].split(".")[0].split("-")[0].lower()
        else:
            text = str(path)
            aliases = (text, re.sub(r"^/usr/(bin|sbin|lib)", r"/\1", text))
            group = next((owners[a] for a in aliases if a in owners), "unowned:" + family(path))
        found.append((path, group, family(path)))
    return found


# --- alterations ---------------------------------------------------------------------------


def patch_bytes(data: bytes, rng: random.Random, patches: int = 32) -> bytes:
    """A crack's kind of edit: ``patches`` runs of 4 bytes overwritten in the code and data
    (the middle 10-80% of the file, away from the headers and the section table)."""
    out = bytearray(data)
    for _ in range(patches):
        at = rng.randrange(len(out) // 10, len(out) * 8 // 10)
        out[at : at + 4] = rng.randbytes(4)
    return bytes(out)


def change_strings(data: bytes, rng: random.Random) -> bytes:
    """Every version number's digits changed, and a few readable strings overwritten."""
    out = bytearray(VERSION.sub(lambda m: bytes(b if not 48 <= b <= 57 else 48 + (b - 47) % 10
                                                for b in m[0]), data))
    strings = list(PRINTABLE.finditer(data))
    for match in rng.sample(strings, min(4, len(strings))):
        banner = b"Repacked by FitGirl - free download "
        out[match.start() : match.end()] = (banner * 8)[: match.end() - match.start()]
    return bytes(out)


def overlay(data: bytes, rng: random.Random, share: float) -> bytes:
    return data + rng.randbytes(max(4096, int(len(data) * share)))


def insert(data: bytes, rng: random.Random, share: float) -> bytes:
    """Random bytes inserted in the middle: everything after moves (an added resource)."""
    at = len(data) // 2
    return data[:at] + rng.randbytes(int(len(data) * share)) + data[at:]


def zipped(members: list[tuple[str, bytes]], level: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def readme(title: str) -> bytes:
    return (f"{title}\n\nInstall: unpack and run setup. Licence: see LICENSE.\n" * 40).encode()


# --- benchmark -------------------------------------------------------------------------------


def build(args: argparse.Namespace) -> dict[str, object]:
    rng = random.Random(args.seed)
    binaries = collect_binaries()
    by_group: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    for path, group, fam in binaries:
        by_group[group].append((path, fam))
    groups = sorted(by_group, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    picks = iter((g, rng.choice(by_group[g])) for g in groups)
    works = [next(picks) for _ in range(args.works)]
    releases = [[next(picks) for _ in range(3)] for _ in range(args.archives)]
    used_groups = {g for g, _ in works} | {g for r in releases for g, _ in r}
    used_families = {fam for _, (_, fam) in works} | {fam for r in releases for _, (_, fam) in r}
    pool = [path for path, group, fam in binaries
            if group not in used_groups and fam not in used_families]
    rng.shuffle(pool)
    unrelated_paths = pool[: args.unrelated]

    index = MatchIndex()
    names: dict[int, str] = {}
    register_s = 0.0
    registered_bytes = 0

    def register(work_id: int, content: bytes, name: str) -> None:
        nonlocal registered_bytes, register_s
        names[work_id] = name
        registered_bytes += len(content)
        started = time.perf_counter()
        for algorithm, variant, value in registration_fingerprints("software", content):
            index.add(len(index) + 1, work_id, algorithm, value, variant=variant)
        register_s += time.perf_counter() - started

    copies: list[tuple[str, int, bytes, str | None]] = []  # alteration, work, content, member
    for work_id, (_, (path, _)) in enumerate(works, start=1):
        data = path.read_bytes()
        register(work_id, data, str(path))
        repacked = overlay(change_strings(patch_bytes(data, rng), rng), rng, 0.10)
        extra = [("readme.txt", readme(path.name)), (f"{path.name}.nfo", rng.randbytes(2048))]
        copies += [
            ("exact", work_id, data, None),
            ("patched bytes", work_id, patch_bytes(data, rng), None),
            ("version strings", work_id, change_strings(data, rng), None),
            ("overlay 10%", work_id, overlay(data, rng, 0.10), None),
            ("overlay 50%", work_id, overlay(data, rng, 0.50), None),
            ("repacked (all three)", work_id, repacked, None),
            ("inserted 5%", work_id, insert(data, rng, 0.05), None),
            ("heavily patched 2%", work_id, patch_bytes(data, rng, len(data) // 200), None),
            ("patched 10% (limit)", work_id, patch_bytes(data, rng, len(data) // 40), None),
            ("inserted 25% (limit)", work_id, insert(data, rng, 0.25), None),
            ("zipped", work_id, zipped([*extra, ("bin/tool", data)], 6), "bin/tool"),
            ("zipped repacked", work_id, zipped([("tool-cracked", repacked), *extra], 9),
             "tool-cracked"),
        ]
    first_release = len(works) + 1
    for work_id, release in enumerate(releases, start=first_release):
        members = [(f"app/{path.name}", path.read_bytes()) for _, (path, _) in release]
        members.append(("README.txt", readme(f"release {work_id}")))
        original = zipped(members, 6)
        register(work_id, original, f"release-{work_id}.zip")
        name, data = members[0]
        renamed = [(f"Game.v2-RELOADED/{n.split('/')[-1].upper()}", d) for n, d in members]
        extras = [("crack/steam_api.ini", readme("crack")), ("NFO.txt", rng.randbytes(4096))]
        copies += [
            ("release exact", work_id, original, None),
            ("release re-zipped", work_id, zipped(extras + renamed[::-1], 9), None),
            ("release member alone", work_id, data, None),
            ("release patched member", work_id,
             zipped([("GAME.BIN", patch_bytes(data, rng)), *extras], 1), "GAME.BIN"),
        ]

    unrelated: list[tuple[str, bytes]] = [(str(p), p.read_bytes()) for p in unrelated_paths]
    for at in range(0, min(len(unrelated_paths), 3 * args.unrelated_zips), 3):
        trio = unrelated[at : at + 3]
        unrelated.append((f"zip of {len(trio)} unrelated",
                          zipped([(Path(n).name, d) for n, d in trio], 6)))

    rows = []
    for label, work_id, content, member in copies:
        rows.append(classify(index, label, work_id, content, member))
    for label, content in unrelated:
        rows.append(classify(index, "unrelated", None, content, None, source=label))
    return summarise(rows, names, works, releases, len(index), register_s, registered_bytes)


def index_timing(entries: int, seed: int) -> dict[str, float]:
    """TLSH index cost at ``entries`` random digests: bulk load, and a query line at the
    default threshold with lengths spread out and (the worst case) all alike."""
    rng = random.Random(seed)
    timing = {}
    for spread in (True, False):
        digests = ["T1" + rng.randbytes(1).hex().upper()
                   + (rng.randbytes(1).hex().upper() if spread else "A1")
                   + rng.randbytes(33).hex().upper() for _ in range(entries)]
        index = TlshSignal.new_index()
        started = time.perf_counter()
        index.extend(list(enumerate(digests)))
        timing["load_s" if spread else "load_s_same_length"] = round(
            time.perf_counter() - started, 2)
        started = time.perf_counter()
        for digest in digests[:200]:
            index.query(digest, TlshSignal.default_threshold)
        timing["query_ms" if spread else "query_ms_same_length"] = round(
            (time.perf_counter() - started) * 5, 2)
    return timing


def classify(index: MatchIndex, label: str, work_id: int | None, content: bytes,
             member: str | None, source: str | None = None) -> dict[str, object]:
    """Match one copy as a crawl does; which works each signal found, how close TLSH came."""
    start = time.perf_counter()
    values = first_stage_queries("software", content)
    fingerprint_s = time.perf_counter() - start
    start = time.perf_counter()
    matches = first_stage_matches(index, values)
    match_s = time.perf_counter() - start
    near = index.match("tlsh", values["tlsh"], limit=max(SWEEP)) if values["tlsh"] else []
    nearest = {m.work_id: m for m in near}
    row: dict[str, object] = {
        "label": label, "work": work_id, "bytes": len(content), "source": source,
        "sha256": sorted({m.work_id for m in matches if m.algorithm == "sha256"}),
        "tlsh": sorted({m.work_id for m in matches if m.algorithm == "tlsh"}),
        "fingerprint_s": fingerprint_s, "match_s": match_s,
        # the TLSH distance to the right work (copies) or to the nearest work (unrelated)
        "tlsh_distance": (nearest[work_id].score if work_id in nearest else None)
        if work_id is not None else min((m.score for m in near), default=None),
        "details": [m.detail for m in matches if m.work_id == work_id],
    }
    if member is not None:  # the copy's member must be named
        row["member_named"] = any(d.get("copy_member") == member for d in row["details"])  # type: ignore[union-attr]
    return row


def summarise(rows: list[dict[str, object]], names: dict[int, str], works: list, releases: list,
              fingerprints: int, register_s: float, registered_bytes: int) -> dict[str, object]:
    recall: dict[str, dict[str, object]] = {}
    for alteration in ALTERATIONS:
        group = [r for r in rows if r["label"] == alteration]
        found = {s: sum(r["work"] in r[s] for r in group) for s in ("sha256", "tlsh")}  # type: ignore[operator]
        both = sum(r["work"] in r["sha256"] or r["work"] in r["tlsh"] for r in group)  # type: ignore[operator]
        distances = [float(r["tlsh_distance"]) for r in group if r["tlsh_distance"] is not None]  # type: ignore[arg-type]
        named = [r["member_named"] for r in group if "member_named" in r]
        recall[alteration] = {
            "copies": len(group), "sha256": found["sha256"] / len(group),
            "tlsh": found["tlsh"] / len(group), "either": both / len(group),
            "tlsh_max_distance": max(distances, default=None),
            "tlsh_within_sweep": len(distances),
            "member_named": (sum(named) / len(named)) if named else None,
        }
    copies = [r for r in rows if r["work"] is not None]
    negatives = [r for r in rows if r["work"] is None]
    negative_distances = sorted(float(r["tlsh_distance"]) for r in negatives  # type: ignore[arg-type]
                                if r["tlsh_distance"] is not None)
    # Calibration: the copies TLSH is meant for (in scope, not exact copies SHA-256 finds)
    altered = [r for r in copies if r["work"] not in r["sha256"]  # type: ignore[operator]
               and not str(r["label"]).endswith("(limit)")]
    altered_distances = sorted(float(r["tlsh_distance"]) if r["tlsh_distance"] is not None  # type: ignore[arg-type]
                               else float("inf") for r in altered)
    sweep = {}
    for threshold in SWEEP:
        sweep[str(threshold)] = {
            "tlsh_recall_altered": sum(d <= threshold for d in altered_distances)
            / len(altered_distances),
            "unrelated_within": sum(d <= threshold for d in negative_distances)}
    false_hits = [{"source": r["source"], "works": [names[w] for w in {*r["sha256"], *r["tlsh"]}],  # type: ignore[misc]
                   "tlsh_distance": r["tlsh_distance"]}
                  for r in negatives if r["sha256"] or r["tlsh"]]
    wrong = sum(bool(({*r["sha256"], *r["tlsh"]}) - {r["work"]}) for r in copies)  # type: ignore[misc]
    total_bytes = sum(int(r["bytes"]) for r in rows)  # type: ignore[call-overload]
    return {
        "works": len(works), "release_archives": len(releases),
        "registered_fingerprints": fingerprints,
        "copies": len(copies), "unrelated": len(negatives),
        "unrelated_zips": sum(1 for r in negatives if str(r["source"]).startswith("zip of")),
        "tlsh_threshold": TlshSignal.default_threshold,
        "recall": recall,
        "false_hits": len(false_hits), "false_hit_detail": false_hits,
        "copies_matched_to_a_wrong_work": wrong,
        "nearest_unrelated_tlsh": negative_distances[:5],
        "altered_copies_in_scope": len(altered_distances),
        "altered_tlsh_distance_percentiles": {
            str(q): altered_distances[min(len(altered_distances) - 1,
                                          int(q / 100 * len(altered_distances)))]
            for q in (50, 90, 95, 99)} | {"max": altered_distances[-1]},
        "tlsh_sweep": sweep,
        "register_mb_per_s": round(registered_bytes / 2**20 / register_s, 1),
        "fingerprint_mb_per_s": round(total_bytes / 2**20
                                      / sum(float(r["fingerprint_s"]) for r in rows), 1),  # type: ignore[arg-type]
        "mean_fingerprint_ms": round(1000 * sum(float(r["fingerprint_s"]) for r in rows)  # type: ignore[arg-type]
                                     / len(rows), 2),
        "mean_match_ms": round(1000 * sum(float(r["match_s"]) for r in rows) / len(rows), 3),  # type: ignore[arg-type]
        "mean_bytes": round(total_bytes / len(rows)),
        "cpu": platform.machine(), "cores_used": 1,
    }


def print_table(summary: dict[str, object]) -> None:
    recall = summary["recall"]
    assert isinstance(recall, dict)
    print(f"{'alteration':24} {'copies':>6} {'sha256':>7} {'tlsh':>7} {'either':>7} "
          f"{'tlsh max':>9} {'member named':>13}")
    for alteration, row in recall.items():
        distance = "-" if row["tlsh_max_distance"] is None else f"{row['tlsh_max_distance']:g}"
        if row["tlsh_within_sweep"] < row["copies"]:
            distance += f" ({row['copies'] - row['tlsh_within_sweep']}>{max(SWEEP)})"
        named = "-" if row["member_named"] is None else f"{row['member_named']:.0%}"
        print(f"{alteration:24} {row['copies']:>6} {row['sha256']:>7.1%} {row['tlsh']:>7.1%} "
              f"{row['either']:>7.1%} {distance:>9} {named:>13}")
    print(f"\n{'TLSH threshold':>14} {'recall (altered copies)':>24} {'unrelated within':>17}")
    sweep = summary["tlsh_sweep"]
    assert isinstance(sweep, dict)
    for threshold, row in sweep.items():
        print(f"{threshold:>14} {row['tlsh_recall_altered']:>24.1%} "
              f"{row['unrelated_within']:>17}")
    for key in ("works", "release_archives", "registered_fingerprints", "copies", "unrelated",
                "unrelated_zips",
                "tlsh_threshold", "false_hits", "copies_matched_to_a_wrong_work",
                "nearest_unrelated_tlsh", "altered_copies_in_scope",
                "altered_tlsh_distance_percentiles", "register_mb_per_s", "fingerprint_mb_per_s",
                "mean_fingerprint_ms", "mean_match_ms", "mean_bytes", "tlsh_index_100k",
                "wall_s"):
        print(f"{key}: {summary[key]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--works", type=int, default=36, help="binaries registered as works")
    parser.add_argument("--archives", type=int, default=12, help="zip releases registered")
    parser.add_argument("--unrelated", type=int, default=400, help="unrelated binaries")
    parser.add_argument("--unrelated-zips", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    started = time.time()
    summary = build(args)
    summary["tlsh_index_100k"] = index_timing(100_000, args.seed)
    summary["wall_s"] = round(time.time() - started, 1)
    print_table(summary)
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
