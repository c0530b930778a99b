"""Lean rechecks: a recheck that gets the same body again writes a WARC ``revisit`` record, not
a second copy, so a case bundle barely grows; and a recheck judges a copy by the thresholds
in force when its hit was confirmed, not by thresholds changed since."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from PIL import Image
from sqlalchemy import select
from warcio.archiveiterator import ArchiveIterator

from casefiles.captures import capture_record, warc_path
from casefiles.notices import record_notice
from casefiles.review import confirm_hit
from scheduler.executor import CrawlRequest
from swordnet.core.config import Settings
from swordnet.core.db import Database, _alembic_config, open_database
from swordnet.core.models import (
    Capture,
    Case,
    CaseEvent,
    CrawlRun,
    Hit,
    NoticeUrl,
    RecheckResult,
    RightsHolder,
    Work,
)
from swordnet.demo.samples import sample_files
from swordnet.demo.site import DemoSite, serve_site
from swordnet.evidence.store import EvidenceStore
from swordnet.watch.targets import site_for_url
from swordnet.works.registry import register_work, set_threshold, thresholds_in_force
from tests.conftest import run_cli
from tests.pirate_sites import HTML, page, plant, run_crawl, sample_works, warcio_check

REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"


def _full_size(image: Image.Image) -> bytes:
    """A copy the size of a full-size photograph (4x the 480 px samples, with film grain:
    about a megabyte as a JPEG)."""
    large = np.asarray(image.resize((image.width * 4, image.height * 4),
                                    Image.Resampling.LANCZOS), dtype=np.int16)
    grain = np.random.default_rng(7).normal(0, 6, large.shape).astype(np.int16)
    data = io.BytesIO()
    Image.fromarray(np.clip(large + grain, 0, 255).astype(np.uint8)).save(data, "JPEG",
                                                                          quality=92)
    return data.getvalue()


def _site(copies: int, alteration: str = "full-size") -> DemoSite:
    """A listing linking to ``copies`` pages, each holding a copy of a sample work:
    ``full-size`` or one of the demo site's alterations."""
    site = DemoSite()
    works = sample_works()[:copies]
    links = []
    for n, work in enumerate(works):
        if alteration == "full-size":
            site.add(f"/img/{n}.jpg", _full_size(work[1]), "image/jpeg")
            tag = f'<img src="/img/{n}.jpg" alt="copy">'
        else:
            tag = plant(site, work, f"/img/{n}.jpg", f"/post/{n}.html", alteration)
        site.add(f"/post/{n}.html", page(f"Post {n}", tag), HTML)
        links.append(f'<a href="/post/{n}.html">post {n}</a>')
    site.add("/", page("Listing", "".join(links)), HTML)
    return site


def _register(db: Database, copies: int) -> None:
    with db.session() as session:
        for path, title in sample_files()[:copies]:
            register_work(session, path.read_bytes(), title=title, holder_name="Holder")


def _crawl(db: Database, settings: Settings, url: str) -> CrawlRun:
    with db.session() as session:
        site_id = site_for_url(session, url).id
    return run_crawl(db, settings, CrawlRequest(site_id=site_id, start_url=url, depth=2,
                                                max_pages=20))


def _recheck(db: Database, settings: Settings) -> CrawlRun:
    """One recheck run of every URL under notice, as the scheduler's recheck job starts it."""
    with db.session() as session:
        urls = session.scalars(select(NoticeUrl).order_by(NoticeUrl.id)).all()
        site_id = urls[0].hit.site_id
        request = CrawlRequest(site_id=site_id, start_url=urls[0].url, spider="recheck",
                               purpose="recheck",
                               spider_args={"notice_urls": ",".join(str(u.id) for u in urls)})
    run = run_crawl(db, settings, request)
    assert run.outcome == "finished", run.error
    return run


def _export(case_id: int, path: Path) -> int:
    result = run_cli("cases", "export", str(case_id), "-o", str(path))
    assert result.exit_code == 0, result.output
    return path.stat().st_size


# Rechecks of the unchanged copies: the first already writes revisits (the copies were
# stored by the crawl), and each later one does the same again; the bundle's growth is
# bounded per recheck (half a percent each), so fewer rechecks do not loosen it.
RECHECKS = 3


