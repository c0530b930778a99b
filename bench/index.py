"""Benchmark of the Hamming index (numpy multi-index hashing) against numpy and FAISS.

Run from the repository root::

    .venv/bin/python bench/index.py [--sizes 1e5,1e6,1e7] [--queries 1000] [--real-size 1e6]

Everything runs on one core (thread pools set to one thread, the process pinned to one CPU).
Per size N: random 64-bit hashes with near-duplicates planted at 1-12 bits from every query,
then radius-8 and radius-12 queries, timed in batch (``query_many``) and one by one
(``query``), against a numpy brute force (XOR + popcount) and FAISS ``IndexBinaryFlat``
(exhaustive, single-threaded), and FAISS ``IndexBinaryMultiHash`` (the same technique,
multi-index hashing, in C++: 3, 4 or 5 tables of 64 // tables bits, probing
radius // tables bit flips per table so it is exact too; the fastest configuration per
radius is reported, timed on the first 200 queries). Build time, resident memory added by
the build, and recall against the brute force are reported for all three. Results are
checked against the brute force; above 1e6 entries only on the first 100 queries (the brute
force is slow there). Then the same at ``--real-size``
with over 20,000 real pHashes (variants of generated artworks and scikit-image's photos, so
clustered like real registrations) mixed in, queried with unseen variants of the same images.
Writes ``bench/results/index.json``. Timings are the best of ``--repeat`` runs.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image, ImageEnhance  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matching.hamming import HammingIndex  # noqa: E402
from matching.image import PHashSignal  # noqa: E402
from swordnet.demo.samples import artwork  # noqa: E402

RADII = (8, 12)
PLANTED_PER_QUERY = 4
SINGLE_QUERIES = 200  # the one-by-one rate is measured on this many queries
MULTIHASH_QUERIES = 200  # FAISS IndexBinaryMultiHash is timed on this many queries
MULTIHASH_TABLES = (3, 4, 5)  # its configurations: this many tables of 64 // tables bits
FULL_CHECK_MAX = 10**6  # above this size, results are checked on CHECKED_QUERIES only
CHECKED_QUERIES = 100
ADDS = 100
DELTA_LIMIT = 4096  # HammingIndex's default
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "page", "text",
          "clock", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "cat", "retina",
          "brick", "grass", "gravel", "colorwheel", "cell")
TARGETS = {"bytes_per_entry": 64, "faiss_speedup_r8": 50, "faiss_speedup_r12": 5,
           "add_max_ms": 10}


@dataclass
class Dataset:
    name: str
    codes: np.ndarray  # uint64, ids are positions
    queries: np.ndarray  # uint64


def best_time(run: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` wall-clock timings of ``run``, in seconds."""
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings)


