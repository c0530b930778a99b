"""Crawl throughput: the site spider with no item pipelines vs the full pipeline, on a local site.

Run from the repository root::

    .venv/bin/python bench/crawl.py [--pages 10000] [--images-per-page 2] [--repeat 1]
                                    [--profile] [--output bench/results/crawl.json]

Generates (once, into ``--cache``) the fixture site of :mod:`bench.crawlsite`: a tree of
gallery pages, each showing its own textured 200-400 px JPEGs, ~1.5% of them altered copies
of the shipped sample works. Serves it on 127.0.0.1 from a separate process, measures a
raw-fetch baseline (keep-alive GETs of every URL, no parsing: the server's capacity), then
crawls it with ``python -m scrapy crawl site`` exactly as ``scheduler/executor.py`` launches a
crawl (``-a url -a depth -a max_pages``, a fresh JOBDIR, the same environment):

* ``raw``: the same spider with every item pipeline disabled (``-s ITEM_PIPELINES={}``);
* ``full``: fingerprint, match and store, with the sample works registered in a fresh
  SQLite home; the hits it stores are compared with the planted copies.

``--registry`` crawls ``full`` against a large registry instead: a copy of a registry home
that ``bench/scale.py`` built (``bench/.data/scale/<cache>/registry-<N>``: its database and
its node's index file), with the sample works registered on top, so the crawl matches
against N more images, as the crawl target of issue 16 asks (10^5 registered images).

Each crawl is a fresh child process: its peak RSS and CPU time come from ``os.wait4``; its
counts, crawl time (engine start to close) and CPU time split between the crawl process and
its match workers from Scrapy's stats and ``getrusage``, dumped by :class:`StatsDump`. Images
are the media items (every page read is an item too: matched by its text). ``--profile``
adds a full crawl under Scrapy's ``--profile`` (cProfile of the reactor thread; hashing and
matching run in worker processes and show there only as waits) and prints where that
thread's time goes. Prints a table and writes ``bench/results/crawl.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.crawlsite import fetch_all, generate, site_paths  # noqa: E402

RESULTS = REPO / "bench" / "results" / "crawl.json"
HOLDER = "Bench Rights Holder"
TARGET_RATIO = 0.6
KEPT_STATS = ("elapsed_time_seconds", "downloader/request_count", "downloader/response_count",
              "downloader/response_bytes", "item_scraped_count", "item_dropped_count",
              "scheduler/enqueued", "memusage/max", "log_count/ERROR", "log_count/WARNING")


class StatsDump:
    """Scrapy extension (loaded into the crawl process with ``-s EXTENSIONS``): writes the
    crawl's stats as JSON to the ``BENCH_STATS_FILE`` setting when the spider closes."""

    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.path = Path(crawler.settings.get("BENCH_STATS_FILE"))

    @classmethod
    def from_crawler(cls, crawler: Any) -> StatsDump:
        from scrapy import signals

        extension = cls(crawler)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = dict(self.crawler.stats.get_stats())
        stats["finish_reason"] = reason
        # the pipelines have closed: the match workers have ended and been waited for
        for key, who in (("crawl_process_cpu_s", resource.RUSAGE_SELF),
                         ("workers_cpu_s", resource.RUSAGE_CHILDREN)):
            usage = resource.getrusage(who)
            stats[key] = round(usage.ru_utime + usage.ru_stime, 1)
        self.path.write_text(json.dumps(stats, default=str, indent=1))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (here: the site server)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the crawl's worker processes)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue  # it ended meanwhile
    return total / 1024


