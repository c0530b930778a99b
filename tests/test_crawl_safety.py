"""Hostile sites: crawler traps end at caps and are reported (in-process,
tests/spider_harness.py); malformed responses never crash a real crawl; a crawl killed with
SIGKILL and started again loses and duplicates nothing."""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path
from uuid import uuid4

import psutil
from sqlalchemy import func, select

from casefiles.captures import capture_record, evidence_problems
from crawlers.spiders.site import SiteSpider
from scheduler.executor import CrawlProcess
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import Capture, Hit, WarcFile
from swordnet.demo.site import DemoSite, Resource, RunningSite, serve_site
from swordnet.evidence.store import EvidenceStore
from tests.conftest import ALLOW_TEST_SITES, run_cli
from tests.pirate_sites import (
    HTML,
    add_watch_target,
    crawl_target,
    hit_set,
    page,
    plant,
    planted_set,
    register_samples,
    sample_works,
    warcio_check,
)
from tests.spider_harness import make_spider, run_spider
from tests.warm_crawl import run_scrapy, start_scrapy


def trap_site() -> DemoSite:
    """An endless calendar, self-nesting relative links, ever-deeper paths, session ids."""
    site = DemoSite()
    works = sample_works()
    site.add("/", page("Traps", '<a href="/cal/2026/11/21">calendar</a> <a href="/loop/">loop</a>'
                       ' <a href="/deep/1/">deep</a> <a href="/s/page.html">sessions</a>'
                       + plant(site, works[0], "/i/home.jpg", "/")), HTML)

    def calendar(path: str, _query: str) -> Resource:
        y, m, d = (int(x) for x in path.split("/")[2:5])
        nxt = f"/cal/{y + (m == 12 and d == 28)}/{m % 12 + 1 if d == 28 else m}/{d % 28 + 1}"
        return Resource(200, HTML, page(f"{y}-{m}-{d}", f'<a href="{nxt}">next day</a>'))

    def loop(path: str, _query: str) -> Resource:
        return Resource(200, HTML, page("Loop", '<a href="a/">deeper</a>'))

    def deep(path: str, _query: str) -> Resource:
        n = len(path.strip("/").split("/"))
        return Resource(200, HTML, page("Deep", f'<a href="{n}/">deeper</a>'))

    def sessions(path: str, _query: str) -> Resource:
        sid = uuid4().hex
        return Resource(200, HTML, page("Session", f'<a href="/s/page.html;jsessionid={sid}">'
                                        f'again</a> <a href="/s/page.html?PHPSESSID={sid}">'
                                        "and again</a>"))

    site.routes.update({"/cal/": calendar, "/loop/": loop, "/deep/": deep, "/s/": sessions})
    return site


def test_crawler_traps_end_at_their_caps_and_are_reported() -> None:
    site = trap_site()
    spider = make_spider(SiteSpider, url="http://traps.example/", depth="1000",
                         max_pages="5000")
    run = run_spider(spider, {"traps.example": site})
    requested = run.paths("traps.example")
    assert run.stats["traps"] == {"calendar": 1, "repeated_segments": 1,
                                  "too_many_segments": 1}
    assert run.stats["session_ids_stripped"] >= 2
    assert sum(p.startswith("/cal/") for p in requested) == 50
    assert sum(p.startswith("/loop/") for p in requested) == 4   # /loop/a/a/a/ at most
    assert max(len(p.strip("/").split("/")) for p in requested) == 20
    assert requested.count("/s/page.html") == 1  # session ids stripped: one page
    assert [i.exchange.url for i in run.items if i.kind == "image"] == [
        "http://traps.example/i/home.jpg"]
    kinds = {e["kind"] for e in run.errors}
    assert {"trap_calendar", "trap_repeated_segments", "trap_too_many_segments"} <= kinds


