"""The REST API covers what the CLI manages: crawl runs, the scheduler, captures (bodies for
staff only), notices' URLs and rechecks, mirrors and staydown; each with the same scoping
(a rights holder sees what concerns their works, other ids are 404, staff work is 403).
The OpenAPI document lists an operation for every CLI capability, and ``/api/docs``
renders it for a signed-in user.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from casefiles.mirror_proposals import propose
from swordnet.accounts.users import start_session, user_by_name
from swordnet.core.models import Capture, Hit, Site, WarcFile, Work
from swordnet.core.signing import fingerprint, load_or_create_key
from swordnet.core.timeutil import utcnow
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import SUFFIX
from swordnet.web.deps import SESSION_COOKIE
from swordnet.web.headers import CONTENT_SECURITY_POLICY
from tests.api_client import Api, one_line, open_api
from tests.conftest import BACKENDS
from tests.web_data import HOLDER_A, HOLDER_B, WebData, web_data_on

# CLI capability -> the operation that does it through the API. A capability the API lacks
# fails test_openapi_has_an_operation_for_every_cli_capability.
CAPABILITIES: dict[str, tuple[str, str]] = {
    "works list": ("get", "/works"),
    "works add": ("post", "/works"),
    "works import": ("post", "/works/import"),
    "works import-fingerprints": ("post", "/works/precomputed"),
    "works delete": ("delete", "/works/{work_id}"),
    "hits list": ("get", "/hits"),
    "hits confirm": ("post", "/hits/{hit_id}/confirm"),
    "hits reject": ("post", "/hits/{hit_id}/reject"),
    "hits undo": ("post", "/hits/{hit_id}/undo"),
    "runs list": ("get", "/runs"),
    "runs show": ("get", "/runs/{run_id}"),
    "captures list": ("get", "/hits/{hit_id}/captures"),
    "captures show": ("get", "/captures/{capture_id}"),
    "captures extract": ("get", "/captures/{capture_id}/body"),
    "cases list": ("get", "/cases"),
    "cases show": ("get", "/cases/{case_id}"),
    "cases verify": ("get", "/cases/{case_id}"),  # its custody_log field
    "cases transition": ("post", "/cases/{case_id}/transition"),
    "cases export": ("post", "/cases/{case_id}/bundle"),
    "cases link-mirror": ("post", "/cases/{case_id}/mirrors"),
    "case mirrors": ("get", "/cases/{case_id}/mirrors"),
    "allowlist add": ("post", "/allowlist"),
    "allowlist list": ("get", "/allowlist"),
    "tips add": ("post", "/tips"),
    "tips list": ("get", "/tips"),
    "live events list": ("get", "/live/events"),
    "live events add": ("post", "/live/events"),
    "live events show": ("get", "/live/events/{event_id}"),
    "live events edit": ("patch", "/live/events/{event_id}"),
    "live auto-confirm": ("put", "/live/events/{event_id}/auto-confirm"),
    "live streams": ("get", "/live/events/{event_id}/streams"),
    "live add-stream": ("post", "/live/events/{event_id}/streams"),
    "live push": ("post", "/live/events/{event_id}/captures"),
    "campaigns list": ("get", "/campaigns"),
    "campaigns show": ("get", "/campaigns/{campaign_id}"),
    "campaigns report": ("get", "/campaigns/{campaign_id}/report"),
    "campaigns shutdown-list": ("get", "/campaigns/{campaign_id}/shutdown-list"),
    "notices record": ("post", "/cases/{case_id}/notices"),
    "notices list": ("get", "/notices"),
    "notices show": ("get", "/notices/{notice_id}/urls"),
    "notices text": ("get", "/notices/{notice_id}/text"),
    "notices send": ("post", "/notices/{notice_id}/send"),
    "notices resend": ("post", "/notices/{notice_id}/resend"),
    "notices settle": ("post", "/notices/{notice_id}/settle"),
    "notices auto (show)": ("get", "/notices/auto"),
    "notices auto (set)": ("put", "/notices/auto"),
    "contacts show": ("get", "/contacts/{domain}"),
    "contacts set / clear": ("put", "/contacts/{domain}"),
    "contacts lookup": ("post", "/contacts/{domain}/lookup"),
    "staydown policy (show)": ("get", "/staydown/policy"),
    "staydown policy (set)": ("put", "/staydown/policy"),
    "staydown policy --case (show)": ("get", "/cases/{case_id}/staydown-policy"),
    "staydown policy --case (set)": ("put", "/cases/{case_id}/staydown-policy"),
    "staydown proposals": ("get", "/mirror-proposals"),
    "staydown accept": ("post", "/mirror-proposals/{proposal_id}/accept"),
    "staydown decline": ("post", "/mirror-proposals/{proposal_id}/decline"),
    "scheduler status": ("get", "/scheduler"),
    "keys show": ("get", "/signing-key"),
    "evidence check": ("get", "/evidence/check"),
    "works threshold": ("put", "/works/{work_id}/thresholds/{algorithm}"),
    "works release": ("post", "/works/{work_id}/release"),
    "blocklist confirm": ("post", "/live/streams/{stream_id}/confirm-and-list"),
    "blocklist list": ("get", "/blocklist/entries"),
    "blocklist export": ("get", "/blocklist/export"),
    "blocklist override": ("post", "/blocklist/entries/{entry_id}/override"),
    "blocklist withdraw": ("post", "/blocklist/entries/{entry_id}/withdraw"),
}
# Not in this table: sites, watch targets, crawl, campaigns create/stop (their own task);
# users and tokens, blocklist clients and blocklist ranges (account and reference-data
# administration stays on the command line; clients also on the console); evidence verify and
# extract, fingerprint and match (offline tools over local files); scheduler run, scrapyd,
# serve and init (processes, not resources).


@dataclass(frozen=True)
class Seeded:
    case: int  # holds one hit of each holder
    notice: int
    north_hit: int
    north_capture: int  # the media capture of north's hit
    harbour_hit: int
    harbour_capture: int  # the media capture of a harbour hit (north must not see it)
    run: int


@pytest.fixture(scope="module", params=BACKENDS)
def web_data(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebData]:
    with web_data_on(request.param, tmp_path_factory) as data:
        yield data


@pytest.fixture(scope="module")
def api(web_data: WebData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with open_api(web_data.copy_to(tmp_path_factory.mktemp("operations")),
                  web_data.tokens) as api:
        yield api


def _holder_hits(api: Api, holder: str) -> list[dict]:
    works = {w["id"] for w in api.ok("reviewer", "/works", holder=holder)["items"]}
    return [h for h in api.ok("reviewer", "/hits", limit=500, sort="id")["items"]
            if h["work_id"] in works]


@pytest.fixture(scope="module")
def seeded(api: Api) -> Seeded:
    north, harbour = _holder_hits(api, HOLDER_A)[0], _holder_hits(api, HOLDER_B)[0]
    for hit in (north, harbour):
        assert api.post("reviewer", f"/hits/{hit['id']}/confirm").status_code == 200
    case = api.ok("reviewer", f"/hits/{north['id']}")["case_id"]
    notice = api.post("reviewer", f"/cases/{case}/notices",
                      json={"recipient": "abuse@host.example"})
    assert notice.status_code == 201, notice.text
    with api.db.session() as session:
        north_row, harbour_row = session.get(Hit, north["id"]), session.get(Hit, harbour["id"])
        assert north_row and harbour_row
        assert north_row.media_capture_id != harbour_row.media_capture_id
        return Seeded(case=case, notice=notice.json()["id"], north_hit=north["id"],
                      north_capture=north_row.media_capture_id or 0,
                      harbour_hit=harbour["id"],
                      harbour_capture=harbour_row.media_capture_id or 0,
                      run=north["run_id"])


# --- runs and the scheduler ---------------------------------------------------------------------

def test_staff_list_runs_and_see_one_with_health_and_stats(api: Api, seeded: Seeded) -> None:
    runs = api.ok("reviewer", "/runs")
    assert seeded.run in [r["id"] for r in runs]
    run = next(r for r in runs if r["id"] == seeded.run)
    assert run["outcome"] == "finished" and run["pages"] > 0 and run["site"]
    assert api.ok("reviewer", "/runs", unhealthy="true") == [
        r for r in runs if r["health"] == "UNHEALTHY" or r["outcome"] != "finished"]
    assert api.ok("reviewer", "/runs", site_id=999999) == []
    detail = api.ok("reviewer", f"/runs/{seeded.run}")
    assert detail["stats"]["pages"] == run["pages"] and detail["health"] in ("ok", "UNHEALTHY")
    assert isinstance(detail["errors_sample"], list)
    assert api.get("reviewer", "/runs/999999").status_code == 404


def test_scheduler_status_says_none_is_running(api: Api) -> None:
    status = api.ok("reviewer", "/scheduler")
    assert status["scheduler"]["running"] is False and status["jobs"] == []


@pytest.mark.parametrize("path", ["/runs", "/runs/1", "/scheduler", "/mirror-proposals",
                                  "/staydown/policy", "/notices/1/urls", "/notices/1/text",
                                  "/evidence/check"])
def test_staff_only_operations_refuse_rights_holders(api: Api, seeded: Seeded,
                                                     path: str) -> None:
    response = api.get("north", path)
    assert response.status_code == 403 and "staff" in one_line(response)


@pytest.mark.parametrize(("path", "params", "named"), [
    ("/runs", {"limit": 0}, "limit"),
    ("/runs", {"limit": 501}, "limit"),
    ("/runs", {"site_id": "abc"}, "site_id"),
    ("/runs", {"unhealthy": "perhaps"}, "unhealthy"),
    ("/runs/0", {}, "run_id"),
    ("/captures/abc", {}, "capture_id"),
    ("/notices", {"campaign_id": -1}, "campaign_id"),
    ("/mirror-proposals", {"case_id": "x"}, "case_id"),
])
def test_bad_query_parameters_are_422_naming_them(api: Api, path: str, params: dict,
                                                  named: str) -> None:
    response = api.get("reviewer", path, params=params)
    assert response.status_code == 422 and named in one_line(response)


# --- captures -----------------------------------------------------------------------------------

def test_a_holder_sees_the_captures_of_their_own_hits_only(api: Api, seeded: Seeded) -> None:
    own = api.ok("north", f"/hits/{seeded.north_hit}/captures")
    assert {"page", "media"} <= {c["kind"] for c in own}
    assert seeded.north_capture in [c["id"] for c in own]
    assert all(c["warc_path"] is None for c in own)  # server paths are for staff
    one = api.ok("north", f"/captures/{seeded.north_capture}")
    assert one["kind"] == "media" and len(one["sha256"]) == 64
    for path in (f"/hits/{seeded.harbour_hit}/captures", f"/captures/{seeded.harbour_capture}"):
        refused = api.get("north", path)
        missing = api.get("north", re.sub(r"/\d+", "/999999", path, count=1))
        assert refused.status_code == missing.status_code == 404
        assert re.sub(r"\d+", "N", one_line(refused)) == re.sub(r"\d+", "N", one_line(missing))
    staff = api.ok("reviewer", f"/captures/{seeded.harbour_capture}")
    assert staff["warc_path"] and staff["warc_file"]


def test_capture_bodies_are_staff_only_attachments(api: Api, seeded: Seeded) -> None:
    assert api.get("north", f"/captures/{seeded.north_capture}/body").status_code == 403
    meta = api.ok("reviewer", f"/captures/{seeded.north_capture}")
    body = api.get("reviewer", f"/captures/{seeded.north_capture}/body")
    assert body.status_code == 200
    assert body.headers["content-type"] == "application/octet-stream"
    assert body.headers["content-disposition"].startswith("attachment;")
    assert body.headers["x-content-type-options"] == "nosniff"
    assert hashlib.sha256(body.content).hexdigest() == meta["sha256"]
    assert len(body.content) == meta["size"]
    assert api.get("reviewer", "/captures/999999/body").status_code == 404


# --- notices and rechecks -----------------------------------------------------------------------

def test_a_notices_urls_text_and_rechecks(api: Api, seeded: Seeded) -> None:
    urls = api.ok("reviewer", f"/notices/{seeded.notice}/urls")
    hits = {u["hit_id"] for u in urls}
    assert hits == {seeded.north_hit, seeded.harbour_hit}
    assert all(u["status"] == "unchecked" and u["checks"] == [] for u in urls)
    text = api.get("reviewer", f"/notices/{seeded.notice}/text")
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert all(u["url"] in text.text for u in urls)
    assert api.get("reviewer", "/notices/999999/urls").status_code == 404
    missing = api.get("reviewer", "/notices", params={"campaign_id": 999999})
    assert missing.status_code == 404 and "campaign" in one_line(missing)


# --- mirrors and staydown -----------------------------------------------------------------------

def test_mirrors_linked_by_staff_are_listed_for_the_case(api: Api, seeded: Seeded) -> None:
    path = f"/cases/{seeded.case}/mirrors"
    assert api.post("north", path, json={"domain": "north-mirror.example"}).status_code == 403
    linked = api.post("reviewer", path, json={"domain": "mirror-one.example"})
    assert linked.status_code == 201 and [m["domain"] for m in linked.json()] == [
        "mirror-one.example"]
    assert [m["domain"] for m in api.ok("north", path)] == ["mirror-one.example"]
    assert api.get("north", "/cases/999999/mirrors").status_code == 404
    again = api.post("reviewer", f"/cases/{seeded.case}/mirrors", json={"domain": ""})
    assert again.status_code == 422 and "domain" in one_line(again)


def test_staff_accept_and_decline_mirror_proposals(api: Api, seeded: Seeded) -> None:
    with api.db.session() as session:
        ids = []
        for domain in ("proposed-a.example", "proposed-b.example"):
            site = Site(domain=domain, status="active", first_seen_at=utcnow())
            session.add(site)
            session.flush()
            proposal = propose(session, seeded.case, site.id, "shared_ip", f"{domain} shares it")
            assert proposal is not None
            ids.append(proposal.id)
    listed = api.ok("reviewer", "/mirror-proposals", status="proposed", case_id=seeded.case)
    assert [p["id"] for p in listed] == ids and listed[0]["reasons"][0]["kind"] == "shared_ip"
    accepted = api.post("reviewer", f"/mirror-proposals/{ids[0]}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    declined = api.post("reviewer", f"/mirror-proposals/{ids[1]}/decline")
    assert declined.json()["status"] == "declined" and declined.json()["decided_by"] == "reviewer"
    assert api.post("reviewer", f"/mirror-proposals/{ids[1]}/accept").status_code == 409
    assert "proposed-a.example" in [m["domain"] for m in
                                    api.ok("reviewer", f"/cases/{seeded.case}/mirrors")]
    assert api.post("north", f"/mirror-proposals/{ids[0]}/decline").status_code == 403
    assert api.get("reviewer", "/mirror-proposals", params={"status": "maybe"}).status_code == 400


def test_staydown_policy_for_the_instance_and_a_case(api: Api, seeded: Seeded) -> None:
    assert api.ok("reviewer", "/staydown/policy") == {"exact": True, "fuzzy": False,
                                                      "overrides": []}
    changed = api.call("PUT", "reviewer", "/staydown/policy", json={"fuzzy": True})
    assert changed.json() == {"exact": True, "fuzzy": True, "overrides": []}
    path = f"/cases/{seeded.case}/staydown-policy"
    own = api.call("PUT", "reviewer", path, json={"exact": "off"}).json()
    assert own == {"exact": False, "fuzzy": True, "case_id": seeded.case, "own_exact": False,
                   "own_fuzzy": None}
    assert api.ok("reviewer", "/staydown/policy")["overrides"] == [own]
    bad = api.call("PUT", "reviewer", path, json={"exact": "sometimes"})
    assert bad.status_code == 422 and "exact" in one_line(bad)
    assert api.call("PUT", "north", path, json={"exact": "on"}).status_code == 403
    assert api.ok("reviewer", path)["own_exact"] is False


# --- evidence and works' matching settings -----------------------------------------------------

def test_anyone_signed_in_gets_the_public_signing_key(api: Api) -> None:
    key = api.ok("north", "/signing-key")
    assert key["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert key["fingerprint"] == fingerprint(load_or_create_key(api.settings.home).public_key())
    assert api.get(None, "/signing-key").status_code == 401


@pytest.fixture
def private(web_data: WebData, tmp_path: Path) -> Iterator[Api]:
    """The API on a copy of its own, for a test whose changes others must not see."""
    with web_data.copied(tmp_path) as settings, open_api(settings, web_data.tokens) as api:
        yield api


def test_evidence_check_finds_a_changed_warc_file_whose_bodies_are_then_refused(
        private: Api) -> None:
    api = private
    assert api.get("north", "/evidence/check").status_code == 403
    clean = api.ok("reviewer", "/evidence/check")
    assert clean["intact"] and clean["problems"] == [] and clean["captures_checked"] > 0
    with api.db.session() as session:
        warc = session.scalars(select(WarcFile).where(WarcFile.sha256.is_not(None))).first()
        assert warc is not None and warc.sha256 is not None
        capture = session.scalars(select(Capture).where(Capture.warc_file == warc.filename,
                                                        Capture.kind == "media")).first()
        assert capture is not None
        path = EvidenceStore(api.settings.evidence_dir).path_for(warc.sha256, SUFFIX)
    path.chmod(0o600)
    with path.open("ab") as file:
        file.write(b"tampered")
    found = api.ok("reviewer", "/evidence/check")
    assert not found["intact"] and any(warc.sha256 in p for p in found["problems"])
    refused = api.get("reviewer", f"/captures/{capture.id}/body")
    assert refused.status_code == 404 and refused.headers["content-type"] == "application/json"


def test_staff_set_a_works_threshold_and_release_its_quarantine(private: Api) -> None:
    api = private
    work = api.ok("north", "/works")["items"][0]["id"]
    path = f"/works/{work}/thresholds/phash"
    assert api.call("PUT", "north", path, json={"value": 6}).status_code == 403
    set_ = api.call("PUT", "reviewer", path, json={"value": 6})
    assert set_.status_code == 200 and set_.json()["thresholds"] == {"phash": 6}
    assert api.ok("reviewer", f"/works/{work}")["thresholds"]["phash"] == 6
    cleared = api.call("PUT", "reviewer", path, json={"value": None})
    assert cleared.json()["thresholds"] == {}
    for bad_path, body, named in ((path, {"value": -1}, "value"),
                                  (f"/works/{work}/thresholds/nope", {"value": 1}, "nope")):
        bad = api.call("PUT", "reviewer", bad_path, json=body)
        assert bad.status_code == 422 and named in one_line(bad)
    assert api.call("PUT", "reviewer", "/works/999999/thresholds/phash",
                    json={"value": 1}).status_code == 404
    assert api.post("reviewer", f"/works/{work}/release").status_code == 409
    with api.db.session() as session:
        row = session.get(Work, work)
        assert row is not None
        row.quarantined_at, row.quarantine_reason = utcnow(), "too many matches"
    assert api.post("north", f"/works/{work}/release").status_code == 403
    released = api.post("reviewer", f"/works/{work}/release")
    assert released.status_code == 200 and released.json()["quarantined"] is False


# --- the OpenAPI document and the docs page -----------------------------------------------------

def test_openapi_has_an_operation_for_every_cli_capability(api: Api) -> None:
    paths = api.ok("reviewer", "/openapi.json")["paths"]
    missing = [name for name, (method, path) in CAPABILITIES.items()
               if method not in paths.get(f"/api/v1{path}", {})]
    assert not missing, f"CLI capabilities without an API operation: {missing}"


def test_every_operation_is_documented(api: Api) -> None:
    document = api.ok("reviewer", "/openapi.json")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            assert operation.get("summary") and operation.get("tags"), label
            assert operation.get("description"), label
            responses = operation["responses"]
            assert {"401", "404", "422"} <= set(responses), label
            ok = [status for status in responses if status.startswith("2")]
            assert ok, label
            assert all("content" in responses[s] or s == "204" for s in ok), label


def _signed_in(api: Api, user: str) -> dict[str, str]:
    with api.db.session() as session:
        cookie, _row = start_session(session, user_by_name(session, user))
    return {"Cookie": f"{SESSION_COOKIE}={cookie}"}


def test_docs_page_lists_every_operation_for_a_signed_in_user(api: Api) -> None:
    document = api.ok("reviewer", "/openapi.json")
    page = api.client.get("/api/docs", headers=_signed_in(api, "north"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "<script" not in page.text.lower()
    for path, item in document["paths"].items():
        assert f"<code class=\"api-path\">{path}</code>" in page.text, path
        for operation in item.values():
            assert f'id="{operation["operationId"]}"' in page.text
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page.text, name
    assert 'href="/api/docs"' in api.client.get("/", headers=_signed_in(api, "north")).text


def test_docs_page_needs_sign_in_and_no_cdn_docs_are_served(api: Api) -> None:
    anonymous = api.client.get("/api/docs", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    for path in ("/docs", "/redoc", "/api/v1/docs"):
        assert api.client.get(path, headers=_signed_in(api, "reviewer")).status_code == 404
