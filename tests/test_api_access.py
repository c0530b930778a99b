"""Who may see and do what through the API: one rights holder never sees the other's data
(by id, in lists, totals or case logs), staff-only endpoints refuse rights holders, and
credentials are checked (expired, revoked, in the URL, cookie without CSRF token).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy import inspect as sa_inspect

from casefiles.notices import record_notice
from swordnet.accounts.users import create_token, revoke_token, start_session, user_by_name
from swordnet.core.models import ApiToken, Hit, Tip
from swordnet.core.timeutil import utcnow
from swordnet.web.deps import CSRF_HEADER, SESSION_COOKIE
from tests.api_client import Api, one_line, open_api
from tests.conftest import BACKENDS
from tests.web_data import HOLDER_A, HOLDER_B, WebData, web_data_on


@dataclass(frozen=True)
class Other:
    """Harbour's objects (north must never see them) and north's own."""

    work: int
    hit: int
    case: int  # holds only harbour's hits
    shared_case: int  # holds a hit of each holder, and a notice naming both URLs
    entry: int
    tip: int
    secrets: tuple[str, ...]  # harbour's titles, URLs, domains only harbour may see
    own_hits: int


@pytest.fixture(scope="module", params=BACKENDS)
def web_data(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebData]:
    with web_data_on(request.param, tmp_path_factory) as data:
        yield data


@pytest.fixture(scope="module")
def api(web_data: WebData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with open_api(web_data.copy_to(tmp_path_factory.mktemp("access")), web_data.tokens) as api:
        yield api


@pytest.fixture
def private(web_data: WebData, tmp_path: Path) -> Iterator[Api]:
    """The API on a copy of its own, for a test whose changes others must not see."""
    with web_data.copied(tmp_path) as settings, open_api(settings, web_data.tokens) as api:
        yield api


def _hits_by_holder(api: Api, holder: str) -> list[dict]:
    works = {w["id"] for w in api.ok("reviewer", "/works", holder=holder)["items"]}
    return [h for h in api.ok("reviewer", "/hits", limit=500, sort="id")["items"]
            if h["work_id"] in works]


@pytest.fixture(scope="module")
def other(api: Api) -> Other:
    north, harbour = _hits_by_holder(api, HOLDER_A), _hits_by_holder(api, HOLDER_B)
    assert api.post("reviewer", f"/hits/{harbour[0]['id']}/confirm").status_code == 200
    [case] = api.ok("reviewer", "/cases")["items"]
    closed = api.post("reviewer", f"/cases/{case['id']}/transition",
                      json={"to": "closed", "reason": "settled"})
    assert closed.status_code == 200
    for hit in (north[0], harbour[1]):
        assert api.post("reviewer", f"/hits/{hit['id']}/confirm").status_code == 200
    shared = api.ok("reviewer", "/cases", status="open")["items"][0]["id"]
    with api.db.session() as session:
        record_notice(session, shared, "abuse@host.example", "dmca-en", "reviewer")
    work = harbour[0]["work_id"]
    entry = api.post("harbour", "/allowlist", json={"domain": "harbour-licensed.example"})
    tip = api.post("harbour", "/tips", json={"url": "http://harbour-tip.example/x",
                                             "work_id": work})
    assert api.post("north", "/allowlist", json={"domain": "north.example"}).status_code == 201
    assert api.post("north", "/tips", json={"url": "http://north-tip.example/",
                                            "work_id": north[0]["work_id"]}).status_code == 201
    north_urls = {h["url"] for h in north} | {h["page_url"] for h in north}
    secrets = {h["work_title"] for h in harbour} | ({h["url"] for h in harbour} - north_urls)
    secrets |= {"harbour-licensed.example", "harbour-tip.example", HOLDER_B}
    return Other(work=work, hit=harbour[0]["id"], case=case["id"], shared_case=shared,
                 entry=entry.json()["id"], tip=tip.json()["id"], secrets=tuple(secrets),
                 own_hits=len(north))


def leaks(response_text: str, other: Other) -> list[str]:
    return [secret for secret in other.secrets if secret in response_text]


# --- ids of the other holder's objects --------------------------------------------------------

def by_id_requests(other: Other) -> list[tuple[str, str, dict]]:
    return [
        ("GET", f"/works/{other.work}", {}),
        ("GET", f"/works/{other.work}/preview", {}),
        ("DELETE", f"/works/{other.work}", {}),
        ("GET", f"/hits/{other.hit}", {}),
        ("GET", f"/hits/{other.hit}/copy.png", {}),
        ("GET", f"/hits/{other.hit}/page-text", {}),
        ("GET", f"/cases/{other.case}", {}),
        ("GET", f"/allowlist/{other.entry}", {}),
        ("DELETE", f"/allowlist/{other.entry}", {}),
        ("GET", f"/tips/{other.tip}", {}),
        ("POST", "/allowlist", {"json": {"domain": "x.example", "work_id": other.work}}),
        ("POST", "/tips", {"json": {"url": "http://x.example/", "work_id": other.work}}),
    ]


def test_other_holders_ids_are_not_found_and_leak_nothing(api: Api, other: Other) -> None:
    for method, path, kwargs in by_id_requests(other):
        response = api.call(method, "north", path, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert not leaks(response.text, other), (method, path)
        # Exactly what an id that does not exist gets.
        missing = api.call(method, "north", re.sub(r"/\d+", "/999999", path, count=1),
                           **_with_missing_work(kwargs))
        assert missing.status_code == 404
        assert re.sub(r"\d+", "N", one_line(response)) == re.sub(r"\d+", "N",
                                                                 one_line(missing))
    # Nothing was deleted by the refused calls.
    assert api.get("harbour", f"/works/{other.work}").status_code == 200
    assert api.get("harbour", f"/allowlist/{other.entry}").status_code == 200


def _with_missing_work(kwargs: dict) -> dict:
    if "json" not in kwargs:
        return kwargs
    return {"json": {**kwargs["json"], "work_id": 999999}}


def test_staff_endpoints_refuse_rights_holders(api: Api, other: Other) -> None:
    campaign = 1
    requests = [
        ("POST", f"/hits/{other.hit}/confirm", {}),
        ("POST", f"/hits/{other.hit}/reject", {}),
        ("POST", f"/hits/{other.hit}/undo", {}),
        ("POST", "/hits/bulk", {"json": {"action": "reject", "ids": [other.hit]}}),
        ("POST", f"/cases/{other.shared_case}/transition",
         {"json": {"to": "closed", "reason": "x"}}),
        ("POST", f"/cases/{other.shared_case}/bundle", {}),
        ("POST", f"/cases/{other.case}/bundle", {}),
        ("GET", "/campaigns", {}),
        ("POST", "/campaigns", {"json": {"name": "x", "starts_at": "2030-01-01",
                                         "ends_at": "2030-02-01", "target_ids": [1]}}),
        ("GET", f"/campaigns/{campaign}", {}),
        ("POST", f"/campaigns/{campaign}/stop", {}),
        ("GET", f"/campaigns/{campaign}/report", {}),
        ("GET", f"/campaigns/{campaign}/shutdown-list", {}),
        ("GET", f"/campaigns/{campaign}/shutdown-list", {"params": {"format": "xlsx"}}),
    ]
    for user in ("north", "harbour"):
        for method, path, kwargs in requests:
            response = api.call(method, user, path, **kwargs)
            assert response.status_code == 403, (user, method, path, response.text)
            assert "staff" in one_line(response)
            assert "attachment" not in response.headers.get("content-disposition", "")
    hit = api.ok("reviewer", f"/hits/{other.hit}")
    assert hit["status"] == "confirmed"


# --- lists, totals, case logs -------------------------------------------------------------------

def test_lists_and_totals_hold_only_own_data(api: Api, other: Other) -> None:
    works = api.ok("north", "/works", limit=500)
    assert works["total"] == 3 and {w["holder"] for w in works["items"]} == {HOLDER_A}
    hits = api.ok("north", "/hits", limit=500)
    assert hits["total"] == len(hits["items"]) == other.own_hits
    assert api.ok("north", "/hits", work_id=other.work)["total"] == 0
    assert api.ok("north", "/works", holder=HOLDER_B)["total"] == 0
    assert api.ok("north", "/hits", status="confirmed")["total"] == 1
    cases = api.ok("north", "/cases")
    assert cases["total"] == 1 and cases["items"][0]["id"] == other.shared_case
    assert cases["items"][0]["hits"] == 1
    assert api.ok("north", "/allowlist")["total"] == 1
    assert api.ok("north", "/tips")["total"] == 1
    for path in ("/works", "/hits", "/cases", "/allowlist", "/tips"):
        response = api.get("north", path, params={"limit": 500})
        assert not leaks(response.text, other), path
    # Staff see both holders.
    assert api.ok("reviewer", "/works")["total"] == 6
    assert api.ok("reviewer", "/cases")["total"] == 2
    assert api.ok("harbour", "/cases")["total"] == 2


def test_a_tip_shows_only_the_callers_hits_found_at_its_url(private: Api) -> None:
    """A tip's check records every hit at the URL; a rights holder sees only theirs."""
    north, harbour = _hits_by_holder(private, HOLDER_A), _hits_by_holder(private, HOLDER_B)
    tip = private.post("north", "/tips", json={"url": north[0]["page_url"],
                                               "work_id": north[0]["work_id"]}).json()
    found = [north[0]["id"], harbour[0]["id"]]
    with private.db.session() as session:
        session.execute(update(Tip).where(Tip.id == tip["id"]).values(
            status="checked", result={"hits": found, "named_work_found": True}))
    assert private.ok("north", f"/tips/{tip['id']}")["hits"] == [north[0]["id"]]
    assert [t["hits"] for t in private.ok("north", "/tips")["items"]] == [[north[0]["id"]]]
    assert private.ok("reviewer", f"/tips/{tip['id']}")["hits"] == found


