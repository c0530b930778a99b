"""The console's watchlist and campaign forms through FastAPI's TestClient: a target added
and edited with every setting, bad values shown next to their fields with what was typed
kept, pause/resume/remove, campaigns created, edited, stopped, a rapid response started,
the campaign page wired to its live hits feed, and rights holders refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from swordnet.core.models import Campaign, WatchTarget
from swordnet.core.timeutil import utcnow
from swordnet.web.app import create_app
from tests.test_console import form_token, sign_in
from tests.web_data import WebData, shared_web_data

GOOD = {"url": "https://films.pirate.example/", "spider": "site", "depth": "3",
        "max_pages": "300", "every": "6h", "cron": "", "mirror_domains": "mirror.pirate.example",
        "allow_patterns": r"/films/\d+", "deny_patterns": "", "delay_s": "0.5",
        "concurrency": "4", "time_cap": "30m", "obey_robots": "on",
        "search_template": "https://films.pirate.example/?s={query}"}


@pytest.fixture(scope="module")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> WebData:
    return shared_web_data(tmp_path_factory)


@pytest.fixture
def clients(web_data: WebData, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, TestClient]]:
    app = create_app(web_data.copy_to(tmp_path_factory.mktemp("console-campaigns")))
    signed = {name: sign_in(TestClient(app), name) for name in ("admin", "north")}
    yield signed
    for client in signed.values():
        client.close()
    app.state.db.dispose()


def post_form(client: TestClient, path: str, data: dict, page: str) -> object:
    token = form_token(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def field_error(html: str, name: str) -> str:
    """The problem shown right after the form field ``name``."""
    found = re.search(rf'name="{name}"[^>]*>(?:</textarea>|</select>)?.*?'
                      r'<span class="field-error"[^>]*>([^<]+)</span>', html, re.S)
    assert found, f"no error shown next to {name}"
    return found.group(1)


def targets(client: TestClient) -> list[WatchTarget]:
    app = client.app
    with app.state.db.session() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(WatchTarget).order_by(WatchTarget.id)))


def test_staff_add_a_target_and_edit_it_in_the_console(clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    added = post_form(admin, "/sites/new", GOOD, "/sites/new")
    assert added.status_code == 303, added.text
    target = targets(admin)[-1]
    assert (target.start_urls, target.depth, target.max_pages, target.every_seconds,
            target.time_cap_s, target.delay_s, target.concurrency, target.obey_robots) == (
        ["https://films.pirate.example/"], 3, 300, 21600, 1800, 0.5, 4, True)
    assert target.mirror_domains == ["mirror.pirate.example"]
    assert target.allow_patterns == [r"/films/\d+"]
    page = admin.get(added.headers["location"]).text
    assert f'id="target-{target.id}"' in page and "films.pirate.example" in page

    edit_page = f"/sites/targets/{target.id}"
    assert 'value="https://films.pirate.example/?s={query}"' in admin.get(edit_page).text
    edited = post_form(admin, edit_page, {**GOOD, "every": "", "cron": "0 3 * * *",
                                          "depth": "1", "render_js": "on"}, edit_page)
    assert edited.status_code == 303, edited.text
    target = targets(admin)[-1]
    assert (target.cron, target.every_seconds, target.depth, target.render_js) == (
        "0 3 * * *", None, 1, True)

    assert post_form(admin, f"{edit_page}/pause", {}, "/sites").status_code == 303
    assert targets(admin)[-1].enabled is False
    assert "paused" in admin.get("/sites").text
    assert post_form(admin, f"{edit_page}/resume", {}, "/sites").status_code == 303
    assert post_form(admin, f"{edit_page}/remove", {}, "/sites").status_code == 303
    assert target.id not in [t.id for t in targets(admin)]


@pytest.mark.parametrize(("field", "value", "says"), [
    ("depth", "51", "less than or equal to 50"),
    ("depth", "deep", "valid integer"),
    ("max_pages", "0", "greater than or equal to 1"),
    ("concurrency", "65", "less than or equal to 64"),
    ("cron", "61 * * * *", "not a cron expression"),
    ("allow_patterns", "/films/(", "not a valid regular expression"),
    ("deny_patterns", "[z-a]", "not a valid regular expression"),
    ("every", "often", "not an interval"),
    ("search_template", "https://films.pirate.example/?s=", "{query}"),
])
def test_a_bad_value_is_shown_next_to_its_field_with_the_form_kept(
        clients: dict[str, TestClient], field: str, value: str, says: str) -> None:
    admin = clients["admin"]
    before = len(targets(admin))
    response = post_form(admin, "/sites/new", {**GOOD, "cron": "", field: value}, "/sites/new")
    assert response.status_code == 422
    html = response.text
    assert says in field_error(html, field)
    assert 'value="https://films.pirate.example/"' in html  # what was typed is kept
    assert "mirror.pirate.example</textarea>" in html
    assert len(targets(admin)) == before


def test_a_bad_edit_is_shown_next_to_its_field_and_changes_nothing(
        clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    assert post_form(admin, "/sites/new", GOOD, "/sites/new").status_code == 303
    target = targets(admin)[-1]
    page = f"/sites/targets/{target.id}"
    response = post_form(admin, page, {**GOOD, "depth": "99"}, page)
    assert response.status_code == 422 and "50" in field_error(response.text, "depth")
    assert 'value="99"' in response.text
    assert targets(admin)[-1].depth == 3


def test_campaigns_created_edited_stopped_and_rapid_response_in_the_console(
        clients: dict[str, TestClient]) -> None:
    admin = clients["admin"]
    assert post_form(admin, "/sites/new", GOOD, "/sites/new").status_code == 303
    target = targets(admin)[-1]
    start, end = utcnow() - timedelta(hours=1), utcnow() + timedelta(days=3)
    form = {"name": "Winter", "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": end.strftime("%Y-%m-%dT%H:%M"), "targets": [str(target.id)],
            "every": "2h", "focus": "new releases"}
    bad = post_form(admin, "/campaigns/new", {**form, "every": "soon", "targets": []},
                    "/campaigns")
    assert bad.status_code == 422
    assert "not an interval" in bad.text and "at least one watch target" in bad.text
    assert 'value="Winter"' in bad.text
    created = post_form(admin, "/campaigns/new", form, "/campaigns")
    assert created.status_code == 303, created.text
    page = created.headers["location"]
    html = admin.get(page).text
    assert 'src="/static/campaign.js"' in html and "<script>" not in html
    campaign_id = int(page.rsplit("/", 1)[1])
    assert f'data-feed="/api/v1/campaigns/{campaign_id}/hits"' in html

    edited = post_form(admin, f"{page}/edit", {**form, "name": "Winter push", "every": "30m"},
                       page)
    assert edited.status_code == 303, edited.text
    past = (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    late = post_form(admin, f"{page}/edit", {**form, "ends_at": past}, page)
    assert late.status_code == 422 and "in the past" in late.text
    assert post_form(admin, f"{page}/stop", {}, page).status_code == 303
    with admin.app.state.db.session() as session:  # type: ignore[attr-defined]
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        assert (campaign.name, campaign.every_seconds) == ("Winter push", 1800)
        assert campaign.stopped_at is not None

    rapid = {"sites": [str(target.site_id)], "works": ["1"], "hours": "0"}
    refused = post_form(admin, "/campaigns/rapid", rapid, "/campaigns")
    assert refused.status_code == 422 and "out of range" in refused.text
    started = post_form(admin, "/campaigns/rapid", {**rapid, "hours": "4"}, "/campaigns")
    assert started.status_code == 303, started.text
    assert "Rapid response" in admin.get(started.headers["location"]).text


def test_rights_holders_get_no_watchlist_or_campaign_forms(
        clients: dict[str, TestClient]) -> None:
    north = clients["north"]
    token = form_token(north.get("/").text)
    for path in ("/sites/new", "/campaigns/1"):
        assert north.get(path).status_code == 403
    for path, data in [("/sites/new", GOOD), ("/sites/targets/1/pause", {}),
                       ("/campaigns/new", {"name": "x"}), ("/campaigns/rapid", {}),
                       ("/campaigns/1/stop", {})]:
        response = north.post(path, data={**data, "csrf_token": token},
                              follow_redirects=False)
        assert response.status_code == 403, path
