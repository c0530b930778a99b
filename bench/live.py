"""Live-checking benchmark: one node keeping up with many candidate restreams of an event.

Run from the repository root::

    .venv/bin/python bench/live.py [--streams 50] [--rounds 3] [--every 30]

Serves the live world of the tests (``tests/live_world.py``: the official feed and, here,
``--streams`` restreams of it, 20-90 s behind, each under its own host name) on loopback,
in a process of its own, registers the event with its feed, records every restream as a
candidate, and runs the real live service (:class:`swordnet.live.service.LiveService`:
reference ingest and checker, with the real sampler and matcher) on the world's clock. A
warm-up brings the rolling reference to the point where every restream has aired; then each
round moves the clock on by ``--every`` seconds, ingests the feed and checks every due
stream, and measures the round's wall time and CPU (this process and the children it waited
for, e.g. ffmpeg, from ``getrusage``; the world's process is not counted) next to what the
checks recorded themselves (``LiveCheck.cpu_s``). A round is on time when every stream got
its check in it and it took no longer than ``--every`` seconds of wall time.

Prints a table and writes ``bench/results/live.json``. Media is generated once into
``bench/.data/live-media`` and reused.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from bench.report import write_results  # noqa: E402
from swordnet.core.config import Settings  # noqa: E402
from swordnet.core.db import Database, open_database  # noqa: E402
from swordnet.core.models import LiveCheck, LiveStream  # noqa: E402
from swordnet.live.events import register_event  # noqa: E402
from swordnet.live.sampler import StreamSampler  # noqa: E402
from swordnet.live.service import LiveService  # noqa: E402
from swordnet.live.streams import record_candidate  # noqa: E402
from swordnet.works.registry import holder_by_name  # noqa: E402
from tests.live_world import (  # noqa: E402
    DELAYS,
    EVENT_TITLE,
    PROGRAMME_S,
    TEST_POLICY,
    LiveWorld,
    WorldClock,
    load_media,
    make_media,
    resolver,
)

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "live.json"
MEDIA = ROOT / ".data" / "live-media"
WARM_UP_S = 120  # every restream (at most 90 s behind) has aired by then
TICK_S = 5  # the warm-up ingests the feed this often, as a running service would


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def media_folder() -> Path:
    """The world's media, generated on the first run."""
    if not (MEDIA / "done").exists():
        MEDIA.mkdir(parents=True, exist_ok=True)
        make_media(MEDIA)
        (MEDIA / "done").write_text("")
    return MEDIA


@contextmanager
def world_process(media: Path, clock: WorldClock, start: datetime,
                  streams: int) -> Iterator[tuple[str, list[str], dict[str, str]]]:
    """The live world with ``streams`` extra restreams, served by a forked process (so its
    CPU is not the node's) while the block runs: the feed's URL, the restreams' URLs and
    the world's DNS."""
    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(media, clock, start, streams, theirs),
                              daemon=True)
    process.start()
    try:
        yield ours.recv()
    finally:
        ours.send("stop")
        process.join(timeout=10)


def _serve(media: Path, clock: WorldClock, start: datetime, streams: int,
           pipe: Connection) -> None:
    with LiveWorld(load_media(media), clock, start) as world:
        urls = world.add_restreams(streams)
        pipe.send((world.feed_url, urls, world.address_book()))
        pipe.recv()


