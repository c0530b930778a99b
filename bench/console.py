"""Review at scale: console pages and hit API calls over real HTTP with thousands of hits.

Run from the repository root::

    .venv/bin/python bench/console.py [--hits 2500] [--repeat 20] [--thumbnails 30]
                                      [--decisions 50] [--bulk 5] [--shared-captures]
                                      [--output bench/results/console.json]

Builds the console tests' data once (:func:`tests.web_data.build_web_data`: sample works of
two rights holders, four users with API tokens, a crawled pirate site, ~10 s), then
multiplies its hits to ``--hits`` pending hits in one transaction: copies of the crawled
hits with their work, site and run, ``?copy=N`` URLs and capture rows of their own (pointing
at the same WARC records), as crawled hits have, so loading a page of hits cannot reuse
captures already loaded (``--shared-captures``: copies reuse the crawled hits' captures).
Serves the real app with uvicorn on a free 127.0.0.1 port in a background thread and
times, with httpx (keep-alive, one request at a time):

* the console signed in as ``reviewer``: ``GET /review`` (the 100-hit page) unfiltered,
  pending by descending score, and deep (offset 2000); the dashboard for staff and for a
  rights holder;
* ``GET /api/v1/hits?limit=100`` with the reviewer's token, at offset 2000, and with a rights
  holder's token (the holder-scoped query); ``copy.png`` thumbnails of distinct hits (each
  re-encoded from the WARC capture);
* decisions through the API: confirm and reject one hit at a time, undo the confirms, and
  bulk confirms and rejects of 100 ids each ("per second" there counts hits).

"first" is each operation's first request (cold: templates compiled, SQLite pages read,
nothing per hit cached); median and p95 are over the rest. "SQL" is the median number of
statements the request ran (counted on the app's engine). Prints a table and writes
``bench/results/console.json``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlalchemy import event, insert, select, update  # noqa: E402

from bench.report import write_results  # noqa: E402
from swordnet.core.config import Settings  # noqa: E402
from swordnet.core.db import open_database  # noqa: E402
from swordnet.core.models import Capture, Hit  # noqa: E402
from swordnet.web.app import create_app  # noqa: E402
from tests.web_data import PASSWORD, build_web_data  # noqa: E402

RESULTS = REPO / "bench" / "results" / "console.json"
SLOW_MS = 500
COPIED = ("work_id", "fingerprint_id", "site_id", "run_id", "media_capture_id",
          "page_capture_id", "page_url", "algorithm", "variant", "stage", "score", "detail",
          "quarantined", "created_at", "last_seen_at")


def multiply_hits(settings: Settings, total: int, distinct_captures: bool) -> dict[str, int]:
    """Bring the hits to ``total``, all pending: copies of the crawled ones (same work, site
    and run; ``?copy=N`` URLs), inserted in one transaction. They share the crawled hits'
    captures, or with ``distinct_captures`` each gets copies of them (same WARC records)."""
    db = open_database(settings)
    try:
        with db.session() as session:
            crawled = list(session.scalars(select(Hit).order_by(Hit.id)))
            captures = {c.id: c for c in session.scalars(select(Capture))}
            session.execute(update(Hit).values(status="pending", reviewer=None,
                                               reviewed_at=None, case_id=None))
            next_id = max(captures, default=0) + 1
            hits, copies = [], []
            for n in range(max(0, total - len(crawled))):
                hit = crawled[n % len(crawled)]
                row = {name: getattr(hit, name) for name in COPIED}
                for key in ("media_capture_id", "page_capture_id"):
                    if distinct_captures and row[key] is not None:
                        capture = captures[row[key]]
                        copies.append({c.key: getattr(capture, c.key)
                                       for c in Capture.__table__.columns}
                                      | {"id": next_id, "url": f"{capture.url}?copy={n}"})
                        row[key], next_id = next_id, next_id + 1
                hits.append(row | {"url": f"{hit.url}?copy={n}", "status": "pending"})
            if copies:
                session.execute(insert(Capture), copies)
            if hits:
                session.execute(insert(Hit), hits)
        return {"crawled": len(crawled), "added": len(hits), "captures_added": len(copies)}
    finally:
        db.dispose()


class QueryCounter:
    """Counts the SQL statements the app's engine runs (requests here are one at a time)."""

    def __init__(self, app: FastAPI) -> None:
        self.count = 0
        event.listen(app.state.db.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a background thread."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every small response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def console_client(base: str, username: str) -> httpx.Client:
    """An httpx client signed in to the console as ``username`` (login form and its CSRF)."""
    client = httpx.Client(base_url=base, trust_env=False, timeout=60)
    form = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if form.status_code != 200 or found is None:
        raise SystemExit(f"GET /login: {form.status_code}, no csrf_token")
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": found.group(1), "next": "/"})
    if response.status_code != 303 or "swordnet_session" not in client.cookies:
        raise SystemExit(f"sign-in as {username} failed: {response.status_code}")
    return client


def api_client(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, trust_env=False, timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


class Timer:
    """Times requests per operation; keeps each one's latencies and SQL statement counts."""

    def __init__(self, queries: QueryCounter) -> None:
        self.queries = queries
        self.samples: dict[str, list[tuple[float, int]]] = {}
        self.items: dict[str, int] = {}

    def request(self, name: str, send: Callable[[], httpx.Response], *,
                items: int = 1) -> httpx.Response:
        before = self.queries.count
        started = time.perf_counter()
        response = send()
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{name}: status {response.status_code}: {response.text[:300]}")
        self.samples.setdefault(name, []).append((ms, self.queries.count - before))
        self.items[name] = items
        return response

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for name, samples in self.samples.items():
            first_ms = samples[0][0]
            rest = samples[1:] or samples
            times = sorted(ms for ms, _ in rest)
            p95 = statistics.quantiles(times, n=20, method="inclusive")[18] \
                if len(times) > 1 else times[0]
            out.append({"operation": name, "n": len(samples), "first_ms": round(first_ms, 1),
                        "median_ms": round(statistics.median(times), 1),
                        "p95_ms": round(p95, 1), "max_ms": round(times[-1], 1),
                        "items_per_request": self.items[name],
                        "per_second": round(self.items[name] * len(rest) / sum(times) * 1000,
                                            1),
                        "sql_statements": statistics.median(q for _, q in rest)})
        return out


def hit_ids(client: httpx.Client, query: str, count: int) -> list[int]:
    """Ids of the first ``count`` hits the API lists for ``query`` that are not quarantined
    (confirming those needs ``accept_quarantined``)."""
    ids: list[int] = []
    offset = 0
    while len(ids) < count:
        items = client.get(f"/api/v1/hits?{query}&limit=500&offset={offset}").json()["items"]
        if not items:
            break
        ids += [hit["id"] for hit in items if not hit["quarantined"]]
        offset += len(items)
    return ids[:count]


def measure(base: str, tokens: dict[str, str], queries: QueryCounter,
            args: argparse.Namespace) -> Timer:
    timer = Timer(queries)
    repeat = args.repeat + 1  # the first request of each operation is reported apart
    reviewer = console_client(base, "reviewer")
    holder = console_client(base, "north")
    staff_api = api_client(base, tokens["reviewer"])
    holder_api = api_client(base, tokens["north"])
    with ExitStack() as stack:
        for client in (reviewer, holder, staff_api, holder_api):
            stack.callback(client.close)
        pages = {"GET /review": "/review",
                 "GET /review?status=pending&sort=-score": "/review?status=pending&sort=-score",
                 "GET /review?offset=2000": "/review?offset=2000",
                 "GET / (dashboard, staff)": "/"}
        for name, path in pages.items():
            for _ in range(repeat):
                page = timer.request(name, lambda p=path: reviewer.get(p))
                if path.startswith("/review") and page.text.count('<article class="hit"') != 100:
                    raise SystemExit(f"{name} does not show 100 hits")
        for _ in range(repeat):
            timer.request("GET / (dashboard, rights holder)", lambda: holder.get("/"))

        lists = {"GET /api/v1/hits?limit=100": (staff_api, "/api/v1/hits?limit=100"),
                 "GET /api/v1/hits?limit=100&offset=2000":
                     (staff_api, "/api/v1/hits?limit=100&offset=2000"),
                 "GET /api/v1/hits?limit=100 (holder)": (holder_api, "/api/v1/hits?limit=100"),
                 "GET /api/v1/hits?status=pending&sort=-score&limit=100":
                     (staff_api, "/api/v1/hits?status=pending&sort=-score&limit=100")}
        for name, (client, path) in lists.items():
            for _ in range(repeat):
                timer.request(name, lambda c=client, p=path: c.get(p))

        for hit_id in hit_ids(staff_api, "status=pending&algorithm=phash", args.thumbnails):
            timer.request("GET /api/v1/hits/{id}/copy.png",
                          lambda h=hit_id: staff_api.get(f"/api/v1/hits/{h}/copy.png"))

        need = 2 * args.decisions + 2 * args.bulk * 100
        pending = hit_ids(staff_api, "status=pending&sort=id", need)
        if len(pending) < need:
            raise SystemExit(f"only {len(pending)} decidable pending hits, {need} needed")
        confirm_ids = pending[:args.decisions]
        reject_ids = pending[args.decisions:2 * args.decisions]
        for hit_id in confirm_ids:
            timer.request("POST /api/v1/hits/{id}/confirm",
                          lambda h=hit_id: staff_api.post(f"/api/v1/hits/{h}/confirm"))
        for hit_id in reject_ids:
            timer.request("POST /api/v1/hits/{id}/reject",
                          lambda h=hit_id: staff_api.post(f"/api/v1/hits/{h}/reject"))
        for hit_id in confirm_ids:
            timer.request("POST /api/v1/hits/{id}/undo (of a confirm)",
                          lambda h=hit_id: staff_api.post(f"/api/v1/hits/{h}/undo"))
        batches = iter(pending[2 * args.decisions + n * 100:2 * args.decisions + (n + 1) * 100]
                       for n in range(2 * args.bulk))
        for action in ("confirm", "reject"):
            for ids in itertools.islice(batches, args.bulk):
                response = timer.request(
                    f"POST /api/v1/hits/bulk ({action} 100 ids; per s: hits)",
                    lambda i=ids, a=action: staff_api.post("/api/v1/hits/bulk",
                                                           json={"action": a, "ids": i}),
                    items=len(ids))
                if response.json()["errors"]:
                    raise SystemExit(f"bulk {action}: {response.json()['errors']}")
        for _ in range(repeat):  # the queue after all those decisions
            timer.request("GET /review (after decisions)", lambda: reviewer.get("/review"))
    return timer


def cpu_ticks() -> list[int]:
    """The machine's CPU time counters (user, nice, system, idle, iowait, irq, softirq, steal)."""
    return [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "uvicorn": uvicorn.__version__,
            "httpx": httpx.__version__, "database": "SQLite (WAL), one file in the home",
            "load_average_1min": os.getloadavg()[0]}


def print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["operation"]) for r in rows)
    print(f"\n{'operation':{width}} {'n':>4} {'first ms':>9} {'median ms':>10} {'p95 ms':>8} "
          f"{'per second':>11} {'SQL':>5}")
    for r in rows:
        slow = "  <- over 500 ms" if max(r["median_ms"], r["first_ms"]) > SLOW_MS else ""
        print(f"{r['operation']:{width}} {r['n']:>4} {r['first_ms']:>9.1f} "
              f"{r['median_ms']:>10.1f} {r['p95_ms']:>8.1f} {r['per_second']:>11.1f} "
              f"{r['sql_statements']:>5g}{slow}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=2500, help="pending hits in the database")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed requests per read operation, after the first")
    parser.add_argument("--thumbnails", type=int, default=30, help="distinct copy.png hits")
    parser.add_argument("--decisions", type=int, default=50,
                        help="hits confirmed (then undone) and rejected one at a time")
    parser.add_argument("--bulk", type=int, default=5,
                        help="bulk confirms of 100 ids, and as many bulk rejects")
    parser.add_argument("--shared-captures", dest="distinct_captures", action="store_false",
                        help="let added hits share the crawled hits' capture rows (by default "
                             "each has its own, as crawled hits do)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    load_before, ticks_before = os.getloadavg()[0], cpu_ticks()
    with tempfile.TemporaryDirectory(prefix="swordnet-console-bench-") as folder:
        print("building the web data (crawl of the fixture site) ...", flush=True)
        data = build_web_data(Path(folder))
        build_s = time.perf_counter() - started
        counts = multiply_hits(data.settings, args.hits, args.distinct_captures)
        print(f"{counts['crawled']} crawled hits, {counts['added']} copies added "
              f"(built in {build_s:.1f} s); timing ...", flush=True)
        app = create_app(data.settings)
        try:
            queries = QueryCounter(app)
            with serve(app) as base:
                timer = measure(base, data.tokens, queries, args)
        finally:
            app.state.db.dispose()
    ticks = [after - before for after, before in zip(cpu_ticks(), ticks_before, strict=True)]
    rows = timer.rows()
    print_table(rows)
    slow = [r["operation"] for r in rows if max(r["median_ms"], r["first_ms"]) > SLOW_MS]
    write_results(args.output, {
        "hits": args.hits, "crawled_hits": counts["crawled"], "copies_added": counts["added"],
        "captures_added": counts["captures_added"],
        "distinct_captures": args.distinct_captures,
        "settings": {"repeat": args.repeat, "thumbnails": args.thumbnails,
                     "decisions": args.decisions, "bulk": args.bulk,
                     "review_page_size": 100, "client": "httpx, keep-alive, sequential",
                     "server": "uvicorn in a thread of the same process"},
        "operations": rows, "over_500_ms": slow,
        "build_s": round(build_s, 1), "wall_s": round(time.perf_counter() - started, 1),
        "machine": machine() | {"load_average_1min_before": load_before,
                                # CPU time the hypervisor gave to others: timings are noisier
                                "steal_share_during_run": round(ticks[7] / sum(ticks), 3)},
    })


if __name__ == "__main__":
    main()