def malformed_site() -> DemoSite:
    """Every way a response can lie or break, each page with a copy that must still be found."""
    site = DemoSite()
    works = sample_works()
    pages = {
        "nul": "/nul.html", "bom": "/bom.html", "markup": "/markup.html",
        "untyped": "/untyped.html", "mistyped-img": "/mistyped-img.html",
    }
    links = "".join(f'<a href="{p}">{k}</a>' for k, p in pages.items())
    links += '<a href="/bomb.html">bomb</a><a href="/html-as-jpeg.html">liar</a>'
    site.add("/", page("Malformed", links), HTML)
    site.add("/nul.html", page("NUL", "\x00\x00junk\x00" + plant(site, works[0], "/i/nul.jpg",
                                                                 "/nul.html")), HTML)
    # A UTF-8 page with a BOM whose header claims Latin-1: the BOM wins.
    bom_title = "Ünïcödé 盗版 gallery"
    site.add("/bom.html", b"\xef\xbb\xbf" + page(bom_title, plant(site, works[1], "/i/bom.jpg",
                                                                 "/bom.html")),
             "text/html; charset=iso-8859-1")
    broken = ("<div><p><b>unclosed <<<>>> <table><tr><td>" + plant(site, works[2],
              "/i/markup.jpg", "/markup.html") + "<img src='/i/x.jpg' alt=\"oops><a href=")
    site.add("/markup.html", broken.encode(), HTML)
    site.add("/untyped.html", page("No type", plant(site, works[3], "/i/untyped.jpg",
                                                    "/untyped.html")), None)
    site.add("/mistyped-img.html", page("Image served as HTML", plant(
        site, works[4], "/i/mistyped.jpg", "/mistyped-img.html")), HTML)
    site.files["/i/mistyped.jpg"] = Resource(200, "text/html", site.files["/i/mistyped.jpg"].body)
    site.files["/i/untyped.jpg"] = Resource(200, None, site.files["/i/untyped.jpg"].body)
    # 20 MB of markup sent as 20 kB of gzip: past the 8 MB page cap once decoded.
    site.add("/bomb.html", gzip.compress(b"<p>" + b" " * (20 * 1024 * 1024)), HTML,
             headers=(("Content-Encoding", "gzip"),))
    site.add("/html-as-jpeg.html", page("Liar", '<a href="/never.html">x</a>'), "image/jpeg")
    return site


def test_malformed_responses_never_crash_a_run(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    site = malformed_site()
    with serve_site(site) as running:
        target = add_watch_target(db, running.url)
        run = crawl_target(db, sqlite_home, target)
    assert run.outcome == "finished" and run.error is None
    assert hit_set(db) == planted_set(site)
    # the bomb is dropped once decoded past the cap; nothing else counts as an error (the
    # page sent as image/jpeg is sniffed as HTML by Scrapy and read like any page)
    assert run.stats["errors_by_type"] == {"IgnoreRequest": 1, "http_404": 1}
    assert {e["url"].removeprefix(running.url) for e in run.errors} == {
        "bomb.html", "never.html"}
    with db.session() as session:
        titles = set(session.scalars(select(Capture.title).where(Capture.kind == "page")))
    assert "Ünïcödé 盗版 gallery" in titles
    db.dispose()


def _wait_for_hits(db: Database, n: int, process: CrawlProcess,
                   timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db.session() as session:
            if (session.scalar(select(func.count()).select_from(Hit)) or 0) >= n:
                return
        assert process.process is not None and process.process.alive(), \
            "the crawl ended before it could be killed"
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} hits after {timeout_s} s")


def test_crawl_killed_with_sigkill_resumes_without_duplicates_or_dangling_captures(
        sqlite_home: Settings, fixture_site: DemoSite, tmp_path: Path) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    with serve_site(fixture_site, delay_s=0.08) as running:
        target = add_watch_target(db, running.url)
        env = {**os.environ, "SWORDNET_HOME": str(sqlite_home.home)}
        process = start_scrapy(["crawl", "site", "-a", f"target_id={target}", *ALLOW_TEST_SITES],
                               env, tmp_path / "crawl.log")
        try:
            _wait_for_hits(db, 5, process)
            assert process.process is not None
            crawl_command = psutil.Process(process.process.pid).cmdline()
            workers = psutil.Process(process.process.pid).children(recursive=True)
            commands = [worker.cmdline() for worker in workers]
        finally:
            process.kill()
            process.wait(timeout=30)
            process.close()
        assert workers  # the matcher's worker process
        # forked from the crawl: no fresh interpreter that imports the matchers again
        assert commands == [crawl_command] * len(workers)
        _, survivors = psutil.wait_procs(workers, timeout=30)
        assert survivors == []  # they died with their crawl
        [killed] = json.loads(run_cli("runs", "list", "--unhealthy", "--json").output)
        assert killed["outcome"] == "interrupted"  # at once, not 70 minutes later
        assert "ended without recording how the run ended" in killed["error"]
        with db.session() as session:
            stored_before = session.scalar(select(func.count()).select_from(Hit)) or 0
        assert stored_before < len(fixture_site.planted)  # it really was cut off midway
        store = EvidenceStore(sqlite_home.evidence_dir)
        assert list(store.open_dir.iterdir())  # the killed crawl left its WARC file open
        run = crawl_target(db, sqlite_home, target)
    assert run.outcome == "finished"
    assert hit_set(db) == planted_set(fixture_site)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Hit)) == len(fixture_site.planted)
        assert evidence_problems(session, store) == []
        for capture in session.scalars(select(Capture)):
            capture_record(session, store, capture)  # every record is there and intact
        warcs = session.scalars(select(WarcFile)).all()
        assert warcs and all(w.sha256 for w in warcs)  # the killed run's file was sealed too
        assert len({w.run_id for w in warcs}) == 2
        paths = [store.path_for(w.sha256, ".warc.gz") for w in warcs if w.sha256]
    assert list(store.open_dir.iterdir()) == []
    for path in paths:
        assert "digest pass" in warcio_check(path)
    db.dispose()


