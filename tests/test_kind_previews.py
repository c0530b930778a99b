"""Review previews for video and software hits (``tests/kind_previews.py`` builds the data).

A video hit shows the work's key frames across the matched segment over the copy's frames
at the same moments (decoded from the WARC capture); a copy that cannot be read says so.
A software hit shows the matched files with sizes, digests and the TLSH distance. Rights
holders see only their own works' hits.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import imagehash
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from matching.video import SAMPLE_INTERVAL_S
from swordnet.core.db import open_database
from swordnet.core.models import Work
from swordnet.evidence.store import EvidenceStore
from swordnet.works import video_previews
from swordnet.works.registry import register_work
from swordnet.works.video_previews import KeyFrames, key_frames, strip_times
from tests.kind_previews import HOLDER_VIDEO, PASSWORD, PreviewData, build_preview_data
from tests.test_console import signed_in_clients

# One xdist worker runs this whole module, so its previews are built once, not per worker.
pytestmark = pytest.mark.xdist_group("kind_previews")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> PreviewData:
    return build_preview_data(tmp_path_factory.mktemp("kind-previews"))


@pytest.fixture(scope="module")
def clients(data: PreviewData) -> Iterator[dict[str, TestClient]]:
    with signed_in_clients(data.settings, ("reviewer", "north", "harbour"), PASSWORD) as signed:
        yield signed


def strips(client: TestClient, hit_id: int) -> dict[str, Any]:
    response = client.get(f"/review/hits/{hit_id}/video-strips")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def image_of(src: str) -> Image.Image:
    prefix = "data:image/jpeg;base64,"
    assert src.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(src[len(prefix):])))
    assert image.format == "JPEG"
    image.load()
    return image


def test_registration_keeps_the_work_s_key_frames(data: PreviewData) -> None:
    db = open_database(data.settings)
    try:
        with db.session() as session:
            works = {w.title: w for w in session.query(Work)}
            lanterns, old = works["Lanterns"], works["Old reel"]
            assert (lanterns.preview_type, old.preview_type) == ("frames", None)
            frames = video_previews.stored_key_frames(
                EvidenceStore(data.settings.evidence_dir), lanterns)
    finally:
        db.dispose()
    assert frames is not None and frames.interval == 2.0
    assert frames.times == tuple(float(t) for t in range(0, 30, 2))
    assert max(frames.tile) == video_previews.FRAME_SIDE


def test_a_long_work_keeps_a_bounded_number_of_frames(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    from bench.video import write_work
    content = write_work(tmp_path / "long.mp4", 7, 40.0, 6, (160, 90)).read_bytes()
    monkeypatch.setattr(video_previews, "MAX_KEY_FRAMES", 6)
    interval, frames = key_frames(content)
    assert interval == 8.0  # 2 s doubled until 40 s fit in 6 frames
    assert [t for t, _ in frames] == [0.0, 8.0, 16.0, 24.0, 32.0]


def test_strip_times_spread_over_the_matched_range() -> None:
    frames = KeyFrames(2.0, tuple(float(t) for t in range(0, 60, 2)), "0" * 64, (160, 90), 24)
    assert strip_times(frames, (10.0, 29.5), 10.0, 19.5, count=4) == [10.0, 16.0, 22.0, 28.0]
    # the copy starts 20 s into the work: nothing earlier can be shown beside it
    assert strip_times(frames, (12.0, 24.0), 20.0, 4.0) == [20.0, 22.0, 24.0]
    # nor anything past the copy's last matched moment
    assert strip_times(frames, (31.0, 31.2), 0.0, 31.2) == [30.0]
    assert strip_times(frames, (31.0, 31.2), 0.0) == [30.0, 32.0]
    assert strip_times(frames, (10.0, 20.0), 30.0, 10.0) == [30.0]  # the nearest in reach
    assert strip_times(frames, (70.0, 80.0), 100.0, 10.0) == []  # past the kept frames


def test_a_video_hit_shows_two_aligned_strips(data: PreviewData,
                                              clients: dict[str, TestClient]) -> None:
    page = clients["reviewer"].get("/review", params={"status": "", "hit": data.video_hit})
    assert 'data-fill="video-strips"' in page.text
    assert "A video work: its key frames are shown above" in page.text
    found = strips(clients["reviewer"], data.video_hit)
    offset = found["offset_s"]
    assert abs(offset - 10.0) <= SAMPLE_INTERVAL_S  # the copy was trimmed by 10 s
    work, copy = found["work"], found["copy"]
    assert len(work) == len(copy) >= 6
    assert found["work_note"] is None and found["copy_note"] is None
    for w, c in zip(work, copy, strict=True):
        assert abs(c["t"] - (w["t"] - offset)) <= SAMPLE_INTERVAL_S
        # the same picture: the copy is a re-encoding of the work
        distance = imagehash.phash(image_of(w["src"])) - imagehash.phash(image_of(c["src"]))
        assert distance <= 12, (w["clock"], c["clock"], distance)
    # and not merely similar frames: a frame of another moment is further away
    shifted = imagehash.phash(image_of(work[0]["src"])) - imagehash.phash(image_of(copy[-1]["src"]))
    assert shifted > 12


def test_a_work_registered_before_key_frames_says_so(data: PreviewData,
                                                     clients: dict[str, TestClient]) -> None:
    found = strips(clients["reviewer"], data.old_video_hit)
    assert found["work"] == []
    assert "has no stored frames" in found["work_note"]
    assert "does not keep works' files" in found["work_note"]
    assert len(found["copy"]) == 8 and all(f["src"] for f in found["copy"])


@pytest.mark.parametrize(("hit", "reason"), [("corrupt_hit", "FFmpeg can open"),
                                             ("missing_hit", "is missing")])
def test_an_unreadable_copy_gives_a_message(data: PreviewData, clients: dict[str, TestClient],
                                            hit: str, reason: str) -> None:
    found = strips(clients["reviewer"], getattr(data, hit))
    assert found["copy"] == []
    assert found["copy_note"].startswith("The copy's frames cannot be shown:")
    assert reason in found["copy_note"]
    assert len(found["work"]) >= 6  # the work's side is still there


def test_rights_holders_see_previews_of_their_own_hits_only(
        data: PreviewData, clients: dict[str, TestClient]) -> None:
    assert clients["north"].get(f"/review/hits/{data.video_hit}/video-strips").status_code == 200
    assert clients["harbour"].get(f"/review/hits/{data.video_hit}/video-strips").status_code \
        == 404
    files = f"/review/hits/{data.software_hit}/software-files"
    assert clients["harbour"].get(files).status_code == 200
    assert clients["north"].get(files).status_code == 404
    with TestClient(clients["north"].app) as anonymous:
        response = anonymous.get(files, follow_redirects=False)
        assert response.status_code in (303, 401)


def test_a_software_hit_shows_the_matched_files(data: PreviewData,
                                                clients: dict[str, TestClient]) -> None:
    page = clients["harbour"].get("/review", params={"status": ""})
    assert 'data-fill="software-files"' in page.text
    response = clients["reviewer"].get(f"/review/hits/{data.software_hit}/software-files")
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["work"] == {"path": "lib/app.so", "size": len(data.work_member),
                             "sha256": sha256(data.work_member).hexdigest(),
                             "tlsh": found["work"]["tlsh"], "overlay_ignored": 0}
    assert found["copy"]["path"] == "bin/app.so"
    assert found["copy"]["size"] == len(data.copy_member)
    assert found["copy"]["sha256"] == sha256(data.copy_member).hexdigest()
    assert found["work"]["tlsh"].startswith("T1") and found["copy"]["tlsh"].startswith("T1")
    assert 0 < found["distance"] <= found["threshold"] == 35
    assert found["identical"] is False and found["work_note"] is None
    # the distance shown is the one the hit was scored with
    hits = clients["reviewer"].get(f"/api/v1/hits/{data.software_hit}").json()
    assert hits["score"] == found["distance"]


def test_a_video_route_refuses_other_kinds(data: PreviewData,
                                           clients: dict[str, TestClient]) -> None:
    response = clients["reviewer"].get(f"/review/hits/{data.software_hit}/video-strips")
    assert response.status_code == 404
    assert "not a video match" in response.text


def test_registering_an_old_work_again_keeps_its_key_frames(data: PreviewData,
                                                             tmp_path: Path) -> None:
    settings = data.copy_to(tmp_path)
    db = open_database(settings)
    try:
        with db.session() as session:
            reg = register_work(session, data.old_work.read_bytes(), title="Old reel",
                                holder_name=HOLDER_VIDEO, kind="video",
                                preview_store=EvidenceStore(settings.evidence_dir))
            assert not reg.created and reg.work.preview_type == "frames"
    finally:
        db.dispose()
    with signed_in_clients(settings, ("reviewer",), PASSWORD) as signed:
        client = signed["reviewer"]
        found = strips(client, data.old_video_hit)
    assert found["work_note"] is None and len(found["work"]) == len(found["copy"]) >= 6


def test_a_software_work_without_a_stored_list_shows_its_fingerprints(
        data: PreviewData, tmp_path: Path) -> None:
    settings = data.copy_to(tmp_path)
    db = open_database(settings)
    try:
        with db.session() as session:
            program = session.query(Work).filter(Work.kind == "software").one()
            program.preview_type = program.preview_sha256 = None  # as registered before
    finally:
        db.dispose()
    with signed_in_clients(settings, ("reviewer",), PASSWORD) as signed:
        client = signed["reviewer"]
        found = client.get(f"/review/hits/{data.software_hit}/software-files").json()
    assert found["work"]["path"] == "lib/app.so" and found["work"]["size"] is None
    assert found["work"]["sha256"] == sha256(data.work_member).hexdigest()
    assert "Sizes were not recorded" in found["work_note"]
    assert 0 < found["distance"] <= found["threshold"]


def test_the_works_api_does_not_offer_frames_as_a_preview(data: PreviewData,
                                                          clients: dict[str, TestClient]) -> None:
    hit = clients["reviewer"].get(f"/api/v1/hits/{data.video_hit}").json()
    work = clients["reviewer"].get(f"/api/v1/works/{hit['work_id']}").json()
    assert work["kind"] == "video" and work["has_preview"] is False
    assert clients["reviewer"].get(f"/api/v1/works/{hit['work_id']}/preview").status_code == 404


def test_a_lost_contact_sheet_is_named_and_the_copy_still_shown(data: PreviewData,
                                                                 tmp_path: Path) -> None:
    settings = data.copy_to(tmp_path)
    store = EvidenceStore(settings.evidence_dir)
    db = open_database(settings)
    try:
        with db.session() as session:
            lanterns = session.query(Work).filter(Work.title == "Lanterns").one()
            frames = video_previews.stored_key_frames(store, lanterns)
            assert frames is not None
            store.path_for(frames.sheet_sha256, ".jpg").unlink()
    finally:
        db.dispose()
    with signed_in_clients(settings, ("reviewer",), PASSWORD) as signed:
        client = signed["reviewer"]
        found = strips(client, data.video_hit)
    assert found["work"] == [] and "stored key frames cannot be read" in found["work_note"]
    assert len(found["copy"]) >= 6 and all(f["src"] for f in found["copy"])
