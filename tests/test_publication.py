"""Published cases: consent and publishing rules, the public pages signed out (crawled whole
for leaks), caching, the Atom feed, campaign statistics, and the API and CLI forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from casefiles.custody import case_log_problem
from casefiles.publication import give_consent, publish, unpublish, withdraw_consent
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.errors import BadInput, Conflict
from swordnet.core.models import Case, CaseEvent, CasePublication
from swordnet.web.app import API_PREFIX, create_app
from tests.conftest import run_cli
from tests.published_cases import HOLDER_A, HOLDER_B, PASSWORD, STAFF, Cases, build_cases

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)> & more'
ALL_FIELDS = ["site", "works", "kinds", "opened", "closed", "outcome", "urls_removed",
              "notices_sent", "campaign"]


@pytest.fixture
def cases(db: Database) -> Cases:
    return build_cases(db)


def test_publishing_needs_every_holders_consent_and_a_closed_case(
        db: Database, cases: Cases) -> None:
    with db.session() as session:
        shared = session.get(Case, cases.shared)
        assert shared is not None
        with pytest.raises(Conflict, match=f"{HOLDER_B} has not consented"):
            publish(session, shared, "Shut down.", ["site"], STAFF)
    with db.session() as session:
        still_open = session.get(Case, cases.open)
        give_consent(session, still_open, HOLDER_B, STAFF, "offline", "call")
    with db.session() as session, pytest.raises(Conflict, match="is open; only a closed"):
        publish(session, session.get(Case, cases.open), "Early.", ["site"], STAFF)
    with db.session() as session:
        done = session.get(Case, cases.done)
        with pytest.raises(BadInput, match="unknown public field 'reviewer'"):
            publish(session, done, "Done.", ["site", "reviewer"], STAFF)
        with pytest.raises(BadInput, match="needs a public summary"):
            publish(session, done, "   ", ["site"], STAFF)
        with pytest.raises(BadInput, match="needs a reference"):
            give_consent(session, session.get(Case, cases.shared), HOLDER_B, STAFF, "offline")
    with db.session() as session:  # nothing of the refusals was stored
        assert session.scalars(select(CasePublication)).all() == []

    with db.session() as session:
        shared = session.get(Case, cases.shared)
        give_consent(session, shared, HOLDER_B, "beacon", "console")
        publish(session, shared, "Both holders agreed.", ["outcome"], STAFF)
    with db.session() as session:  # a holder withdrawing unpublishes
        shared = session.get(Case, cases.shared)
        withdraw_consent(session, shared, HOLDER_B, "beacon")
        publication = session.get(CasePublication, cases.shared)
        assert publication is not None and publication.unpublished_at is not None
        types = [e.type for e in session.scalars(select(CaseEvent).where(
            CaseEvent.case_id == cases.shared).order_by(CaseEvent.seq))]
        assert types[-4:] == ["publication_consent_given", "published",
                              "publication_consent_withdrawn", "unpublished"]
        assert case_log_problem(session, shared) is None
        with pytest.raises(Conflict, match="is not published"):
            unpublish(session, shared, STAFF, "again")


@pytest.fixture
def public_app(sqlite_home: Settings) -> Iterator[tuple[TestClient, Cases, Database]]:
    """The app with public pages on, the cases built, ``done`` published with every field."""
    settings = replace(sqlite_home, public_pages=True)
    db = open_database(settings)
    built = build_cases(db)
    with db.session() as session:
        publish(session, session.get(Case, built.done), XSS, ALL_FIELDS, STAFF)
    app = create_app(settings, db)
    with TestClient(app) as client:
        yield client, built, db
    db.dispose()


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [v for k, v in attrs if k in ("href", "src", "action") and v]


def links_of(body: str, content_type: str) -> list[str]:
    if "atom" in content_type:
        return re.findall(r'href="([^"]+)"', body)
    parser = Links()
    parser.feed(body)
    return parser.found


def test_every_public_page_signed_out_shows_only_published_data(
        public_app: tuple[TestClient, Cases, Database]) -> None:
    client, built, _db = public_app
    assert not client.cookies
    seen: dict[str, str] = {}
    queue = ["/public/"]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        body, kind = response.text, response.headers["content-type"]
        seen[path] = body
        for leak in built.never_public:
            assert leak not in body, f"{path} shows {leak!r}"
        assert "<script" not in body and "<img src=x" not in body  # the summary is text
        for link in links_of(body, kind):
            parts = urlsplit(urljoin(str(response.url), link))
            assert parts.netloc in ("", "testserver"), link
            assert parts.path.startswith(("/public/", "/static/")), f"{path} links to {link}"
            if parts.path.startswith("/public/"):
                queue.append(parts.path)
    assert set(seen) >= {"/public/", "/public/cases", f"/public/cases/{built.done}",
                         "/public/cases.atom", f"/public/campaigns/{built.campaign_id}"}
    page = seen[f"/public/cases/{built.done}"]
    assert "published-host.example" in page and "Published Work Title" in page
    assert "transferred" not in page and "copies removed" in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page  # escaped, shown as text


def test_fields_not_chosen_stay_off_the_page(
        public_app: tuple[TestClient, Cases, Database]) -> None:
    client, built, db = public_app
    with db.session() as session:
        publish(session, session.get(Case, built.done), "Only the outcome.", ["outcome"], STAFF)
    page = client.get(f"/public/cases/{built.done}").text
    assert "copies removed" in page
    for hidden in ("published-host.example", "Published Work Title", "Spring Sweep 2026",
                   "/public/campaigns/"):
        assert hidden not in page
    # the campaign is no longer named by any published case: its page is gone
    assert client.get(f"/public/campaigns/{built.campaign_id}").status_code == 404
    assert client.get(f"/public/cases/{built.secret}").status_code == 404


def test_campaign_statistics_count_like_an_agency_report(
        public_app: tuple[TestClient, Cases, Database]) -> None:
    client, built, _db = public_app
    page = client.get(f"/public/campaigns/{built.campaign_id}").text
    measures = dict(re.findall(r'data-measure="(\w+)">(\d+)<', page))
    assert measures == {"cases": "1", "sites_shut_down": "0", "urls_removed": "1",
                        "transferred_to_judiciary": "0", "notices_sent": "1"}
    assert "Spring Sweep 2026" in page and f'href="/public/cases/{built.done}"' in page


def test_pages_are_cacheable_and_answer_304_to_a_matching_etag(
        public_app: tuple[TestClient, Cases, Database]) -> None:
    client, built, db = public_app
    for path in ("/public/cases", f"/public/cases/{built.done}", "/public/cases.atom"):
        first = client.get(path)
        assert first.headers["cache-control"] == "public, max-age=300"
        assert "last-modified" in first.headers and "set-cookie" not in first.headers
        again = client.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == first.headers["etag"]
    etag = client.get("/public/cases").headers["etag"]
    with db.session() as session:
        unpublish(session, session.get(Case, built.done), STAFF, "holder asked")
    changed = client.get("/public/cases", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "No case is published yet" in changed.text
    assert client.get(f"/public/cases/{built.done}").status_code == 404


def test_the_atom_feed_parses_and_lists_published_cases(
        public_app: tuple[TestClient, Cases, Database]) -> None:
    client, built, _db = public_app
    response = client.get("/public/cases.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    [entry] = feed.entries
    assert entry.link == f"http://testserver/public/cases/{built.done}"
    assert entry.title == f"Case {built.done}: published-host.example"
    assert entry.summary == XSS  # text, escaped in the XML, read back as the same text


def test_public_pages_are_off_unless_switched_on(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    built = build_cases(db)
    with db.session() as session:
        publish(session, session.get(Case, built.done), "Done.", ["site"], STAFF)
    assert sqlite_home.public_pages is False
    with TestClient(create_app(sqlite_home, db)) as client:
        for path in ("/public/", "/public/cases", f"/public/cases/{built.done}",
                     "/public/cases.atom", f"/public/campaigns/{built.campaign_id}"):
            assert client.get(path, follow_redirects=False).status_code == 404, path
    db.dispose()


def test_api_consent_and_publish(public_app: tuple[TestClient, Cases, Database]) -> None:
    client, built, _db = public_app

    def call(user: str, method: str, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return client.request(method, f"{API_PREFIX}/cases/{built.shared}{path}",
                              headers={"Authorization": f"Bearer {built.tokens[user]}"},
                              **kwargs)

    refused = call(STAFF, "PUT", "/publication", json={"summary": "x", "fields": ["site"]})
    assert refused.status_code == 409 and HOLDER_B in refused.json()["detail"]
    bad = call(STAFF, "PUT", "/publication", json={"summary": "x", "fields": ["evidence"]})
    assert bad.status_code == 422 and "unknown public field 'evidence'" in bad.json()["detail"]
    assert call("beacon", "PUT", "/publication",
                json={"summary": "x", "fields": []}).status_code == 403
    mine = call("beacon", "POST", "/consent", json={})
    assert mine.status_code == 200, mine.text
    assert [c["holder"] for c in mine.json()["consents"]] == [HOLDER_B]  # only their own
    assert mine.json()["consents"][0]["method"] == "api"
    done = call(STAFF, "PUT", "/publication", json={"summary": "Agreed.", "fields": ["site"]})
    assert done.status_code == 200 and done.json()["published"] is True
    assert client.get(f"/public/cases/{built.shared}").status_code == 200
    assert call("aurora", "GET", "/publication").json()["consents"][0]["holder"] == HOLDER_A


def test_cli_publish_refused_without_consent(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    built = build_cases(db)
    db.dispose()
    refused = run_cli("cases", "publish", str(built.shared), "--summary", "Shut.")
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines()[-1].endswith(f"{HOLDER_B} has not consented")
    no_ref = run_cli("cases", "consent", str(built.shared), "--holder", HOLDER_B)
    assert no_ref.exit_code == 1 and "needs a reference" in no_ref.output
    assert run_cli("cases", "consent", str(built.shared), "--holder", HOLDER_B,
                   "--reference", "email 2026-12-01").exit_code == 0
    published = run_cli("cases", "publish", str(built.shared), "--summary", "Shut.",
                        "--fields", "site,outcome")
    assert published.exit_code == 0, published.output
    db = open_database(sqlite_home)
    with db.session() as session:
        publication = session.get(CasePublication, built.shared)
        assert publication is not None and publication.fields == ["site", "outcome"]
    db.dispose()


def test_console_publish_form_and_holder_consent(
        public_app: tuple[TestClient, Cases, Database]) -> None:
    client, built, _db = public_app

    def signed(username: str) -> TestClient:
        other = TestClient(client.app)
        form = other.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        assert other.post("/login", data={"username": username, "password": PASSWORD,
                                          "csrf_token": token},
                          follow_redirects=False).status_code == 303
        return other

    def csrf(page: str) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    staff, holder = signed(STAFF), signed("beacon")
    page = staff.get(f"/cases/{built.shared}").text
    assert 'id="publish-form"' in page and "not given" in page
    refused = staff.post(f"/cases/{built.shared}/publish",
                         data={"summary": "x", "fields": ["site"], "csrf_token": csrf(page)})
    assert refused.status_code == 409 and f"{HOLDER_B} has not consented" in refused.text
    own = holder.get(f"/cases/{built.shared}").text
    assert 'id="publish-form"' not in own and HOLDER_A not in own.split('id="publication"')[1]
    assert "shared consent ref" not in own  # the other holder's consent, in the timeline too
    assert "shared consent ref" in page
    assert holder.post(f"/cases/{built.shared}/consent", data={"csrf_token": csrf(own)},
                       follow_redirects=False).status_code == 303
    assert holder.post(f"/cases/{built.shared}/publish",
                       data={"summary": "x", "csrf_token": csrf(own)}).status_code == 403
    done = staff.post(f"/cases/{built.shared}/publish",
                      data={"summary": "Agreed.", "fields": ["site", "outcome"],
                            "csrf_token": csrf(page)}, follow_redirects=False)
    assert done.status_code == 303
    assert "shared-host.example" in client.get(f"/public/cases/{built.shared}").text
