"""Where the suite's CPU goes: an opt-in pytest plugin, and a per-file table of what it wrote.

    .venv/bin/python -m pytest -p tests.cpu_profile -n auto --dist loadgroup tests/test_crawl.py
    .venv/bin/python -m tests.cpu_profile             # the table, most expensive file first

For each test it appends one JSON line to ``$SWORDNET_CPU_PROFILE`` (default
``.pytest-cpu.jsonl``; every xdist worker appends to the same file): wall time, the CPU time
(user + system) of the test's own process and of the child processes it waited for (crawl
subprocesses, CLI subprocesses), and how many crawls it ran through the scheduler's
:class:`~scheduler.executor.LocalExecutor`. A crawl's match worker counts once the crawl
has waited for it; the worker of a crawl killed with SIGKILL is not counted.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.executor import CrawlRequest, LocalExecutor

OUTPUT = Path(os.environ.get("SWORDNET_CPU_PROFILE", ".pytest-cpu.jsonl"))
_crawls = 0


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def pytest_configure(config: pytest.Config) -> None:
    run = LocalExecutor.run

    def counted(self: LocalExecutor, request: CrawlRequest) -> int:
        global _crawls
        _crawls += 1
        return run(self, request)

    LocalExecutor.run = counted  # type: ignore[method-assign]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    started, own, children, crawls = (time.monotonic(), _cpu_s(resource.RUSAGE_SELF),
                                       _cpu_s(resource.RUSAGE_CHILDREN), _crawls)
    yield
    line = {"test": item.nodeid, "wall_s": round(time.monotonic() - started, 3),
            "cpu_s": round(_cpu_s(resource.RUSAGE_SELF) - own, 3),
            "children_cpu_s": round(_cpu_s(resource.RUSAGE_CHILDREN) - children, 3),
            "crawls": _crawls - crawls}
    with OUTPUT.open("a") as out:
        out.write(json.dumps(line) + "\n")


def per_file(path: Path) -> list[tuple[str, int, int, float]]:
    """(file, tests, crawls, CPU s with children) per test file, most CPU first."""
    files: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for text in path.read_text().splitlines():
        line = json.loads(text)
        row = files[line["test"].split("::")[0]]
        row[0] += 1
        row[1] += line["crawls"]
        row[2] += line["cpu_s"] + line["children_cpu_s"]
    return sorted(((name, int(t), int(c), cpu) for name, (t, c, cpu) in files.items()),
                  key=lambda row: -row[3])


if __name__ == "__main__":
    rows = per_file(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
    print(f"{'CPU s':>8} {'tests':>6} {'crawls':>7}  file")
    for name, tests, crawls, cpu in rows:
        print(f"{cpu:8.1f} {tests:6d} {crawls:7d}  {name}")
    print(f"{sum(r[3] for r in rows):8.1f} {sum(r[1] for r in rows):6d} "
          f"{sum(r[2] for r in rows):7d}  in all")
