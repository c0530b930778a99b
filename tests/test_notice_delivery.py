"""Notices emailed to a real SMTP server (aiosmtpd in its own process, STARTTLS or implicit
TLS with a self-signed certificate, AUTH): what arrives, what is recorded, and every way it
can fail, including a sender killed mid-batch."""

from __future__ import annotations

import hashlib
import os
import signal
from dataclasses import replace
from datetime import datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from casefiles.delivery import BACKOFF_S, CLAIM_LEASE, claim, send_due
from casefiles.notices import due_rechecks, record_notice, record_recheck
from scheduler import jobs
from scheduler.service import wanted_jobs
from swordnet.accounts.users import add_user, create_token
from swordnet.core.config import Settings, load_smtp
from swordnet.core.db import Database
from swordnet.core.models import Capture, Case, CaseEvent, Hit, Notice
from swordnet.core.processes import this_process
from swordnet.core.timeutil import utcnow
from swordnet.web.app import API_PREFIX, create_app
from tests.conftest import run_cli
from tests.smtp_server import free_port, smtp_server
from tests.test_case_lifecycle import confirm, make_hits
from tests.test_console import form_token, sign_in
from tests.warm_cli import WarmProcess

SENDER = "notices@rights.example"
PASSPHRASE = "a long and unusual passphrase 7"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def case_with_evidence(db: Database, domain: str = "pirate.example", copies: int = 2) -> int:
    """A case of ``copies`` confirmed hits on ``domain``, each with a captured copy."""
    hit_ids = make_hits(db, f"http://{domain}/", [f"Work {i} of {domain}" for i in range(copies)])
    with db.session() as session:
        for hit_id in hit_ids:
            hit = session.get(Hit, hit_id)
            assert hit is not None
            capture = Capture(kind="media", url=hit.url, fetched_at=utcnow(), http_status=200,
                              sha256=hashlib.sha256(hit.url.encode()).hexdigest(), size=10)
            session.add(capture)
            session.flush()
            hit.media_capture_id = capture.id
    return confirm(db, hit_ids)


def queue(db: Database, case_id: int, recipient: str = "abuse@host.example",
          now: datetime | None = None) -> int:
    with db.session() as session:
        return record_notice(session, case_id, recipient, "dmca-en", "staff", sender=SENDER,
                             now=now).id


def notice(db: Database, notice_id: int) -> Notice:
    with db.session() as session:
        found = session.get(Notice, notice_id)
        assert found is not None
        return found


def events(db: Database, case_id: int) -> list[CaseEvent]:
    with db.session() as session:
        return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id)
                                    .order_by(CaseEvent.seq)))


def case_status(db: Database, case_id: int) -> str:
    with db.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.status


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_notice_arrives_with_its_urls_and_evidence_and_the_answer_is_recorded(
        db: Database, tmp_path: Path, security: str) -> None:
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id)
    assert case_status(db, case_id) == "open"  # queued is not sent
    with smtp_server(tmp_path / "smtp", "--auth", security=security) as server:
        report = send_due(db, load_smtp(server.environment(security)))  # type: ignore[arg-type]
        [(envelope, message)] = server.messages()
    assert report.sent == [notice_id]
    assert envelope["to"] == ["abuse@host.example"] and envelope["authenticated"]
    assert envelope["tls"] and envelope["from"] == SENDER
    sent = notice(db, notice_id)
    assert sent.status == "sent" and sent.sent_at is not None
    assert sent.server_answer == "250 2.0.0 Ok: queued as Q0001"
    assert message["Message-ID"].strip() == sent.message_id
    assert message["Subject"].startswith("Notice of copyright infringement on pirate.example")
    body = message.get_payload(decode=True).decode()
    with db.session() as session:
        hits = session.scalars(select(Hit).where(Hit.case_id == case_id)).all()
        for hit in hits:
            assert hit.url in body and hit.media_capture.sha256 in body  # type: ignore[union-attr]
    assert case_status(db, case_id) == "notice_sent"
    delivered = [e for e in events(db, case_id) if e.type == "notice_sent"]
    assert delivered[0].payload["message_id"] == sent.message_id
    assert delivered[0].payload["server_answer"].startswith("250")


