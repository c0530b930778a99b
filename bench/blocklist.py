"""The blocking list: how long confirm-and-list takes per stream, and an export, as the list
and the known sites grow.

Run from the repository root::

    .venv/bin/python bench/blocklist.py [--sites 20000] [--streams 300]
                                        [--output bench/results/blocklist.json]

In a fresh SQLite home: ``--sites`` sites with recorded IPs (what the many-domains check of
shared infrastructure scans), then ``--streams`` matched live streams, each fetched from two
addresses, confirmed and listed one unit of work each (the hit confirmed into its site's case,
every entry a custody event, both IPs checked against the provider ranges and the sites).
Then the CSV, JSON and per-kind text exports of the resulting list. Prints a table and writes
``bench/results/blocklist.json``.
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
from swordnet.core.models import Site  # noqa: E402
from swordnet.live.blocklist import confirm_and_list, export  # noqa: E402
from tests.live_rows import T0, add_event, add_matched_stream  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=20000)
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--output", type=Path,
                        default=REPO / "bench" / "results" / "blocklist.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SWORDNET_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("SWORDNET_DATABASE_URL", None)
        db = open_database(load_settings())
        with db.session() as session:
            session.add_all(Site(domain=f"site{n}.example",
                                 ips=[f"198.18.{n // 250 % 256}.{n % 250 + 1}"])
                            for n in range(args.sites))
        with db.session() as session:
            event = add_event(session)
            ids = [add_matched_stream(session, event, f"https://s{n}.pirate.example/live.m3u8",
                                      [f"203.0.{n // 200}.{n % 200 + 1}",
                                       f"2001:db8::{n + 1:x}"]).id
                   for n in range(args.streams)]
        started = time.perf_counter()
        for n, stream_id in enumerate(ids):
            with db.session() as session:
                confirm_and_list(session, stream_id, actor="bench",
                                 at=T0 + timedelta(minutes=5, seconds=n))
        confirm_s = time.perf_counter() - started
        timings = {}
        with db.session() as session:
            for label, fmt, kind in (("csv", "csv", None), ("json", "json", None),
                                     ("fqdn.txt", "txt", "fqdn"), ("ipv4.txt", "txt", "ipv4")):
                started = time.perf_counter()
                body, _ = export(session, fmt, kind)
                timings[label] = {"ms": round(1000 * (time.perf_counter() - started), 1),
                                  "bytes": len(body.encode())}
        db.dispose()
    entries = args.streams * 3
    summary = {"machine": platform.machine(), "python": platform.python_version(),
               "sites": args.sites, "streams": args.streams, "entries": entries,
               "confirm_and_list_ms_per_stream": round(1000 * confirm_s / args.streams, 2),
               "exports": timings}
    print(f"{'sites':>7}{'streams':>9}{'entries':>9}{'confirm+list ms/stream':>24}")
    print(f"{args.sites:>7}{args.streams:>9}{entries:>9}"
          f"{summary['confirm_and_list_ms_per_stream']:>24}")
    print(f"{'export':<10}{'ms':>8}{'bytes':>10}")
    for label, row in timings.items():
        print(f"{label:<10}{row['ms']:>8}{row['bytes']:>10}")
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
