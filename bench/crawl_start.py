"""What one test crawl costs in CPU time, and where: the crawl process, its match worker, the rest.

Run from the repository root::

    .venv/bin/python bench/crawl_start.py [--repeat 3] [--modes cold,warm]
        [--output bench/results/crawl_start.json]

Every ``scrapy crawl`` subprocess the test suite starts (through the scheduler's
:class:`~scheduler.executor.LocalExecutor`, as the tests do, with one match worker as
tests/conftest.py sets) pays a start-up before it fetches anything. This bench crawls three
sites served on 127.0.0.1 with the shipped sample works registered in a fresh SQLite home:

* ``nothing``: a start URL that refuses connections (start-up and shut-down only);
* ``one image``: one page with one altered copy (the match worker starts, loads its index
  and analyses one image);
* ``fixture site``: the demo's fixture site (tests/crawled.py's crawl: 7 pages, 56 media).

Each crawl is made both ways (``--modes``): ``cold``, a ``python -m scrapy crawl`` subprocess
(SWORDNET_COLD_CRAWLS), and ``warm``, forked from the executor's warm launcher
(scheduler/launcher.py), which is started once, before the crawls, and whose own start-up CPU
and wall time are reported separately. Each crawl's wall time is that of the executor's
``run``.

Each crawl's process tree is sampled with psutil every 10 ms; a process's CPU time (user +
system) is its last sample, so a process that lives less than 10 ms is missed and each loses
at most 10 ms. Processes are told apart by their parent and command line: the crawl (this
process's child, or the launcher's), its match worker(s) and multiprocessing's resource tracker
(the crawl's). Also
measured: the CPU time of importing what each process imports, in a fresh interpreter.
Prints a table (medians over ``--repeat`` crawls) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from scheduler.executor import CrawlRequest, LocalExecutor  # noqa: E402
from scheduler.launcher import shared_launcher  # noqa: E402
from swordnet.core.config import Settings  # noqa: E402
from swordnet.core.db import open_database  # noqa: E402
from swordnet.demo.samples import sample_files  # noqa: E402
from swordnet.demo.site import DemoSite, build_demo_site, serve_site  # noqa: E402
from swordnet.watch.targets import site_for_url  # noqa: E402
from swordnet.works.registry import register_work  # noqa: E402

RESULTS = REPO / "bench" / "results" / "crawl_start.json"
TEST_NETWORKS = "127.0.0.0/8,::1/128"
SAMPLE_S = 0.01
# What the crawl process and a spawned match worker import (crawlers.analysis alone; a worker
# forked from the crawl, as the crawl's first pool is, imports nothing).
CRAWL_IMPORTS = ("scrapy.cmdline, scrapy.crawler, crawlers.settings, crawlers.spiders.site, "
                 "crawlers.spiders.feed, crawlers.spiders.recheck, crawlers.spiders.search, "
                 "crawlers.pipelines, crawlers.outbound, crawlers.browser_proxy, "
                 "scrapy.core.downloader.handlers.http11")
WORKER_IMPORTS = "crawlers.analysis"


def import_cpu_s(modules: str) -> float:
    """CPU time of a fresh interpreter that imports ``modules`` (and starts up)."""
    code = ("import resource\nimport " + modules + "\n"
            "r = resource.getrusage(resource.RUSAGE_SELF)\nprint(r.ru_utime + r.ru_stime)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                          capture_output=True, text=True)
    return float(done.stdout)


def role(process: psutil.Process, bench_pid: int, launcher_pid: int | None) -> str:
    """A crawl is a child of this process (the executor's) or of its launcher; the crawl's
    own children are its match workers and multiprocessing's resource tracker."""
    if process.pid == launcher_pid:
        return "launcher"
    if process.ppid() in (bench_pid, launcher_pid):
        return "crawl"
    return "tracker" if "resource_tracker" in " ".join(process.cmdline()) else "worker"


class TreeSampler:
    """Samples the CPU times of the test process's descendants until stopped."""

    def __init__(self, launcher_pid: int | None) -> None:
        self.launcher_pid = launcher_pid
        self.cpu: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        me = psutil.Process()
        while not self.stop.wait(SAMPLE_S):
            for child in me.children(recursive=True):
                if child.pid == self.launcher_pid:
                    continue
                try:
                    times = child.cpu_times()
                    # a tracker is a fork of the crawl until it runs its own program, and an
                    # exited one (a zombie) has no command line any more: once a tracker,
                    # always one
                    known = self.cpu.get(child.pid, ("", 0.0))[0]
                    name = (known if known == "tracker"
                            else role(child, me.pid, self.launcher_pid))
                except psutil.Error:
                    continue
                self.cpu[child.pid] = (name, times.user + times.system)

    def by_role(self) -> dict[str, float]:
        self.stop.set()
        self.thread.join()
        totals: dict[str, float] = {"crawl": 0.0, "worker": 0.0, "tracker": 0.0}
        for name, cpu in self.cpu.values():
            totals[name] += cpu
        return totals


def one_image_site() -> DemoSite:
    path, title = sample_files()[0]
    site = build_demo_site([(title, Image.open(path).convert("RGB"))])
    keep = {p.page_path for p in site.planted[:1]} | {p.image_path for p in site.planted[:1]}
    single = DemoSite()
    planted = site.planted[0]
    single.files = {path: resource for path, resource in site.files.items() if path in keep}
    single.add("/", f'<a href="{planted.page_path}">copy</a>'.encode(), "text/html")
    single.planted = [planted]
    return single


def crawl_cpu(settings: Settings, url: str, launcher_pid: int | None) -> dict[str, Any]:
    db = open_database(settings)
    try:
        with db.session() as session:
            site_id = site_for_url(session, url).id
        sampler = TreeSampler(launcher_pid)
        started = time.perf_counter()
        run_id = LocalExecutor(db, settings, timeout_s=600).run(
            CrawlRequest(site_id=site_id, start_url=url, depth=2, max_pages=50))
        wall = time.perf_counter() - started
        cpu = sampler.by_role()
    finally:
        db.dispose()
    return {"run_id": run_id, **cpu, "total": sum(cpu.values()), "wall": round(wall, 3)}


def start_launcher() -> dict[str, float]:
    """Start this process's warm launcher; its start-up's CPU (as its child) and wall time."""
    started = time.perf_counter()
    launcher = shared_launcher()
    wall = time.perf_counter() - started
    assert launcher is not None, "the warm launcher did not start"
    times = psutil.Process(launcher.process.pid).cpu_times()
    return {"pid": launcher.process.pid, "cpu": round(times.user + times.system, 3),
            "wall": round(wall, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--modes", type=lambda text: text.split(","), default=["cold", "warm"],
                        help="comma-separated: cold (a subprocess per crawl), warm (launcher)")
    args = parser.parse_args()
    os.environ["SWORDNET_MATCH_WORKERS"] = "1"  # as tests/conftest.py sets for every crawl

    imports = {"crawl process": statistics.median(import_cpu_s(CRAWL_IMPORTS)
                                                  for _ in range(args.repeat)),
               "match worker": statistics.median(import_cpu_s(WORKER_IMPORTS)
                                                 for _ in range(args.repeat))}
    home = Path(tempfile.mkdtemp(prefix="crawl-start-"))
    settings = Settings(home=home / "home", database_url=f"sqlite:///{home / 'swordnet.db'}",
                        allow_networks=TEST_NETWORKS)
    db = open_database(settings)
    with db.session() as session:
        for path, title in sample_files():
            register_work(session, path.read_bytes(), title=title, holder_name="Bench")
    db.dispose()
    fixture = build_demo_site([(t, Image.open(p).convert("RGB")) for p, t in sample_files()])
    sites = ("nothing", "one image", "fixture site")
    launcher = start_launcher() if "warm" in args.modes else None
    crawls: dict[str, dict[str, list[dict[str, Any]]]] = {
        mode: {name: [] for name in sites} for mode in args.modes}
    for _ in range(args.repeat):  # the modes take turns, so both see the same load
        for mode in args.modes:
            mode_settings = replace(settings, warm_crawls=mode == "warm")
            launcher_pid = int(launcher["pid"]) if launcher else None  # in both modes
            crawls[mode]["nothing"].append(
                crawl_cpu(mode_settings, "http://127.0.0.1:9/", launcher_pid))
            for name, site in (("one image", one_image_site()), ("fixture site", fixture)):
                with serve_site(site) as served:
                    crawls[mode][name].append(crawl_cpu(mode_settings, served.url,
                                                        launcher_pid))

    roles = ("crawl", "worker", "tracker", "total", "wall")
    medians = {mode: {name: {r: round(statistics.median(c[r] for c in runs), 3)
                             for r in roles}
                      for name, runs in by_site.items()}
               for mode, by_site in crawls.items()}
    print(f"CPU s and wall s (median of {args.repeat}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores)")
    print(f"{'mode':<6}{'crawl of':<14}" + "".join(f"{r:>9}" for r in roles))
    for mode, by_site in medians.items():
        for name, row in by_site.items():
            print(f"{mode:<6}{name:<14}" + "".join(f"{row[r]:>9.2f}" for r in roles))
    if launcher:
        print(f"warm launcher start-up (once per process): {launcher['cpu']:.2f} CPU s, "
              f"{launcher['wall']:.2f} s wall")
    for name, cpu in imports.items():
        print(f"imports of the {name}: {cpu:.2f} CPU s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 1), "repeat": args.repeat,
        "import_cpu_s": {k: round(v, 3) for k, v in imports.items()},
        "launcher_start": launcher and {k: launcher[k] for k in ("cpu", "wall")},
        "crawl_median": medians, "crawls": crawls}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