def test_dry_run_writes_the_eml_and_sends_nothing(db: Database, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = case_with_evidence(db)
    monkeypatch.setenv("SWORDNET_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SWORDNET_SMTP_PORT", str(free_port()))  # nothing listens
    monkeypatch.setenv("SWORDNET_SMTP_FROM", SENDER)
    recorded = run_cli("notices", "record", str(case_id), "--recipient", "abuse@host.example",
                       "--email")
    assert recorded.exit_code == 0 and "queued for email" in recorded.output
    out = tmp_path / "outbox"
    result = run_cli("notices", "send", "--dry-run", str(out))
    assert result.exit_code == 0, result.output
    [eml] = out.glob("notice-*.eml")
    message = message_from_bytes(eml.read_bytes())
    assert message["To"] == "abuse@host.example" and message["From"] == SENDER
    [row] = notice_rows(db)
    assert row.status == "queued" and row.attempts == 0
    assert message["Message-ID"].strip() == row.message_id
    assert case_status(db, case_id) == "open"


def notice_rows(db: Database) -> list[Notice]:
    with db.session() as session:
        return list(session.scalars(select(Notice).order_by(Notice.id)))


def test_notice_sent_is_reached_only_through_a_notice(db: Database) -> None:
    case_id = case_with_evidence(db)
    result = run_cli("cases", "transition", str(case_id), "notice_sent", "--reason", "mailed")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: case {case_id} becomes notice_sent only when a notice is sent: record one "
        f"(`swordnet notices record {case_id} --recipient ADDRESS`)"]
    assert case_status(db, case_id) == "open"


def test_unreachable_server_is_retried_on_the_schedule_then_given_up(
        db: Database, tmp_path: Path) -> None:
    clock = Clock()
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id, now=clock())
    env = {"SWORDNET_SMTP_HOST": "127.0.0.1", "SWORDNET_SMTP_PORT": str(free_port()),
           "SWORDNET_SMTP_FROM": SENDER, "SWORDNET_SMTP_SECURITY": "none"}
    smtp = load_smtp(env)
    assert smtp is not None
    for attempt, wait in enumerate(BACKOFF_S, start=1):
        report = send_due(db, smtp, clock)
        assert report.retrying == [notice_id] and report.stopped is not None
        row = notice(db, notice_id)
        assert row.status == "queued" and row.attempts == attempt
        assert row.next_attempt_at == clock() + timedelta(seconds=wait)
        assert "cannot reach the mail server" in (row.last_error or "")
        assert send_due(db, smtp, clock).retrying == []  # not due yet: nothing tried
        clock.now += timedelta(seconds=wait)
    report = send_due(db, smtp, clock)
    assert report.failed == [notice_id]
    row = notice(db, notice_id)
    assert row.status == "failed" and row.last_error is not None
    assert row.last_error.startswith(f"gave up after {len(BACKOFF_S) + 1} attempts")
    [failed] = [e for e in events(db, case_id) if e.type == "notice_failed"]
    assert failed.payload["error"] == row.last_error
    assert case_status(db, case_id) == "open"


def test_a_server_back_up_gets_the_retried_notice_once(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id, now=clock())
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        env = server.environment()
        server.process.kill()
        server.process.wait()
        smtp = load_smtp(env)
        assert smtp is not None
        assert send_due(db, smtp, clock).retrying == [notice_id]
    with smtp_server(tmp_path / "smtp2", "--auth") as server:
        smtp = load_smtp(server.environment())
        assert smtp is not None
        clock.now += timedelta(seconds=BACKOFF_S[0])
        assert send_due(db, smtp, clock).sent == [notice_id]
        assert send_due(db, smtp, clock).sent == []
        assert len(server.messages()) == 1
    assert notice(db, notice_id).attempts == 2


@pytest.mark.parametrize(("recipient", "extra", "expected"), [
    ("refused@host.example", (), "the mail server refused the recipient (550 5.1.1"),
    ("abuse@host.example", ("--size-limit", "600"),
     "the mail server refused the sender: over its size limit (552"),
])
def test_a_permanent_refusal_fails_the_notice_on_the_case(
        db: Database, tmp_path: Path, recipient: str, extra: tuple[str, ...],
        expected: str) -> None:
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id, recipient)
    with smtp_server(tmp_path / "smtp", "--auth", *extra) as server:
        report = send_due(db, load_smtp(server.environment()))  # type: ignore[arg-type]
        assert server.messages() == []
    assert report.failed == [notice_id] and report.stopped is None
    row = notice(db, notice_id)
    assert row.status == "failed" and (row.last_error or "").startswith(expected)
    [failed] = [e for e in events(db, case_id) if e.type == "notice_failed"]
    assert failed.payload["error"] == row.last_error
    assert case_status(db, case_id) == "open"


def test_a_temporary_refusal_is_retried(db: Database, tmp_path: Path) -> None:
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id, "later@host.example")
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        report = send_due(db, load_smtp(server.environment()))  # type: ignore[arg-type]
    assert report.retrying == [notice_id]
    row = notice(db, notice_id)
    assert row.status == "queued" and "451 4.3.0" in (row.last_error or "")


