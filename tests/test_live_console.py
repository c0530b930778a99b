"""The console's live pages: the events list with its register form, and an event's view (feed
health, candidate streams with their times, the timeline, the auto-confirm rule, and
confirm-and-list for a matched stream), each holder seeing their own events read-only.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from swordnet.core.config import Settings
from swordnet.core.models import BlockEntry, LiveEvent, LiveStream
from tests.live_event_rows import PASSWORD, XSS_PAGE, LiveRows, seed_live_rows
from tests.test_console import signed_in_clients

JSON = {"Accept": "application/json"}


def settings_in(directory: Path) -> Settings:
    return Settings(home=directory / "home",
                    database_url=f"sqlite:///{directory / 'swordnet.db'}")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LiveRows]:
    directory = tmp_path_factory.mktemp("live-rows")
    return directory, seed_live_rows(settings_in(directory))


@pytest.fixture
def home(seeded: tuple[Path, LiveRows], tmp_path: Path) -> Settings:
    shutil.copyfile(seeded[0] / "swordnet.db", tmp_path / "swordnet.db")
    return settings_in(tmp_path)


@pytest.fixture
def rows(seeded: tuple[Path, LiveRows]) -> LiveRows:
    return seeded[1]


@pytest.fixture
def clients(home: Settings) -> Iterator[dict[str, TestClient]]:
    with signed_in_clients(home, ("reviewer", "north", "harbour"), PASSWORD) as signed:
        yield signed


def csrf_of(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/live").text)
    assert found
    return found.group(1)


def stream_rows(html: str) -> dict[int, str]:
    """Each stream row of the event view: its id -> its HTML."""
    return {int(m.group(1)): m.group(0) for m in re.finditer(
        r'<tr class="stream" data-id="(\d+)".*?</tr>', html, re.S)}


def test_the_list_shows_a_holders_own_events_and_staff_the_blocking_list(
        clients: dict[str, TestClient]) -> None:
    page = clients["north"].get("/live")
    assert page.status_code == 200
    assert "Cup Final" in page.text and "Gala Night" not in page.text
    assert 'href="/blocklist"' not in page.text  # the blocking list is staff's
    assert '<a href="/live" class="active"' in page.text
    assert 'name="holder"' not in page.text  # a holder registers for their own holder
    staff = clients["reviewer"].get("/live").text
    assert "Cup Final" in staff and "Gala Night" in staff and 'name="holder"' in staff
    assert 'href="/blocklist"' in staff
    assert "pushed capture" in staff and "1 matched" in staff


def test_the_event_view_shows_feed_health_streams_and_timeline(
        clients: dict[str, TestClient], rows: LiveRows) -> None:
    page = clients["reviewer"].get(f"/live/{rows.final}")
    assert page.status_code == 200
    html = page.text
    assert '<span class="badge feed-live" id="feed-state">live</span>' in html
    assert "2026-12-06 18:49:54 UTC" in html  # the newest feed segment
    assert "2026-12-06 18:20:00 UTC to 2026-12-06 18:22:00 UTC: feed answered 503" in html
    streams = stream_rows(html)
    assert list(streams) == [rows.matched, rows.listed, rows.offline, rows.checking]
    matched, listed = streams[rows.matched], streams[rows.listed]
    assert 'data-state="matched"' in matched and "42 s" in matched and "40 s" in matched
    assert "0.93" in matched and "restream.pirate.test" in matched
    assert "confirm-and-list" in matched and "Confirm and list" in matched
    assert "1 min 16 s" in listed and "30 s" in listed and "1 min 10 s" in listed
    assert "confirm-and-list" not in listed
    assert "connection refused" not in streams[rows.offline]  # the outcome, not the detail
    assert "offline" in streams[rows.offline]
    assert "not yet" in streams[rows.checking]
    for text in ("Feed dropped: feed answered 503", "Feed resumed",
                 f"Stream {rows.matched} checked: matched (×2)",
                 "Listed fqdn cdn.sportz.pirate.test by reviewer",
                 "Held back ipv4 198.51.100.7: shared infrastructure",
                 "Withdrew fqdn sportz.pirate.test"):
        assert text in html, text
    assert f'action="/live/{rows.final}/auto-confirm"' in html
    assert f'href="/blocklist?event={rows.final}"' in html


def test_crawled_text_is_shown_as_text_and_the_page_has_no_inline_script(
        clients: dict[str, TestClient], rows: LiveRows) -> None:
    html = clients["reviewer"].get(f"/live/{rows.final}").text
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/live.js" defer>']
    assert "hls/&lt;script&gt;.m3u8" in html
    assert f'href="{XSS_PAGE}' not in html and XSS_PAGE in html
    script = clients["reviewer"].get("/static/live.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_a_holder_sees_their_event_read_only_and_not_anothers(
        clients: dict[str, TestClient], rows: LiveRows) -> None:
    own = clients["north"].get(f"/live/{rows.final}")
    assert own.status_code == 200
    assert 'data-readonly="1"' in own.text and "confirm-and-list" not in own.text
    assert "/auto-confirm" not in own.text and "Off: every match waits" in own.text
    assert clients["north"].get(f"/live/{rows.gala}").status_code == 404
    assert clients["harbour"].get(f"/live/{rows.gala}").status_code == 200


def test_register_form_shows_each_problem_next_to_its_field(
        clients: dict[str, TestClient]) -> None:
    client = clients["reviewer"]
    answer = client.post("/live/new", data={
        "csrf_token": csrf_of(client), "holder": "", "title": "Derby <Day>",
        "starts_at": "soon", "ends_at": "", "feed": "url", "feed_url": "",
        "window": "ten minutes", "check_every": "30s"})
    assert answer.status_code == 422
    html = answer.text
    assert "staff must name the rights holder" in html
    assert "not a date or date-time: &#39;soon&#39;" in html
    assert "give a date and time (UTC)" in html
    assert "give the feed&#39;s HLS/DASH URL, or choose pushed capture" in html
    assert "not an interval: &#39;ten minutes&#39;" in html
    assert 'value="Derby &lt;Day&gt;"' in html and 'value="30s"' in html  # kept as typed
    db = client.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        assert len(session.scalars(select(LiveEvent)).all()) == 2  # nothing stored


def test_register_form_refuses_a_missing_csrf_token(clients: dict[str, TestClient]) -> None:
    answer = clients["north"].post("/live/new", data={"title": "Derby"})
    assert answer.status_code == 403


def test_auto_confirm_form_is_staff_work_and_wants_a_score_from_0_to_1(
        clients: dict[str, TestClient], rows: LiveRows) -> None:
    north = clients["north"]
    refused = north.post(f"/live/{rows.final}/auto-confirm",
                         data={"csrf_token": csrf_of(north), "score": "0.9"})
    assert refused.status_code == 403
    staff = clients["reviewer"]
    bad = staff.post(f"/live/{rows.final}/auto-confirm",
                     data={"csrf_token": csrf_of(staff), "score": "lots"})
    assert bad.status_code == 422
    assert "score: &#39;lots&#39; is not a number from 0 to 1" in bad.text


def test_confirm_and_list_is_refused_to_holders_other_events_and_without_csrf(
        clients: dict[str, TestClient], rows: LiveRows) -> None:
    north, staff = clients["north"], clients["reviewer"]
    path = f"/live/{rows.final}/streams/{rows.matched}/confirm-and-list"
    holder = north.post(path, headers={**JSON, "X-CSRF-Token": csrf_of(north)})
    assert holder.status_code == 403 and "staff" in holder.json()["detail"]
    wrong_event = staff.post(f"/live/{rows.final}/streams/{rows.gala_stream}/confirm-and-list",
                             headers={**JSON, "X-CSRF-Token": csrf_of(staff)})
    assert wrong_event.status_code == 404
    assert wrong_event.json()["detail"] == (f"live event {rows.final} has no stream "
                                            f"{rows.gala_stream}")
    assert staff.post(path, headers=JSON).status_code == 403  # no CSRF token
    db = staff.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        stream = session.get(LiveStream, rows.matched)
        assert stream is not None and stream.state == "matched" and stream.listed_at is None


def test_staff_confirm_and_list_a_matched_stream_in_one_request(
        clients: dict[str, TestClient], rows: LiveRows) -> None:
    staff = clients["reviewer"]
    path = f"/live/{rows.final}/streams/{rows.matched}/confirm-and-list"
    answer = staff.post(path, headers={**JSON, "X-CSRF-Token": csrf_of(staff)})
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["stream"]["state"] == "listed" and data["stream"]["to_list_s"] is not None
    assert data["listed"] == ["fqdn restream.pirate.test"]
    again = staff.post(path, headers={**JSON, "X-CSRF-Token": csrf_of(staff)})
    assert again.status_code == 409 and "already listed" in again.json()["detail"]
    html = staff.get(f"/live/{rows.final}").text
    assert 'data-state="listed"' in stream_rows(html)[rows.matched]
    assert "Listed fqdn restream.pirate.test by reviewer" in html
    db = staff.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        entry = session.scalars(select(BlockEntry).where(
            BlockEntry.stream_id == rows.matched)).one()
        assert entry.value == "restream.pirate.test" and entry.listed_by == "reviewer"


def test_confirm_and_list_from_a_plain_form_goes_back_to_the_event(
        clients: dict[str, TestClient], rows: LiveRows) -> None:
    staff = clients["reviewer"]
    answer = staff.post(f"/live/{rows.final}/streams/{rows.matched}/confirm-and-list",
                        data={"csrf_token": csrf_of(staff)}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/live/{rows.final}?listed={rows.matched}#streams"


def test_staff_register_an_event_from_the_form(clients: dict[str, TestClient]) -> None:
    staff = clients["reviewer"]
    answer = staff.post("/live/new", data={
        "csrf_token": csrf_of(staff), "holder": "Harbour Press", "title": "Gala Encore",
        "aliases": "Encore\nGala II", "starts_at": "2026-12-08T19:00",
        "ends_at": "2026-12-08T22:00", "feed": "pushed", "feed_url": "",
        "window": "10m", "check_every": "30s"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    event_id = int(answer.headers["location"].rsplit("/", 1)[1])
    db = staff.app.state.db  # type: ignore[attr-defined]
    with db.session() as session:
        event = session.get(LiveEvent, event_id)
        assert event is not None and event.feed_url is None
        assert event.work.aliases == ["Encore", "Gala II"] and event.window_s == 600
    assert "Gala Encore" in clients["harbour"].get("/live").text
    assert "Gala Encore" not in clients["north"].get("/live").text


def test_staff_set_the_auto_confirm_rule_from_the_form(
        clients: dict[str, TestClient], rows: LiveRows) -> None:
    staff = clients["reviewer"]
    answer = staff.post(f"/live/{rows.final}/auto-confirm",
                        data={"csrf_token": csrf_of(staff), "score": "0.9"},
                        follow_redirects=False)
    assert answer.status_code == 303
    assert "Matches scoring at least 0.9 are confirmed and listed at once (set by reviewer)" \
        in staff.get(f"/live/{rows.final}").text
