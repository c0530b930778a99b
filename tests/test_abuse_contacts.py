"""Who to send notices to: abuse contacts from RDAP, asked of a local RDAP server (IANA-style
bootstrap files and answers, on 127.0.0.1 in the test), stored, and overridden by staff."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from casefiles.contacts import refresh
from casefiles.rdap import rdap_client
from swordnet.accounts.users import add_user
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import AbuseContact, Site
from swordnet.core.timeutil import utcnow
from swordnet.web.app import create_app
from tests.conftest import run_cli
from tests.test_case_lifecycle import confirm, make_hits
from tests.test_console import form_token, sign_in
from tests.test_notice_delivery import PASSPHRASE


def vcard(email: str) -> list[Any]:
    return ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Abuse desk"],
                      ["email", {}, "text", email]]]


DOMAIN_ANSWER = {
    "objectClassName": "domain", "ldhName": "PIRATE.COM", "handle": "D1",
    "entities": [{"objectClassName": "entity", "handle": "292", "roles": ["registrar"],
                  "vcardArray": vcard("info@registrar.example"),
                  "entities": [{"objectClassName": "entity", "handle": "ABUSE-1",
                                "roles": ["abuse"],
                                "vcardArray": vcard("abuse@registrar.example")}]}]}
IP_ANSWER = {
    "objectClassName": "ip network", "handle": "NET-93", "startAddress": "93.184.0.0",
    "endAddress": "93.184.255.255", "ipVersion": "v4",
    "entities": [{"objectClassName": "entity", "handle": "HOSTER-ABUSE", "roles": ["abuse"],
                  "vcardArray": vcard("abuse@hoster.example")}]}


class RdapFixture(BaseHTTPRequestHandler):
    """Bootstrap files under /bootstrap/, answers under /rdap/, garbage under /junk/ and an
    answer that never finishes under /slow/."""

    stop: threading.Event

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, value: Any, status: int = 200) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/rdap+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        path = self.path
        if path.startswith("/bootstrap/"):
            services = {
                "dns.json": [[["com"], [f"{base}/rdap/"]], [["junk"], [f"{base}/junk/"]],
                             [["slow"], [f"{base}/slow/"]]],
                "ipv4.json": [[["93.0.0.0/8"], [f"{base}/rdap/"]]],
                "ipv6.json": [[["2001:db8::/32"], [f"{base}/rdap/"]]],
                "asn.json": [[["1-100"], [f"{base}/rdap/"]]],
                "object-tags.json": [[["contact@example"], ["TAG"], [f"{base}/rdap/"]]],
            }[path.removeprefix("/bootstrap/")]
            self._json({"version": "1.0", "services": services})
        elif path == "/rdap/domain/pirate.com":
            self._json(DOMAIN_ANSWER)
        elif path == "/rdap/ip/93.184.216.34":
            self._json(IP_ANSWER)
        elif path.startswith("/junk/"):
            self.send_response(200)
            self.send_header("Content-Type", "application/rdap+json")
            self.end_headers()
            self.wfile.write(b"<html>Registry maintenance</html>")
        elif path.startswith("/slow/"):
            self.send_response(200)
            self.send_header("Content-Type", "application/rdap+json")
            self.end_headers()
            try:
                while not self.stop.wait(0.05):  # a byte now and then, never the end
                    self.wfile.write(b" ")
                    self.wfile.flush()
            except OSError:
                pass
        else:
            self._json({"errorCode": 404}, 404)


@pytest.fixture
def rdap_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The fixture RDAP server; SWORDNET_RDAP_BOOTSTRAP_URL points at it."""
    stop = threading.Event()
    handler = type("Handler", (RdapFixture,), {"stop": stop})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/bootstrap/"
    monkeypatch.setenv("SWORDNET_RDAP_BOOTSTRAP_URL", url)
    monkeypatch.setenv("SWORDNET_RDAP_TIMEOUT", "0.5")
    try:
        yield url
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def add_site(db: Database, domain: str, ips: list[str]) -> None:
    with db.session() as session:
        session.add(Site(domain=domain, status="active", first_seen_at=utcnow(), ips=ips))


def stored(db: Database) -> list[tuple[str, str, str, str | None]]:
    with db.session() as session:
        return [(c.source, c.subject, c.outcome, c.email) for c in session.scalars(
            select(AbuseContact).order_by(AbuseContact.id))]


