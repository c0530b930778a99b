"""Registry-scale curve of image matching: cost and memory as registered images grow.

Run from the repository root after ``make bench-setup``::

    .venv/bin/python bench/scale.py [--sizes 1e3,1e4,1e5] [--queries 60] [--budget-s 600]

Per registry size N (filler images from :mod:`bench.fillers`, real photographs cropped,
rescaled and tiled, plus the 13 works of ``bench/detection.py``), stored in a real SQLite
Swordnet database and loaded as a crawl worker loads it: the node's stage-2 index file is
brought up to date first (``update_index_file``, what the first crawl worker does when
registrations are pending; its CPU time is reported apart), then ``LiveMatchIndex`` maps it
and reads the other signals from the database:

* **stage 2 ms per crawled image**: ``later_stage_matches``'s CPU time on 1024x768 JPEGs
  that contain no work (crops of held-out photos and page screenshots, as in
  ``bench/hashing.py``), the images that go through stage 2 on every pirate page;
* **both stages, images/s per core**: those images fingerprinted and matched end to end
  (stage 1, then ``settle``), over this process's CPU time, OpenCV/FAISS/BLAS on one thread;
* **bulk registration, images/s per core**: ``registration_fingerprints`` of fresh fillers,
  then ``MatchIndex.extend``, then the extra cost of the first query that sees them (an
  index that rebuilds lazily pays there);
* **RAM per registered image**: this process's RSS growth from loading the index and
  answering a first query (so lazily built structures count), divided by N, and the part
  of it that is anonymous memory (the rest is mapped index-file pages, shared by a node's
  workers); each signal index's own ``nbytes`` too where it offers one;
* **load s**: the CPU time of ``LiveMatchIndex`` (what a crawl worker does as it starts:
  map the index file, read the rows it does not hold from the database);
* **a second worker's memory**: crawl workers are started as a crawl starts them
  (``crawlers.analysis.AnalysisPool`` over the same database, forked from a fresh process
  standing in for the crawl process) and each answers one query;
  the unique memory (USS) a worker holds beyond a worker on an empty registry is what it
  adds to the node. With an index that each worker builds in its own RAM the second worker
  adds a full copy; with a memory-mapped index file its shared pages are not counted.
  Nothing here assumes either design: whatever the worker does at start-up is measured.
* a sanity check: copies of the 13 works (cropped to 75%, embedded at 60% in a page,
  rotated 5°) are queried too; found copies and matches to a wrong work are counted, so an
  index that is fast because it finds nothing shows.

Queries stop at ``--queries`` crawled images (plus up to 39 copies, interleaved) or when a
size's query loop has used ``--budget-s`` CPU seconds, whichever comes first (the old ORB
index costs about 5 s per image at 10^4). Fingerprints of fillers are cached under
``bench/.data/scale/`` keyed by a digest of the fingerprints themselves and
:data:`FILLER_VERSION` (a change to the fingerprinting code or the pictures starts a new
cache), as are the per-size databases, so re-runs only re-measure. The cache is filled
before any size is measured, on ``--processes`` processes (default: one per core), each
drawing and fingerprinting fillers; it can be filled ahead of a run and resumes where it
stopped. Prints a table and writes ``bench/results/scale.json`` (after every size).

A filler costs 22-31 ms of CPU to draw and fingerprint (22 measured piece by piece, 31 over
the pool's workers under a load average of 15-18 on 2 cores), 32 KB of cache, then 3.5 ms to
store as a work and 32 KB of registry database (plus the node's index file). 10^5 is about
an hour of CPU and 6.4 GB; 10^6 is 7-10 CPU hours and 64 GB plus the index file, more than
the benchmark machine's free disk, hence the default sizes stop at 10^5.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402
from multiprocessing.process import BaseProcess  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import psutil  # noqa: E402
from PIL import Image  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.fillers import filler, load_sources  # noqa: E402
from bench.hashing import test_images  # noqa: E402
from bench.imageset import ALTERATIONS, WORK_NAMES, encode, load_photo  # noqa: E402
from crawlers.analysis import AnalysisPool  # noqa: E402
from matching.match_index import MatchIndex  # noqa: E402
from matching.registry import content_for, signals_for_kind  # noqa: E402
from matching.signal import ContentRejected  # noqa: E402
from matching.stages import (  # noqa: E402
    first_stage_matches,
    first_stage_queries,
    needs_later_stages,
    registration_fingerprints,
    settle,
)
from swordnet.core.config import Settings  # noqa: E402
from swordnet.core.db import open_database  # noqa: E402
from swordnet.core.models import Work  # noqa: E402
from swordnet.works.image_index import (  # noqa: E402
    LiveMatchIndex,
    index_directory,
    update_index_file,
)
from swordnet.works.registry import register_precomputed  # noqa: E402

DATA = ROOT / "bench" / ".data" / "scale"
RESULTS = ROOT / "bench" / "results" / "scale.json"
FILLER_VERSION = 2  # bump when bench/fillers.py draws different pictures
COPY_ALTERATIONS = ("crop_75", "embed_60", "rotate_5")
REGISTRATION_SAMPLE = 100
FRESH_FILLERS = 10**9  # fillers drawn for the registration sample start here (never registered)
TARGETS = {"stage2_growth_max": 2.0, "both_stages_images_per_s": 30.0,
           "ram_bytes_per_image": 2048, "second_worker_share": 0.10,
           "registration_images_per_s": 100.0}


def rss() -> int:
    """This process's resident memory, after giving freed heap back to the system."""
    gc.collect()
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(psutil.Process().memory_info().rss)