@pytest.mark.slow
@pytest.mark.timeout(900)  # real recheck crawls, each a scrapy subprocess
def test_rechecks_of_unchanged_copies_add_revisit_records_not_copies(
        sqlite_home: Settings, tmp_path: Path) -> None:
    db = open_database(sqlite_home)
    _register(db, 2)
    site = _site(2)
    with serve_site(site) as running:
        assert _crawl(db, sqlite_home, running.url).stats["hits_new"] == 2
        with db.session() as session:
            hit_ids = session.scalars(select(Hit.id).order_by(Hit.id)).all()
            case_id = [confirm_hit(session, h, "tester").id for h in hit_ids][-1]
            record_notice(session, case_id, "abuse@pirate.example", "dmca-en", "tester")
        before = _export(case_id, tmp_path / "before.zip")
        for _ in range(RECHECKS):
            _recheck(db, sqlite_home)
        after = _export(case_id, tmp_path / "after.zip")
    growth = (after - before) / before
    print(f"\nbundle: {before} bytes before the rechecks, {after} bytes after {RECHECKS} "
          f"(+{after - before} bytes, {growth:.1%}, for {RECHECKS} rechecks of 2 URLs)")
    assert growth <= 0.005 * RECHECKS
    payloads = [len(r.body) for path, r in site.files.items() if path.startswith("/img/")]
    assert after - before < min(payloads) / 10  # not one payload stored again

    store = EvidenceStore(sqlite_home.evidence_dir)
    with db.session() as session:
        checks = session.scalars(select(RecheckResult).order_by(RecheckResult.id)).all()
        assert len(checks) == 2 * RECHECKS and {c.outcome for c in checks} == {"present"}
        captures = [session.get(Capture, c.capture_id) for c in checks]
        assert all(c is not None and c.revisit_of is not None for c in captures)
        hits = {h.url: h for h in session.scalars(select(Hit))}
        for capture in captures:
            assert capture is not None
            original = hits[capture.url].media_capture
            assert original is not None and capture.revisit_of == original.id
            # the payload reads back from the record the revisit refers to, digests checked
            assert capture_record(session, store, capture).payload == \
                capture_record(session, store, original).payload
        # a revisit record as the WARC 1.1 standard spells it, and warcio checks the file
        capture = captures[-1]
        assert capture is not None and capture.warc_file and capture.warc_offset is not None
        path = warc_path(session, store, capture.warc_file)
        with path.open("rb") as fh:
            fh.seek(capture.warc_offset)
            record = next(iter(ArchiveIterator(fh)))
            headers = dict(record.rec_headers.headers)
        original = session.get(Capture, capture.revisit_of)
        assert original is not None
        assert headers["WARC-Type"] == "revisit" and headers["WARC-Profile"] == REVISIT_PROFILE
        assert headers["WARC-Refers-To-Target-URI"] == original.url
        assert headers["WARC-Refers-To-Date"].startswith(
            original.fetched_at.strftime("%Y-%m-%dT%H:%M:%S"))
        assert "WARC-Payload-Digest" in headers
        warcio_check(path)
    # the bundle carries each payload once, and verifies offline
    with zipfile.ZipFile(tmp_path / "after.zip") as bundle:
        media = [n for n in bundle.namelist() if n.startswith("media/")]
        data = json.loads(bundle.read("case.json"))
    assert len(media) == 2
    assert {c["capture"]["file"] for c in data["rechecks"]} == set(media)
    verified = run_cli("evidence", "verify", str(tmp_path / "after.zip"))
    assert verified.exit_code == 0, verified.output
    db.dispose()


def test_a_recheck_judges_by_the_thresholds_in_force_when_the_hit_was_confirmed(
        sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    _register(db, 2)
    with serve_site(_site(2, "watermarked")) as running:
        _crawl(db, sqlite_home, running.url)
        with db.session() as session:
            early, late = session.scalars(select(Hit).order_by(Hit.id)).all()
            early_id, late_id = early.id, late.id
            assert late.algorithm == "phash" and late.score > 0  # a threshold of 0 misses it
            confirm_hit(session, early_id, "tester")
            assert early.confirmed_thresholds == {"phash": 12.0, "orb": 10.0, "link": 1.0}
        with db.session() as session:  # thresholds tightened until no copy can match
            for hit_id in (early_id, late_id):
                work_id = session.get(Hit, hit_id).work_id  # type: ignore[union-attr]
                set_threshold(session, work_id, "phash", 0)
                set_threshold(session, work_id, "orb", 100_000)
        with db.session() as session:
            case = confirm_hit(session, late_id, "tester")  # confirmed under the tight ones
            record_notice(session, case.id, "abuse@pirate.example", "dmca-en", "tester")
            case_id = case.id
        _recheck(db, sqlite_home)
    with db.session() as session:
        statuses = {u.hit_id: u.status for u in session.scalars(select(NoticeUrl))}
        # the early hit is judged by the thresholds it was confirmed under: still there; the
        # late one by its own (tight) thresholds, which the copy no longer meets
        assert statuses == {early_id: "present", late_id: "removed"}
        events = session.scalars(select(CaseEvent.type).where(CaseEvent.case_id == case_id)
                                 ).all()
        assert events.count("copy_removed") == 1
        case_row = session.get(Case, case_id)
        assert case_row is not None and case_row.status == "notice_sent"
    db.dispose()


def test_upgrading_to_0011_records_the_thresholds_in_force_on_confirmed_hits(
        home: Settings, db: Database) -> None:
    with db.session() as session:
        holder = RightsHolder(name="Studio")
        works = [Work(holder=holder, title=t, kind=k, thresholds=o) for t, k, o in (
            ("Poster", "image", {"orb": 25}), ("Novel", "text", {}), ("Tool", "software", {}))]
        session.add_all(works)
        site = site_for_url(session, "http://pirate.example/")
        session.flush()
        for n, work in enumerate(works):
            session.add(Hit(work_id=work.id, site_id=site.id, url=f"http://pirate.example/{n}",
                            algorithm="phash", score=1,
                            status="confirmed" if n < 2 else "pending"))
    command.downgrade(_alembic_config(db.engine), "0010")  # as before this revision
    open_database(home).dispose()  # upgrades
    with db.session() as session:
        recorded = [h.confirmed_thresholds for h in session.scalars(select(Hit).order_by(Hit.id))]
        # what confirming them now would record: the work's overrides over the defaults
        assert recorded[:2] == [thresholds_in_force(w) for w in
                                session.scalars(select(Work).order_by(Work.id)).all()[:2]]
    assert recorded == [{"phash": 12, "orb": 25, "link": 1}, {"text": 0.2, "link": 1}, None]
