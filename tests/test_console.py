"""The web console through FastAPI's TestClient: signing in and out, CSRF on every form, every
page for staff, rights holders kept to their own data, crawled text escaped, work upload.

One crawled database per module (``tests/web_data.py``); a copy of it gets a case (three
confirmed hits of both holders and a rejected one), a watch target, a campaign and a tip,
so every page has something to show. Tests that change data use their own copy.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casefiles.review import confirm_hit, reject_hit
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import (
    AllowlistEntry,
    Case,
    ConsoleSession,
    Hit,
    RightsHolder,
    Site,
    Tip,
    Work,
)
from swordnet.core.timeutil import utcnow
from swordnet.watch.campaigns import create_campaign
from swordnet.watch.targets import add_target
from swordnet.watch.tips import add_tip
from swordnet.web.app import create_app
from swordnet.web.console import LOGIN_CSRF_COOKIE
from swordnet.web.deps import SESSION_COOKIE
from swordnet.web.headers import CONTENT_SECURITY_POLICY
from swordnet.web.throttle import SlidingWindowLimit
from tests.images import jpeg_bytes
from tests.test_schedule_cli import free_port
from tests.web_data import HOLDER_A, HOLDER_B, PASSWORD, XSS_TITLE, WebData, shared_web_data

PAGES = ["/", "/review", "/review?view=grid", "/review?status=", "/works", "/cases", "/sites",
         "/runs", "/runs?unhealthy=true", "/campaigns", "/tips", "/allowlist"]
STAFF_ONLY = ["/sites", "/runs", "/campaigns"]
ESCAPED_XSS = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> WebData:
    return shared_web_data(tmp_path_factory)


@pytest.fixture(scope="module")
def settings(web_data: WebData, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy with a case, a target, a campaign and a tip."""
    settings = web_data.copy_to(tmp_path_factory.mktemp("console-busy"))
    db = open_database(settings)
    try:
        with db.session() as session:
            a_hits, b_hits = holder_hits(session, HOLDER_A), holder_hits(session, HOLDER_B)
            for hit_id in (a_hits[0], a_hits[1], b_hits[0]):
                confirm_hit(session, hit_id, "reviewer")
            reject_hit(session, b_hits[1], "reviewer")
            site = session.scalars(select(Site)).one()
            target = add_target(session, f"http://{site.domain}/", depth=1, max_pages=20,
                                every_seconds=3600)
            create_campaign(session, "Winter push", utcnow() - timedelta(days=1),
                            utcnow() + timedelta(days=30), [target.id], 1800)
            add_tip(session, f"http://{site.domain}/gallery/1.html", reporter="a reader")
    finally:
        db.dispose()
    return settings


def holder_hits(session: Session, holder: str) -> list[int]:
    """Ids of the hits on ``holder``'s works, lowest first (excluding the XSS page's hit)."""
    query = (select(Hit.id).join(Work).join(RightsHolder).where(RightsHolder.name == holder)
             .where(Hit.page_url.not_like("%thread-7%")).order_by(Hit.id))
    return list(session.scalars(query))


@pytest.fixture(scope="module")
def app_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app) as client:
        yield client
    app.state.db.dispose()


def form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD,
            next_path: str = "/") -> TestClient:
    token = form_token(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": password,
                                            "csrf_token": token, "next": next_path},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


@contextmanager
def signed_in_clients(settings: Settings, names: tuple[str, ...],
                      password: str = PASSWORD) -> Iterator[dict[str, TestClient]]:
    """A signed-in client per user named, on one app on ``settings``."""
    app = create_app(settings)
    signed = {name: sign_in(TestClient(app), name, password) for name in names}
    try:
        yield signed
    finally:
        for client in signed.values():
            client.close()
        app.state.db.dispose()


@pytest.fixture(scope="module")
def clients(settings: Settings) -> Iterator[dict[str, TestClient]]:
    """A signed-in client per user, on one app."""
    with signed_in_clients(settings, ("admin", "reviewer", "north", "harbour")) as signed:
        yield signed