def rss_anon() -> int:
    """The anonymous part of :func:`rss` (heap, not mapped files); 0 off Linux."""
    if sys.platform != "linux":
        return 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


class FingerprintCache:
    """Registration fingerprints of fillers 0, 1, 2, ... (``None`` for a rejected one), on disk."""

    def __init__(self, sources: Sequence[Image.Image]) -> None:
        self.sources = sources
        probe = [registration_fingerprints("image", encode(filler(sources, k))) for k in (0, 1)]
        digest = hashlib.sha256(json.dumps([FILLER_VERSION, probe]).encode()).hexdigest()
        self.key = digest[:12]
        DATA.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(DATA / f"fingerprints-{self.key}.sqlite", timeout=60)
        # a registry built from the cache while another run fills it must not lock it out
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS fillers (k INTEGER PRIMARY KEY, value TEXT)")

    def fill(self, count: int, workers: int) -> None:
        """Fingerprint fillers until the first ``count`` the registry accepts are all cached,
        on ``workers`` processes (spawned: a forked OpenCV thread pool can deadlock)."""
        stored = dict(self.db.execute("SELECT k, value IS NOT NULL FROM fillers"))
        while True:
            accepted, k, missing = 0, 0, list[int]()
            while accepted + len(missing) < count:  # a missing filler may be accepted
                if k in stored:
                    accepted += stored[k]
                else:
                    missing.append(k)
                k += 1
            if not missing:
                return
            print(f"  fingerprinting {len(missing):,} fillers on {workers} processes",
                  file=sys.stderr)
            pending: list[tuple[int, str | None]] = []
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_start_filler_worker) as pool:
                for done, (k, value) in enumerate(
                        pool.map(_filler_fingerprints, missing, chunksize=20), 1):
                    pending.append((k, value))
                    stored[k] = value is not None
                    if len(pending) == 100:
                        self._store(pending)
                    if done % 1000 == 0:
                        print(f"  fingerprinted {done:,} of {len(missing):,} fillers",
                              file=sys.stderr)
            self._store(pending)

    def accepted(self, count: int) -> Iterator[tuple[int, list[tuple[str, str, str]]]]:
        """The first ``count`` fillers the registry accepts (:meth:`fill` them first)."""
        found = 0
        for k, value in self.db.execute("SELECT k, value FROM fillers ORDER BY k"):
            if found == count:
                return
            if value is not None:
                found += 1
                yield k, [(a, v, f) for a, v, f in json.loads(value)]
        if found < count:
            raise RuntimeError(f"only {found:,} of {count:,} fillers cached: fill() first")

    def _store(self, rows: list[tuple[int, str | None]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO fillers VALUES (?, ?)", rows)
        self.db.commit()
        rows.clear()


_worker_sources: Sequence[Image.Image] = ()


def _start_filler_worker() -> None:
    global _worker_sources
    cv2.setNumThreads(1)
    _worker_sources = load_sources()


def _filler_fingerprints(k: int) -> tuple[int, str | None]:
    """Filler ``k``'s registration fingerprints as JSON (``None`` if the registry refuses it)."""
    try:
        return k, json.dumps(registration_fingerprints("image", encode(filler(_worker_sources, k))))
    except ContentRejected:  # too smooth a crop: the registry refuses it too
        return k, None


def work_photo(name: str) -> bytes:
    return encode(load_photo(name), quality=95)


def registry(cache: FingerprintCache, fillers: int) -> Settings:
    """A Swordnet database holding the 13 works and ``fillers`` filler works (cached)."""
    home = DATA / cache.key / f"registry-{fillers}"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'swordnet.db'}")
    if (home / "complete").exists():
        return settings
    shutil.rmtree(home, ignore_errors=True)
    database = open_database(settings)
    with database.session() as session:
        for name in WORK_NAMES:
            register_precomputed(session, title=name, holder_name="bench works", kind="image",
                                 fingerprints=registration_fingerprints("image", work_photo(name)))
    batch: list[tuple[int, list[tuple[str, str, str]]]] = []
    for item in cache.accepted(fillers):
        batch.append(item)
        if len(batch) == 1000:
            _register_fillers(settings, batch)
    _register_fillers(settings, batch)
    database.engine.dispose()
    (home / "complete").touch()
    return settings


def _register_fillers(settings: Settings, batch: list[tuple[int, list[tuple[str, str, str]]]]
                      ) -> None:
    if not batch:
        return
    database = open_database(settings, apply_migrations=False)
    with database.session() as session:
        for k, fingerprints in batch:
            register_precomputed(session, title=f"bench filler {k}", holder_name="bench fillers",
                                 kind="image", fingerprints=fingerprints)
    database.engine.dispose()
    batch.clear()


@dataclass(frozen=True)
class Query:
    work: str | None  # the work it copies; None for a crawled image containing no work
    content: bytes


def queries(count: int) -> list[Query]:
    """``count`` crawled images without a work, interleaved with copies of the 13 works."""
    plain = [Query(None, content) for content in test_images(count)]
    copies = []
    for alteration in COPY_ALTERATIONS:
        for name in WORK_NAMES:
            image = ALTERATIONS[alteration](load_photo(name), random.Random(f"{alteration}/{name}"))
            copies.append(Query(name, encode(image)))
    random.Random(16).shuffle(copies)
    mixed: list[Query] = []
    for k, query in enumerate(plain):
        mixed.append(query)
        if k < len(copies):
            mixed.append(copies[k])
    return mixed


def index_nbytes(index: MatchIndex) -> dict[str, int]:
    """Each image signal index's own size, where it reports one (``nbytes``)."""
    sizes = {}
    for signal in signals_for_kind("image"):
        found = index.signal_index(signal.name)
        nbytes = getattr(found, "nbytes", None)
        if nbytes is not None:
            sizes[signal.name] = int(nbytes() if callable(nbytes) else nbytes)
    return sizes


def run_queries(index: MatchIndex, mixed: list[Query], names: dict[int, str],
                budget_s: float) -> dict[str, Any]:
    """Match queries until they run out or the CPU budget is spent."""
    stage1_s: list[float] = []
    stage2_s: list[float] = []
    plain_total_s = 0.0
    plain = copies = found = wrong = 0
    spent = 0.0
    for query in mixed:
        if spent > budget_s and plain >= 5:
            break
        start = time.process_time()
        content = content_for("image", query.content)
        first = first_stage_matches(index, first_stage_queries("image", content))
        middle = time.process_time()
        final = settle(index, "image", content, first) if needs_later_stages(first) else first
        end = time.process_time()
        spent += end - start
        matched = {names.get(m.work_id) for m in final}
        if query.work is None:
            plain += 1
            plain_total_s += end - start
            stage1_s.append(middle - start)
            if needs_later_stages(first):
                stage2_s.append(end - middle)
            wrong += len(matched)
        else:
            copies += 1
            found += query.work in matched
            wrong += len(matched - {query.work})
    return {
        "crawled_images": plain,
        "stage1_ms": 1000 * statistics.mean(stage1_s),
        "stage2_ms": 1000 * statistics.mean(stage2_s) if stage2_s else None,
        "stage2_ms_median": 1000 * statistics.median(stage2_s) if stage2_s else None,
        "stage2_images": len(stage2_s),
        "both_stages_images_per_s": plain / plain_total_s,
        "copies": copies,
        "copies_found": found,
        "wrong_matches": wrong,
        "query_cpu_s": spent,
    }


def measure_registration(index: MatchIndex, sources: Sequence[Image.Image], probe: bytes,
                         usual_query_s: float) -> dict[str, Any]:
    """Register fresh fillers into the live index: fingerprint, add, first query after."""
    contents = [encode(filler(sources, FRESH_FILLERS + k)) for k in range(REGISTRATION_SAMPLE)]
    start = time.process_time()
    rows = []
    for k, content in enumerate(contents):
        try:
            fingerprints = registration_fingerprints("image", content)
        except ContentRejected:
            continue
        rows += [(10**12 + 10 * k + j, 10**9 + k, algorithm, value, variant, None)
                 for j, (algorithm, variant, value) in enumerate(fingerprints)]
    fingerprinted = time.process_time()
    index.extend(rows)
    added = time.process_time()
    later = settle(index, "image", content_for("image", probe), [])
    first_query_s = time.process_time() - added
    assert all(m.work_id < 10**9 for m in later), "a fresh filler matched a crawled image"
    fingerprint_s, add_s = fingerprinted - start, added - fingerprinted
    ready_s = max(0.0, first_query_s - usual_query_s)
    n = len(contents)
    return {
        "sample": n,
        "fingerprint_images_per_s": n / fingerprint_s,
        "add_ms_per_image": 1000 * add_s / n,
        "first_query_extra_s": ready_s,
        "images_per_s": n / (fingerprint_s + add_s + ready_s),
    }


def _stand_in_crawl(settings: Settings, probe: bytes, conn: Connection) -> None:
    """A fresh process standing in for a crawl process: it makes the crawl's pool of one
    worker (forked from here, as a crawl's pool forks from the crawl process), has it match
    ``probe`` (so lazily built index structures exist), sends the worker's memory on
    ``conn`` and keeps the pool until told to stop."""
    before = {p.pid for p in psutil.Process().children()}
    pool = AnalysisPool(1, settings)
    pool.submit("image", probe).result()
    worker = next(c for c in psutil.Process().children() if c.pid not in before)
    info = worker.memory_full_info()
    conn.send({"uss": int(info.uss), "pss": int(info.pss), "rss": int(info.rss)})
    conn.recv()
    pool.shutdown()


@dataclass
class StandIn:
    """A running :func:`_stand_in_crawl` process."""

    process: BaseProcess
    conn: Connection

    def shutdown(self) -> None:
        self.conn.send("stop")
        self.process.join()


def worker_memory(settings: Settings, probe: bytes) -> tuple[StandIn, dict[str, int]]:
    """One crawl worker on ``settings``'s database and its memory, started by a fresh
    process standing in for the crawl (not by this one, whose heap a fork would share)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_stand_in_crawl, args=(settings, probe, theirs))
    process.start()
    return StandIn(process, ours), ours.recv()


def measure_workers(settings: Settings, empty: Settings, probe: bytes,
                    index_rss: int) -> dict[str, Any]:
    """What the first and the second crawl worker on the same registry add to the node."""
    base_pool, base = worker_memory(empty, probe)
    base_pool.shutdown()
    first_pool, first = worker_memory(settings, probe)
    try:
        second_pool, second = worker_memory(settings, probe)
        second_pool.shutdown()
    finally:
        first_pool.shutdown()
    second_adds = second["uss"] - base["uss"]
    return {
        "empty_worker_uss": base["uss"],
        "first_worker_adds": first["uss"] - base["uss"],
        "second_worker_adds": second_adds,
        "second_worker_rss": second["rss"],
        "second_worker_share_of_index": second_adds / index_rss if index_rss > 0 else None,
    }


def warm_up(settings: Settings, probe: bytes) -> None:
    """Load every module and library a query needs, so RSS growth is the index's alone."""
    database = open_database(settings, apply_migrations=False)
    with database.session() as session:
        update_index_file(session, index_directory(settings.home))
        index = LiveMatchIndex(session, index_directory(settings.home)).index
    database.engine.dispose()
    settle(index, "image", content_for("image", probe), [])


def measure(n: int, cache: FingerprintCache, empty: Settings, mixed: list[Query],
            args: argparse.Namespace) -> dict[str, Any]:
    settings = registry(cache, n)
    registered = n + len(WORK_NAMES)
    probe = mixed[0].content
    database = open_database(settings, apply_migrations=False)
    start = time.process_time()
    with database.session() as session:
        update_index_file(session, index_directory(settings.home))
        names = {work_id: title for work_id, title
                 in session.execute(select(Work.id, Work.title))}
    update_s = time.process_time() - start
    before, before_anon = rss(), rss_anon()
    start = time.process_time()
    with database.session() as session:
        index = LiveMatchIndex(session, index_directory(settings.home)).index
    database.engine.dispose()
    load_s = time.process_time() - start
    first_query = time.process_time()
    settle(index, "image", content_for("image", probe), [])
    first_query_s = time.process_time() - first_query
    index_rss = rss() - before
    index_anon = rss_anon() - before_anon
    print(f"N={n:,}: index loaded in {load_s:.1f} s, first query {first_query_s:.1f} s",
          file=sys.stderr)
    result: dict[str, Any] = {
        "n": n,
        "registered_images": registered,
        "index_file_update_cpu_s": update_s,
        "index_load_cpu_s": load_s,
        "first_query_cpu_s": first_query_s,
        "rss_bytes_per_image": index_rss / registered,
        "rss_anon_bytes_per_image": index_anon / registered,
        "index_nbytes_per_image": {k: v / registered for k, v in index_nbytes(index).items()},
    }
    result.update(run_queries(index, mixed, names, args.budget_s))
    print(f"N={n:,}: {result['crawled_images']} crawled images, stage 2 "
          f"{result['stage2_ms']:.0f} ms", file=sys.stderr)
    result["registration"] = measure_registration(
        index, cache.sources, probe, (result["stage2_ms_median"] or 0) / 1000)
    del index
    if args.workers:
        result["workers"] = measure_workers(settings, empty, probe, index_rss)
    return result


def print_table(runs: list[dict[str, Any]]) -> None:
    header = (f"{'registered':>11}{'stage2 ms':>11}{'(images)':>9}{'both img/s':>11}"
              f"{'reg img/s':>10}{'RAM B/img':>11}{'load s':>8}{'2nd worker MB':>14}"
              f"{'(% index)':>10}{'copies found':>13}{'wrong':>6}")
    print(header)
    print("-" * len(header))
    for run in runs:
        workers = run.get("workers")
        second = f"{workers['second_worker_adds'] / 2**20:,.1f}" if workers else "-"
        share = (f"{100 * workers['second_worker_share_of_index']:.0f}%"
                 if workers and workers["second_worker_share_of_index"] is not None else "-")
        stage2 = f"{run['stage2_ms']:,.0f}" if run["stage2_ms"] is not None else "-"
        print(f"{run['registered_images']:>11,}{stage2:>11}{run['stage2_images']:>9}"
              f"{run['both_stages_images_per_s']:>11.1f}"
              f"{run['registration']['images_per_s']:>10.1f}{run['rss_bytes_per_image']:>11,.0f}"
              f"{run['index_load_cpu_s']:>8.2f}{second:>14}{share:>10}"
              f"{run['copies_found']:>7}/{run['copies']:<5}{run['wrong_matches']:>6}")


def check_targets(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, judged at the largest size measured (they are set for 10^6)."""
    smallest, largest = min(runs, key=lambda r: r["n"]), max(runs, key=lambda r: r["n"])
    share = (largest.get("workers") or {}).get("second_worker_share_of_index")
    met = {
        "stage2_growth": (largest["stage2_ms"] or 0) <= TARGETS["stage2_growth_max"]
        * (smallest["stage2_ms"] or 0),
        "both_stages_images_per_s": largest["both_stages_images_per_s"]
        >= TARGETS["both_stages_images_per_s"],
        "ram_bytes_per_image": largest["rss_bytes_per_image"] <= TARGETS["ram_bytes_per_image"],
        "registration_images_per_s": largest["registration"]["images_per_s"]
        >= TARGETS["registration_images_per_s"],
        "second_worker_share": share is not None and share <= TARGETS["second_worker_share"],
    }
    return {"judged_at_n": largest["n"], "growth_from_n": smallest["n"],
            "thresholds": TARGETS, "met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e3,1e4,1e5", help="filler works per run")
    parser.add_argument("--queries", type=int, default=60,
                        help="crawled images (without a work) per size, at most")
    parser.add_argument("--budget-s", type=float, default=600,
                        help="CPU seconds of queries per size, at most (at least 5 images)")
    parser.add_argument("--no-workers", dest="workers", action="store_false",
                        help="skip starting crawl workers (the second-worker memory)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="processes fingerprinting fillers for the cache")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    try:
        import faiss
        faiss.omp_set_num_threads(1)
    except ImportError:  # an index without FAISS needs no limit
        pass
    load_before = os.getloadavg()[0]
    sources = load_sources()
    cache = FingerprintCache(sources)
    sizes = sorted(int(float(s)) for s in args.sizes.split(","))
    cache.fill(max(sizes), args.processes)
    empty = registry(cache, 0)
    mixed = queries(args.queries)
    warm_up(empty, mixed[0].content)
    runs: list[dict[str, Any]] = []
    for n in sizes:
        runs.append(measure(n, cache, empty, mixed, args))
        report = {  # written after every size: a long run's first sizes are never lost
            "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
            },
            "settings": {"sizes": args.sizes, "queries": args.queries,
                         "budget_s": args.budget_s, "copy_alterations": list(COPY_ALTERATIONS),
                         "registration_sample": REGISTRATION_SAMPLE,
                         "fingerprint_cache": cache.key,
                         "timing": "process CPU time, OpenCV/BLAS/FAISS on one thread"},
            "runs": runs,
            "targets": check_targets(runs),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(runs)
    targets = check_targets(runs)
    print(f"\ntargets at N={targets['judged_at_n']:,}: "
          + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in targets["met"].items()))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