def test_evidence_check_detects_one_changed_byte_in_a_stored_warc(
        sqlite_home: Settings, served_site: RunningSite, tmp_path: Path) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    target = add_watch_target(db, served_site.url)
    crawl_target(db, sqlite_home, target)
    with db.session() as session:
        warc = session.scalars(select(WarcFile)).one()
    store = EvidenceStore(sqlite_home.evidence_dir)
    assert warc.sha256 is not None
    path = store.path_for(warc.sha256, ".warc.gz")
    warcio_check(path)
    assert run_cli("evidence", "check").exit_code == 0
    # a user lists a hit's captures and extracts the recorded copy: the bytes served
    with db.session() as session:
        hit = session.scalars(select(Hit).order_by(Hit.id)).first()
        assert hit is not None
        hit_id, image_path = hit.id, "/" + hit.url.split("/", 3)[3]
    listed = json.loads(run_cli("captures", "list", str(hit_id), "--json").output)
    assert [c["kind"] for c in listed] == ["page", "media"]
    assert all(c["warc_file"] == warc.filename and c["ip"] == "127.0.0.1" for c in listed)
    out = tmp_path / "copy.jpg"
    extracted = run_cli("captures", "extract", str(listed[1]["id"]), "-o", str(out))
    assert extracted.exit_code == 0, extracted.output
    assert out.read_bytes() == served_site.site.files[image_path].body
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    result = run_cli("evidence", "check")
    assert result.exit_code == 1
    assert f"{path}: sha256 mismatch" in result.output
    refused = run_cli("captures", "extract", str(listed[0]["id"]), "-o", str(tmp_path / "p"))
    assert refused.exit_code == 1 and "sha256 mismatch" in refused.output
    assert not (tmp_path / "p").exists()
    db.dispose()


def test_warc_files_roll_over_at_their_size_cap(sqlite_home: Settings,
                                                 served_site: RunningSite,
                                                 tmp_path: Path) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    env = {**os.environ, "SWORDNET_HOME": str(sqlite_home.home)}
    log = tmp_path / "crawl.log"
    returncode = run_scrapy(["crawl", "site", "-a", f"url={served_site.url}",
                             "-s", "SWORDNET_WARC_MAX_BYTES=100000", *ALLOW_TEST_SITES], env, log)
    assert returncode == 0, log.read_text(errors="replace")[-2000:]
    store = EvidenceStore(sqlite_home.evidence_dir)
    with db.session() as session:
        warcs = session.scalars(select(WarcFile)).all()
        assert len(warcs) >= 3 and all(w.sha256 and w.size for w in warcs)
        assert evidence_problems(session, store) == []
        used = set(session.scalars(select(Capture.warc_file)))
    assert used == {w.filename for w in warcs}  # every file holds captures
    for warc in warcs:
        assert warc.sha256 is not None
        output = warcio_check(store.path_for(warc.sha256, ".warc.gz"))
        assert output.count("warcinfo") >= 1  # each file opens with its own warcinfo
    db.dispose()
