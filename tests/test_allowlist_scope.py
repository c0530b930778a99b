"""Allowlist scope: an entry covers only its holder's works (or its one work) on its domain.
Crawls skip those matches and count the skips; shutdown lists leave out those hits and keep
a site while other holders' confirmed hits remain."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from PIL import Image
from sqlalchemy import select

from scheduler.executor import CrawlRequest
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import Case, Hit, Work
from swordnet.core.timeutil import utcnow
from swordnet.demo.samples import sample_files
from swordnet.demo.site import DemoSite, serve_site
from swordnet.watch.targets import site_for_url
from swordnet.works.registry import register_work
from tests.conftest import run_cli, site_copy
from tests.pirate_sites import run_crawl
from tests.spider_harness import crawl_in_process
from tests.test_staydown import one_copy_site

HOLDERS = {0: "North", 1: "South", 2: "South"}  # sample work -> its rights holder


def register_two_holders(db: Database) -> dict[str, list[int]]:
    """Sample works 0 for North, 1 and 2 for South; their ids by holder."""
    ids: dict[str, list[int]] = {"North": [], "South": []}
    with db.session() as session:
        for n, holder in HOLDERS.items():
            path, title = sample_files()[n]
            ids[holder].append(register_work(session, path.read_bytes(), title=title,
                                             holder_name=holder).work.id)
    return ids


def three_copy_site() -> DemoSite:
    """Copies of sample works 0, 1 and 2 on one page."""
    site = DemoSite()
    tags = []
    for n in HOLDERS:
        image = Image.open(sample_files()[n][0]).convert("RGB")
        copy = one_copy_site(image).files["/copy.img"]
        site.add(f"/c{n}.jpg", copy.body, "image/jpeg")
        tags.append(f'<img src="/c{n}.jpg" alt="copy">')
    site.add("/", f"<html><body>{''.join(tags)}</body></html>".encode(),
             "text/html; charset=utf-8")
    return site


def test_a_holders_entry_skips_only_their_matches_and_counts_them(home: Settings,
                                                                  db: Database) -> None:
    ids = register_two_holders(db)
    assert run_cli("allowlist", "add", "127.0.0.1:8001", "--holder", "North").exit_code == 0
    assert run_cli("allowlist", "add", "127.0.0.1", "--holder", "South",
                   "--work", str(ids["South"][0])).exit_code == 0  # any port of that host
    stored = crawl_in_process(db, home, "127.0.0.1:8001", three_copy_site())
    assert (stored.new, stored.allowlisted) == (1, 2)
    with db.session() as session:
        assert session.scalars(select(Hit.work_id)).all() == [ids["South"][1]]
    # Elsewhere the same copies are matched for everyone.
    elsewhere = crawl_in_process(db, home, "localhost:8001", three_copy_site())
    assert (elsewhere.new, elsewhere.allowlisted) == (3, 0)


def test_a_crawl_reports_the_skipped_matches(sqlite_home: Settings,
                                             fixture_site: DemoSite) -> None:
    db = open_database(sqlite_home)
    with db.session() as session:
        for path, title in sample_files():
            register_work(session, path.read_bytes(), title=title, holder_name="Holder")
        licensed = session.scalar(select(Work.id).where(Work.title == sample_files()[0][1]))
    planted = [p for p in fixture_site.planted if p.work_title == sample_files()[0][1]]
    with serve_site(site_copy(fixture_site)) as served:
        key = served.url[len("http://"):-1]
        assert run_cli("allowlist", "add", key, "--holder", "Holder", "--work",
                       str(licensed)).exit_code == 0
        with db.session() as session:
            site_id = site_for_url(session, served.url).id
        run = run_crawl(db, sqlite_home, CrawlRequest(site_id=site_id, start_url=served.url,
                                                      max_pages=50))
    assert run.outcome == "finished", run.error
    assert run.stats["matches_allowlisted"] == len(planted) > 0
    assert run.stats["hits_new"] == len(fixture_site.planted) - len(planted)
    with db.session() as session:
        assert licensed not in session.scalars(select(Hit.work_id)).all()
    shown = run_cli("runs", "show", str(run.id)).output
    assert re.search(rf"matches allowlisted\W+{len(planted)} ", shown), shown
    db.dispose()


def make_case(db: Database, site_url: str, hits_by_holder: dict[str, int]) -> int:
    """A case on ``site_url`` with confirmed hits of each holder's works."""
    hit_ids = []
    with db.session() as session:
        site = site_for_url(session, site_url)
        for holder, count in hits_by_holder.items():
            for n in range(count):
                path, title = sample_files()[n]
                work = register_work(session, path.read_bytes(), title=title,
                                     holder_name=holder).work
                hit = Hit(work_id=work.id, site_id=site.id, url=f"{site_url}{holder}/{n}.jpg",
                          algorithm="phash", score=0, status="pending")
                session.add(hit)
                session.flush()
                hit_ids.append(hit.id)
    assert run_cli("hits", "confirm", *map(str, hit_ids)).exit_code == 0
    with db.session() as session:
        case = session.scalar(select(Case).join(Hit, Hit.case_id == Case.id)
                              .where(Hit.id == hit_ids[0]))
        assert case is not None
        return case.id


def shutdown_list() -> dict[str, int]:
    result = run_cli("campaigns", "shutdown-list", "Push", "--format", "json")
    assert result.exit_code == 0, result.output
    return {row["domain"]: row["infringing_urls"] for row in json.loads(result.output)}


def test_a_site_stays_on_the_shutdown_list_for_other_holders_hits(home: Settings,
                                                                   db: Database) -> None:
    for site in ("http://shared.example/", "http://north-only.example/"):
        assert run_cli("sites", "add", site).exit_code == 0
    make_case(db, "http://shared.example/", {"North": 2, "South": 1})
    make_case(db, "http://north-only.example/", {"North": 1})
    start = utcnow()  # the campaign counts the cases on its targets' sites
    created = run_cli("campaigns", "create", "Push", "--from", start.isoformat(),
                      "--to", (start + timedelta(days=7)).isoformat(), "--targets", "1,2")
    assert created.exit_code == 0, created.output
    assert shutdown_list() == {"shared.example": 3, "north-only.example": 1}

    # One of North's works licensed on the shared site: that one hit leaves the list.
    with db.session() as session:
        north_first = session.scalar(select(Work.id).join(Work.holder).where(
            Work.title == sample_files()[0][1], Work.holder.has(name="North")))
    assert run_cli("allowlist", "add", "shared.example", "--holder", "North", "--work",
                   str(north_first)).exit_code == 0
    assert shutdown_list() == {"shared.example": 2, "north-only.example": 1}
    # All North's works licensed there and on its own site: South's hit keeps the shared
    # site on the list; the site with only North's hits leaves it.
    for domain in ("shared.example", "north-only.example"):
        assert run_cli("allowlist", "add", domain, "--holder", "North").exit_code == 0
    assert shutdown_list() == {"shared.example": 1}
    assert run_cli("allowlist", "add", "shared.example", "--holder", "South").exit_code == 0
    assert shutdown_list() == {}