def count_on(html: str, name: str) -> int:
    found = re.search(rf'data-count="{name}">(\d+)<', html)
    assert found, f"no {name} count on the page"
    return int(found.group(1))


def review_ids(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'<article class="hit" id="hit-(\d+)"', html)}


# --- signing in and out -----------------------------------------------------------------------

def test_pages_redirect_to_sign_in(app_client: TestClient) -> None:
    app_client.cookies.clear()
    for path in [*PAGES, "/cases/1"]:
        response = app_client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=/"), path
    assert app_client.get("/login").status_code == 200


def test_wrong_password_is_refused_with_a_message(app_client: TestClient) -> None:
    app_client.cookies.clear()
    token = form_token(app_client.get("/login").text)
    response = app_client.post("/login", data={"username": "reviewer", "password": "wrong one",
                                               "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert SESSION_COOKIE not in response.cookies
    unknown = app_client.post("/login", data={"username": "nobody", "password": PASSWORD,
                                              "csrf_token": form_token(response.text)})
    assert unknown.status_code == 401 and "Wrong username or password." in unknown.text


def test_repeated_wrong_passwords_are_throttled(settings: Settings) -> None:
    app = create_app(settings)  # an app of its own: the throttle counts per address too
    try:
        client = TestClient(app, client=("192.0.2.7", 50000))
        with app.state.db.session() as session:
            sessions = session.scalar(select(func.count()).select_from(ConsoleSession))

        def attempt(username: str, password: str) -> Response:
            token = form_token(client.get("/login").text)
            return client.post("/login", data={"username": username, "password": password,
                                                "csrf_token": token}, follow_redirects=False)

        assert [attempt("north", "not it at all").status_code for _ in range(5)] == [401] * 5
        blocked = attempt("north", PASSWORD)  # even the right password waits now
        assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
        assert 0 < int(blocked.headers["Retry-After"]) <= 900
        assert SESSION_COOKIE not in blocked.cookies
        assert attempt("harbour", PASSWORD).status_code == 429  # the same address
        elsewhere = TestClient(app, client=("198.51.100.3", 50000))
        token = form_token(elsewhere.get("/login").text)
        north = elsewhere.post("/login", data={"username": "north", "password": PASSWORD,
                                               "csrf_token": token}, follow_redirects=False)
        assert north.status_code == 303  # the user is not locked out from everywhere
        with app.state.db.session() as session:
            assert session.scalar(select(func.count()).select_from(ConsoleSession)) \
                == sessions + 1
    finally:
        app.state.db.dispose()


def sign_in_attempts(app: FastAPI, peer: str) -> Callable[[str, str], Response]:
    """Sign-in attempts from ``peer``, each claiming to forward for ``forwarded_for``."""
    client = TestClient(app, client=(peer, 50000))

    def attempt(username: str, forwarded_for: str) -> Response:
        headers = {"X-Forwarded-For": forwarded_for}
        token = form_token(client.get("/login", headers=headers).text)
        return client.post("/login", data={"username": username, "password": "not it at all",
                                            "csrf_token": token}, headers=headers,
                           follow_redirects=False)
    return attempt


def test_forwarded_for_counts_only_from_a_trusted_proxy(settings: Settings) -> None:
    """Throttling was keyed on X-Forwarded-For from any client on 127.0.0.1: rotating the
    header gave unlimited guesses."""
    app = create_app(settings)
    try:
        attempt = sign_in_attempts(app, "192.0.2.7")
        codes = [attempt("north", f"203.0.113.{n}").status_code for n in range(6)]
        assert codes == [401] * 5 + [429]  # all from 192.0.2.7, whatever the header says
    finally:
        app.state.db.dispose()
    proxied = create_app(replace(settings, trusted_proxies=("192.0.2.0/24",)))
    try:
        attempt = sign_in_attempts(proxied, "192.0.2.8")
        codes = [attempt("north", "198.51.100.1").status_code for _ in range(6)]
        assert codes == [401] * 5 + [429]
        assert attempt("north", "198.51.100.2").status_code == 401  # another client
        assert attempt("north", "10.1.1.1, 198.51.100.1").status_code == 429  # spoofed prefix
        direct = sign_in_attempts(proxied, "198.51.100.9")  # not a proxy: header ignored
        assert [direct("north", "198.51.100.3").status_code for _ in range(6)][-1] == 429
        assert attempt("north", "198.51.100.3").status_code == 401
    finally:
        proxied.state.db.dispose()


def test_swordnet_serve_ignores_forwarded_for_by_default(tmp_path: Path) -> None:
    """`swordnet serve` left uvicorn trusting X-Forwarded-For from 127.0.0.1, so a client
    there could rotate the header past the throttle."""
    env = {**os.environ, "SWORDNET_HOME": str(tmp_path / "home")}
    for name in ("SWORDNET_DATABASE_URL", "SWORDNET_TRUSTED_PROXIES", "FORWARDED_ALLOW_IPS"):
        env.pop(name, None)
    subprocess.run([sys.executable, "-m", "swordnet", "users", "add", "ann", "--role", "staff",
                    "--password-stdin"], input=PASSWORD + "\n", env=env, check=True,
                   capture_output=True, text=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "swordnet", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            while True:  # until it listens (or the server died)
                try:
                    client.get("/login")
                    break
                except httpx.ConnectError:
                    assert server.poll() is None
                    time.sleep(0.1)
            codes = []
            for n in range(6):
                headers = {"X-Forwarded-For": f"203.0.113.{n}"}
                token = form_token(client.get("/login", headers=headers).text)
                codes.append(client.post("/login", headers=headers, data={
                    "username": "ann", "password": "not it at all", "csrf_token": token}
                ).status_code)
        assert codes == [401] * 5 + [429]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_login_form_needs_its_csrf_token(app_client: TestClient) -> None:
    app_client.cookies.clear()
    app_client.get("/login")
    no_token = app_client.post("/login", data={"username": "reviewer", "password": PASSWORD},
                               follow_redirects=False)
    assert no_token.status_code == 403 and SESSION_COOKIE not in no_token.cookies
    app_client.cookies.clear()  # a token from the form, but no pre-session cookie
    token = form_token(app_client.get("/login").text)
    app_client.cookies.clear()
    forged = app_client.post("/login", data={"username": "reviewer", "password": PASSWORD,
                                             "csrf_token": token}, follow_redirects=False)
    assert forged.status_code == 403 and SESSION_COOKIE not in forged.cookies


def test_sign_in_sets_a_strict_cookie_and_sign_out_needs_csrf(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        page = client.get("/login?next=/cases")
        assert LOGIN_CSRF_COOKIE in client.cookies
        response = client.post("/login", data={
            "username": "reviewer", "password": PASSWORD, "csrf_token": form_token(page.text),
            "next": "/cases"}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/cases"
        cookie = next(h for h in response.headers.get_list("set-cookie")
                      if h.startswith(SESSION_COOKIE + "="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        home = client.get("/")
        assert home.status_code == 200 and "reviewer" in home.text
        csrf = form_token(home.text)
        assert client.post("/logout", follow_redirects=False).status_code == 403
        assert client.post("/logout", data={"csrf_token": "wrong"},
                           follow_redirects=False).status_code == 403
        assert client.get("/", follow_redirects=False).status_code == 200  # still signed in
        out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert client.get("/", follow_redirects=False).status_code == 303
    app.state.db.dispose()


def test_sign_in_goes_only_to_local_pages(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        token = form_token(client.get("/login").text)
        response = client.post("/login", data={
            "username": "reviewer", "password": PASSWORD, "csrf_token": token,
            "next": "//evil.example/"}, follow_redirects=False)
        assert response.headers["location"] == "/"
    app.state.db.dispose()


# --- pages ------------------------------------------------------------------------------------

def test_every_page_renders_for_staff_with_the_csp(clients: dict[str, TestClient],
                                                   settings: Settings) -> None:
    client = clients["reviewer"]
    case_id = case_ids(settings)[0]
    for path in [*PAGES, f"/cases/{case_id}", "/cases?status=open"]:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["content-type"].startswith("text/html")
        assert "<script>" not in response.text and " style=" not in response.text, path
    for asset in ("/static/console.css", "/static/review.js", "/static/case.js",
                  "/static/favicon.svg"):
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_error_responses_carry_the_security_headers_too(settings: Settings) -> None:
    """A crash (500) and an oversized body (413) are answered by the framework's own layers;
    the headers are added outside them."""
    app = create_app(settings)

    def crash() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/crash", crash)
    try:
        client = TestClient(app, raise_server_exceptions=False)
        crashed = client.get("/crash")
        too_big = client.post("/api/v1/hits/bulk", content=b"[" + b"1," * 2_000_000 + b"1]",
                              headers={"Content-Type": "application/json"})
        for response in (crashed, too_big):
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert response.headers["x-content-type-options"] == "nosniff"
        assert (crashed.status_code, too_big.status_code) == (500, 413)
        assert "a bug" not in crashed.text
        assert too_big.json() == {"detail": "the request body is too large; at most 2.0 MB is "
                                            "accepted here"}  # it was plain text
    finally:
        app.state.db.dispose()


def case_ids(settings: Settings) -> list[int]:
    db = open_database(settings)
    try:
        with db.session() as session:
            return list(session.scalars(select(Case.id).order_by(Case.id)))
    finally:
        db.dispose()


def test_pages_show_what_was_crawled_and_decided(clients: dict[str, TestClient],
                                                 settings: Settings) -> None:
    client = clients["admin"]
    dashboard = client.get("/").text
    assert count_on(dashboard, "hits") == 25 and count_on(dashboard, "pending") == 21
    assert count_on(dashboard, "cases") == 1 and count_on(dashboard, "works") == 6
    assert "<svg" in dashboard and "Takedown funnel" in dashboard
    review = client.get("/review").text
    assert len(review_ids(review)) == 21
    # each hit's registered work beside the copy: its stored thumbnail (a JPEG)
    assert len(re.findall(r'src="/api/v1/works/\d+/preview" alt="Registered work', review)) == 21
    assert len(review_ids(client.get("/review?status=").text)) == 25
    case_id = case_ids(settings)[0]
    case = client.get(f"/cases/{case_id}").text
    assert len(re.findall(r'class="case-hit"', case)) == 3
    assert "chain intact" in case and "hit confirmed" in case
    assert f"/api/v1/cases/{case_id}/bundle" in case
    campaigns = client.get("/campaigns").text
    assert "Winter push" in campaigns
    assert "/api/v1/campaigns/1/shutdown-list?format=csv" in campaigns
    assert "/api/v1/campaigns/1/shutdown-list?format=xlsx" in campaigns
    for link in ("/api/v1/campaigns/1/shutdown-list?format=csv", "/api/v1/campaigns/1/report"):
        assert client.get(link).status_code == 200, link  # the export buttons' API downloads
    assert "healthy" in client.get("/runs").text
    assert "a reader" in client.get("/tips").text
    sites = client.get("/sites").text
    assert "every 1h" in sites


def test_review_filters(clients: dict[str, TestClient], settings: Settings) -> None:
    client = clients["reviewer"]
    db = open_database(settings)
    try:
        with db.session() as session:
            work_id = session.scalar(select(Work.id).where(Work.title == "Glass Orchard"))
            expected = set(session.scalars(select(Hit.id).where(Hit.work_id == work_id)))
            close = set(session.scalars(select(Hit.id).where(Hit.score >= 2,
                                                             Hit.status == "pending")))
            domain = session.scalars(select(Site.domain)).one()
    finally:
        db.dispose()
    assert review_ids(client.get(f"/review?status=&work_id={work_id}").text) == expected
    assert review_ids(client.get("/review?min_score=2&max_score=").text) == close
    on_site = review_ids(client.get(f"/review?status=&site={domain}").text)
    assert len(on_site) == 25
    assert review_ids(client.get("/review?status=&site=elsewhere.example").text) == set()
    # the campaign aims at that site: its hits, whichever run found them
    assert review_ids(client.get("/review?status=&campaign_id=1").text) == on_site
    assert review_ids(client.get("/review?status=&campaign_id=2").text) == set()
    assert client.get("/review?min_score=lots").status_code == 400
    assert client.get("/review?sort=password").status_code == 400
    assert client.get("/review?status=maybe").status_code == 400


def test_crawled_title_is_escaped(clients: dict[str, TestClient]) -> None:
    for user in ("reviewer", "north"):
        html = clients[user].get("/review").text
        assert ESCAPED_XSS in html, user
        assert XSS_TITLE not in html and "<script>alert(1)" not in html, user


def test_review_is_read_only_for_rights_holders(clients: dict[str, TestClient]) -> None:
    staff = clients["reviewer"].get("/review").text
    assert 'data-readonly="0"' in staff and 'data-action="confirm"' in staff
    holder = clients["north"].get("/review").text
    assert 'data-readonly="1"' in holder and 'data-action="confirm"' not in holder


@pytest.mark.parametrize(("user", "own", "other"), [("north", HOLDER_A, HOLDER_B),
                                                    ("harbour", HOLDER_B, HOLDER_A)])
def test_rights_holders_see_only_their_data(clients: dict[str, TestClient], settings: Settings,
                                            user: str, own: str, other: str) -> None:
    client = clients[user]
    db = open_database(settings)
    try:
        with db.session() as session:
            def titles(holder: str) -> list[str]:
                return list(session.scalars(select(Work.title).join(RightsHolder)
                                            .where(RightsHolder.name == holder)))

            def hit_ids(holder: str, *status: str) -> set[int]:
                query = select(Hit.id).join(Work).join(RightsHolder).where(
                    RightsHolder.name == holder)
                if status:
                    query = query.where(Hit.status.in_(status))
                return set(session.scalars(query))

            own_titles, other_titles = titles(own), titles(other)
            own_hits, own_pending = hit_ids(own), hit_ids(own, "pending")
            own_confirmed = hit_ids(own, "confirmed")
            case_id = session.scalars(select(Case.id)).one()
    finally:
        db.dispose()
    works = client.get("/works").text
    assert all(title in works for title in own_titles)
    assert not any(title in works for title in other_titles)
    assert review_ids(client.get("/review?status=").text) == own_hits
    assert review_ids(client.get("/review").text) == own_pending
    dashboard = client.get("/").text
    assert count_on(dashboard, "hits") == len(own_hits)
    assert count_on(dashboard, "pending") == len(own_pending)
    assert count_on(dashboard, "works") == len(own_titles)
    assert count_on(dashboard, "cases") == 1
    case = client.get(f"/cases/{case_id}").text
    assert {int(n) for n in re.findall(r'class="case-hit" data-hit="(\d+)"', case)} == \
        own_confirmed
    assert not any(title in case for title in other_titles)
    assert "Download evidence bundle" not in case  # exports are staff work
    for path in STAFF_ONLY:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
    assert client.get("/cases/999").status_code == 404
    other_work = 1 if own == HOLDER_B else 2  # sample works alternate between holders
    assert client.get(f"/review?status=&work_id={other_work}").status_code == 200
    assert review_ids(client.get(f"/review?status=&work_id={other_work}").text) == set()
    assert client.get(f"/works/{other_work}/excerpt").status_code == 404


def test_case_status_changes_by_form_with_csrf(web_data: WebData, tmp_path: Path) -> None:
    settings = web_data.copy_to(tmp_path)
    db = open_database(settings)
    with db.session() as session:
        case_id = confirm_hit(session, 1, "reviewer").id
    app = create_app(settings, db)
    with TestClient(app) as client:
        sign_in(client, "reviewer")
        page = client.get(f"/cases/{case_id}").text
        url = f"/cases/{case_id}/transition"
        assert client.post(url, data={"to": "notice_sent", "reason": "sent"},
                           follow_redirects=False).status_code == 403
        assert client.post(url, data={"to": "removed", "reason": "x",
                                      "csrf_token": form_token(page)}).status_code == 409
        by_hand = client.post(url, data={"to": "notice_sent", "reason": "emailed the host",
                                         "csrf_token": form_token(page)})
        assert by_hand.status_code == 409 and "only when a notice is sent" in by_hand.text
        notice_url = f"/cases/{case_id}/notices"
        assert client.post(notice_url, data={"recipient": "abuse@host.example"},
                           follow_redirects=False).status_code == 403
        bad = client.post(notice_url, data={"recipient": "abuse at host", "email": "1",
                                            "csrf_token": form_token(page)})
        assert bad.status_code == 503 and "No mail server is configured" in bad.text
        sent = client.post(notice_url, data={"recipient": "abuse@host.example",
                                             "template": "dmca-en",
                                             "csrf_token": form_token(page)})
        assert sent.status_code == 200 and "abuse@host.example" in sent.text
        assert 'data-notice="1"' in sent.text
        moved = client.post(url, data={"to": "no_response", "reason": "no answer in 14 days",
                                       "csrf_token": form_token(page)})
        assert moved.status_code == 200 and "no answer in 14 days" in moved.text
    with db.session() as session:
        assert session.get(Case, case_id).status == "no_response"  # type: ignore[union-attr]
    db.dispose()


# --- registering works ----------------------------------------------------------------------

def test_work_upload_registers_a_work(web_data: WebData, tmp_path: Path) -> None:
    settings = web_data.copy_to(tmp_path)
    db = open_database(settings)
    app = create_app(settings, db)
    picture = jpeg_bytes(seed=4242)
    with TestClient(app) as client:
        sign_in(client, "reviewer")
        token = form_token(client.get("/works").text)
        files = {"file": ("poster.jpg", picture, "image/jpeg")}
        fields = {"title": "Lighthouse Poster", "kind": "image", "aliases": "Phare, Faro",
                  "holder": "Studio C"}
        refused = client.post("/works", data=fields, files=files, follow_redirects=False)
        assert refused.status_code == 403
        response = client.post("/works", data={**fields, "csrf_token": token}, files=files,
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/works?registered=")
        page = client.get(response.headers["location"])
        assert "Registered work" in page.text and "Lighthouse Poster" in page.text
        work_id = int(response.headers["location"].rpartition("=")[2])
        # the works list shows the stored thumbnail (a JPEG, for a photo)
        assert f'<img src="/api/v1/works/{work_id}/preview"' in page.text
        again = client.post("/works", data={**fields, "csrf_token": token}, files=files,
                            follow_redirects=False)
        assert again.headers["location"].startswith("/works?existing=")
        bad = client.post("/works", data={**fields, "csrf_token": token},
                          files={"file": ("notes.jpg", b"not a picture", "image/jpeg")})
        assert bad.status_code == 422 and "notes.jpg" in bad.text
        no_holder = client.post("/works", data={**fields, "holder": "", "csrf_token": token},
                                files=files)
        assert no_holder.status_code == 422

        client.cookies.clear()
        sign_in(client, "harbour")
        token = form_token(client.get("/works").text)
        own = client.post("/works", data={"title": "Harbour Map", "kind": "image",
                                          "holder": "Studio C", "csrf_token": token},
                          files={"file": ("map.jpg", jpeg_bytes(seed=777), "image/jpeg")},
                          follow_redirects=False)
        assert own.status_code == 303, own.text
    with db.session() as session:
        work = session.scalars(select(Work).where(Work.title == "Lighthouse Poster")).one()
        assert work.holder.name == "Studio C" and work.aliases == ["Phare", "Faro"]
        assert work.preview_type == "jpeg" and work.source_name == "poster.jpg"
        assert {fp.algorithm for fp in work.fingerprints} >= {"phash", "orb", "link"}
        mapped = session.scalars(select(Work).where(Work.title == "Harbour Map")).one()
        assert mapped.holder.name == HOLDER_B  # a rights holder registers for their own holder
        assert session.scalar(select(Work).where(Work.title == "notes.jpg")) is None
    db.dispose()


# --- a rights holder's allowlist and tips --------------------------------------------------

def test_rights_holder_manages_their_allowlist_and_sends_tips(web_data: WebData,
                                                               tmp_path: Path) -> None:
    settings = web_data.copy_to(tmp_path)
    db = open_database(settings)
    with db.session() as session:
        own = session.scalars(select(Work.id).join(RightsHolder)
                              .where(RightsHolder.name == HOLDER_B).order_by(Work.id)).first()
        other = session.scalars(select(Work.id).join(RightsHolder)
                                .where(RightsHolder.name == HOLDER_A)).first()
    app = create_app(settings, db)
    with TestClient(app) as client:
        sign_in(client, "harbour")
        page = client.get("/allowlist").text
        token = form_token(page)
        assert client.post("/allowlist", data={"domain": "licensed.example"},
                           follow_redirects=False).status_code == 403
        added = client.post("/allowlist", data={"domain": "Harbour-Licensed.Example",
                                                "csrf_token": token})
        assert added.status_code == 200
        assert "harbour-licensed.example is on the allowlist" in added.text
        for fields, message in [({"domain": "harbour-licensed.example"}, "already on"),
                                ({"domain": "not a host"}, "not a host name"),
                                ({"domain": "b.example", "work_id": str(other)},
                                 f"no work with id {other}"),
                                ({"domain": "b.example", "work_id": "9" * 15}, "not a work id")]:
            refused = client.post("/allowlist", data={**fields, "csrf_token": token})
            assert refused.status_code == 422 and message in refused.text, fields
        one_work = client.post("/allowlist", data={"domain": "single.example",
                                                   "work_id": str(own), "csrf_token": token})
        assert one_work.status_code == 200

        app.state.tip_limit = SlidingWindowLimit(1, 3600.0, clock=lambda: 0.0)
        tips = client.get("/tips").text
        assert f'value="{other}"' not in tips  # only the holder's own works to choose from
        no_work = client.post("/tips", data={"url": "http://tip.example/a",
                                             "csrf_token": form_token(tips)})
        assert no_work.status_code == 422 and "name the work of yours" in no_work.text
        bad_url = client.post("/tips", data={"url": "ftp://tip.example/", "work_id": str(own),
                                             "csrf_token": form_token(tips)})
        assert bad_url.status_code == 422 and "not an http(s) URL" in bad_url.text
        queued = client.post("/tips", data={"url": "http://tip.example/a", "work_id": str(own),
                                            "csrf_token": form_token(tips)})
        assert queued.status_code == 200 and "is queued" in queued.text
        limited = client.post("/tips", data={"url": "http://tip.example/b", "work_id": str(own),
                                             "csrf_token": form_token(tips)})
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3600"
        assert "too many tips: at most 1 in 60 min; try again in 3600 s" in limited.text

        client.cookies.clear()
        sign_in(client, "north")
        assert "harbour-licensed.example" not in client.get("/allowlist").text
        with db.session() as session:
            entry_id = session.scalar(select(AllowlistEntry.id)
                                      .where(AllowlistEntry.domain == "harbour-licensed.example"))
        taken = client.post(f"/allowlist/{entry_id}/delete",
                            data={"csrf_token": form_token(client.get("/allowlist").text)})
        assert taken.status_code == 404  # another holder's entry: not found
    with db.session() as session:
        entries = {(e.domain, e.work_id) for e in session.scalars(select(AllowlistEntry))}
        assert entries == {("harbour-licensed.example", None), ("single.example", own)}
        [tip] = session.scalars(select(Tip)).all()
        assert (tip.url, tip.work_id, tip.reporter) == ("http://tip.example/a", own, "harbour")
    db.dispose()
