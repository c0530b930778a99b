"""A console home with video and software hits whose copies are real WARC captures.

Works are registered as the console registers uploads (previews kept); each copy is
recorded into a WARC file as a crawl records it, and its hit carries the detail the real
matcher gives (work ids are the database's). Shared by the review preview tests and the
browser check.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bench.video import ALTERATIONS, alter, write_work
from crawlers.store import note_sealed
from matching.match_index import MatchIndex
from matching.stages import first_stage_matches, first_stage_queries, registration_fingerprints
from swordnet.accounts.users import add_user
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Capture, Hit, Work
from swordnet.core.timeutil import utcnow
from swordnet.evidence.store import EvidenceStore
from swordnet.evidence.warc import WarcRecorder
from swordnet.watch.targets import site_for_url
from swordnet.works.registry import register_work
from tests.test_software_signal import make_zip, patched, real_binaries

PASSWORD = "frames side by side at dusk"
HOLDER_VIDEO = "North Films"
HOLDER_SOFTWARE = "Harbour Soft"
USERS = {"reviewer": ("staff", None), "north": ("rights_holder", HOLDER_VIDEO),
         "harbour": ("rights_holder", HOLDER_SOFTWARE)}
SECONDS, FPS, SIZE = 30.0, 12, (320, 180)
COPY_URL = "http://pirate.test/films/copy.mp4"


@dataclass(frozen=True)
class PreviewData:
    settings: Settings
    video_hit: int  # the trimmed copy of a work registered with key frames
    old_video_hit: int  # a copy of a work registered before key frames were kept
    corrupt_hit: int  # a copy whose captured bytes are a truncated MP4
    missing_hit: int  # a copy whose WARC file is gone
    software_hit: int  # a patched member inside a different zip (TLSH)
    work_member: bytes
    copy_member: bytes
    old_work: Path  # the file of the work registered before key frames were kept

    def copy_to(self, directory: Path) -> Settings:
        """A copy of the home (database and evidence) in ``directory``, for tests that change
        data."""
        home = directory / "home"
        shutil.copytree(self.settings.home, home)
        return Settings(home=home, database_url=f"sqlite:///{home / 'swordnet.db'}")


def _video_detail(work_id: int, work: bytes, copy: bytes) -> tuple[float, dict[str, Any]]:
    index = MatchIndex()
    for algorithm, variant, value in registration_fingerprints("video", work):
        index.add(1, work_id, algorithm, value, variant=variant)
    found = first_stage_matches(index, first_stage_queries("video", copy))
    assert found, "the trimmed copy does not match its work"
    return found[0].score, found[0].detail


def _software_detail(work_id: int, work: bytes, copy: bytes) -> tuple[float, dict[str, Any]]:
    index = MatchIndex()
    for algorithm, variant, value in registration_fingerprints("software", work):
        index.add(len(index) + 1, work_id, algorithm, value, variant=variant)
    found = index.match("tlsh", first_stage_queries("software", copy)["tlsh"])
    assert found, "the patched member does not match"
    return found[0].score, found[0].detail


def _hit(session: Session, recorder: WarcRecorder, work: Work, url: str, body: bytes,
         algorithm: str, score: float, detail: dict[str, Any],
         warc: tuple[str, int] | None = None) -> int:
    now = utcnow()

    def record(address: str, content: bytes, content_type: str) -> tuple[str, int]:
        ref = recorder.record_exchange(
            url=address, method="GET", request_headers=[("Host", "pirate.test")], status=200,
            reason="OK", response_headers=[("Content-Type", content_type)], body=content,
            ip="127.0.0.1", fetched_at=now)
        return ref.filename, ref.offset

    page_url = url + ".html"
    html = (f"<!doctype html><html><head><title>Download {work.title}</title></head><body>"
            f"<p>Full {work.kind} here: <a href='{url}'>{url}</a></p></body></html>").encode()
    page_warc = record(page_url, html, "text/html; charset=utf-8")
    page = Capture(kind="page", url=page_url, fetched_at=now, http_status=200,
                   sha256=sha256(html).hexdigest(), size=len(html),
                   content_type="text/html; charset=utf-8", title=f"Download {work.title}",
                   warc_file=page_warc[0], warc_offset=page_warc[1])
    if warc is None:
        warc = record(url, body, "application/octet-stream")
    capture = Capture(kind="media", url=url, fetched_at=now, http_status=200,
                      sha256=sha256(body).hexdigest(), size=len(body),
                      content_type="application/octet-stream", warc_file=warc[0],
                      warc_offset=warc[1])
    hit = Hit(work=work, site=site_for_url(session, url), media_capture=capture,
              page_capture=page, url=url, page_url=page_url, algorithm=algorithm, score=score,
              detail=detail)
    session.add(hit)
    session.flush()
    return hit.id


def build_preview_data(directory: Path) -> PreviewData:
    home = directory / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'swordnet.db'}")
    clips = directory / "clips"
    clips.mkdir()
    work_path = write_work(clips / "work.mp4", 101, SECONDS, FPS, SIZE)
    old_path = write_work(clips / "old.mp4", 102, SECONDS, FPS, SIZE)
    copy = alter(work_path, clips / "copy.mp4", ALTERATIONS["trimmed_10s"]).read_bytes()
    old_copy = alter(old_path, clips / "old-copy.mp4", ALTERATIONS["trimmed_10s"]).read_bytes()
    binary = real_binaries()[0]
    software = make_zip([("lib/app.so", binary), ("README.txt", b"Read me.\n" * 200)])
    pirated = make_zip([("bin/app.so", patched(binary)), ("crack.nfo", b"cracked\n" * 300)])
    db = open_database(settings)
    store = EvidenceStore(settings.evidence_dir)
    recorder = WarcRecorder(store, "test-previews", {})
    try:
        with db.session() as session:
            for username, (role, holder) in USERS.items():
                add_user(session, username, PASSWORD, role, holder, new_holder=bool(holder))
            video = register_work(session, work_path.read_bytes(), title="Lanterns",
                                  holder_name=HOLDER_VIDEO, kind="video",
                                  preview_store=store).work
            old = register_work(session, old_path.read_bytes(), title="Old reel",
                                holder_name=HOLDER_VIDEO, kind="video").work
            program = register_work(session, software, title="Harbour Tools",
                                    holder_name=HOLDER_SOFTWARE, kind="software",
                                    preview_store=store).work
            score, detail = _video_detail(video.id, work_path.read_bytes(), copy)
            video_hit = _hit(session, recorder, video, COPY_URL, copy, "video", score, detail)
            old_score, old_detail = _video_detail(old.id, old_path.read_bytes(), old_copy)
            old_hit = _hit(session, recorder, old, "http://pirate.test/films/old.mp4", old_copy,
                           "video", old_score, old_detail)
            corrupt_hit = _hit(session, recorder, video, "http://pirate.test/films/cut.mp4",
                               copy[: len(copy) // 3], "video", score, detail)
            missing_hit = _hit(session, recorder, video, "http://pirate.test/films/gone.mp4",
                               copy, "video", score, detail,
                               warc=("test-previews-gone.warc.gz", 0))
            sw_score, sw_detail = _software_detail(program.id, software, pirated)
            software_hit = _hit(session, recorder, program, "http://pirate.test/tools.zip",
                                pirated, "tlsh", sw_score, sw_detail)
        recorder.close()
        with db.session() as session:
            note_sealed(session, recorder.take_sealed())
    finally:
        recorder.close()
        db.dispose()
    return PreviewData(settings, video_hit, old_hit, corrupt_hit, missing_hit, software_hit,
                       binary, patched(binary), old_path)
