"""The live service's own cost per stream check: dispatch, the database writes and the WARC
evidence of first matches, with the sampler and the matcher replaced by the tests' fakes.

Run from the repository root::

    .venv/bin/python bench/live_service.py [--streams 60] [--rounds 10] [--segment-kb 1024]
                                           [--output bench/results/live_service.json]

One event with a live feed and ``--streams`` candidate streams (half restreams of the feed,
half other content) in a fresh SQLite home; ``--rounds`` rounds of ``LiveService.step`` 30 s
apart (every stream due in each). The first round writes every restream's hit with its
playlist and ``--segment-kb`` segment as WARC records. Reports wall time and this process's
CPU per check; fetching and fingerprinting (the sampler's and ffmpeg's work) are not in it:
add their cost from ``bench/live.py`` for the whole check.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_results  # noqa: E402
from swordnet.core.config import load_settings  # noqa: E402
from swordnet.core.db import open_database  # noqa: E402
from tests.test_live_service import T0, Rig, ok_sample  # noqa: E402


def run(streams: int, rounds: int, segment_kb: int, workdir: Path) -> list[dict[str, float]]:
    os.environ["SWORDNET_HOME"] = str(workdir / "home")
    os.environ.pop("SWORDNET_DATABASE_URL", None)
    settings = load_settings()
    db = open_database(settings)
    rig = Rig(settings, db)
    event_id = rig.event()
    urls = [f"http://s{i}.example/live.m3u8" for i in range(streams)]
    for url in urls:
        rig.stream(event_id, url)
    filler = os.urandom(segment_kb * 1024)
    rig.now = T0 + timedelta(minutes=5)
    rows = []
    for n in range(rounds):
        shown = f"minute {n}".encode() + filler
        rig.air(shown, first=100 + n)
        for i, url in enumerate(urls):
            content = shown if i % 2 == 0 else f"other {i} {n}".encode()
            rig.sampler.streams[url] = ok_sample(url, content, n, rig.now)
        wall, cpu = time.perf_counter(), time.process_time()
        outcomes = rig.step(30 if n else 0)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert len(outcomes) == streams, outcomes
        rows.append({"round": n + 1, "checks": len(outcomes),
                     "matched": sum(o == "matched" for o in outcomes.values()),
                     "wall_ms_per_check": round(1000 * wall / streams, 2),
                     "cpu_ms_per_check": round(1000 * cpu / streams, 2)})
    db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--segment-kb", type=int, default=1024)
    parser.add_argument("--output", type=Path,
                        default=REPO / "bench" / "results" / "live_service.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = run(args.streams, args.rounds, args.segment_kb, Path(tmp))
    print(f"{'round':>5}{'checks':>8}{'matched':>9}{'wall ms/check':>15}{'CPU ms/check':>14}")
    for row in rows:
        print(f"{row['round']:>5}{row['checks']:>8}{row['matched']:>9}"
              f"{row['wall_ms_per_check']:>15}{row['cpu_ms_per_check']:>14}")
    later = rows[1:] or rows
    summary = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
               "streams": args.streams, "segment_kb": args.segment_kb, "rounds": rows,
               "first_round_cpu_ms_per_check": rows[0]["cpu_ms_per_check"],
               "later_rounds_cpu_ms_per_check": round(
                   sum(r["cpu_ms_per_check"] for r in later) / len(later), 2)}
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
