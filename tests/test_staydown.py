"""Staydown: a copy confirmed in a case, found again on another domain, names the case and
(exact copies) joins it by itself; fuzzy copies wait for review; sites serving a case's
copies are proposed as its mirrors, for staff to accept or decline."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import delete, select

from casefiles.mirror_proposals import list_proposals
from casefiles.notices import record_notice, record_recheck
from scheduler.executor import CrawlRequest
from swordnet.accounts.users import add_user
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import CaseEvent, Hit, MirrorProposal, NoticeUrl
from swordnet.demo.samples import sample_files
from swordnet.demo.site import DemoSite, Resource, serve_site
from swordnet.watch.targets import site_for_url
from swordnet.web.app import create_app
from tests.conftest import BACKENDS, run_cli, site_copy
from tests.crawled import crawl, fixture_crawl
from tests.pirate_sites import HTML, page, register_samples, run_crawl
from tests.spider_harness import crawl_in_process

PASSWORD = "lanterns over the harbour at dusk"


# --- end to end: a real crawl of the fixture site, then the same files on a new domain ------

@dataclass
class Crawled:
    db: Database
    settings: Settings
    url: str  # where the first crawl found the site


@pytest.fixture(params=BACKENDS)
def crawled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            tmp_path: Path, fixture_site: DemoSite,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Crawled]:
    """A copy of the fixture site's crawl (sample works registered), the CLI pointed at it."""
    built = fixture_crawl(request.param, tmp_path_factory, fixture_site)
    with built.copy(tmp_path) as settings:
        monkeypatch.setenv("SWORDNET_HOME", str(settings.home))
        monkeypatch.setenv("SWORDNET_DATABASE_URL", settings.database_url)
        db = open_database(settings)
        try:
            yield Crawled(db, settings, built.url)
        finally:
            db.dispose()


def hits_json(*args: str) -> list[dict[str, object]]:
    result = run_cli("hits", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


def test_exact_copies_on_a_new_domain_are_confirmed_into_their_case(
        crawled: Crawled, fixture_site: DemoSite) -> None:
    db = crawled.db
    first = [h["id"] for h in hits_json("--status", "pending")]
    assert first and run_cli("hits", "confirm", *map(str, first)).exit_code == 0
    case_id = {h["case_id"] for h in hits_json("--status", "confirmed")}.pop()

    # The site moves: the same files are served again, and found under another host name.
    with serve_site(site_copy(fixture_site)) as served:
        moved = served.url.replace("127.0.0.1", "localhost")
        run = crawl(db, crawled.settings, moved)
    assert run.outcome == "finished", run.error
    new = [h for h in hits_json() if str(h["url"]).startswith(moved)]
    assert len(new) == len(first) == run.stats["hits_new"]
    # every file is byte for byte one confirmed in the case: confirmed into it, no review
    assert all(h["status"] == "confirmed" and h["case_id"] == case_id
               and h["known_case_id"] == case_id and h["known_by"] == "sha256"
               and h["reviewer"] == "staydown" for h in new), new
    assert run.stats["hits_known_copies"] == run.stats["hits_auto_confirmed"] == len(new)
    shown = run_cli("runs", "show", str(run.id)).output
    assert re.search(rf"hits auto confirmed\W+{len(new)} ", shown), shown

    # The custody log says so, with the reason and the copy's sha256, and still verifies.
    with db.session() as session:
        events = {e.payload["hit_id"]: e for e in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id,
                                    CaseEvent.type == "hit_confirmed"))}
        for row in new:
            event = events[int(str(row["id"]))]
            hit = session.get(Hit, row["id"])
            assert hit is not None and hit.media_capture is not None
            sha256 = hit.media_capture.sha256
            assert event.actor == "staydown" and event.payload["automatic"] is True
            assert event.payload["media_sha256"] == sha256 and sha256 in event.payload["reason"]
            assert event.payload["known_copy_of_case"] == case_id
    assert run_cli("cases", "verify", str(case_id)).exit_code == 0

    # The new domain is proposed as a mirror (it serves the case's files, from its IP
    # address), not linked until staff accept.
    proposals = json.loads(run_cli("staydown", "proposals", "--json").output)
    assert [(p["case_id"], p["site"]) for p in proposals] == [(case_id, moved[7:-1])]
    assert "serves the same file" in proposals[0]["reasons"]
    assert "shares IP address 127.0.0.1" in proposals[0]["reasons"]
    assert "mirror_linked" not in run_cli("cases", "show", str(case_id), "--json").output
    accepted = run_cli("staydown", "accept", str(proposals[0]["id"]))
    assert accepted.exit_code == 0, accepted.output
    log = json.loads(run_cli("cases", "show", str(case_id), "--json").output)
    assert log[-1]["type"] == "mirror_linked" and log[-1]["payload"]["domain"] == moved[7:-1]
    again = run_cli("staydown", "decline", str(proposals[0]["id"]))
    assert again.exit_code == 1
    assert again.output.strip() == f"Error: mirror proposal {proposals[0]['id']} is already " \
        "accepted"