def test_a_failed_login_fails_the_notice_and_stops_the_batch(db: Database,
                                                            tmp_path: Path) -> None:
    case_id = case_with_evidence(db)
    first, second = queue(db, case_id), queue(db, case_id)
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        env = server.environment() | {"SWORDNET_SMTP_PASSWORD": "wrong"}
        report = send_due(db, load_smtp(env))  # type: ignore[arg-type]
        assert server.messages() == []
    assert report.failed == [first] and report.stopped is not None
    assert "refused the login (535" in report.stopped
    assert notice(db, first).status == "failed" and notice(db, second).status == "queued"
    assert [e.type for e in events(db, case_id)].count("notice_failed") == 1


def test_a_malformed_address_is_refused_before_anything_is_stored(db: Database) -> None:
    case_id = case_with_evidence(db)
    env = {"SWORDNET_SMTP_HOST": "127.0.0.1", "SWORDNET_SMTP_FROM": SENDER}
    os.environ.update(env)
    try:
        result = run_cli("notices", "record", str(case_id), "--recipient", "abuse at host",
                         "--email")
    finally:
        for name in env:
            del os.environ[name]
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: recipient 'abuse at host' is not an email address: "
                                     "An email address must have an @-sign.")
    assert notice_rows(db) == [] and case_status(db, case_id) == "open"


def test_a_malformed_stored_address_fails_at_send_time(db: Database, tmp_path: Path) -> None:
    """A notice queued before addresses were checked (or changed in the database)."""
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id)
    with db.session() as session:
        row = session.get(Notice, notice_id)
        assert row is not None
        row.recipient = "abuse@@host"
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        report = send_due(db, load_smtp(server.environment()))  # type: ignore[arg-type]
    assert report.failed == [notice_id]
    assert "is not an email address" in (notice(db, notice_id).last_error or "")


def sender_process(settings: Settings, env: dict[str, str], output: Path) -> WarmProcess:
    """``swordnet notices send`` as a process of its own (forked warm), writing to
    ``output``."""
    return WarmProcess(["notices", "send"], os.environ | env | {
        "SWORDNET_HOME": str(settings.home), "SWORDNET_DATABASE_URL": settings.database_url},
        output)


@pytest.mark.parametrize("hold", ["data", "rcpt"])
def test_a_sender_killed_mid_batch_resumes_without_losing_or_repeating_a_notice(
        home: Settings, db: Database, tmp_path: Path, hold: str) -> None:
    """The sender (a real subprocess) is killed with SIGKILL while the server holds the
    third notice: after its DATA (the server has it; the sender never heard back) or in RCPT
    (it never reached the server). The resumed run sends the rest once each; the third is
    ``uncertain`` in the first case (never resent by itself) and sent once in the second."""
    case_id = case_with_evidence(db, copies=1)
    ids = [queue(db, case_id, f"abuse{i}@host.example") for i in range(5)]
    extra = ("--hold-data", "3") if hold == "data" else ("--hold-rcpt", "abuse2@host.example")
    with smtp_server(tmp_path / "smtp", "--auth", *extra) as server:
        sender = sender_process(home, server.environment(), tmp_path / "killed.out")
        server.wait_for(f"{hold}-held")
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        server.release()
        assert notice(db, ids[2]).status == "sending"
        resumed = sender_process(home, server.environment(), tmp_path / "resumed.out")
        resumed.wait(timeout=120)
        output = resumed.output.read_text()
        received = [message["Message-ID"].strip() for _envelope, message in server.messages()]
    statuses = {i: notice(db, i).status for i in ids}
    message_ids = {i: notice(db, i).message_id for i in ids}
    assert sorted(received) == sorted(set(received))  # nothing twice
    assert set(received) == set(message_ids.values())  # nothing lost
    if hold == "data":
        assert resumed.returncode == 1, output
        assert statuses == {**{i: "sent" for i in ids}, ids[2]: "uncertain"}
        held = notice(db, ids[2])
        assert f"look for Message-ID {held.message_id}" in (held.last_error or "")
        assert [e.type for e in events(db, case_id)].count("notice_uncertain") == 1
        settled = run_cli("notices", "settle", str(ids[2]), "--evidence", "maillog Q0003")
        assert settled.exit_code == 0, settled.output
        assert notice(db, ids[2]).status == "sent"
    else:
        assert resumed.returncode == 0, output
        assert statuses == {i: "sent" for i in ids}
    assert case_status(db, case_id) == "notice_sent"


def test_the_scheduler_sends_notices_when_they_fall_due(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id, now=clock() + timedelta(minutes=5))
    specs = {s.job_id: s for s in wanted_jobs(db, 86400, 60, clock(), send_every_s=60)}
    assert specs["notices"].func is jobs.send_notices
    assert "notices" not in {s.job_id for s in wanted_jobs(db, 86400, 60, clock())}
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        jobs.install(jobs.JobContext(db=db, executor=None, max_concurrent=1,  # type: ignore[arg-type]
                                     clock=clock, smtp=load_smtp(server.environment())))
        try:
            jobs.send_notices()
            assert notice(db, notice_id).status == "queued" and server.messages() == []
            clock.now += timedelta(minutes=5)
            jobs.send_notices()
        finally:
            jobs.install(None)
        assert len(server.messages()) == 1
    assert notice(db, notice_id).status == "sent"