def checks_at(db: Database, at: datetime) -> list[LiveCheck]:
    with db.session() as session:
        checks = list(session.scalars(select(LiveCheck).where(LiveCheck.checked_at >= at)))
        session.expunge_all()
        return checks


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    last_round_s = WARM_UP_S + (args.rounds - 1) * args.every
    if last_round_s + min(DELAYS) > PROGRAMME_S:
        raise SystemExit(f"--rounds {args.rounds} at --every {args.every} outlasts the "
                         f"{PROGRAMME_S:.0f} s programme the restreams air")
    settings = Settings(home=folder / "home", database_url=f"sqlite:///{folder / 'sn.db'}",
                        allow_networks="127.0.0.1/32,::1/128")
    start = datetime.now(UTC).replace(microsecond=0)
    clock = WorldClock(start)
    rounds: list[dict[str, Any]] = []
    with world_process(media_folder(), clock, start, args.streams) as (feed_url, urls, names):
        db = open_database(settings)
        with db.session() as session:
            holder = holder_by_name(session, "Bench Holder")
            event = register_event(
                session, holder_id=holder.id, title=EVENT_TITLE, aliases=[],
                starts_at=start - timedelta(minutes=5), ends_at=start + timedelta(hours=2),
                feed_url=feed_url, check_every_s=args.every, actor="bench")
            for url in urls:
                record_candidate(session, event_id=event.id, url=url, page_url=None,
                                 found_by="staff", at=start + timedelta(seconds=WARM_UP_S))
        sampler = StreamSampler(TEST_POLICY, clock=clock, resolve=resolver(names))
        service = LiveService(settings, clock, db=db, sampler=sampler)
        warm_up_started = time.perf_counter()
        for elapsed in range(0, WARM_UP_S, TICK_S):
            clock.set(start + timedelta(seconds=elapsed))
            service.ingest(clock())
        warm_up_s = time.perf_counter() - warm_up_started
        for n in range(args.rounds):
            at = start + timedelta(seconds=WARM_UP_S + n * args.every)
            clock.set(at)
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            service.ingest(at)
            cpu1, wall1 = cpu_seconds(), time.perf_counter()
            service.check(at)
            cpu2, wall2 = cpu_seconds(), time.perf_counter()
            checks = checks_at(db, at)
            checked = {c.stream_id for c in checks}
            recorded = [c.cpu_s for c in checks if c.cpu_s is not None]
            rounds.append({
                "round": n + 1, "clock_s": WARM_UP_S + n * args.every,
                "streams_checked": len(checked), "checks": len(checks),
                "outcomes": dict(Counter(c.outcome for c in checks)),
                "ingest_wall_s": round(wall1 - wall0, 3), "ingest_cpu_s": round(cpu1 - cpu0, 3),
                "check_wall_s": round(wall2 - wall1, 3), "check_cpu_s": round(cpu2 - cpu1, 3),
                "recorded_cpu_s_mean": round(statistics.mean(recorded), 4) if recorded else None,
                "recorded_cpu_s_max": round(max(recorded), 4) if recorded else None,
                "on_time": len(checked) == args.streams
                and (wall2 - wall0) <= args.every,
            })
        with db.session() as session:
            states = Counter(session.scalars(select(LiveStream.state)).all())
        db.dispose()
    checks_total = sum(r["checks"] for r in rounds)
    cpu_total = sum(r["check_cpu_s"] + r["ingest_cpu_s"] for r in rounds)
    return {
        "streams": args.streams, "rounds": args.rounds, "every_s": args.every,
        "warm_up_wall_s": round(warm_up_s, 1),
        "cpu_s_per_stream_check": round(sum(r["check_cpu_s"] for r in rounds)
                                        / max(1, checks_total), 4),
        "cpu_s_per_stream_per_interval": round(cpu_total / (args.streams * args.rounds), 4),
        "round_wall_s_max": max(r["ingest_wall_s"] + r["check_wall_s"] for r in rounds),
        "every_round_on_time": all(r["on_time"] for r in rounds),
        "stream_states": dict(states),
        "per_round": rounds,
        "cores": len(os.sched_getaffinity(0)),
    }


def print_table(summary: dict[str, Any]) -> None:
    print(f"{'round':>5} {'checked':>7} {'ingest s':>8} {'check wall s':>12} "
          f"{'check cpu s':>11} {'cpu/check':>9} {'recorded':>8} {'on time':>7}  outcomes")
    for row in summary["per_round"]:
        per_check = row["check_cpu_s"] / max(1, row["checks"])
        print(f"{row['round']:>5} {row['streams_checked']:>7} {row['ingest_wall_s']:>8.2f} "
              f"{row['check_wall_s']:>12.2f} {row['check_cpu_s']:>11.2f} {per_check:>9.3f} "
              f"{row['recorded_cpu_s_mean'] or 0:>8.3f} {str(row['on_time']):>7}  "
              f"{row['outcomes']}")
    print(f"{summary['streams']} streams, one check each per {summary['every_s']} s, "
          f"on {summary['cores']} cores")
    print(f"CPU per stream-check: {summary['cpu_s_per_stream_check']:.3f} s; per stream per "
          f"{summary['every_s']} s (ingest included): "
          f"{summary['cpu_s_per_stream_per_interval']:.3f} s")
    print(f"slowest round: {summary['round_wall_s_max']:.1f} s wall; every round on time: "
          f"{summary['every_round_on_time']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every", type=int, default=30, help="seconds between two checks "
                        "of a stream (the event's check interval)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="swordnet-live-bench-") as folder:
        summary = run(args, Path(folder))
    summary["wall_s"] = round(time.time() - started, 1)
    print_table(summary)
    write_results(args.output, summary)


if __name__ == "__main__":
    main()