# --- in-process crawls of small sites ---------------------------------------------------

def one_copy_site(image: Image.Image, fmt: str = "JPEG", **options: int) -> DemoSite:
    """A page showing one copy of a work, saved as ``fmt`` (a JPEG at quality 35 unless
    ``options`` say otherwise)."""
    data = BytesIO()
    image.save(data, fmt, **({"quality": 35} if fmt == "JPEG" else {}), **options)
    site = DemoSite()
    site.add("/copy.img", data.getvalue(), f"image/{fmt.lower()}")
    site.add("/", page("Films", '<img src="/copy.img" alt="x">'), HTML)
    return site


def themed(site: DemoSite, theme: str) -> DemoSite:
    """``site`` with its home page in a fuller layout: ``"portal"`` (a menu, a film grid, a
    footer) or ``"blog"`` (posts in a sidebar layout)."""
    if theme == "portal":
        menu = "".join(f'<li class="nav-item"><a class="nav-link">{m}</a></li>'
                       for m in ("Home", "Films", "Series", "Top"))
        body = (f'<header class="top"><ul class="nav">{menu}</ul></header>'
                '<main class="grid"><div class="card"><div class="thumb">'
                '<img src="/copy.img" alt="x"></div><h3 class="title">Film</h3></div></main>'
                '<footer class="foot"><p class="small">DMCA</p></footer>')
    else:
        posts = "".join(f'<article class="post"><h2>{n}</h2><p>text</p></article>'
                        for n in range(3))
        body = (f'<table><tr><td class="side"><form><input></form></td><td>{posts}'
                '<img src="/copy.img" alt="x"></td></tr></table>')
    site.add("/", page("Films", body), HTML)
    return site


def test_a_fuzzy_reappearance_is_marked_but_waits_for_review(home: Settings,
                                                             db: Database) -> None:
    register_samples(db)
    path, title = sample_files()[0]
    work = Image.open(path).convert("RGB")
    assert crawl_in_process(db, home, "127.0.0.1:8001", one_copy_site(work)).new == 1
    assert run_cli("hits", "confirm", "1").exit_code == 0
    # The same work at a score at least as close (a lossless copy), on another domain.
    stored = crawl_in_process(db, home, "localhost:8001", one_copy_site(work, "PNG"))
    assert (stored.new, stored.known, stored.auto_confirmed) == (1, 1, 0)
    with db.session() as session:
        confirmed, found = session.scalars(select(Hit).order_by(Hit.id)).all()
        assert confirmed.algorithm == found.algorithm and found.score <= confirmed.score
        assert confirmed.media_capture and found.media_capture
        assert confirmed.media_capture.sha256 != found.media_capture.sha256
    [row] = hits_json("--status", "pending")
    assert (row["known_case_id"], row["known_by"], row["case_id"]) == (1, "score", None)
    assert row["flag"] == "known copy of case 1"  # the flag column of `hits list`
    # Confirming it by hand puts it in the case it is a copy of (its site has no case).
    assert run_cli("hits", "confirm", str(row["id"])).output.strip() == \
        f"Hit {row['id']} confirmed (case 1)."

    # A case can have fuzzy copies confirmed too: the next one joins it by itself.
    assert run_cli("staydown", "policy", "--case", "1", "--fuzzy", "on").output.strip() == \
        "Case 1: exact copies confirmed automatically, fuzzy copies confirmed automatically."
    # (the same pixels, other bytes: not an exact copy of the one just confirmed)
    third = crawl_in_process(db, home, "127.0.0.2:8001",
                             one_copy_site(work, "PNG", compress_level=1))
    assert (third.new, third.known, third.auto_confirmed) == (1, 1, 1)
    # ... and with exact copies switched off for the instance, an exact one waits.
    assert run_cli("staydown", "policy", "--exact", "off").exit_code == 0
    assert run_cli("staydown", "policy", "--case", "1", "--fuzzy", "default").exit_code == 0
    exact = crawl_in_process(db, home, "127.0.0.3:8001", one_copy_site(work))
    assert (exact.new, exact.known, exact.auto_confirmed) == (1, 1, 0)
    assert hits_json("--status", "pending")[0]["known_by"] == "sha256"
    refused = run_cli("staydown", "policy", "--fuzzy", "default")
    assert refused.exit_code == 1 and "for a case's own policy" in refused.output
    with db.session() as session:  # every other domain that served the copy is proposed
        sites = {p.site.domain for p in list_proposals(session)}
    assert sites == {"localhost:8001", "127.0.0.2:8001", "127.0.0.3:8001"}