def test_rdap_suggests_the_registrar_and_network_abuse_desks(
        db: Database, rdap_server: str) -> None:
    add_site(db, "www.pirate.com", ["93.184.216.34"])
    shown = run_cli("contacts", "show", "www.pirate.com", "--json")
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert [(r["source"], r["subject"], r["outcome"], r["email"]) for r in rows] == [
        ("rdap-domain", "pirate.com", "found", "abuse@registrar.example"),
        ("rdap-ip", "93.184.216.34", "found", "abuse@hoster.example")]
    # a notice without --recipient goes to the suggestion; staff's address then wins
    case_id = confirm(db, make_hits(db, "http://www.pirate.com/", ["Film"]))
    recorded = run_cli("notices", "record", str(case_id))
    assert "to abuse@registrar.example recorded" in recorded.output
    assert run_cli("contacts", "set", "www.pirate.com", "legal@pirate.example").exit_code == 0
    again = run_cli("notices", "record", str(case_id))
    assert "to legal@pirate.example recorded" in again.output
    bad = run_cli("contacts", "set", "www.pirate.com", "legal at pirate")
    assert bad.exit_code == 1 and bad.output.startswith("Error: contact 'legal at pirate' is "
                                                        "not an email address")
    assert run_cli("contacts", "clear", "www.pirate.com").exit_code == 0
    assert [row[0] for row in stored(db)] == ["rdap-domain", "rdap-ip"]


@pytest.mark.parametrize(("domain", "expected"), [
    ("pirate.junk", "the answer from 127.0.0.1:{port} is not JSON"),
    ("pirate.slow", "no complete answer from 127.0.0.1:{port} within 0.5 s"),
    ("pirate.nowhere", "no RDAP server for pirate.nowhere"),
])
def test_garbage_slow_or_missing_answers_are_recorded_as_failed(
        db: Database, home: Settings, rdap_server: str, domain: str, expected: str) -> None:
    add_site(db, domain, [])
    settings = replace(home, rdap_bootstrap_url=rdap_server, rdap_timeout_s=0.5)
    [lookup] = refresh(db, domain, rdap_client(settings))
    port = rdap_server.split(":")[2].split("/")[0]
    assert lookup.outcome == "failed"
    assert lookup.detail.startswith(expected.format(port=port)), lookup.detail
    assert stored(db) == [("rdap-domain", domain, "failed", None)]
    shown = run_cli("contacts", "show", domain)  # stored: not asked again
    assert shown.exit_code == 0 and "failed" in shown.output


def test_rdap_is_held_to_the_outbound_policy(db: Database, home: Settings,
                                             rdap_server: str) -> None:
    add_site(db, "www.pirate.com", [])
    settings = replace(home, rdap_bootstrap_url=rdap_server, allow_networks="")
    [lookup] = refresh(db, "www.pirate.com", rdap_client(settings))
    assert lookup.outcome == "failed"
    assert lookup.detail.endswith("refused: address not allowed (loopback)")


def test_an_unknown_site_is_one_line(sqlite_home: Settings) -> None:
    result = run_cli("contacts", "show", "nowhere.example")
    assert result.exit_code == 1
    assert result.output == "Error: no site 'nowhere.example' (see `swordnet sites list`)\n"


def test_staff_edit_and_look_up_contacts_from_the_case_page(
        db: Database, home: Settings, rdap_server: str) -> None:
    add_site(db, "www.pirate.com", ["93.184.216.34"])
    case_id = confirm(db, make_hits(db, "http://www.pirate.com/", ["Film"]))
    with db.session() as session:
        add_user(session, "lead", PASSPHRASE, "staff")
    settings = replace(home, rdap_bootstrap_url=rdap_server, rdap_timeout_s=0.5)
    with TestClient(create_app(settings, db)) as client:
        sign_in(client, "lead", PASSPHRASE)
        page = client.get(f"/cases/{case_id}").text
        assert "None known: look them up over RDAP" in page
        assert client.post(f"/cases/{case_id}/contact/lookup",
                           follow_redirects=False).status_code == 403  # no CSRF token
        looked = client.post(f"/cases/{case_id}/contact/lookup",
                             data={"csrf_token": form_token(page)})
        assert looked.status_code == 200 and "abuse@hoster.example" in looked.text
        assert 'value="abuse@registrar.example"' in looked.text  # the suggested recipient
        refused = client.post(f"/cases/{case_id}/contact", data={
            "email": "legal at pirate", "csrf_token": form_token(page)})
        assert refused.status_code == 422 and "is not an email address" in refused.text
        set_ = client.post(f"/cases/{case_id}/contact", data={
            "email": "legal@pirate.example", "csrf_token": form_token(page)})
        assert 'value="legal@pirate.example"' in set_.text
    assert stored(db)[-1] == ("staff", "www.pirate.com", "set", "legal@pirate.example")
