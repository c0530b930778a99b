"""The live events API (``/api/v1/live``): each holder sees their own events and streams only,
staff see all; an event shows its feed's health, its streams their state, delay, score and
times to match and to listing, a stream its checks, and the timeline what happened in order.
Bad input is a 422 naming the field; staff work is 403 for rights holders. Captures of a
pushed event's feed are pushed by its holder or staff.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from swordnet.core.config import Settings
from swordnet.live.reference import spool_dir
from swordnet.web import api_live
from tests.api_client import Api, one_line, open_api
from tests.live_event_rows import T0, LiveRows, at, seed_live_rows
from tests.live_media import cut, programme

NEW_EVENT = {"title": "Derby Day", "aliases": ["The Derby"],
             "starts_at": "2026-12-07T15:00:00", "ends_at": "2026-12-07T17:30:00+00:00",
             "feed_url": "https://feed.example/derby/master.m3u8", "window_s": 600,
             "check_every_s": 30}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LiveRows]:
    """The rows written once; each test gets a copy of the database file."""
    directory = tmp_path_factory.mktemp("live-rows")
    return directory, seed_live_rows(settings_in(directory))


def settings_in(directory: Path) -> Settings:
    return Settings(home=directory / "home",
                    database_url=f"sqlite:///{directory / 'swordnet.db'}")


@pytest.fixture
def live(seeded: tuple[Path, LiveRows], tmp_path: Path) -> Iterator[tuple[Api, LiveRows]]:
    source, rows = seeded
    shutil.copyfile(source / "swordnet.db", tmp_path / "swordnet.db")
    with open_api(settings_in(tmp_path), rows.tokens) as api:
        yield api, rows


@pytest.fixture(scope="module")
def shared_live(seeded: tuple[Path, LiveRows],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, LiveRows]]:
    """One app on one copy for the tests that only read or are refused (they change no row)."""
    source, rows = seeded
    directory = tmp_path_factory.mktemp("live-shared")
    shutil.copyfile(source / "swordnet.db", directory / "swordnet.db")
    with open_api(settings_in(directory), rows.tokens) as api:
        yield api, rows


def titles(api: Api, user: str) -> list[str]:
    return [e["title"] for e in api.ok(user, "/live/events")["items"]]


def test_each_holder_sees_their_own_events_and_staff_see_all(
        shared_live: tuple[Api, LiveRows]) -> None:
    api, rows = shared_live
    assert titles(api, "north") == ["Cup Final"]
    assert titles(api, "harbour") == ["Gala Night"]
    assert titles(api, "reviewer") == ["Gala Night", "Cup Final"]  # latest start first
    for path in (f"/live/events/{rows.gala}", f"/live/events/{rows.gala}/streams",
                 f"/live/events/{rows.gala}/timeline", f"/live/streams/{rows.gala_stream}"):
        refused = api.get("north", path)
        assert refused.status_code == 404, path
        assert "no live" in one_line(refused)
    assert api.get(None, "/live/events").status_code == 401


def test_an_event_shows_its_feeds_health_and_its_streams_by_state(
        shared_live: tuple[Api, LiveRows]) -> None:
    api, rows = shared_live
    event = api.ok("north", f"/live/events/{rows.final}")
    assert event["title"] == "Cup Final" and event["aliases"] == ["Final 2026"]
    assert event["holder"] == "North Light Pictures"
    feed = event["feed"]
    assert feed["url"] == "https://feed.example/live/master.m3u8" and feed["state"] == "live"
    assert feed["last_segment_at"].startswith("2026-12-06T18:49:54")
    assert feed["gaps"] == [{"started_at": "2026-12-06T18:20:00Z",
                             "ended_at": "2026-12-06T18:22:00Z",
                             "reason": "feed answered 503"}]
    assert event["streams"] == {"matched": 1, "listed": 1, "offline": 1, "checking": 1}
    assert event["auto_confirm_score"] is None
    gala = api.ok("harbour", f"/live/events/{rows.gala}")
    assert gala["feed"]["url"] is None and gala["feed"]["state"] == "waiting"


def test_streams_with_delay_score_and_times_to_match_and_listing(
        shared_live: tuple[Api, LiveRows]) -> None:
    api, rows = shared_live
    page = api.ok("north", f"/live/events/{rows.final}/streams")
    assert page["total"] == 4
    by_id = {s["id"]: s for s in page["items"]}
    assert [s["id"] for s in page["items"]] == sorted(by_id)  # in the order found
    matched, listed = by_id[rows.matched], by_id[rows.listed]
    assert matched["state"] == "matched" and matched["site"] == "restream.pirate.test"
    assert matched["delay_s"] == 42.0 and matched["score"] == 0.93
    assert matched["to_match_s"] == 40.0 and matched["to_list_s"] is None
    assert listed["to_match_s"] == 30.0 and listed["to_list_s"] == 70.0
    assert listed["page_url"] == "https://sportz.pirate.test/final"
    assert by_id[rows.offline]["last_outcome"] == "offline"
    assert by_id[rows.offline]["last_error"] == "connection refused"
    only = api.ok("north", f"/live/events/{rows.final}/streams", state="matched")
    assert [s["id"] for s in only["items"]] == [rows.matched]


def test_a_stream_shows_its_checks_newest_first(shared_live: tuple[Api, LiveRows]) -> None:
    api, rows = shared_live
    stream = api.ok("north", f"/live/streams/{rows.listed}")
    assert stream["state"] == "listed" and stream["listed_at"] == "2026-12-06T18:13:10Z"
    assert [(c["checked_at"], c["score"], c["cpu_s"]) for c in stream["recent_checks"]] == [
        ("2026-12-06T18:13:00Z", 0.9, 0.5), ("2026-12-06T18:12:30Z", 0.88, 0.4)]


def test_the_timeline_tells_what_happened_in_order(shared_live: tuple[Api, LiveRows]) -> None:
    api, rows = shared_live
    entries = api.ok("north", f"/live/events/{rows.final}/timeline")
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    kinds = [(e["kind"], e["stream_id"]) for e in entries]
    matched, listed, offline = rows.matched, rows.listed, rows.offline
    assert kinds[:11] == [
        ("discovered", matched), ("check", matched), ("check", matched), ("matched", matched),
        ("discovered", listed), ("check", listed), ("matched", listed), ("confirmed", listed),
        ("listed", listed), ("listed", listed), ("held_back", listed)]
    texts = [e["text"] for e in entries]
    assert f"Stream {matched} checked: matched (×2)" in texts  # repeats folded into one
    assert f"Stream {offline} checked: offline (×3)" in texts
    assert f"Stream {matched} matched (score 0.93, 42 s behind the feed)" in texts
    assert f"Stream {listed} confirmed by reviewer" in texts
    assert "Listed fqdn cdn.sportz.pirate.test by reviewer" in texts
    assert "Held back ipv4 198.51.100.7: shared infrastructure (in ExampleCDN's ranges)" \
        in texts
    assert "Withdrew fqdn sportz.pirate.test: the page host, not the stream's" in texts
    drop = next(e for e in entries if e["kind"] == "feed_dropped")
    resume = next(e for e in entries if e["kind"] == "feed_resumed")
    assert (drop["at"], drop["text"]) == ("2026-12-06T18:20:00Z",
                                          "Feed dropped: feed answered 503")
    assert resume["at"] == "2026-12-06T18:22:00Z"
    assert entries[-1]["kind"] == "discovered" and entries[-1]["stream_id"] == rows.checking
    assert not [e for e in entries if e["stream_id"] == rows.gala_stream]
    assert at(0) == T0


@pytest.mark.parametrize(("user", "body", "field"), [
    ("north", {**NEW_EVENT, "title": ""}, "field title"),
    ("north", {k: v for k, v in NEW_EVENT.items() if k != "ends_at"}, "field ends_at"),
    ("north", {**NEW_EVENT, "starts_at": "tomorrow"}, "field starts_at"),
    ("north", {**NEW_EVENT, "window_s": 0}, "field window_s"),
    ("north", {**NEW_EVENT, "check_every_s": "often"}, "field check_every_s"),
    ("north", {**NEW_EVENT, "aliases": "The Derby"}, "field aliases"),
    ("reviewer", NEW_EVENT, "holder"),
])
def test_registering_with_bad_input_is_422_naming_the_field(
        shared_live: tuple[Api, LiveRows], user: str, body: dict, field: str) -> None:
    api, _rows = shared_live
    refused = api.post(user, "/live/events", json=body)
    assert refused.status_code == 422, refused.text
    assert field in one_line(refused)
    assert len(api.ok("reviewer", "/live/events")["items"]) == 2


def test_a_holder_registers_for_their_own_holder_only(shared_live: tuple[Api, LiveRows]) -> None:
    api, _rows = shared_live
    refused = api.post("north", "/live/events", json={**NEW_EVENT, "holder": "Harbour Press"})
    assert refused.status_code == 403 and "holder" in one_line(refused)


@pytest.mark.parametrize(("body", "field"), [
    ({}, "request body"), ({"title": None}, "title"), ({"window_s": -5}, "field window_s"),
    ({"starts_at": "soon"}, "field starts_at")])
def test_editing_with_bad_input_is_422_naming_the_field(
        shared_live: tuple[Api, LiveRows], body: dict, field: str) -> None:
    api, rows = shared_live
    refused = api.call("PATCH", "north", f"/live/events/{rows.final}", json=body)
    assert refused.status_code == 422, refused.text
    assert field in one_line(refused)


def test_editing_another_holders_event_is_404(shared_live: tuple[Api, LiveRows]) -> None:
    api, rows = shared_live
    refused = api.call("PATCH", "north", f"/live/events/{rows.gala}", json={"title": "Mine"})
    assert refused.status_code == 404
    assert api.ok("harbour", f"/live/events/{rows.gala}")["title"] == "Gala Night"


def test_auto_confirm_and_adding_streams_are_staff_work(shared_live: tuple[Api, LiveRows]) -> None:
    api, rows = shared_live
    rule = api.call("PUT", "north", f"/live/events/{rows.final}/auto-confirm",
                    json={"score": 0.9})
    assert rule.status_code == 403
    added = api.post("north", f"/live/events/{rows.final}/streams",
                     json={"url": "https://x.pirate.test/a.m3u8"})
    assert added.status_code == 403
    assert api.ok("north", f"/live/events/{rows.final}")["auto_confirm_score"] is None
    assert api.ok("north", f"/live/events/{rows.final}/streams")["total"] == 4


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("PUT", "/auto-confirm", {"score": 1.5}, "field score"),
    ("PUT", "/auto-confirm", {}, "field score"),
    ("POST", "/streams", {"url": ""}, "field url"),
    ("POST", "/streams", {"page_url": "https://x.pirate.test/"}, "field url"),
])
def test_staff_bad_input_is_422_naming_the_field(shared_live: tuple[Api, LiveRows], method: str,
                                                 path: str, body: dict, field: str) -> None:
    api, rows = shared_live
    refused = api.call(method, "reviewer", f"/live/events/{rows.final}{path}", json=body)
    assert refused.status_code == 422, refused.text
    assert field in one_line(refused)


def test_bad_stream_state_filter_is_422_naming_it(shared_live: tuple[Api, LiveRows]) -> None:
    api, rows = shared_live
    refused = api.get("north", f"/live/events/{rows.final}/streams",
                      params={"state": "burning"})
    assert refused.status_code == 422
    assert one_line(refused).startswith("state: 'burning' is not one of checking")


def test_unknown_ids_are_404(shared_live: tuple[Api, LiveRows]) -> None:
    api, _rows = shared_live
    for method, path in (("GET", "/live/events/999"), ("GET", "/live/streams/999"),
                         ("GET", "/live/events/999/timeline"),
                         ("PUT", "/live/events/999/auto-confirm")):
        answer = api.call(method, "reviewer", path, json={"score": 0.9})
        assert answer.status_code == 404, path


def test_every_live_operation_is_documented(shared_live: tuple[Api, LiveRows]) -> None:
    api, _rows = shared_live
    document = api.ok("reviewer", "/openapi.json")
    operations = {(method, path) for path, item in document["paths"].items()
                  if path.startswith("/api/v1/live/") for method in item}
    assert operations >= {
        ("get", "/api/v1/live/events"), ("post", "/api/v1/live/events"),
        ("get", "/api/v1/live/events/{event_id}"), ("patch", "/api/v1/live/events/{event_id}"),
        ("put", "/api/v1/live/events/{event_id}/auto-confirm"),
        ("get", "/api/v1/live/events/{event_id}/streams"),
        ("post", "/api/v1/live/events/{event_id}/streams"),
        ("get", "/api/v1/live/streams/{stream_id}"),
        ("get", "/api/v1/live/events/{event_id}/timeline")}
    for method, path in operations:
        operation = document["paths"][path][method]
        label = f"{method} {path}"
        assert operation.get("summary") and operation.get("tags"), label
        assert operation.get("description"), label
        assert {"401", "404", "422"} <= set(operation["responses"]), label


# --- through swordnet.live.events / streams (merged later) ------------------------------------

def test_a_holder_registers_an_event_that_only_they_and_staff_see(
        live: tuple[Api, LiveRows]) -> None:
    api, _rows = live
    created = api.post("north", "/live/events", json=NEW_EVENT)
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["holder"] == "North Light Pictures" and event["aliases"] == ["The Derby"]
    assert event["starts_at"] == "2026-12-07T15:00:00Z"  # a time without offset is UTC
    assert event["feed"]["state"] == "waiting" and event["streams"] == {}
    assert "Derby Day" in titles(api, "north") and "Derby Day" in titles(api, "reviewer")
    assert "Derby Day" not in titles(api, "harbour")
    pushed = api.post("reviewer", "/live/events", json={
        **NEW_EVENT, "title": "Gala Encore", "holder": "Harbour Press", "feed_url": None})
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["feed"]["url"] is None


def test_a_holder_edits_their_event_and_null_feed_means_pushed(
        live: tuple[Api, LiveRows]) -> None:
    api, rows = live
    changed = api.call("PATCH", "north", f"/live/events/{rows.final}",
                       json={"title": "Cup Final (replay)", "feed_url": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["title"] == "Cup Final (replay)"
    assert changed.json()["feed"]["url"] is None
    backwards = api.call("PATCH", "north", f"/live/events/{rows.final}",
                         json={"ends_at": "2026-12-06T17:00:00Z"})
    assert backwards.status_code == 422 and "ends_at" in one_line(backwards)


def test_staff_set_and_clear_the_auto_confirm_rule(live: tuple[Api, LiveRows]) -> None:
    api, rows = live
    path = f"/live/events/{rows.final}/auto-confirm"
    rule = api.call("PUT", "reviewer", path, json={"score": 0.9})
    assert rule.status_code == 200, rule.text
    assert rule.json()["auto_confirm_score"] == 0.9
    assert rule.json()["auto_confirm_set_by"] == "reviewer"
    off = api.call("PUT", "reviewer", path, json={"score": None})
    assert off.status_code == 200 and off.json()["auto_confirm_score"] is None


def test_staff_add_a_stream_by_hand_once(live: tuple[Api, LiveRows]) -> None:
    api, rows = live
    body = {"url": "https://tip.pirate.test/live/a.m3u8", "page_url": "https://tip.pirate.test/"}
    added = api.post("reviewer", f"/live/events/{rows.final}/streams", json=body)
    assert added.status_code == 201, added.text
    stream = added.json()
    assert stream["state"] == "checking" and stream["found_by"] == "staff"
    assert stream["site"] == "tip.pirate.test"
    again = api.post("reviewer", f"/live/events/{rows.final}/streams", json={"url": body["url"]})
    assert again.json()["id"] == stream["id"] and again.json()["page_url"] == body["page_url"]
    assert api.ok("north", f"/live/events/{rows.final}/streams")["total"] == 5
    refused = api.post("reviewer", f"/live/events/{rows.final}/streams",
                       json={"url": "ftp://tip.pirate.test/a.m3u8"})
    assert refused.status_code == 422 and "ftp://" in one_line(refused)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """6 s of a generated feed, as one MPEG-TS capture."""
    folder = tmp_path_factory.mktemp("capture")
    return cut(programme(folder / "feed.mp4", seconds=8, seed=5, fps=10), start=0, seconds=6)


def push(api: Api, user: str | None, event_id: int, content: bytes,
         when: str | None = None) -> httpx.Response:
    return api.post(user, f"/live/events/{event_id}/captures",
                    files={"file": ("minute.ts", content)},
                    data={"at": when} if when else {})


def spooled(api: Api, event_id: int) -> int:
    return len(list((spool_dir(api.settings) / str(event_id)).glob("*.npz")))


def test_a_pushed_events_holder_or_staff_push_captures_of_its_feed(
        live: tuple[Api, LiveRows], capture: bytes) -> None:
    api, rows = live
    pushed = push(api, "harbour", rows.gala, capture, "2026-12-07T18:05:00Z")
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["event_id"] == rows.gala
    assert pushed.json()["at"] == "2026-12-07T18:05:00Z"
    assert pushed.json()["seconds"] == pytest.approx(6, abs=0.3)
    assert spooled(api, rows.gala) == 1  # waiting for the live service
    by_staff = push(api, "reviewer", rows.gala, capture, "2026-12-07T18:05:06+00:00")
    assert by_staff.status_code == 201, by_staff.text
    assert spooled(api, rows.gala) == 2

    # another holder, nobody, an event with a feed: refused, nothing spooled
    assert push(api, "north", rows.gala, capture, "2026-12-07T18:06:00Z").status_code == 404
    assert push(api, None, rows.gala, capture).status_code == 401
    fed = push(api, "north", rows.final, capture, "2026-12-06T18:30:00Z")
    assert fed.status_code == 409 and "feed URL" in one_line(fed)
    outside = push(api, "harbour", rows.gala, capture, "2026-12-06T18:30:00Z")
    assert outside.status_code == 422 and one_line(outside).startswith("at: ")
    noise = push(api, "harbour", rows.gala, b"\x00 no media here" * 100,
                 "2026-12-07T18:06:00Z")
    assert noise.status_code == 422 and "segment" in one_line(noise)
    empty = push(api, "harbour", rows.gala, b"", "2026-12-07T18:06:00Z")
    assert empty.status_code == 422 and "empty" in one_line(empty)
    assert push(api, "harbour", rows.gala, capture, "yesterday").status_code == 422
    assert spooled(api, rows.gala) == 2


def test_a_capture_over_the_cap_is_refused_by_its_size(
        live: tuple[Api, LiveRows], capture: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    api, rows = live
    monkeypatch.setattr(api_live, "MAX_PUSH_BYTES", len(capture) - 1)
    over = push(api, "harbour", rows.gala, capture, "2026-12-07T18:05:00Z")
    assert over.status_code == 413 and one_line(over).startswith("minute.ts: the file is")
    # far over: refused by its Content-Length, before the body is read
    huge = push(api, "harbour", rows.gala, capture * 4, "2026-12-07T18:05:00Z")
    assert huge.status_code == 413 and "at most" in one_line(huge)
    assert spooled(api, rows.gala) == 0