def test_a_quarantined_exact_copy_is_never_confirmed_by_itself(home: Settings,
                                                               db: Database) -> None:
    register_samples(db)
    work = Image.open(sample_files()[0][0]).convert("RGB")
    crawl_in_process(db, home, "127.0.0.1:8001", one_copy_site(work))
    assert run_cli("hits", "confirm", "1").exit_code == 0
    with db.session() as session:
        hit = session.get(Hit, 1)
        assert hit is not None
        hit.work.quarantined_at = hit.created_at  # the work is held by flood quarantine
    stored = crawl_in_process(db, home, "localhost:8001", one_copy_site(work))
    assert (stored.new, stored.known, stored.auto_confirmed) == (1, 1, 0)


def test_the_console_marks_known_copies_and_decides_mirror_proposals(home: Settings,
                                                                     db: Database) -> None:
    register_samples(db)
    work = Image.open(sample_files()[0][0]).convert("RGB")
    crawl_in_process(db, home, "127.0.0.1:8001", one_copy_site(work))
    assert run_cli("hits", "confirm", "1").exit_code == 0
    assert run_cli("staydown", "policy", "--exact", "off").exit_code == 0
    crawl_in_process(db, home, "localhost:8001", one_copy_site(work))
    with db.session() as session:
        add_user(session, "reviewer", PASSWORD, "staff")
        proposal = session.scalars(select(MirrorProposal)).one().id
    app = create_app(home)
    try:
        with TestClient(app) as client:
            login = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', login)
            assert token
            client.post("/login", data={"username": "reviewer", "password": PASSWORD,
                                        "csrf_token": token.group(1), "next": "/"})
            review = client.get("/review").text
            assert "known copy of case 1" in review
            assert "1 known, 0 auto-confirmed" in client.get("/runs").text
            api = client.get("/api/v1/hits/2").json()
            assert (api["known_case_id"], api["known_by"]) == (1, "sha256")
            page_html = client.get("/staydown").text
            assert "localhost:8001" in page_html and "serves the same file" in page_html
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page_html)
            assert csrf
            done = client.post(f"/staydown/proposals/{proposal}/decline",
                               data={"csrf_token": csrf.group(1)}, follow_redirects=False)
            assert done.status_code == 303
            again = client.post(f"/staydown/proposals/{proposal}/accept",
                                data={"csrf_token": csrf.group(1)})
            assert again.status_code == 409 and "already declined" in again.text
            client.post("/staydown/policy", data={"exact": "on", "fuzzy": "off",
                                                  "csrf_token": csrf.group(1)})
    finally:
        app.state.db.dispose()
    assert "Instance: exact copies confirmed automatically, fuzzy copies reviewed." in \
        run_cli("staydown", "policy").output


