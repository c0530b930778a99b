"""``swordnet live``'s event commands: list, show (feed, gaps, timeline) and streams read the
rows; a bad input is one line naming it and a non-zero exit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swordnet.core.config import Settings
from swordnet.live.reference import spool_dir
from tests.conftest import run_cli
from tests.live_event_rows import LiveRows, seed_live_rows
from tests.live_media import cut, programme

ADD = ("live", "events", "add", "--holder", "North Light Pictures", "--title", "Derby Day",
       "--alias", "The Derby", "--starts", "2026-12-07T15:00", "--ends", "2026-12-07T17:30")


@pytest.fixture
def rows(sqlite_home: Settings) -> LiveRows:
    return seed_live_rows(sqlite_home)


def test_list_show_and_streams_read_the_events(rows: LiveRows) -> None:
    listed = run_cli("live", "events", "list", "--json")
    assert listed.exit_code == 0, listed.output
    events = json.loads(listed.output)
    assert [(e["title"], e["feed_state"], e["feed"]) for e in events] == [
        ("Gala Night", "waiting", "pushed capture"),
        ("Cup Final", "live", "https://feed.example/live/master.m3u8")]
    assert events[1]["streams"] == "1 checking, 1 listed, 1 matched, 1 offline"

    shown = run_cli("live", "events", "show", str(rows.final))
    assert shown.exit_code == 0, shown.output
    for line in (f"Live event {rows.final}: Cup Final (North Light Pictures)",
                 "Feed: https://feed.example/live/master.m3u8: live",
                 "Gap: 2026-12-06T18:20:00Z to 2026-12-06T18:22:00Z: feed answered 503",
                 "Auto-confirm: off", "Feed dropped: feed answered 503",
                 f"Stream {rows.offline} checked: offline (×3)"):
        assert line in shown.output, line

    streams = run_cli("live", "streams", str(rows.final), "--state", "matched", "--json")
    assert streams.exit_code == 0, streams.output
    [matched] = json.loads(streams.output)
    assert (matched["id"], matched["delay_s"], matched["to_match_s"]) == (rows.matched, 42.0,
                                                                          40.0)


@pytest.mark.parametrize(("args", "message"), [
    (("live", "events", "show", "999"), "EVENT: no live event with id 999"),
    (("live", "streams", "999"), "EVENT: no live event with id 999"),
    (("live", "streams", "1", "--state", "burning"), "'--state'"),
    (("live", "auto-confirm", "1"), "give --score S or --off"),
    (("live", "auto-confirm", "1", "--score", "0.9", "--off"), "give --score S or --off"),
    (("live", "auto-confirm", "1", "--score", "2"), "'--score'"),
    ((*ADD, "--pushed", "--starts", "tomorrow"), "'--starts'"),
    ((*ADD, "--pushed", "--window", "ten"), "'--window'"),
    (ADD, "give the official feed: --feed URL, or --pushed"),
    ((*ADD, "--pushed", "--feed", "https://f.example/a.m3u8"), "not both"),
    (("live", "events", "edit", "1"), "nothing to change"),
    (("live", "events", "show", "0"), "'EVENT'"),
])
def test_bad_input_is_one_line_naming_it(rows: LiveRows, args: tuple[str, ...],
                                         message: str) -> None:
    result = run_cli(*args)
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert "Traceback" not in result.output
    assert json.loads(run_cli("live", "events", "list", "--json").output)[0]["auto_confirm"] \
        == "off"


def test_add_edit_and_auto_confirm_an_event(rows: LiveRows) -> None:
    added = run_cli(*ADD, "--pushed", "--window", "5m", "--check-every", "20s")
    assert added.exit_code == 0, added.output
    assert "registered: Derby Day" in added.output
    events = {e["title"]: e for e in json.loads(run_cli("live", "events", "list",
                                                        "--json").output)}
    derby = events["Derby Day"]
    assert derby["feed"] == "pushed capture" and derby["holder"] == "North Light Pictures"
    edited = run_cli("live", "events", "edit", str(derby["id"]), "--title", "Derby Night",
                     "--feed", "https://feed.example/derby.m3u8")
    assert edited.exit_code == 0, edited.output
    rule = run_cli("live", "auto-confirm", str(derby["id"]), "--score", "0.9")
    assert rule.exit_code == 0 and "auto-confirm at score >= 0.9" in rule.output
    shown = json.loads(run_cli("live", "events", "show", str(derby["id"]), "--json").output)
    assert shown["title"] == "Derby Night" and shown["auto_confirm_score"] == 0.9
    assert shown["feed"]["url"] == "https://feed.example/derby.m3u8"
    assert shown["window_s"] == 300 and shown["check_every_s"] == 20
    off = run_cli("live", "auto-confirm", str(derby["id"]), "--off")
    assert off.exit_code == 0 and "auto-confirm off" in off.output


def test_add_a_stream_by_hand(rows: LiveRows) -> None:
    added = run_cli("live", "add-stream", str(rows.final), "https://tip.pirate.test/a.m3u8",
                    "--page", "https://tip.pirate.test/")
    assert added.exit_code == 0, added.output
    streams = json.loads(run_cli("live", "streams", str(rows.final), "--state", "checking",
                                 "--json").output)
    assert ("https://tip.pirate.test/a.m3u8", "https://tip.pirate.test/") in {
        (s["url"], s["page_url"]) for s in streams}
    refused = run_cli("live", "add-stream", str(rows.final), "ftp://tip.pirate.test/a.m3u8")
    assert refused.exit_code == 1 and "ftp://" in refused.output


def test_push_a_capture_into_a_pushed_events_reference(rows: LiveRows, sqlite_home: Settings,
                                                        tmp_path: Path) -> None:
    added = run_cli(*ADD, "--pushed")
    assert added.exit_code == 0, added.output
    [derby] = [e for e in json.loads(run_cli("live", "events", "list", "--json").output)
               if e["title"] == "Derby Day"]
    capture = tmp_path / "minute.ts"
    capture.write_bytes(cut(programme(tmp_path / "feed.mp4", seconds=8, seed=5), start=0,
                            seconds=6))
    pushed = run_cli("live", "push", str(derby["id"]), str(capture),
                     "--at", "2026-12-07T15:10")
    assert pushed.exit_code == 0, pushed.output
    assert f"of live event {derby['id']}'s feed pushed" in pushed.output
    assert len(list((spool_dir(sqlite_home) / str(derby["id"])).glob("*.npz"))) == 1
    # bad inputs: one line naming them, nothing spooled
    outside = run_cli("live", "push", str(derby["id"]), str(capture), "--at", "2026-12-08T10:00")
    assert outside.exit_code == 1 and outside.output.startswith("Error: at: ")
    empty = tmp_path / "empty.ts"
    empty.write_bytes(b"")
    nothing = run_cli("live", "push", str(derby["id"]), str(empty), "--at", "2026-12-07T15:11")
    assert nothing.exit_code == 1 and "empty" in nothing.output
    fed = run_cli("live", "push", str(rows.final), str(capture))
    assert fed.exit_code == 1 and "feed URL" in fed.output
    assert len(list((spool_dir(sqlite_home) / str(derby["id"])).glob("*.npz"))) == 1