def test_recorded_and_sent_from_the_api_and_the_console(home: Settings, db: Database,
                                                       tmp_path: Path) -> None:
    """Staff record an email notice and send it over the API, and from the console's case
    page (CSRF-checked forms); the case is notice_sent once the server took it."""
    api_case = case_with_evidence(db, "api-pirate.example")
    console_case = case_with_evidence(db, "console-pirate.example")
    with db.session() as session:
        add_user(session, "lead", PASSPHRASE, "staff")
        token = create_token(session, "lead", "tests").secret
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        settings = replace(home, smtp=load_smtp(server.environment()))
        app = create_app(settings, db)
        with TestClient(app) as client:
            auth = {"Authorization": f"Bearer {token}"}
            made = client.post(f"{API_PREFIX}/cases/{api_case}/notices", headers=auth,
                               json={"recipient": "abuse@host.example", "email": True})
            assert made.status_code == 201, made.text
            assert made.json()["status"] == "queued" and len(made.json()["urls"]) == 2
            sent = client.post(f"{API_PREFIX}/notices/{made.json()['id']}/send", headers=auth)
            assert sent.status_code == 200, sent.text
            assert sent.json()["status"] == "sent"
            assert sent.json()["server_answer"].startswith("250 ")
            again = client.post(f"{API_PREFIX}/notices/{made.json()['id']}/send", headers=auth)
            assert again.status_code == 409  # sent once, never twice

            sign_in(client, "lead", PASSPHRASE)
            page = client.get(f"/cases/{console_case}").text
            assert 'id="notice-form"' in page
            queued = client.post(f"/cases/{console_case}/notices", data={
                "recipient": "abuse@console.example", "email": "1",
                "csrf_token": form_token(page)})
            assert queued.status_code == 200 and "Send now" in queued.text
            notice_id = next(n.id for n in notice_rows(db) if n.case_id == console_case)
            done = client.post(f"/notices/{notice_id}/send",
                               data={"csrf_token": form_token(queued.text)})
            assert done.status_code == 200, done.text
        assert [m["To"] for _e, m in server.messages()] == ["abuse@host.example",
                                                            "abuse@console.example"]
    assert case_status(db, api_case) == case_status(db, console_case) == "notice_sent"
    assert notice(db, notice_id).status == "sent"


def test_a_claim_held_by_a_live_sender_is_left_until_its_lease_ends(db: Database,
                                                                    tmp_path: Path) -> None:
    clock = Clock()
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id, now=clock())
    me = this_process()
    with db.session() as session:  # this very process claimed it, and never got further
        claim(session, notice_id, me, clock())
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        smtp = load_smtp(server.environment())
        assert smtp is not None
        assert send_due(db, smtp, clock).sent == []
        assert notice(db, notice_id).status == "sending"
        clock.now += CLAIM_LEASE
        report = send_due(db, smtp, clock)
        assert report.requeued == [notice_id] and report.sent == [notice_id]
        assert len(server.messages()) == 1


def test_only_a_notice_that_went_out_is_rechecked_and_can_close_the_loop(
        db: Database, tmp_path: Path) -> None:
    """Queued: its URLs are not rechecked yet. Sent: they are, and once every one is gone
    the case is removed."""
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id)
    with db.session() as session:
        assert due_rechecks(session) == {}
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        assert send_due(db, load_smtp(server.environment())).sent == [notice_id]  # type: ignore[arg-type]
    with db.session() as session:
        [url_ids] = due_rechecks(session).values()
        for url_id in url_ids:
            record_recheck(session, url_id, None, "removed", 404, "HTTP 404", None)
    assert case_status(db, case_id) == "removed"


def test_a_notice_of_a_case_whose_custody_log_is_broken_is_not_sent(
        db: Database, tmp_path: Path) -> None:
    case_id = case_with_evidence(db)
    notice_id = queue(db, case_id)
    with db.session() as session:  # someone edits an event in the database
        session.execute(update(CaseEvent).where(CaseEvent.case_id == case_id,
                                                CaseEvent.seq == 1).values(actor="someone"))
    with smtp_server(tmp_path / "smtp", "--auth") as server:
        report = send_due(db, load_smtp(server.environment()))  # type: ignore[arg-type]
        assert server.messages() == []
    assert report.blocked == [notice_id] and report.sent == []
    row = notice(db, notice_id)
    assert row.status == "queued"
    assert (row.last_error or "").startswith(f"not sent: the custody log of case {case_id} "
                                             "broken at event 1")