def test_a_site_with_the_case_sites_page_template_is_proposed(home: Settings,
                                                               db: Database) -> None:
    register_samples(db)
    first, second = (Image.open(path).convert("RGB") for path, _ in sample_files()[:2])
    crawl_in_process(db, home, "pirate.example", themed(one_copy_site(first), "portal"))
    assert run_cli("hits", "confirm", "1").exit_code == 0
    # Another film on the same layout: a proposal; another layout: none.
    crawl_in_process(db, home, "pirate2.example", themed(one_copy_site(second), "portal"))
    crawl_in_process(db, home, "blog.example", themed(one_copy_site(second), "blog"))
    with db.session() as session:
        found = [(p.case_id, p.site.domain, [r["kind"] for r in p.reasons])
                 for p in list_proposals(session)]
    assert found == [(1, "pirate2.example", ["template"])]


def test_a_site_redirecting_to_the_case_site_is_proposed(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    work = Image.open(sample_files()[0][0]).convert("RGB")
    with serve_site(one_copy_site(work)) as case_site:
        crawl_in_process(db, sqlite_home, case_site.url[7:-1], one_copy_site(work))
        assert run_cli("hits", "confirm", "1").exit_code == 0
        moved = DemoSite()
        moved.files["/"] = Resource(301, "text/html", b"moved", (("Location", case_site.url),))
        with serve_site(moved) as redirecting:
            with db.session() as session:
                site_id = site_for_url(session, redirecting.url).id
            run = run_crawl(db, sqlite_home, CrawlRequest(site_id=site_id,
                                                          start_url=redirecting.url))
    assert run.outcome == "finished", run.error
    assert run.stats["start_redirected_to"] == case_site.url[7:-1]
    proposals = json.loads(run_cli("staydown", "proposals", "--json").output)
    assert [(p["case_id"], p["site"]) for p in proposals] == [(1, redirecting.url[7:-1])]
    assert f"its start page redirects to {case_site.url[7:-1]}" in proposals[0]["reasons"]
    db.dispose()


def test_a_removed_copy_back_on_a_new_domain_reopens_its_case(home: Settings,
                                                              db: Database) -> None:
    register_samples(db)
    work = Image.open(sample_files()[0][0]).convert("RGB")
    crawl_in_process(db, home, "127.0.0.1:8001", one_copy_site(work))
    assert run_cli("hits", "confirm", "1").exit_code == 0
    with db.session() as session:  # a notice, and the copy gone at the recheck
        notice = record_notice(session, 1, "abuse@127.0.0.1", "dmca-en", "staff")
        url_id = session.scalars(select(NoticeUrl.id).where(NoticeUrl.notice_id == notice.id)
                                 ).one()
    with db.session() as session:
        record_recheck(session, url_id, None, "removed", 404, "HTTP 404", None)
    assert json.loads(run_cli("cases", "list", "--json").output)[0]["status"] == "removed"
    assert crawl_in_process(db, home, "localhost:8001", one_copy_site(work)).auto_confirmed == 1
    log = json.loads(run_cli("cases", "show", "1", "--json").output)
    assert [e["type"] for e in log[-2:]] == ["hit_confirmed", "status_changed"]
    assert log[-1]["payload"]["to"] == "reopened" and log[-1]["actor"] == "staydown"
    assert "http://localhost:8001/copy.img" in log[-1]["payload"]["reason"]
    assert run_cli("cases", "verify", "1").exit_code == 0


def test_a_case_that_refuses_the_copy_leaves_it_pending_and_the_crawl_goes_on(
        home: Settings, db: Database) -> None:
    register_samples(db)
    work = Image.open(sample_files()[0][0]).convert("RGB")
    crawl_in_process(db, home, "127.0.0.1:8001", one_copy_site(work))
    assert run_cli("hits", "confirm", "1").exit_code == 0
    with db.session() as session:  # the newest custody event deleted: the log is broken
        session.execute(delete(CaseEvent).where(CaseEvent.seq == 2))
    stored = crawl_in_process(db, home, "localhost:8001", one_copy_site(work))
    assert (stored.new, stored.known, stored.auto_confirmed) == (1, 1, 0)
    [row] = hits_json("--status", "pending")
    assert (row["known_case_id"], row["case_id"]) == (1, None)