def flip_bits(rng: np.random.Generator, codes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each code with ``counts[i]`` distinct random bits flipped."""
    rank = rng.random((len(codes), 64)).argsort(axis=1).argsort(axis=1)
    flips = np.packbits(rank < counts[:, None], axis=1, bitorder="little")
    return codes ^ flips.view("<u8").ravel()


def random_codes(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=count, dtype=np.uint64)


def random_dataset(size: int, n_queries: int, rng: np.random.Generator) -> Dataset:
    """Random hashes, with near-duplicates of every query planted at 1-12 bits."""
    queries = random_codes(rng, n_queries)
    near = np.repeat(queries, PLANTED_PER_QUERY)
    planted = flip_bits(rng, near, rng.integers(1, 13, size=len(near)))
    codes = np.concatenate([random_codes(rng, size - len(planted)), planted])
    rng.shuffle(codes)
    return Dataset("random", codes, queries)


def variant(image: Image.Image, rnd: random.Random, min_crop: float) -> Image.Image:
    """A plausible pirate copy: cropped, rescaled, re-lit, often re-encoded as JPEG."""
    width, height = image.size
    scale = rnd.uniform(min_crop, 1.0)
    crop_w, crop_h = round(width * scale), round(height * scale)
    x, y = rnd.randint(0, width - crop_w), rnd.randint(0, height - crop_h)
    out = image.crop((x, y, x + crop_w, y + crop_h))
    factor = rnd.uniform(0.5, 1.5)
    out = out.resize((max(16, round(crop_w * factor)), max(16, round(crop_h * factor))))
    out = ImageEnhance.Brightness(out).enhance(rnd.uniform(0.8, 1.25))
    out = ImageEnhance.Contrast(out).enhance(rnd.uniform(0.8, 1.25))
    if rnd.random() < 0.5:
        buffer = io.BytesIO()
        out.save(buffer, "JPEG", quality=rnd.randint(30, 90))
        out = Image.open(buffer).convert("RGB")
    return out


def phash(image: Image.Image) -> int:
    return int(PHashSignal.hash_image(image), 16)


def real_dataset(size: int, n_queries: int, rng: np.random.Generator) -> Dataset:
    """Random hashes mixed with ~25,000 pHashes of image variants; queries are new variants.

    400 generated artworks get 50 variants each (tight clusters: crops of at least 75%),
    21 scikit-image photos 200 each (looser: crops of at least 40%).
    """
    rnd = random.Random(int(rng.integers(2**32)))
    bases: list[tuple[Image.Image, float, int]] = [
        (artwork(seed, (256, 192)), 0.75, 50) for seed in range(400)
    ]
    for name in PHOTOS:
        photo = Image.fromarray(np.asarray(getattr(skimage.data, name)())).convert("RGB")
        photo.thumbnail((512, 512))
        bases.append((photo, 0.4, 200))
    real = [phash(variant(image, rnd, crop)) for image, crop, count in bases
            for _ in range(count)]
    queries = []
    for _ in range(n_queries):
        image, crop, _count = rnd.choice(bases)
        queries.append(phash(variant(image, rnd, crop)))
    codes = np.concatenate([np.array(real, dtype=np.uint64), random_codes(rng, size - len(real))])
    rng.shuffle(codes)
    return Dataset(f"random + {len(real):,} pHashes", codes, np.array(queries, dtype=np.uint64))


def brute_force(codes: np.ndarray, queries: np.ndarray, radius: int) -> list[np.ndarray]:
    """Positions within ``radius`` of each query: one XOR + popcount over all codes each."""
    return [np.flatnonzero(np.bitwise_count(codes ^ q) <= radius) for q in queries]


def rss() -> int:
    """This process's resident memory, after giving freed heap back to the system."""
    gc.collect()
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(psutil.Process().memory_info().rss)


def build_faiss(index: Any, codes: np.ndarray) -> tuple[Any, float, int]:
    """``index`` with ``codes`` added: the index, seconds taken, resident bytes added."""
    before = rss()
    start = time.perf_counter()
    index.add(codes.view(np.uint8).reshape(-1, 8))
    build_s = time.perf_counter() - start
    return index, build_s, rss() - before


def recall(lims: np.ndarray, ids: np.ndarray, truth: list[np.ndarray]) -> float:
    """Share of the true (query, entry) pairs that a range search returned."""
    found = sum(len(set(ids[lims[i]:lims[i + 1]].tolist()) & set(t.tolist()))
                for i, t in enumerate(truth))
    return found / max(1, sum(len(t) for t in truth))


def measure_multihash(codes: np.ndarray, queries: np.ndarray, repeat: int) -> dict[str, Any]:
    """FAISS ``IndexBinaryMultiHash`` (multi-index hashing, like HammingIndex): per table
    count, build time and memory; per radius, query rate and recall on the first
    :data:`MULTIHASH_QUERIES` queries. ``nflip = radius // tables`` probes every key within
    that many bits in each table, which by the pigeonhole principle makes the search exact.
    Per radius, ``best`` names the fastest configuration."""
    timed = queries[:MULTIHASH_QUERIES]
    query_bytes = timed.view(np.uint8).reshape(-1, 8)
    truth = {r: brute_force(codes, timed, r) for r in RADII}
    configs: dict[str, Any] = {}
    for tables in MULTIHASH_TABLES:
        bits = 64 // tables
        mh, build_s, added = build_faiss(faiss.IndexBinaryMultiHash(64, tables, bits), codes)
        per_radius = {}
        for radius in RADII:
            mh.nflip = radius // tables
            query_s = best_time(lambda r=radius, m=mh: m.range_search(query_bytes, r + 1), repeat)
            lims, _distances, ids = mh.range_search(query_bytes, radius + 1)
            per_radius[str(radius)] = {"nflip": mh.nflip, "qps": len(timed) / query_s,
                                       "recall": recall(lims, ids, truth[radius])}
        configs[f"{tables}x{bits}"] = {"tables": tables, "bits": bits, "build_s": build_s,
                                       "rss_bytes_per_entry": added / len(codes),
                                       "radius": per_radius}
        del mh
    best = {str(r): max(configs, key=lambda c: configs[c]["radius"][str(r)]["qps"])
            for r in RADII}
    return {"queries": len(timed), "configs": configs, "best": best}


def measure(data: Dataset, repeat: int) -> dict[str, Any]:
    """Build, add, query, check and compact one dataset; every number for the report."""
    rng = np.random.default_rng(len(data.codes))
    size = len(data.codes)
    index = HammingIndex(delta_limit=DELTA_LIMIT)
    before = rss()
    start = time.perf_counter()
    index.add_many(np.arange(size), data.codes)
    build_s = time.perf_counter() - start
    rss_bytes_per_entry = (rss() - before) / size

    new_codes = random_codes(rng, ADDS)
    add_ms = []
    for offset, code in enumerate(new_codes.tolist()):
        value = f"{code:016x}"
        start = time.perf_counter()
        index.add(size + offset, value)
        add_ms.append((time.perf_counter() - start) * 1e3)
        assert (size + offset, 0.0) in index.query(value, 0), "an added entry must match at once"
    codes = np.concatenate([data.codes, new_codes])

    flat, flat_build_s, flat_rss = build_faiss(faiss.IndexBinaryFlat(64), codes)
    multihash = measure_multihash(codes, data.queries, repeat)
    queries = data.queries
    query_bytes = queries.view(np.uint8).reshape(-1, 8)
    checked = queries if size <= FULL_CHECK_MAX else queries[:CHECKED_QUERIES]
    hexes = [f"{q:016x}" for q in queries[:SINGLE_QUERIES].tolist()]
    per_radius = {}
    for radius in RADII:
        batch_s = best_time(lambda r=radius: index.query_many(queries, r), repeat)
        single_s = best_time(lambda r=radius: [index.query(h, r) for h in hexes], repeat)
        brute_s = best_time(lambda r=radius: brute_force(codes, checked, r), repeat)
        # FAISS's range_search keeps distances strictly below its radius: radius + 1 is "<= r".
        faiss_s = best_time(lambda r=radius: flat.range_search(query_bytes, r + 1), repeat)
        results = index.query_many(queries, radius)
        lims, faiss_d, faiss_i = flat.range_search(query_bytes, radius + 1)
        exact = faiss_exact = ordered = True
        for i, expected in enumerate(brute_force(codes, checked, radius)):
            truth = set(zip(expected.tolist(), np.bitwise_count(codes[expected] ^ queries[i])
                            .tolist(), strict=True))
            ids, distances = results[i]
            exact &= set(zip(ids.tolist(), distances.astype(int).tolist(), strict=True)) == truth
            ordered &= bool(np.all(np.diff(distances) >= 0))
            found = slice(lims[i], lims[i + 1])
            faiss_found = zip(faiss_i[found].tolist(), faiss_d[found].astype(int).tolist(),
                              strict=True)
            faiss_exact &= set(faiss_found) == truth
        flat_recall = recall(lims, faiss_i, brute_force(codes, checked, radius))
        per_radius[str(radius)] = {
            "mih_batch_qps": len(queries) / batch_s,
            "mih_single_qps": len(hexes) / single_s,
            "numpy_brute_qps": len(checked) / brute_s,
            "faiss_flat_qps": len(queries) / faiss_s,
            "speedup_vs_faiss": faiss_s / batch_s,
            "exact": exact and ordered,
            "faiss_exact": faiss_exact,
            "faiss_flat_recall": flat_recall,
            "checked_queries": len(checked),
            "mean_results": float(np.mean([len(ids) for ids, _ in results])),
        }
    bytes_per_entry = index.nbytes / len(index)
    layout = list(index._main.widths)

    # Pauses inside adds: the add that fills the delta, merging it into a small recent segment;
    # the same merge when the recent segment is at its largest (~1/8 of the main one); then a
    # merge of everything into a new main segment (a compaction). Ids stay positions in codes.
    fill_codes = []
    first_merge_ms = 0.0
    while len(index._segments()) == 1:
        fill_codes.append(int(random_codes(rng, 1)[0]))
        start = time.perf_counter()
        index.add(len(codes) + len(fill_codes) - 1, f"{fill_codes[-1]:016x}")
        first_merge_ms = (time.perf_counter() - start) * 1e3
    codes = np.concatenate([codes, np.array(fill_codes, dtype=np.uint64)])
    pause_s = []
    for count in (size // 8 - 2 * DELTA_LIMIT, 2 * DELTA_LIMIT):
        extra = random_codes(rng, count)
        start = time.perf_counter()
        index.add_many(np.arange(len(codes), len(codes) + count), extra)
        pause_s.append(time.perf_counter() - start)
        codes = np.concatenate([codes, extra])
        assert len(index._segments()) == (2 if len(pause_s) == 1 else 1), "unexpected merge"
    assert len(index) == len(codes)
    after = index.query_many(queries[:20], 12)
    truth = brute_force(codes, queries[:20], 12)
    assert all(np.array_equal(np.sort(ids), t) for (ids, _), t in zip(after, truth, strict=True))

    return {
        "dataset": data.name,
        "n": size,
        "layout_bits": layout,
        "build_s": build_s,
        "bytes_per_entry": bytes_per_entry,
        "rss_bytes_per_entry": rss_bytes_per_entry,
        "faiss_flat": {"build_s": flat_build_s, "rss_bytes_per_entry": flat_rss / len(codes)},
        "faiss_multihash": multihash,
        "add_ms_median": float(np.median(add_ms)),
        "add_ms_max": max(add_ms),
        "delta_merge_first_ms": first_merge_ms,
        "delta_merge_largest_ms": pause_s[0] * 1e3,
        "compaction_s": pause_s[1],
        "compaction_entries": len(index),
        "radius": per_radius,
    }


def print_tables(runs: list[dict[str, Any]]) -> None:
    header = (f"{'dataset':<26}{'N':>11}{'r':>4}{'MIH q/s':>10}{'single':>9}{'numpy':>8}"
              f"{'FAISS':>8}{'xFAISS':>8}  {'exact (checked)':<16}{'hits/q':>7}")
    print(header)
    print("-" * len(header))
    for run in runs:
        for radius, row in run["radius"].items():
            verdict = "yes" if row["exact"] and row["faiss_exact"] else "NO"
            exact = f"{verdict} ({row['checked_queries']})"
            print(f"{run['dataset']:<26}{run['n']:>11,}{radius:>4}{row['mih_batch_qps']:>10,.0f}"
                  f"{row['mih_single_qps']:>9,.0f}{row['numpy_brute_qps']:>8,.0f}"
                  f"{row['faiss_flat_qps']:>8,.0f}{row['speedup_vs_faiss']:>8.1f}  "
                  f"{exact:<16}{row['mean_results']:>7.2f}")
    print()
    header = (f"{'dataset':<26}{'N':>11}{'key bits':>13}{'build s':>9}{'B/entry':>9}"
              f"{'add ms (med/max)':>18}{'merge ms (1st/max)':>20}{'compaction s':>14}")
    print(header)
    print("-" * len(header))
    for run in runs:
        adds = f"{run['add_ms_median']:.3f}/{run['add_ms_max']:.3f}"
        merges = f"{run['delta_merge_first_ms']:.1f}/{run['delta_merge_largest_ms']:.0f}"
        bits = "/".join(map(str, run["layout_bits"])) or "scan"
        print(f"{run['dataset']:<26}{run['n']:>11,}{bits:>13}{run['build_s']:>9.2f}"
              f"{run['bytes_per_entry']:>9.1f}{adds:>18}{merges:>20}"
              f"{run['compaction_s']:>14.2f}")


def print_baselines(runs: list[dict[str, Any]]) -> None:
    """HammingIndex against FAISS's multi-index hashing and brute force, side by side."""
    header = (f"{'dataset':<26}{'N':>11}{'r':>4}{'MIH q/s':>10}{'FAISS MH q/s':>14}"
              f"{'(config)':>10}{'MH recall':>10}{'flat q/s':>10}{'flat recall':>12}"
              f"{'build s (MIH/MH/flat)':>23}{'RSS B/entry (MIH/MH/flat)':>27}")
    print(header)
    print("-" * len(header))
    for run in runs:
        multihash = run["faiss_multihash"]
        for radius, row in run["radius"].items():
            name = multihash["best"][radius]
            best = multihash["configs"][name]
            mh = best["radius"][radius]
            builds = (f"{run['build_s']:.2f}/{best['build_s']:.2f}/"
                      f"{run['faiss_flat']['build_s']:.2f}")
            memory = (f"{run['rss_bytes_per_entry']:.0f}/{best['rss_bytes_per_entry']:.0f}/"
                      f"{run['faiss_flat']['rss_bytes_per_entry']:.0f}")
            print(f"{run['dataset']:<26}{run['n']:>11,}{radius:>4}{row['mih_batch_qps']:>10,.0f}"
                  f"{mh['qps']:>14,.0f}{name:>10}{mh['recall']:>10.3f}"
                  f"{row['faiss_flat_qps']:>10,.0f}{row['faiss_flat_recall']:>12.3f}"
                  f"{builds:>23}{memory:>27}")


def check_targets(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, judged on the largest random run (1e7 by default)."""
    run = max((r for r in runs if r["dataset"] == "random"), key=lambda r: r["n"])
    rows = run["radius"]
    met = {
        "exact": all(row["exact"] for r in runs for row in r["radius"].values()),
        "bytes_per_entry": run["bytes_per_entry"] <= TARGETS["bytes_per_entry"],
        "faiss_speedup_r8": rows["8"]["speedup_vs_faiss"] >= TARGETS["faiss_speedup_r8"],
        "faiss_speedup_r12": rows["12"]["speedup_vs_faiss"] >= TARGETS["faiss_speedup_r12"],
        "add_max_ms": run["add_ms_max"] <= TARGETS["add_max_ms"],
    }
    return {"judged_at_n": run["n"], "thresholds": TARGETS, "met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e5,1e6,1e7", help="random-hash index sizes")
    parser.add_argument("--queries", type=float, default=1000)
    parser.add_argument("--real-size", type=float, default=1e6,
                        help="size of the run with real pHashes mixed in (0: skip it)")
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of these")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "index.json")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    load_before = os.getloadavg()[0]  # other processes on the machine skew timings
    rng = np.random.default_rng(2026)
    n_queries = int(args.queries)
    runs = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        runs.append(measure(random_dataset(size, n_queries, rng), args.repeat))
        print(f"measured random N={size:,}", file=sys.stderr)
    if args.real_size:
        runs.append(measure(real_dataset(int(args.real_size), n_queries, rng), args.repeat))
    print_tables(runs)
    print()
    print_baselines(runs)
    targets = check_targets(runs)
    print(f"\ntargets at N={targets['judged_at_n']:,}: "
          + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in targets["met"].items()))
    report = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpu": next((line.split(":", 1)[1].strip() for line in
                         Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), platform.processor()),
            "cores_used": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "faiss": faiss.__version__,
            "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
        },
        "settings": {"queries": n_queries, "repeat": args.repeat, "radii": list(RADII),
                     "planted_per_query": PLANTED_PER_QUERY, "single_queries": SINGLE_QUERIES,
                     "checked_queries_above_1e6": CHECKED_QUERIES, "adds_timed": ADDS,
                     "bytes_per_entry": "all numpy arrays of the index / live entries",
                     "faiss": "IndexBinaryFlat, range_search(radius + 1), one thread",
                     "faiss_multihash": f"IndexBinaryMultiHash(64, tables, 64 // tables), "
                     f"tables in {list(MULTIHASH_TABLES)}, nflip = radius // tables, "
                     f"timed on the first {MULTIHASH_QUERIES} queries",
                     "rss_bytes_per_entry": "resident memory added by the build / entries"},
        "runs": runs,
        "targets": targets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
