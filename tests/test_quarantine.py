"""The quarantine rule: a work that bursts in one run has its hits held, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from crawlers.items import Exchange, MediaItem, PageInfo
from crawlers.store import open_run, store_matches
from matching.match_index import Match
from swordnet.core.db import Database
from swordnet.core.models import Hit, Work
from swordnet.core.timeutil import utcnow
from swordnet.demo.samples import sample_files
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import WarcRecorder
from swordnet.works.quarantine import QuarantineWatch
from swordnet.works.registry import register_work
from tests.conftest import run_cli

SITE = "http://127.0.0.1:9/"


def exchange(url: str, content_type: str, body: bytes) -> Exchange:
    return Exchange(url, "GET", [], 200, [("Content-Type", content_type)], body, "127.0.0.1",
                    utcnow())


def store_run(db: Database, recorder: WarcRecorder, hits_per_work: dict[int, int]) -> int:
    """One crawl run on SITE that finds ``n`` distinct copies of each work; returns its id."""
    with db.session() as session:
        ref = open_run(session, None, SITE, "site")
    watch = QuarantineWatch(ref.run_id)
    for work_id, count in hits_per_work.items():
        for n in range(count):
            url = f"{SITE}run{ref.run_id}/work{work_id}/{n}.jpg"
            page = PageInfo(exchange(SITE, "text/html", b"<p>page</p>"), "page")
            item = MediaItem(exchange(url, "image/jpeg", f"copy {n}".encode()), page,
                             matches=[Match(work_id, work_id, "orb", "original", 2, 30.0)])
            with db.session() as session:
                assert store_matches(session, ref, item, watch, recorder)[:2] == (1, 0)
    return ref.run_id


def test_a_bursting_work_is_quarantined_and_its_hits_held(db: Database, tmp_path: Path) -> None:
    recorder = WarcRecorder(EvidenceStore(tmp_path / "evidence"), "test", {})
    with db.session() as session:
        steady, bursting = (register_work(session, path.read_bytes(), title=title,
                                          holder_name="H").work.id
                            for path, title in sample_files()[:2])
    store_run(db, recorder, {steady: 10, bursting: 3})  # the usual: at most 10, 3 per run
    # steady stays under 5 x 10; bursting passes 20
    run = store_run(db, recorder, {steady: 25, bursting: 25})
    with db.session() as session:
        works = {w.id: w for w in session.scalars(select(Work))}
        assert works[steady].quarantined_at is None
        assert works[bursting].quarantined_at is not None
        assert f"run {run} matched 21 distinct copies" in (works[bursting].quarantine_reason or "")
        flags = {(h.work_id, h.run_id, h.quarantined) for h in session.scalars(select(Hit))}
    # every hit of the burst is held, including the 20 stored before the limit was passed
    assert flags == {(steady, run - 1, False), (bursting, run - 1, False),
                     (steady, run, False), (bursting, run, True)}

    listed = json.loads(run_cli("hits", "list", "--json").output)
    held = [h["id"] for h in listed if h["quarantined"]]
    assert len(held) == 25
    refused = run_cli("hits", "confirm", str(held[0]))
    assert refused.exit_code == 1
    assert "held by the quarantine" in refused.output and "--accept-quarantined" in refused.output
    accepted = run_cli("hits", "confirm", str(held[0]), "--accept-quarantined")
    assert accepted.exit_code == 0, accepted.output

    works_listed = {w["id"]: w for w in json.loads(run_cli("works", "list", "--json").output)}
    assert "distinct copies" in works_listed[bursting]["quarantined"]
    assert run_cli("works", "release", str(bursting)).exit_code == 0
    again = run_cli("works", "release", str(bursting))
    assert again.exit_code == 1 and "is not quarantined" in again.output
    store_run(db, recorder, {bursting: 2})  # released: new hits are no longer flagged
    with db.session() as session:
        newest = session.scalars(select(Hit).order_by(Hit.id.desc()).limit(2)).all()
        assert [h.quarantined for h in newest] == [False, False]


def test_per_work_thresholds_are_set_per_algorithm_from_the_cli(db: Database) -> None:
    with db.session() as session:
        path, title = sample_files()[0]
        work_id = register_work(session, path.read_bytes(), title=title, holder_name="H").work.id
    assert run_cli("works", "threshold", str(work_id), "orb", "25").exit_code == 0
    assert run_cli("works", "threshold", str(work_id), "phash", "6").exit_code == 0
    assert run_cli("works", "threshold", str(work_id), "phash", "--clear").exit_code == 0
    with db.session() as session:
        assert session.get(Work, work_id).thresholds == {"orb": 25.0}  # type: ignore[union-attr]
    for args, message in [
        (("999", "orb", "3"), "no work with id 999"),
        ((str(work_id), "tlsh", "3"), "has no 'tlsh' signal (its signals: link, orb, phash)"),
        ((str(work_id), "orb"), "give a VALUE or --clear"),
    ]:
        result = run_cli("works", "threshold", *args)
        assert result.exit_code == 1 and message in result.output, result.output
