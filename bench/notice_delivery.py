"""Emailing notices: how long a sender run takes per notice against a real SMTP server.

Run from the repository root::

    .venv/bin/python bench/notice_delivery.py [--notices 200] [--urls 20]
                                              [--output bench/results/notice_delivery.json]

Starts the delivery tests' SMTP server (aiosmtpd in its own process on 127.0.0.1) once with
STARTTLS and AUTH and once without either, queues ``--notices`` notices of a case with
``--urls`` confirmed hits in a fresh SQLite home, and times one sender run over them (each
notice: claim committed, one connection with TLS and login, MAIL/RCPT, the hand-over
committed, DATA, the result and its custody-log event committed). Also times queuing (the
notice rendered and recorded). Prints a table and writes ``bench/results/notice_delivery.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_results  # noqa: E402
from casefiles.delivery import send_due  # noqa: E402
from casefiles.notices import record_notice  # noqa: E402
from swordnet.core.config import load_settings, load_smtp  # noqa: E402
from swordnet.core.db import open_database  # noqa: E402
from tests.smtp_server import smtp_server  # noqa: E402
from tests.test_case_lifecycle import confirm, make_hits  # noqa: E402


def run(security: str, notices: int, urls: int, workdir: Path) -> dict[str, float]:
    os.environ["SWORDNET_HOME"] = str(workdir / f"home-{security}")
    os.environ.pop("SWORDNET_DATABASE_URL", None)
    settings = load_settings()
    db = open_database(settings)
    case_id = confirm(db, make_hits(db, "http://pirate.example/",
                                    [f"Work {i}" for i in range(urls)]))
    started = time.perf_counter()
    for i in range(notices):
        with db.session() as session:
            record_notice(session, case_id, f"abuse{i}@host.example", "dmca-en", "bench",
                          sender="notices@rights.example")
    queued_s = time.perf_counter() - started
    extra = ("--auth",) if security == "starttls" else ()
    with smtp_server(workdir / f"smtp-{security}", *extra, security=security) as server:
        smtp = load_smtp(server.environment(security, auth=security == "starttls"))
        assert smtp is not None
        started = time.perf_counter()
        report = send_due(db, smtp)
        sent_s = time.perf_counter() - started
        received = len(server.messages())
    db.dispose()
    assert len(report.sent) == notices == received, (report, received)
    return {"notices": notices, "urls_per_notice": urls, "queue_ms_per_notice":
            round(1000 * queued_s / notices, 2), "send_ms_per_notice":
            round(1000 * sent_s / notices, 2), "sent_per_s": round(notices / sent_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=200)
    parser.add_argument("--urls", type=int, default=20)
    parser.add_argument("--output", type=Path,
                        default=REPO / "bench" / "results" / "notice_delivery.json")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for security in ("starttls", "none"):
            rows[security] = run(security, args.notices, args.urls, Path(tmp))
    print(f"{'server':<22}{'notices':>8}{'URLs':>6}{'queue ms':>10}{'send ms':>9}{'sent/s':>8}")
    for security, row in rows.items():
        label = "STARTTLS + AUTH" if security == "starttls" else "plain, no login"
        print(f"{label:<22}{row['notices']:>8}{row['urls_per_notice']:>6}"
              f"{row['queue_ms_per_notice']:>10}{row['send_ms_per_notice']:>9}"
              f"{row['sent_per_s']:>8}")
    write_results(args.output, {"machine": platform.platform(), "cpus": os.cpu_count(),
                                "database": "sqlite", "results": rows})


if __name__ == "__main__":
    main()
