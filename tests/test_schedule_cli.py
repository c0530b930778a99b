"""Bad input to the scheduling commands: one-line errors, non-zero exit, nothing written."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import Campaign, CampaignTarget, ServiceInstance, Tip, WatchTarget
from tests import warm_cli
from tests.conftest import run_cli


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def one_line_error(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: "), output
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def two_targets(home: Settings, db: Database) -> Database:
    for url in ("http://127.0.0.1:9/a/", "http://127.0.0.1:9/b/"):
        assert run_cli("sites", "add", url).exit_code == 0
    return db


def test_campaign_is_created_listed_and_stopped(two_targets: Database) -> None:
    result = run_cli("campaigns", "create", "Film push", "--from", "2026-01-01",
                     "--to", "2099-03-31", "--targets", "1,2", "--every", "30m",
                     "--focus", "film piracy")
    assert result.exit_code == 0, result.output
    assert "crawls targets 1, 2 every 1800 s" in result.output
    listed = json.loads(run_cli("campaigns", "list", "--json").output)
    assert [(c["name"], c["state"], c["targets"]) for c in listed] == \
        [("Film push", "running", [1, 2])]
    assert run_cli("campaigns", "stop", "FILM PUSH").exit_code == 0
    assert json.loads(run_cli("campaigns", "list", "--json").output)[0]["state"] == "stopped"
    again = run_cli("campaigns", "stop", "Film push")
    assert one_line_error(again.output) == "Error: campaign 'Film push' is already stopped"


@pytest.mark.parametrize(("args", "message"), [
    (["--targets", "1,99"], "Error: no watch target with id 99 (see `swordnet sites list`)"),
    (["--targets", "1,x"], "Invalid value for '--targets': give watch target ids separated "
                           "by commas, not '1,x'"),
    (["--from", "2099-05-01", "--to", "2099-04-01"],
     "Error: --to (2099-04-01T00:00:00+00:00) must be after --from (2099-05-01T00:00:00+00:00)"),
    (["--from", "2020-01-01", "--to", "2020-02-01"],
     "Error: --to (2020-02-01T00:00:00+00:00) is already in the past"),
    (["--from", "tomorrow"], "Invalid value for '--from': not a date or date-time: 'tomorrow'"),
    (["--every", "often"], "Invalid value for '--every': not an interval: 'often'"),
])
def test_bad_campaigns_are_refused_and_nothing_is_written(
    two_targets: Database, args: list[str], message: str
) -> None:
    options = {"--from": "2099-01-01", "--to": "2099-02-01", "--targets": "1,2"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        options[flag] = value
    result = run_cli("campaigns", "create", "Spring", *[x for kv in options.items() for x in kv])
    assert result.exit_code != 0
    assert message in result.output
    assert count(two_targets, Campaign) == 0 and count(two_targets, CampaignTarget) == 0


def test_campaign_names_may_not_overlap(two_targets: Database) -> None:
    args = ["--from", "2099-01-01", "--to", "2099-02-01", "--targets", "1"]
    assert run_cli("campaigns", "create", "World Cup 2026", *args).exit_code == 0
    result = run_cli("campaigns", "create", "  world  cup 2026 ", *args)
    assert result.exit_code == 1
    assert one_line_error(result.output) == (
        "Error: a campaign named 'World Cup 2026' already exists (id 1, 2099-01-01 to "
        "2099-02-01); choose another name")
    assert count(two_targets, Campaign) == 1


def test_schedules_take_intervals_and_cron_and_refuse_bad_ones(two_targets: Database) -> None:
    assert run_cli("sites", "schedule", "1", "--cron", "0 3 * * mon").exit_code == 0
    assert "every 7200 s" in run_cli("sites", "schedule", "2", "--every", "2h").output
    bad = run_cli("sites", "schedule", "1", "--cron", "0 25 * * *")
    assert one_line_error(bad.output).startswith("Error: not a cron expression: '0 25 * * *'")
    unknown = run_cli("sites", "schedule", "42", "--every", "1h")
    assert one_line_error(unknown.output) == \
        "Error: no watch target with id 42 (see `swordnet sites list`)"
    added = run_cli("sites", "add", "http://127.0.0.1:9/c/", "--cron", "every day")
    assert one_line_error(added.output).startswith("Error: not a cron expression: 'every day'")
    with two_targets.session() as session:
        schedules = {t.id: (t.every_seconds, t.cron) for t in session.scalars(select(WatchTarget))}
    assert schedules == {1: (None, "0 3 * * mon"), 2: (7200, None)}  # nothing half-changed


def test_unknown_target_and_work_ids_are_named(two_targets: Database) -> None:
    crawl = run_cli("crawl", "--target", "77")
    assert one_line_error(crawl.output) == "Error: no watch target with id 77"
    tip = run_cli("tips", "add", "http://127.0.0.1:9/x.html", "--work", "5")
    assert one_line_error(tip.output) == "Error: no work with id 5 (see `swordnet works list`)"
    bad_url = run_cli("tips", "add", "not a url")
    assert one_line_error(bad_url.output) == "Error: not an http(s) URL: 'not a url'"
    notice = run_cli("notices", "record", "3", "--recipient", "abuse@example.org")
    assert one_line_error(notice.output) == \
        "Error: no case with id 3 (see `swordnet cases list`)"
    assert count(two_targets, Tip) == 0


def _scheduler_cli(home: Settings, *args: str, database_url: str | None = None,
                   env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWORDNET_HOME": str(home.home),
           "SWORDNET_DATABASE_URL": database_url or home.database_url, **(env_extra or {})}
    return warm_cli.run(list(args), env, timeout=60)


def test_unreachable_scrapyd_node_stops_the_scheduler_before_it_starts(
    home: Settings, db: Database
) -> None:
    port = free_port()
    result = _scheduler_cli(home, "scheduler", "run", "--executor", "scrapyd",
                            "--node", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert one_line_error(result.stderr) == (
        f"Error: scrapyd node http://127.0.0.1:{port} is unreachable: "
        "[Errno 111] Connection refused")
    no_nodes = _scheduler_cli(home, "scheduler", "run", "--executor", "scrapyd")
    assert one_line_error(no_nodes.stderr) == ("Error: the scrapyd executor needs nodes: "
                                               "--node URL (repeatable) or SWORDNET_SCRAPYD_NODES")
    check = _scheduler_cli(home, "scrapyd", "check", f"http://127.0.0.1:{port}")
    assert check.returncode == 1 and "unreachable" in check.stderr
    assert count(db, ServiceInstance) == 0  # nothing recorded as running


@pytest.mark.parametrize("command", [
    ["scheduler", "run"], ["scheduler", "status"], ["campaigns", "list"],
    ["tips", "add", "http://127.0.0.1:9/"], ["runs", "list"],
])
def test_unreachable_database_is_a_one_line_error(tmp_path: Path, command: list[str]) -> None:
    port = free_port()
    home = Settings(home=tmp_path / "home", database_url="")
    url = f"postgresql+psycopg://swordnet@127.0.0.1:{port}/swordnet"
    result = _scheduler_cli(home, *command, database_url=url)
    assert result.returncode == 1
    error = one_line_error(result.stderr)
    assert error.startswith(f"Error: cannot open database postgresql+psycopg://swordnet@127.0.0.1:"
                            f"{port}/swordnet: connection failed"), error


def test_taking_a_target_off_the_schedule_says_so(two_targets: Database) -> None:
    assert run_cli("sites", "schedule", "1", "--every", "1h").exit_code == 0
    off = run_cli("sites", "schedule", "1", "--off")
    assert off.exit_code == 0
    assert off.output.strip() == ("Target 1 is off the schedule (crawl it by hand with "
                                  "`swordnet crawl --target 1`).")


def test_a_database_locked_too_long_is_a_one_line_error(
    sqlite_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("sites", "add", "http://127.0.0.1:9/a/").exit_code == 0
    monkeypatch.setattr("swordnet.core.db.SQLITE_BUSY_TIMEOUT_MS", 200)  # not 30 s of waiting
    holder = sqlite3.connect(sqlite_home.database_url.split("///", 1)[1])
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        result = run_cli("sites", "schedule", "1", "--every", "1h")
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 1
    assert one_line_error(result.output) == (
        f"Error: the database {sqlite_home.database_url} stayed locked by another process "
        "(a crawl, the scheduler or another command) for 0.2 s, so this command stopped and "
        "its unfinished change was rolled back; run it again when that process is done")
    listed = json.loads(run_cli("sites", "list", "--json").output)
    assert listed[0]["every_seconds"] is None  # nothing half-done