class TreeMemory(threading.Thread):
    """Samples the summed RSS of a process tree every 0.2 s; keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self.pid))


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen([sys.executable, str(REPO / "bench" / "crawlsite.py"), "serve",
                               str(root)], stdout=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
    assert server.stdout is not None
    line = server.stdout.readline()
    if not line.startswith("serving "):
        server.kill()
        raise SystemExit(f"site server did not start: {line!r}")
    return server, line.split()[1]


def fresh_home(home: Path, registry: Path | None = None) -> str:
    """A new Swordnet home with the sample works registered; returns its database URL.

    With ``registry``, they are registered on top of a copy of that home's database (and of
    its index file, if it has one), and the index file is then brought up to date, as a node
    that has crawled since a bulk registration has it: the crawl does not pay for that."""
    from swordnet.core.config import load_settings
    from swordnet.core.db import open_database
    from swordnet.demo.samples import sample_files
    from swordnet.works.image_index import index_directory, update_index_file
    from swordnet.works.registry import register_work

    settings = load_settings({"SWORDNET_HOME": str(home)})
    if registry is not None:
        shutil.copyfile(registry / "swordnet.db", home / "swordnet.db")
        if index_directory(registry).exists():
            shutil.copytree(index_directory(registry), index_directory(home))
    db = open_database(settings)
    with db.session() as session:
        for path, title in sample_files():
            register_work(session, path.read_bytes(), title=title, holder_name=HOLDER,
                          source_name=path.name)
    if registry is not None:
        with db.session() as session:
            update_index_file(session, index_directory(home))
    db.dispose()
    return settings.database_url


def registered_works(database_url: str) -> int:
    """How many works the database holds."""
    from sqlalchemy import create_engine, func, select

    from swordnet.core.models import Work

    engine = create_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(Work)).scalar_one()
    engine.dispose()
    return int(count)


def stored_hits(database_url: str) -> list[tuple[str, str]]:
    """``(media URL, work title)`` of every hit in the database."""
    from sqlalchemy import create_engine, select

    from swordnet.core.models import Hit, Work

    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Hit.url, Work.title).join(Work, Hit.work_id == Work.id))
        hits = [(url, title) for url, title in rows]
    engine.dispose()
    return hits


def crawl(label: str, mode: str, url: str, pages: int, workdir: Path, server_pid: int,
          jobdir: bool, profile: Path | None = None, extra_args: tuple[str, ...] = (),
          extra_env: dict[str, str] | None = None,
          registry: Path | None = None) -> dict[str, Any]:
    """One crawl in a fresh child process; counts, timings, peak RSS (and hits, if full).

    ``extra_args`` and ``extra_env`` are added to the command and environment (experiments:
    other pipelines or settings); a full crawl matches against a copy of ``registry``."""
    home = workdir / label
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    database_url = (fresh_home(home, registry) if mode == "full"
                    else f"sqlite:///{home / 'swordnet.db'}")
    stats_file, log_file = home / "stats.json", home / "crawl.log"
    command = [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"url={url}",
               "-a", f"depth={pages}", "-a", f"max_pages={pages}",
               # EXTENSIONS replaces the project's: keep the crawl's database extension
               "-s", 'EXTENSIONS={"crawlers.database.CrawlDatabase": 0, '
                     '"bench.crawl.StatsDump": 1000}',
               "-s", f"BENCH_STATS_FILE={stats_file}",
               # the site is served on loopback, which the outbound policy refuses by default
               "-s", "SWORDNET_ALLOW_NETWORKS=127.0.0.0/8"]
    if jobdir:
        command += ["-s", f"JOBDIR={home / 'job'}"]
    if mode == "raw":
        command += ["-s", "ITEM_PIPELINES={}"]
    if profile is not None:
        command += ["--profile", str(profile)]
    command += list(extra_args)
    env = {**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings",
           "SWORDNET_HOME": str(home), "SWORDNET_DATABASE_URL": database_url,
           **(extra_env or {})}
    server_cpu = _cpu_seconds(server_pid)
    started = time.perf_counter()
    with open(log_file, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT)
        memory = TreeMemory(process.pid)
        memory.start()
        _, status, usage = os.wait4(process.pid, 0)
        memory.done.set()
        memory.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    server_cpu = _cpu_seconds(server_pid) - server_cpu
    if process.returncode != 0 or not stats_file.exists():
        tail = log_file.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(f"{label} crawl failed (status {process.returncode}):\n"
                         + "\n".join(tail))
    stats = json.loads(stats_file.read_text())
    ours = {k.removeprefix("swordnet/"): v for k, v in stats.items()
            if k.startswith("swordnet/") and k != "swordnet/error_samples"}
    # every page read yields one item (matched by its text) besides its media items
    images = (stats.get("item_scraped_count", 0) + stats.get("item_dropped_count", 0)
              - ours.get("pages_ok", 0))
    seconds = float(stats["elapsed_time_seconds"])
    result: dict[str, Any] = {
        "run": label, "mode": mode, "pages": ours.get("pages", 0), "images": images,
        "seconds": round(seconds, 2), "pages_per_s": round(ours.get("pages", 0) / seconds, 1),
        "images_per_s": round(images / seconds, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # the largest single process
        "peak_tree_rss_mb": round(memory.peak_mb, 1),      # crawl + worker processes, summed
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "cpu_share": round((usage.ru_utime + usage.ru_stime) / wall, 2),  # of one core
        "crawl_process_cpu_s": stats.get("crawl_process_cpu_s"),  # the reactor's process
        "workers_cpu_s": stats.get("workers_cpu_s"),  # its match workers
        "process_wall_s": round(wall, 2), "server_cpu_s": round(server_cpu, 2),
        "finish_reason": stats.get("finish_reason"),
        "swordnet_stats": ours, "scrapy_stats": {k: stats[k] for k in KEPT_STATS if k in stats},
        "command": " ".join(command[1:]),
    }
    if mode == "full":
        result["hit_list"] = stored_hits(database_url)
        result["hits"] = len(result["hit_list"])
        result["registered_works"] = registered_works(database_url)
    return result


def check_hits(run: dict[str, Any], planted: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """Which planted copies the full crawl stored as hits, and which hits are not planted."""
    want = {(url.rstrip("/") + copy["path"], copy["work"]) for copy in planted}
    got = set(map(tuple, run.pop("hit_list")))
    missed = sorted(want - got)
    return {"planted": len(want), "hits": len(got), "planted_found": len(want & got),
            "missed": [list(x) for x in missed],
            "unexpected": [list(x) for x in sorted(got - want)]}


def print_profile(path: Path, top: int = 25) -> list[dict[str, Any]]:
    import pstats

    stats = pstats.Stats(str(path))
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in sorted(
            stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]:  # type: ignore[attr-defined]
        name = f"{Path(file).name}:{line}({func})"
        rows.append({"function": name, "calls": calls, "tottime_s": round(tottime, 2),
                     "cumtime_s": round(cumtime, 2)})
    print(f"\nreactor thread profile (cProfile, {total:.1f} s total), top {top} by own time:")
    print(f"{'own s':>7} {'cum s':>7} {'calls':>9}  function")
    for row in rows:
        print(f"{row['tottime_s']:>7.2f} {row['cumtime_s']:>7.2f} {row['calls']:>9}  "
              f"{row['function']}")
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'run':18} {'pages':>6} {'images':>7} {'seconds':>8} {'pages/s':>8} "
          f"{'images/s':>9} {'peak MB':>8} {'tree MB':>8} {'CPU':>5} {'crawl s':>8} "
          f"{'work s':>7} {'hits':>5}")
    for row in rows:
        cpu = f"{row['cpu_share']:.0%}" if "cpu_share" in row else ""
        print(f"{row['run']:18} {row['pages']:>6} {row['images']:>7} {row['seconds']:>8.1f} "
              f"{row['pages_per_s']:>8.1f} {row['images_per_s']:>9.1f} "
              f"{row.get('peak_rss_mb', ''):>8} {row.get('peak_tree_rss_mb', ''):>8} {cpu:>5} "
              f"{row.get('crawl_process_cpu_s', ''):>8} {row.get('workers_cpu_s', ''):>7} "
              f"{row.get('hits', ''):>5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--images-per-page", type=int, default=2)
    parser.add_argument("--planted-share", type=float, default=0.015)
    parser.add_argument("--repeat", type=int, default=1, help="crawls per mode")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "swordnet-bench-crawl",
                        help="where the generated site is kept between runs")
    parser.add_argument("--no-jobdir", action="store_true",
                        help="crawl without -s JOBDIR (the executor always sets one)")
    parser.add_argument("--profile", action="store_true",
                        help="also run one full crawl under cProfile and print its top")
    parser.add_argument("--keep", action="store_true",
                        help="keep each crawl's home (log, stats, database, evidence)")
    parser.add_argument("--registry", type=Path,
                        help="full crawls match against a copy of this bench/scale.py registry "
                             "home (bench/.data/scale/<cache>/registry-<N>)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    if args.registry is not None and not (args.registry / "complete").exists():
        raise SystemExit(f"{args.registry}: not a complete bench/scale.py registry")

    site_dir = args.cache / (f"site-{args.pages}x{args.images_per_page}"
                             f"-{args.planted_share:g}")
    started = time.perf_counter()
    manifest = generate(site_dir, args.pages, args.images_per_page, args.planted_share)
    print(f"site: {manifest['pages']} pages, {manifest['images']} images "
          f"({len(manifest['planted'])} planted copies) in {site_dir} "
          f"(ready in {time.perf_counter() - started:.1f} s)")
    server, url = start_server(site_dir)
    workdir = Path(tempfile.mkdtemp(prefix="swordnet-crawl-bench-"))
    rows: list[dict[str, Any]] = []
    profile_rows: list[dict[str, Any]] = []
    try:
        host, port = url.split("//")[1].rstrip("/").split(":")
        paths = site_paths(manifest)
        fetch_all(host, int(port), paths[:2000])  # warm up
        server_cpu = _cpu_seconds(server.pid)
        baseline = fetch_all(host, int(port), paths)
        baseline["server_cpu_s"] = round(_cpu_seconds(server.pid) - server_cpu, 2)
        rows.append({"run": "raw fetch (no parse)", "pages": manifest["pages"],
                     "images": manifest["images"], "seconds": baseline["seconds"],
                     "pages_per_s": round(manifest["pages"] / baseline["seconds"], 1),
                     "images_per_s": round(manifest["images"] / baseline["seconds"], 1),
                     **baseline})
        print(f"raw fetch baseline: {baseline['requests_per_s']:.0f} requests/s over "
              f"{baseline['connections']} keep-alive connections "
              f"(server CPU {baseline['server_cpu_s']} s)")
        for n in range(1, args.repeat + 1):
            for mode in ("raw", "full"):
                label = f"{mode} #{n}" if args.repeat > 1 else mode
                print(f"crawling: {label} ...", flush=True)
                run = crawl(label.replace(" #", "-"), mode, url, manifest["pages"], workdir,
                            server.pid, not args.no_jobdir, registry=args.registry)
                run["run"] = label
                if mode == "full":
                    run["hit_check"] = check_hits(run, manifest["planted"], url)
                rows.append(run)
        if args.profile:
            print("crawling: full under cProfile ...", flush=True)
            profile_path = workdir / "full.prof"
            run = crawl("full-profiled", "full", url, manifest["pages"], workdir, server.pid,
                        not args.no_jobdir, profile=profile_path, registry=args.registry)
            run["run"] = "full (cProfile)"
            run["hit_check"] = check_hits(run, manifest["planted"], url)
            rows.append(run)
            profile_rows = print_profile(profile_path)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if args.keep:
            print(f"crawl homes kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    crawls = [r for r in rows if r.get("mode") in ("raw", "full") and "cProfile" not in r["run"]]
    median = {mode: {key: statistics.median(r[key] for r in crawls if r["mode"] == mode)
                     for key in ("pages_per_s", "images_per_s", "peak_rss_mb",
                                 "peak_tree_rss_mb")}
              for mode in ("raw", "full")}
    ratio = median["full"]["pages_per_s"] / median["raw"]["pages_per_s"]
    print_table(rows)
    print(f"\nfull / raw throughput (median pages/s): {ratio:.0%} (target >= {TARGET_RATIO:.0%})")
    for row in crawls:
        if row["mode"] == "full":
            check = row["hit_check"]
            print(f"{row['run']} ({row['registered_works']:,} registered works): "
                  f"{check['planted']} planted copies, {check['hits']} hits "
                  f"stored, {check['planted_found']} of them planted; missed "
                  f"{len(check['missed'])}, unexpected {len(check['unexpected'])}; "
                  f"stage 2 ran on {row['swordnet_stats'].get('media_stage2', 0)} images, "
                  f"quality gate skipped {row['swordnet_stats'].get('media_skipped', 0)}")

    import scrapy

    result = {
        "site": {k: v for k, v in manifest.items() if k != "planted"}
        | {"planted": len(manifest["planted"])},
        "runs": rows,
        "median": median,
        "full_over_raw_pages_per_s": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
        "reactor_profile_top": profile_rows,
        "machine": {"cpu_count": os.cpu_count(), "cpu": platform.processor() or
                    platform.machine(), "python": platform.python_version(),
                    "scrapy": scrapy.__version__, "platform": platform.platform()},
        "jobdir": not args.no_jobdir,
        "registry": None if args.registry is None else str(args.registry),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
