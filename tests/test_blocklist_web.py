"""The blocking list over HTTP: the export a provider's client polls (ETag 304, Last-Modified,
its token reads nothing else), staff's confirm-and-list, override and withdraw, and the
console page with its forms and clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from swordnet.accounts.blocklist_clients import add_client, revoke_client
from swordnet.accounts.users import add_user, create_token
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import BlockEntry, CaseEvent
from swordnet.web.app import API_PREFIX, create_app
from swordnet.web.headers import CONTENT_SECURITY_POLICY
from tests.api_client import one_line
from tests.live_rows import add_event, add_matched_stream
from tests.test_console import form_token, signed_in_clients
from tests.web_data import PASSWORD

CDN_IP = "104.16.1.1"


@dataclass
class Served:
    client: TestClient
    db: Database
    tokens: dict[str, str]
    streams: list[int]

    def call(self, method: str, who: str | None, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        headers.update(kwargs.pop("headers", {}))
        return self.client.request(method, API_PREFIX + path, headers=headers, **kwargs)


@pytest.fixture
def served(sqlite_home: Settings) -> Iterator[Served]:
    db = open_database(sqlite_home)
    with db.session() as session:
        add_user(session, "staffer", PASSWORD, "staff")
        event = add_event(session)
        add_user(session, "holder", PASSWORD, "rights_holder", "League")
        streams = [add_matched_stream(session, event, "https://one.pirate.example/a.m3u8",
                                      ["203.0.113.50", CDN_IP]).id,
                   add_matched_stream(session, event, "https://two.pirate.example/a.m3u8",
                                      ["203.0.113.51"]).id,
                   add_matched_stream(session, event, "https://lawful.example/a.m3u8",
                                      ["198.51.100.1"], matched=False).id]
        tokens = {"staffer": create_token(session, "staffer", "t").secret,
                  "holder": create_token(session, "holder", "t").secret,
                  "isp": add_client(session, "ISP One", actor="staffer").secret,
                  "revoked": add_client(session, "ISP Two", actor="staffer").secret}
        revoke_client(session, "ISP Two", actor="staffer")
    db.dispose()
    app = create_app(sqlite_home)
    try:
        with TestClient(app) as client:
            yield Served(client, app.state.db, tokens, streams)
    finally:
        app.state.db.dispose()


def test_a_provider_polls_the_list_with_etag_and_last_modified(served: Served) -> None:
    first = served.call("GET", "isp", "/blocklist/export", params={"format": "txt",
                                                                   "kind": "fqdn"})
    assert first.status_code == 200 and first.text == ""
    confirmed = served.call("POST", "staffer", f"/live/streams/{served.streams[0]}"
                                               "/confirm-and-list")
    assert confirmed.status_code == 200, confirmed.text
    response = served.call("GET", "isp", "/blocklist/export",
                           params={"format": "txt", "kind": "fqdn"})
    assert response.text == "one.pirate.example\n"
    assert response.headers["content-type"].startswith("text/plain")
    etag = response.headers["etag"]
    assert response.headers["last-modified"].endswith("GMT")
    assert "no-cache" in response.headers["cache-control"]
    again = served.call("GET", "isp", "/blocklist/export", params={"format": "txt",
                                                                   "kind": "fqdn"},
                        headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    served.call("POST", "staffer", f"/live/streams/{served.streams[1]}/confirm-and-list")
    changed = served.call("GET", "isp", "/blocklist/export", params={"format": "txt",
                                                                     "kind": "fqdn"},
                          headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.text == "one.pirate.example\ntwo.pirate.example\n"
    document = served.call("GET", "isp", "/blocklist/export").json()
    assert {e["value"] for e in document["entries"]} == {
        "one.pirate.example", "two.pirate.example", "203.0.113.50", "203.0.113.51"}
    csv_text = served.call("GET", "isp", "/blocklist/export",
                           params={"format": "csv"}).text
    assert csv_text.startswith("kind,value,status,first_seen,last_seen,listed_at,withdrawn_at")
    assert CDN_IP not in csv_text  # shared infrastructure: held back


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/hits"), ("GET", "/works"), ("GET", "/cases"), ("GET", "/blocklist/entries"),
    ("POST", "/live/streams/1/confirm-and-list"), ("POST", "/blocklist/entries/1/withdraw"),
])
def test_a_provider_token_reads_the_list_and_nothing_else(served: Served, method: str,
                                                          path: str) -> None:
    response = served.call(method, "isp", path, json={"reason": "x"})
    assert response.status_code == 401, response.text
    assert served.client.get("/blocklist", headers={
        "Authorization": f"Bearer {served.tokens['isp']}"},
        follow_redirects=False).status_code == 303  # the console wants a signed-in user


def test_who_else_may_read_the_export(served: Served) -> None:
    assert served.call("GET", "revoked", "/blocklist/export").status_code == 401
    assert served.call("GET", None, "/blocklist/export").status_code == 401
    assert served.call("GET", "staffer", "/blocklist/export").status_code == 200
    refused = served.call("GET", "holder", "/blocklist/export")
    assert refused.status_code == 403 and "staff" in one_line(refused)
    assert served.call("POST", "holder", f"/live/streams/{served.streams[1]}"
                                         "/confirm-and-list").status_code == 403


@pytest.mark.parametrize(("params", "named"), [
    ({"kind": "ipv5"}, "ipv5"), ({"format": "xml"}, "xml"), ({"format": "txt"}, "kind"),
    ({"format": "csv", "withdrawn": "true"}, "withdrawn"), ({"withdrawn": "maybe"}, "withdrawn"),
])
def test_bad_export_parameters_are_422_naming_them(served: Served, params: dict[str, str],
                                                   named: str) -> None:
    response = served.call("GET", "isp", "/blocklist/export", params=params)
    assert response.status_code == 422 and named in one_line(response)


def test_staff_override_and_withdraw_with_a_reason(served: Served) -> None:
    entries = served.call("POST", "staffer", f"/live/streams/{served.streams[0]}"
                                             "/confirm-and-list").json()
    held = next(e for e in entries if e["value"] == CDN_IP)
    assert held["state"] == "held" and "Cloudflare" in held["shared_reason"]
    with served.db.session() as session:
        events_before = session.scalar(select(func.count()).select_from(CaseEvent))
    for body in ({"reason": ""}, {}):
        refused = served.call("POST", "staffer", f"/blocklist/entries/{held['id']}/override",
                              json=body)
        assert refused.status_code == 422 and "reason" in one_line(refused)
    blank = served.call("POST", "staffer", f"/blocklist/entries/{held['id']}/override",
                        json={"reason": "   "})
    assert blank.status_code == 422 and "reason" in one_line(blank)
    with served.db.session() as session:
        assert session.scalar(select(func.count()).select_from(CaseEvent)) == events_before
        assert session.get(BlockEntry, held["id"]).listed_at is None
    listed = served.call("POST", "staffer", f"/blocklist/entries/{held['id']}/override",
                         json={"reason": "dedicated address, court order 7"}).json()
    assert listed["state"] == "listed" and listed["override_by"] == "staffer"
    ipv4 = served.call("GET", "isp", "/blocklist/export", params={"format": "txt",
                                                                  "kind": "ipv4"})
    assert CDN_IP in ipv4.text.split()
    fqdn = next(e for e in entries if e["kind"] == "fqdn")
    gone = served.call("POST", "staffer", f"/blocklist/entries/{fqdn['id']}/withdraw",
                       json={"reason": "licensed relay"}).json()
    assert gone["state"] == "withdrawn" and gone["withdraw_reason"] == "licensed relay"
    withdrawn = served.call("GET", "isp", "/blocklist/export",
                            params={"format": "txt", "kind": "fqdn", "withdrawn": "true"})
    assert withdrawn.text == "one.pirate.example\n"
    twice = served.call("POST", "staffer", f"/blocklist/entries/{fqdn['id']}/withdraw",
                        json={"reason": "again"})
    assert twice.status_code == 409
    held_list = served.call("GET", "staffer", "/blocklist/entries",
                            params={"state": "withdrawn"}).json()
    assert [e["value"] for e in held_list] == ["one.pirate.example"]
    unmatched = served.call("POST", "staffer", f"/live/streams/{served.streams[2]}"
                                               "/confirm-and-list")
    assert unmatched.status_code == 409 and "no match" in one_line(unmatched)
    assert served.call("POST", "staffer", "/live/streams/99999/confirm-and-list"
                       ).status_code == 404
    bad_state = served.call("GET", "staffer", "/blocklist/entries", params={"state": "gone"})
    assert bad_state.status_code == 422 and "gone" in one_line(bad_state)


def test_every_blocklist_operation_is_documented(served: Served) -> None:
    document = served.call("GET", "staffer", "/openapi.json").json()
    ours = {path: item for path, item in document["paths"].items()
            if "blocklist" in path or "confirm-and-list" in path}
    assert len(ours) == 5
    for path, item in ours.items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            assert operation.get("summary") and operation.get("tags"), label
            assert operation.get("description"), label
            assert {"401", "404", "422"} <= set(operation["responses"]), label
            ok = [s for s in operation["responses"] if s.startswith("2")]
            assert ok and all("content" in operation["responses"][s] for s in ok), label


# --- the console ----------------------------------------------------------------------------

def test_the_console_lists_entries_and_overrides_withdraws_and_manages_clients(
        served: Served, sqlite_home: Settings) -> None:
    with served.db.session() as session:
        add_user(session, "north", PASSWORD, "rights_holder", "League")
    with signed_in_clients(sqlite_home, ("staffer", "north")) as clients:
        staff = clients["staffer"]
        page = staff.get("/blocklist")
        assert page.status_code == 200 and "No entries" in page.text
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "<script" not in page.text.lower() and 'href="/blocklist"' in page.text
        token = form_token(page.text)
        confirmed = staff.post(f"/blocklist/confirm/{served.streams[0]}",
                               data={"csrf_token": token}, follow_redirects=False)
        assert confirmed.status_code == 303
        page = staff.get(confirmed.headers["location"])
        rows = dict(re.findall(r'data-entry="(\d+)" data-state="(\w+)"', page.text))
        assert sorted(rows.values()) == ["held", "listed", "listed"]
        assert "shared infrastructure" in page.text and "Cloudflare" in page.text
        held = next(i for i, s in rows.items() if s == "held")
        no_reason = staff.post(f"/blocklist/entries/{held}/override",
                               data={"csrf_token": token, "reason": " "})
        assert no_reason.status_code == 422 and "reason" in no_reason.text
        no_csrf = staff.post(f"/blocklist/entries/{held}/override", data={"reason": "x"})
        assert no_csrf.status_code == 403
        done = staff.post(f"/blocklist/entries/{held}/override",
                          data={"csrf_token": token, "reason": "court order 9"},
                          follow_redirects=False)
        assert done.status_code == 303
        page = staff.get("/blocklist", params={"state": "listed", "kind": "ipv4"})
        assert "court order 9" in page.text and CDN_IP in page.text
        listed = re.findall(r'data-entry="(\d+)" data-state="listed"', page.text)
        staff.post(f"/blocklist/entries/{listed[0]}/withdraw",
                   data={"csrf_token": token, "reason": "mistaken"})
        assert "mistaken" in staff.get("/blocklist", params={"state": "withdrawn"}).text
        bad = staff.get("/blocklist", params={"kind": "ipv5"})
        assert bad.status_code == 422 and "ipv5" in bad.text
        created = staff.post("/blocklist/clients", data={"csrf_token": token,
                                                         "name": "ISP Three"})
        assert created.status_code == 201
        secret = re.search(r'<code class="secret">(swb_[^<]+)</code>', created.text)
        assert secret
        reads = served.client.get(f"{API_PREFIX}/blocklist/export", headers={
            "Authorization": f"Bearer {secret.group(1)}"})
        assert reads.status_code == 200
        staff.post("/blocklist/clients/ISP%20Three/revoke", data={"csrf_token": token})
        assert served.client.get(f"{API_PREFIX}/blocklist/export", headers={
            "Authorization": f"Bearer {secret.group(1)}"}).status_code == 401
        assert secret.group(1) not in staff.get("/blocklist").text
        assert clients["north"].get("/blocklist").status_code == 403
