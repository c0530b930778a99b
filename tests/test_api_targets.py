"""Watch targets and campaigns through the API, as staff manage them with ``swordnet sites``
and ``swordnet campaigns``: every setting, the CLI's checks as per-field 422s, pause, resume,
remove, campaign edits, the rapid-response preset, the live hits feed, and rights holders
refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from swordnet.core.models import Hit, Site, Work
from swordnet.core.timeutil import utcnow
from tests.api_client import Api, one_line, open_api
from tests.web_data import WebData, shared_web_data

FULL = {
    "url": "https://films.pirate.example/latest", "spider": "site", "depth": 3,
    "max_pages": 500, "cron": "30 2 * * mon-fri",
    "mirror_domains": ["Mirror.Pirate.Example", "films2.pirate.example:8443"],
    "allow_patterns": [r"/films/\d+"], "deny_patterns": [r"\?sort="],
    "obey_robots": True, "delay_s": 1.5, "concurrency": 2, "time_cap_s": 1800,
    "render_js": True, "screenshot": True,
    "search_template": "https://films.pirate.example/search?q={query}",
}


@pytest.fixture(scope="module")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> WebData:
    return shared_web_data(tmp_path_factory)


@pytest.fixture
def api(web_data: WebData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with open_api(web_data.copy_to(tmp_path_factory.mktemp("targets")), web_data.tokens) as api:
        yield api


def add(api: Api, **fields: object) -> dict:
    response = api.post("admin", "/targets", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def test_staff_add_edit_pause_resume_and_remove_a_target_with_every_setting(api: Api) -> None:
    added = add(api, **FULL)
    assert added["site"] == "films.pirate.example" and added["enabled"] is True
    assert added["mirror_domains"] == ["mirror.pirate.example", "films2.pirate.example:8443"]
    shown = api.ok("admin", f"/targets/{added['id']}")
    for name, value in FULL.items():
        if name not in ("url", "mirror_domains"):
            assert shown[name] == value, name
    assert added["id"] in [t["id"] for t in api.ok("reviewer", "/targets", limit=500)["items"]]

    # An interval replaces the cron expression; settings not given stay.
    edited = api.call("PATCH", "admin", f"/targets/{added['id']}",
                      json={"every_seconds": 21600, "depth": 0, "deny_patterns": []})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["every_seconds"], edited.json()["cron"]) == (21600, None)
    assert edited.json()["depth"] == 0 and edited.json()["deny_patterns"] == []
    assert edited.json()["allow_patterns"] == [r"/films/\d+"]

    assert api.post("admin", f"/targets/{added['id']}/pause").json()["enabled"] is False
    assert api.post("admin", f"/targets/{added['id']}/pause").status_code == 409
    assert api.post("admin", f"/targets/{added['id']}/resume").json()["enabled"] is True

    assert api.delete("admin", f"/targets/{added['id']}").status_code == 204
    assert api.get("admin", f"/targets/{added['id']}").status_code == 404


@pytest.mark.parametrize(("fields", "field"), [
    ({"depth": 51}, "depth"),
    ({"depth": -1}, "depth"),
    ({"max_pages": 0}, "max_pages"),
    ({"concurrency": 65}, "concurrency"),
    ({"delay_s": 601}, "delay_s"),
    ({"cron": "61 * * * *"}, "cron"),
    ({"cron": "every day"}, "cron"),
    ({"allow_patterns": ["/films/("]}, "allow_patterns"),
    ({"deny_patterns": ["ok", "[z-a]"]}, "deny_patterns"),
    ({"mirror_domains": ["https://mirror.example/"]}, "mirror_domains"),
    ({"search_template": "https://pirate.example/search"}, "search_template"),
    ({"url": "ftp://pirate.example/"}, "url"),
])
def test_out_of_range_or_invalid_settings_are_a_422_naming_the_field(
        api: Api, fields: dict, field: str) -> None:
    body = {"url": "https://bad.pirate.example/", **fields}
    response = api.post("admin", "/targets", json=body)
    assert response.status_code == 422
    assert f"field {field}" in one_line(response)
    assert "bad.pirate.example" not in [t["site"] for t in api.ok("admin", "/targets")["items"]]


def test_bad_edits_and_combinations_are_refused_and_change_nothing(api: Api) -> None:
    target = add(api, url="https://edit.pirate.example/", depth=2, every_seconds=3600)
    for body, field in [({"depth": 99}, "field depth"), ({"cron": "0 25 * * *"}, "field cron"),
                        ({"allow_patterns": ["("]}, "field allow_patterns")]:
        response = api.call("PATCH", "admin", f"/targets/{target['id']}", json=body)
        assert response.status_code == 422 and field in one_line(response)
    both = api.post("admin", "/targets", json={"url": "https://both.pirate.example/",
                                               "every_seconds": 60, "cron": "0 3 * * *"})
    assert both.status_code == 422 and "either an interval" in one_line(both)
    search = api.post("admin", "/targets", json={"url": "https://s.pirate.example/",
                                                 "spider": "search"})
    assert search.status_code == 422 and "search-template" in one_line(search)
    unknown_work = api.post("admin", "/targets", json={"url": "https://w.pirate.example/",
                                                       "work_ids": [999999]})
    assert unknown_work.status_code == 404 and "999999" in one_line(unknown_work)
    assert api.post("admin", "/targets", json={"url": "https://edit.pirate.example/"}
                    ).status_code == 409
    assert api.ok("admin", f"/targets/{target['id']}")["depth"] == 2
    assert api.ok("admin", f"/targets/{target['id']}")["every_seconds"] == 3600


def test_a_target_with_history_is_paused_not_removed(api: Api) -> None:
    target = add(api, url="https://kept.pirate.example/")
    campaign = api.post("admin", "/campaigns", json={
        "name": "Keeps it", "starts_at": (utcnow() + timedelta(days=1)).isoformat(),
        "ends_at": (utcnow() + timedelta(days=2)).isoformat(), "target_ids": [target["id"]]})
    assert campaign.status_code == 201, campaign.text
    refused = api.delete("admin", f"/targets/{target['id']}")
    assert refused.status_code == 409 and "pause it instead" in one_line(refused)
    assert api.get("admin", f"/targets/{target['id']}").status_code == 200


def test_rights_holders_cannot_see_or_manage_targets_or_campaigns(api: Api) -> None:
    target = add(api, url="https://holder.pirate.example/")
    tid = target["id"]
    for method, path, body in [
        ("GET", "/targets", None), ("GET", f"/targets/{tid}", None),
        ("POST", "/targets", {"url": "https://mine.pirate.example/"}),
        ("PATCH", f"/targets/{tid}", {"depth": 1}), ("POST", f"/targets/{tid}/pause", None),
        ("DELETE", f"/targets/{tid}", None),
        ("POST", "/campaigns/rapid-response", {"site_ids": [target["site_id"]],
                                               "work_ids": [1]}),
        ("PATCH", "/campaigns/1", {"focus": "mine"}), ("GET", "/campaigns/1/hits", None),
    ]:
        response = api.call(method, "north", path, json=body)
        assert response.status_code == 403, (method, path, response.text)
    assert api.ok("admin", f"/targets/{tid}")["enabled"] is True


def test_campaigns_are_edited_while_running_and_not_once_stopped(api: Api) -> None:
    target = add(api, url="https://camp.pirate.example/")
    created = api.post("admin", "/campaigns", json={
        "name": "Spring", "starts_at": (utcnow() - timedelta(hours=1)).isoformat(),
        "ends_at": (utcnow() + timedelta(days=2)).isoformat(), "target_ids": [target["id"]]})
    cid = created.json()["id"]
    edited = api.call("PATCH", "admin", f"/campaigns/{cid}",
                      json={"name": "Spring push", "every_seconds": 600, "focus": "films"})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["name"], edited.json()["every_seconds"],
            edited.json()["focus"]) == ("Spring push", 600, "films")
    moved = api.call("PATCH", "admin", f"/campaigns/{cid}",
                     json={"starts_at": (utcnow() + timedelta(hours=1)).isoformat()})
    assert moved.status_code == 409 and "running" in one_line(moved)
    past = api.call("PATCH", "admin", f"/campaigns/{cid}",
                    json={"ends_at": (utcnow() - timedelta(minutes=1)).isoformat()})
    assert past.status_code == 422 and "past" in one_line(past)
    assert api.post("admin", f"/campaigns/{cid}/stop").status_code == 200
    late = api.call("PATCH", "admin", f"/campaigns/{cid}", json={"focus": "more"})
    assert late.status_code == 409 and "stopped" in one_line(late)
    assert api.ok("admin", f"/campaigns/{cid}")["focus"] == "films"


def test_rapid_response_searches_the_sites_for_the_works_every_five_minutes(api: Api) -> None:
    plain = add(api, url="https://plain.pirate.example/")
    refused = api.post("admin", "/campaigns/rapid-response",
                       json={"site_ids": [plain["site_id"]], "work_ids": [1]})
    assert refused.status_code == 422 and "no search template" in one_line(refused)
    bad_hours = api.post("admin", "/campaigns/rapid-response",
                         json={"site_ids": [plain["site_id"]], "work_ids": [1], "hours": 0})
    assert bad_hours.status_code == 422 and "field hours" in one_line(bad_hours)

    site = add(api, url="https://quick.pirate.example/", every_seconds=86400,
               search_template="https://quick.pirate.example/find?s={query}")
    started = api.post("admin", "/campaigns/rapid-response",
                       json={"site_ids": [site["site_id"]], "work_ids": [2, 1], "hours": 6})
    assert started.status_code == 201, started.text
    campaign = started.json()
    assert campaign["state"] == "running" and campaign["every_seconds"] == 300
    length = (datetime.fromisoformat(campaign["ends_at"])
              - datetime.fromisoformat(campaign["starts_at"]))
    assert length == timedelta(hours=6)
    assert datetime.fromisoformat(campaign["starts_at"]) <= datetime.now(UTC)
    targets = [api.ok("admin", f"/targets/{tid}") for tid in campaign["targets"]]
    searches = [t for t in targets if t["spider"] == "search"]
    assert [t["id"] for t in targets if t["spider"] == "site"] == [site["id"]]
    assert len(searches) == 1
    assert searches[0]["search_template"] == "https://quick.pirate.example/find?s={query}"
    assert searches[0]["work_ids"] == [1, 2] and searches[0]["enabled"] is False
    assert searches[0]["every_seconds"] is None  # only the campaign crawls it


def test_live_hits_feed_lists_new_hits_after_the_last_seen(api: Api) -> None:
    with api.db.session() as session:
        site = session.scalars(select(Site).where(Site.domain.like("127.0.0.1:%"))).first()
        assert site is not None
        site_id, domain = site.id, site.domain
        works = [w.id for w in session.scalars(select(Work).order_by(Work.id))]
    add(api, url=f"http://{domain}/", search_template=f"http://{domain}/?q={{query}}")
    started = api.post("admin", "/campaigns/rapid-response",
                       json={"site_ids": [site_id], "work_ids": works[:1], "hours": 1})
    cid = started.json()["id"]
    assert api.ok("admin", f"/campaigns/{cid}/hits")["items"] == []  # seen before it began
    with api.db.session() as session:
        ids = list(session.scalars(select(Hit.id).where(Hit.site_id == site_id)
                                   .order_by(Hit.id).limit(3)))
        session.execute(update(Hit).where(Hit.id.in_(ids)).values(last_seen_at=utcnow()))
    feed = api.ok("admin", f"/campaigns/{cid}/hits", after=0)
    assert [h["id"] for h in feed["items"]] == ids and feed["state"] == "running"
    assert feed["items"][0]["review_url"].endswith(f"campaign_id={cid}&hit={ids[0]}")
    assert [h["id"] for h in api.ok("admin", f"/campaigns/{cid}/hits",
                                    after=ids[0])["items"]] == ids[1:]