def test_shared_case_shows_only_own_hits_and_events(api: Api, other: Other) -> None:
    staff_view = api.ok("reviewer", f"/cases/{other.shared_case}")
    assert len(staff_view["hit_list"]) == 2
    assert "notice_sent" in [e["type"] for e in staff_view["events"]]
    response = api.get("north", f"/cases/{other.shared_case}")
    assert response.status_code == 200
    case = response.json()
    assert [h["work_id"] for h in case["hit_list"]] != []
    assert all(h["work_title"] not in other.secrets for h in case["hit_list"])
    assert len(case["hit_list"]) == 1 and case["hits"] == 1
    types = [e["type"] for e in case["events"]]
    assert "hit_confirmed" in types and "notice_sent" not in types
    assert not leaks(response.text, other)
    harbour_view = api.ok("harbour", f"/cases/{other.shared_case}")
    assert len(harbour_view["hit_list"]) == 1


# --- credentials ----------------------------------------------------------------------------------

def test_expired_and_revoked_tokens_are_refused(api: Api) -> None:
    with api.db.session() as session:
        expiring = create_token(session, "north", "short", lifetime=timedelta(hours=1))
        revoked = create_token(session, "north", "to revoke")
    for issued in (expiring, revoked):
        ok = api.client.get("/api/v1/works", headers={"Authorization":
                                                      f"Bearer {issued.secret}"})
        assert ok.status_code == 200
    with api.db.session() as session:
        session.execute(update(ApiToken).where(ApiToken.id == expiring.token.id)
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
        revoke_token(session, revoked.token.id)
    for issued in (expiring, revoked):
        refused = api.client.get("/api/v1/works", headers={"Authorization":
                                                           f"Bearer {issued.secret}"})
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "expired or revoked" in one_line(refused)


def test_tokens_only_in_the_authorization_header(api: Api) -> None:
    token = api.tokens["reviewer"]
    for params in ({"token": token}, {"access_token": token}, {"api_key": token}):
        response = api.client.get("/api/v1/works", params=params)
        assert response.status_code == 401, params
    assert api.client.get("/api/v1/works").status_code == 401
    basic = api.client.get("/api/v1/works", headers={"Authorization": f"Basic {token}"})
    assert basic.status_code == 401 and "Bearer" in one_line(basic)
    wrong = api.client.get("/api/v1/works", headers={"Authorization": "Bearer swn_nope"})
    assert wrong.status_code == 401


def test_cookie_session_needs_csrf_token_to_change_anything(private: Api) -> None:
    api = private
    with api.db.session() as session:
        cookie, row = start_session(session, user_by_name(session, "north"))
        csrf = row.csrf_token
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    assert api.client.get("/api/v1/works", headers=headers).json()["total"] == 3
    own_work = api.ok("north", "/works")["items"][0]["id"]
    tip = {"url": "http://csrf.example/", "work_id": own_work}
    before = api.ok("north", "/tips")["total"]
    for extra in ({}, {CSRF_HEADER: "guessed"}):
        refused = api.client.post("/api/v1/tips", json=tip, headers={**headers, **extra})
        assert refused.status_code == 403 and "CSRF" in one_line(refused)
    assert api.ok("north", "/tips")["total"] == before
    accepted = api.client.post("/api/v1/tips", json=tip,
                               headers={**headers, CSRF_HEADER: csrf})
    assert accepted.status_code == 201
    assert api.ok("north", "/tips")["total"] == before + 1


# --- query parameters ---------------------------------------------------------------------------

LISTS = ("/works", "/hits", "/cases", "/tips", "/allowlist", "/campaigns")


def test_unknown_sort_field_is_a_bad_request_naming_it(api: Api) -> None:
    for path in LISTS:
        response = api.get("reviewer", path, params={"sort": "-password_hash"})
        assert response.status_code == 400, path
        assert "unknown sort field 'password_hash'" in one_line(response)
        assert api.get("reviewer", path, params={"sort": "-id"}).status_code == 200


INJECTIONS = ["' OR 1=1 --", "%", "_", '"; DROP TABLE hits; --', "%' OR '1'='1",
              "1; DELETE FROM works", "\\", "*"]
TEXT_FILTERS = [("/works", "title"), ("/works", "holder"), ("/hits", "site"),
                ("/hits", "algorithm"), ("/cases", "site"), ("/allowlist", "domain")]
ENUM_FILTERS = [("/hits", "status"), ("/cases", "status"), ("/tips", "status"),
                ("/works", "kind")]


@pytest.mark.parametrize("value", INJECTIONS)
def test_filter_values_are_data_not_sql(api: Api, value: str) -> None:
    totals = {path: api.ok("reviewer", path)["total"] for path in LISTS}
    for user in ("reviewer", "north"):
        for path, name in TEXT_FILTERS:
            page = api.ok(user, path, **{name: value})
            assert (page["total"], page["items"]) == (0, []), (user, path, name)
        for path, name in ENUM_FILTERS:
            response = api.get(user, path, params={name: value})
            assert response.status_code in (400, 422), (path, name)
    assert {path: api.ok("reviewer", path)["total"] for path in LISTS} == totals
    with api.db.session() as session:
        tables = set(sa_inspect(session.connection()).get_table_names())
        assert {"hits", "works", "cases", "allowlist", "tips"} <= tables
        assert session.scalar(select(func.count()).select_from(Hit)) == totals["/hits"]


def test_nul_in_a_query_is_a_bad_request(api: Api) -> None:
    for path, name in TEXT_FILTERS + ENUM_FILTERS:
        response = api.get("reviewer", path, params={name: "a\x00b"})
        assert response.status_code == 400, (path, name)
        assert f"query parameter {name!r} must not contain NUL" in one_line(response)


def test_title_filter_matches_literally(private: Api) -> None:
    api = private
    titles = ["50% off_sale", "50X offXsale"]
    for n, title in enumerate(titles):
        line = {"title": title, "kind": "image", "fingerprints": [
            {"algorithm": "phash", "value": f"{n + 1:016x}"}]}
        assert api.post("north", "/works/precomputed", json=line).status_code == 201
    assert [w["title"] for w in api.ok("north", "/works", title="0% off_")["items"]] == [
        titles[0]]
    assert api.ok("north", "/works", title="off_s")["total"] == 1
