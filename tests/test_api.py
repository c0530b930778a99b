"""The REST API as its users see it: works, hits, review, cases, campaigns, allowlist, tips.

One crawled home (two rights holders, staff) is built per module; tests that change data
work on their own copy of it.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import func, select

from casefiles.bundle import verify_bundle
from matching.stages import registration_fingerprints
from swordnet.core.models import (
    AllowlistEntry,
    CampaignTarget,
    Case,
    Hit,
    HitDecision,
    Tip,
    Work,
)
from swordnet.core.signing import load_or_create_key
from swordnet.core.timeutil import utcnow
from swordnet.demo.samples import sample_text
from swordnet.watch.targets import add_target
from swordnet.web import api_works
from swordnet.works.previews import NoPreview, thumbnail_png
from tests.api_client import Api, one_line, open_api
from tests.conftest import BACKENDS
from tests.images import jpeg_bytes, truncated_jpeg
from tests.web_data import HOLDER_A, HOLDER_B, WebData, web_data_on


@pytest.fixture(scope="module", params=BACKENDS)
def web_data(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebData]:
    with web_data_on(request.param, tmp_path_factory) as data:
        yield data


@pytest.fixture(scope="module")
def reader(web_data: WebData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API on a copy that the tests using it only read."""
    with open_api(web_data.copy_to(tmp_path_factory.mktemp("read")), web_data.tokens) as api:
        yield api


@pytest.fixture
def api(web_data: WebData, tmp_path: Path) -> Iterator[Api]:
    """The API on a private copy, for a test that changes data."""
    with web_data.copied(tmp_path) as settings, open_api(settings, web_data.tokens) as api:
        yield api


def work_ids(api: Api, holder: str) -> list[int]:
    return [w["id"] for w in api.ok("reviewer", "/works", holder=holder, sort="id")["items"]]


def pending_hits(api: Api, holder: str) -> list[dict]:
    ids = set(work_ids(api, holder))
    return [h for h in api.ok("reviewer", "/hits", status="pending", limit=500, sort="id")["items"]
            if h["work_id"] in ids]


def upload(api: Api, user: str, content: bytes, name: str, **form: object) -> object:
    return api.post(user, "/works", files={"file": (name, content)}, data=form)


def fingerprint_line(seed: int, title: str, kind: str = "image") -> dict:
    return {"title": title, "kind": kind, "fingerprints": [
        {"algorithm": a, "variant": v, "value": value}
        for a, v, value in registration_fingerprints(kind, jpeg_bytes(seed))]}


def count_works(api: Api) -> int:
    with api.db.session() as session:
        return session.scalar(select(func.count()).select_from(Work)) or 0


# --- works --------------------------------------------------------------------------------------

def test_uploaded_work_is_listed_shown_and_previewed(api: Api) -> None:
    picture = jpeg_bytes(21)
    response = upload(api, "north", picture, "lighthouse.jpg", title="Lighthouse Poster",
                      aliases=["Le Phare", "Leuchtturm"], registration_number="VA-77")
    assert response.status_code == 201, response.text
    created = response.json()
    work = created["work"]
    assert created["created"] is True
    assert (work["holder"], work["kind"], work["aliases"]) == (HOLDER_A, "image",
                                                               ["Le Phare", "Leuchtturm"])
    assert work["registration_number"] == "VA-77" and work["source_name"] == "lighthouse.jpg"
    assert {(f["algorithm"], f["variant"]) for f in work["fingerprints"]} >= {
        ("phash", "original"), ("phash", "mirrored"), ("orb", "original"), ("link", "names")}
    assert "value" not in json.dumps(work["fingerprints"])

    found = api.ok("north", "/works", title="LIGHTHOUSE")
    assert [w["id"] for w in found["items"]] == [work["id"]] and found["total"] == 1
    assert api.ok("north", f"/works/{work['id']}")["title"] == "Lighthouse Poster"

    preview = api.get("north", f"/works/{work['id']}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(preview.content)) as image:
        assert image.format == "JPEG" and max(image.size) <= 640

    again = upload(api, "north", picture, "copy.jpg", title="Same picture again")
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["work"]["id"] == work["id"]


def test_a_transparent_picture_keeps_its_transparency_in_a_png_preview(api: Api) -> None:
    picture = Image.open(io.BytesIO(jpeg_bytes(seed=31))).convert("RGBA")
    picture.putalpha(Image.linear_gradient("L").resize(picture.size))
    png = io.BytesIO()
    picture.save(png, "PNG")
    response = upload(api, "north", png.getvalue(), "logo.png", title="Fading Logo")
    assert response.status_code == 201, response.text
    preview = api.get("north", f"/works/{response.json()['work']['id']}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(preview.content)) as image:
        low, high = image.getextrema()[3]
        assert image.mode == "RGBA" and low < 50 and high > 200  # see-through to opaque


def test_text_work_preview_is_plain_text(api: Api) -> None:
    path, title = sample_text()
    response = upload(api, "reviewer", path.read_bytes(), path.name, title=title, kind="text",
                      holder=HOLDER_B)
    assert response.status_code == 201, response.text
    work = response.json()["work"]
    assert work["holder"] == HOLDER_B and work["has_preview"]
    preview = api.get("harbour", f"/works/{work['id']}/preview")
    assert preview.headers["content-type"] == "text/plain; charset=utf-8"
    first_words = " ".join(path.read_text(encoding="utf-8").split()[:3])
    assert first_words in " ".join(preview.text.split())
    assert api.get("north", f"/works/{work['id']}/preview").status_code == 404


def test_who_the_work_belongs_to(api: Api) -> None:
    staff_without = upload(api, "reviewer", jpeg_bytes(22), "a.jpg", title="Orphan")
    assert staff_without.status_code == 422 and "holder" in one_line(staff_without)
    other = upload(api, "north", jpeg_bytes(22), "a.jpg", title="Not mine", holder=HOLDER_B)
    assert other.status_code == 403 and "holder" in one_line(other)
    own = upload(api, "north", jpeg_bytes(22), "a.jpg", title="Mine", holder=HOLDER_A)
    assert own.status_code == 201 and own.json()["work"]["holder"] == HOLDER_A


def test_bad_uploads_are_refused_naming_the_input(api: Api,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    before = count_works(api)
    junk = upload(api, "north", b"MZ\x90\x00 this is no picture at all", "junk.png", title="J")
    assert junk.status_code == 422 and one_line(junk).startswith("junk.png: ")
    truncated = upload(api, "north", truncated_jpeg(), "half.jpg", title="Half")
    assert truncated.status_code == 422 and "half.jpg" in one_line(truncated)
    kind = upload(api, "north", jpeg_bytes(23), "a.jpg", title="K", kind="sculpture")
    assert kind.status_code == 422 and "'sculpture'" in one_line(kind)
    audio = upload(api, "north", jpeg_bytes(23), "a.jpg", title="K", kind="audio")
    assert audio.status_code == 422 and one_line(audio).startswith("a.jpg: ")
    empty_title = upload(api, "north", jpeg_bytes(23), "a.jpg", title="   ")
    assert empty_title.status_code == 422 and "title" in one_line(empty_title)

    picture = jpeg_bytes(24)
    # Over the image cap but under every other kind's: refused by the file's size.
    monkeypatch.setattr(api_works, "max_content_bytes",
                        lambda kind: 1000 if kind == "image" else 10_000_000)
    over = upload(api, "north", picture, "big.jpg", title="Big")
    assert over.status_code == 413
    assert one_line(over).startswith("big.jpg: the file is") and "image work" in over.text
    # Over every kind's cap: refused by its Content-Length, before the body is parsed.
    monkeypatch.setattr(api_works, "max_content_bytes", lambda kind: 1000)
    huge = upload(api, "north", picture + bytes(200_000), "huge.jpg", title="Huge")
    assert huge.status_code == 413 and "at most" in one_line(huge)
    assert count_works(api) == before


def test_precomputed_work(api: Api) -> None:
    line = fingerprint_line(31, "Harbour Lights")
    response = api.post("north", "/works/precomputed", json=line)
    assert response.status_code == 201, response.text
    work = response.json()["work"]
    assert work["holder"] == HOLDER_A and work["source_name"] == "api:1"
    assert api.post("north", "/works/precomputed", json=line).json()["created"] is False

    staff = api.post("reviewer", "/works/precomputed", params={"holder": HOLDER_B},
                     json=fingerprint_line(32, "Dock Cranes"))
    assert staff.status_code == 201 and staff.json()["work"]["holder"] == HOLDER_B

    bad = dict(line, fingerprints=[{"algorithm": "phash", "value": "zz"}])
    refused = api.post("north", "/works/precomputed", json=bad)
    assert refused.status_code == 422 and "fingerprints[0]" in one_line(refused)
    wrong_kind = dict(line, kind="text")
    refused = api.post("north", "/works/precomputed", json=wrong_kind)
    assert refused.status_code == 422 and "'phash'" in one_line(refused)
    assert api.post("north", "/works/precomputed",
                    json=dict(line, colour="red")).status_code == 422


def test_bulk_jsonl_import_reports_every_bad_line_and_stores_nothing(api: Api) -> None:
    good = [json.dumps(fingerprint_line(40 + n, f"Still {n}")) for n in range(3)]
    bad_algorithm = json.dumps({**fingerprint_line(45, "Still X"), "fingerprints": [
        {"algorithm": "md5", "value": "00"}]})
    text = "\n".join([good[0], "{not json", good[1], "", bad_algorithm, good[2]]) + "\n"
    before = count_works(api)
    response = api.post("north", "/works/import",
                        files={"file": ("stills.jsonl", text.encode())})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "stills.jsonl: 2 bad lines; nothing registered"
    assert [e.split(":")[0] for e in body["errors"]] == ["line 2", "line 5"]
    assert "'md5'" in body["errors"][1]
    assert count_works(api) == before

    fixed = "\n".join(good) + "\n"
    imported = api.post("north", "/works/import", files={"file": ("stills.jsonl", fixed)})
    assert imported.status_code == 200, imported.text
    assert (imported.json()["created"], imported.json()["existing"]) == (3, 0)
    again = api.post("north", "/works/import", files={"file": ("stills.jsonl", fixed)})
    assert (again.json()["created"], again.json()["existing"]) == (0, 3)
    assert again.json()["work_ids"] == imported.json()["work_ids"]
    assert count_works(api) == before + 3
    titles = {w["title"] for w in api.ok("north", "/works", title="Still ")["items"]}
    assert titles == {"Still 0", "Still 1", "Still 2"}


def test_bulk_csv_import(api: Api) -> None:
    one, two = fingerprint_line(50, "Quay"), fingerprint_line(51, "Pier, East")
    rows = [["title", "kind", "aliases", "registration_number", "algorithm", "variant",
             "value"]]
    for line, aliases in ((one, "Kai|Quai"), (two, "")):
        rows += [[line["title"], "image", aliases, "R-1", fp["algorithm"], fp["variant"],
                  fp["value"]] for fp in line["fingerprints"]]

    def as_csv(table: list[list[str]]) -> bytes:
        out = io.StringIO()
        csv.writer(out).writerows(table)
        return out.getvalue().encode()

    broken = [*rows, ["Quay", "image", "Kai|Quai", "R-1", "phash", "original", "f" * 16],
              ["Bad", "image", "", "", "sha256", "original", "ab"], ["too", "few"]]
    before = count_works(api)
    response = api.post("north", "/works/import", files={"file": ("works.csv", as_csv(broken))})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    first = len(rows) + 1
    assert [e.split(":")[0] for e in errors] == [f"line {first}", f"line {first + 1}",
                                                 f"line {first + 2}"]
    assert "already has a phash original fingerprint on line 2" in errors[0]
    assert count_works(api) == before

    imported = api.post("north", "/works/import", files={"file": ("works.csv", as_csv(rows))})
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 2
    quay = api.ok("north", f"/works/{imported.json()['work_ids'][0]}")
    assert (quay["title"], quay["aliases"], quay["registration_number"]) == (
        "Quay", ["Kai", "Quai"], "R-1")
    again = api.post("north", "/works/import", files={"file": ("works.csv", as_csv(rows))},
                     data={"format": "csv"})
    assert again.json()["existing"] == 2 and count_works(api) == before + 2
    header_only = api.post("north", "/works/import",
                           files={"file": ("x.csv", b"title,kind,value\n")})
    assert header_only.status_code == 422 and "algorithm" in header_only.json()["errors"][0]


def test_delete_work(api: Api) -> None:
    north_works = work_ids(api, HOLDER_A)
    kept, deleted = north_works[0], north_works[1]
    [hit] = [h for h in pending_hits(api, HOLDER_A) if h["work_id"] == kept][:1]
    assert api.post("reviewer", f"/hits/{hit['id']}/confirm").status_code == 200
    refused = api.delete("north", f"/works/{kept}")
    assert refused.status_code == 409 and "hit kept as evidence" in one_line(refused)
    assert api.get("north", f"/works/{kept}").status_code == 200

    rejected = next(h for h in pending_hits(api, HOLDER_A) if h["work_id"] == deleted)
    assert api.post("reviewer", f"/hits/{rejected['id']}/reject").status_code == 200
    assert api.post("north", "/allowlist", json={"domain": "licensed.example",
                                                 "work_id": deleted}).status_code == 201
    tip = api.post("north", "/tips", json={"url": "http://127.0.0.1:9/t", "work_id": deleted})
    assert api.delete("harbour", f"/works/{deleted}").status_code == 404
    assert api.delete("north", f"/works/{deleted}").status_code == 204
    assert api.get("north", f"/works/{deleted}").status_code == 404
    assert api.ok("reviewer", "/hits", work_id=deleted)["total"] == 0
    with api.db.session() as session:
        assert session.scalar(select(func.count()).select_from(HitDecision)
                              .where(HitDecision.hit_id == rejected["id"])) == 0
        assert session.scalar(select(func.count()).select_from(AllowlistEntry)
                              .where(AllowlistEntry.work_id == deleted)) == 0
        assert session.get(Tip, tip.json()["id"]).work_id is None
    assert api.delete("north", f"/works/{deleted}").status_code == 404


# --- hits and review ------------------------------------------------------------------------------

def test_hit_filters_and_sorting(reader: Api) -> None:
    everything = reader.ok("reviewer", "/hits", limit=500)
    assert everything["total"] == len(everything["items"]) > 10
    work = everything["items"][0]["work_id"]
    by_work = reader.ok("reviewer", "/hits", work_id=work, limit=500)
    assert by_work["total"] > 0 and {h["work_id"] for h in by_work["items"]} == {work}
    site = everything["items"][0]["site"]
    assert reader.ok("reviewer", "/hits", site=site)["total"] == everything["total"]
    assert reader.ok("reviewer", "/hits", site="elsewhere.example")["total"] == 0
    phash = reader.ok("reviewer", "/hits", algorithm="phash", max_score=4, limit=500)
    assert phash["items"] and all(h["algorithm"] == "phash" and h["score"] <= 4
                                  for h in phash["items"])
    by_score = [h["score"] for h in reader.ok("reviewer", "/hits", sort="score",
                                              limit=500)["items"]]
    assert by_score == sorted(by_score)
    by_id = [h["id"] for h in reader.ok("reviewer", "/hits", sort="-id", limit=500)["items"]]
    assert by_id == sorted(by_id, reverse=True)
    assert reader.ok("reviewer", "/hits", status="confirmed")["total"] == 0
    bad = reader.get("reviewer", "/hits", params={"status": "maybe"})
    assert bad.status_code == 422


def test_pagination(reader: Api) -> None:
    total = reader.ok("reviewer", "/hits")["total"]
    seen: list[int] = []
    for offset in range(0, total, 7):
        page = reader.ok("reviewer", "/hits", limit=7, offset=offset, sort="id")
        assert (page["total"], page["limit"], page["offset"]) == (total, 7, offset)
        assert len(page["items"]) == min(7, total - offset)
        seen += [h["id"] for h in page["items"]]
    assert len(seen) == len(set(seen)) == total
    assert reader.ok("reviewer", "/hits", offset=total)["items"] == []
    for path in ("/hits", "/works", "/cases", "/tips", "/allowlist", "/campaigns"):
        assert reader.get("reviewer", path, params={"limit": 0}).status_code == 422
        assert reader.get("reviewer", path, params={"limit": 501}).status_code == 422
        assert reader.get("reviewer", path, params={"offset": -1}).status_code == 422
        assert reader.ok("reviewer", path, limit=1)["limit"] == 1
    works = reader.ok("north", "/works", limit=2)
    assert works["total"] == 3 and len(works["items"]) == 2


def test_confirm_reject_undo_and_bulk(api: Api) -> None:
    hits = pending_hits(api, HOLDER_A) + pending_hits(api, HOLDER_B)
    first, second, *rest = hits
    confirmed = api.post("reviewer", f"/hits/{first['id']}/confirm")
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed" and confirmed.json()["case_id"]
    assert confirmed.json()["reviewer"] == "reviewer"
    twice = api.post("reviewer", f"/hits/{first['id']}/confirm")
    assert twice.status_code == 409 and "already confirmed" in one_line(twice)
    undone = api.post("reviewer", f"/hits/{first['id']}/undo")
    assert undone.json()["status"] == "pending" and undone.json()["case_id"] is None
    assert api.post("reviewer", f"/hits/{second['id']}/reject").json()["status"] == "rejected"

    ids = [h["id"] for h in rest[:3]]
    bulk = api.post("reviewer", "/hits/bulk", json={"action": "confirm",
                                                    "ids": [*ids, second["id"], 99999]})
    assert bulk.status_code == 200
    assert bulk.json()["decided"] == ids
    assert set(bulk.json()["errors"]) == {str(second["id"]), "99999"}
    assert "already rejected" in bulk.json()["errors"][str(second["id"])]
    assert api.ok("reviewer", "/hits", status="confirmed")["total"] == 3
    cases = api.ok("reviewer", "/cases")
    assert cases["total"] == 1 and cases["items"][0]["hits"] == 3
    assert api.post("north", f"/hits/{rest[4]['id']}/confirm").status_code == 403


# --- cases ----------------------------------------------------------------------------------------

def test_case_transition_and_evidence_bundle(api: Api, tmp_path: Path) -> None:
    for hit in pending_hits(api, HOLDER_A)[:2]:
        api.post("reviewer", f"/hits/{hit['id']}/confirm")
    [case] = api.ok("reviewer", "/cases")["items"]
    assert case["status"] == "open" and case["next"] == ["closed"]

    refused = api.post("reviewer", f"/cases/{case['id']}/transition",
                       json={"to": "removed", "reason": "gone"})
    assert refused.status_code == 409 and "allowed next: notice_sent, closed" in one_line(refused)
    no_reason = api.post("reviewer", f"/cases/{case['id']}/transition",
                         json={"to": "closed", "reason": "  "})
    assert no_reason.status_code == 422 and "reason" in one_line(no_reason)
    by_hand = api.post("reviewer", f"/cases/{case['id']}/transition",
                       json={"to": "notice_sent", "reason": "mailed abuse@"})
    assert by_hand.status_code == 409
    assert "becomes notice_sent only when a notice is sent" in one_line(by_hand)
    holder_try = api.post("north", f"/cases/{case['id']}/notices",
                          json={"recipient": "abuse@host.example"})
    assert holder_try.status_code == 403
    notice = api.post("reviewer", f"/cases/{case['id']}/notices",
                      json={"recipient": "abuse@host.example"})
    assert notice.status_code == 201, notice.text
    assert notice.json()["status"] == "sent" and notice.json()["delivery"] == "manual"
    assert len(notice.json()["urls"]) == 2
    no_mail = api.post("reviewer", f"/cases/{case['id']}/notices",
                       json={"recipient": "abuse@host.example", "email": True})
    assert no_mail.status_code == 503 and "SWORDNET_SMTP_HOST" in one_line(no_mail)
    moved = api.post("reviewer", f"/cases/{case['id']}/transition",
                     json={"to": "no_response", "reason": "no answer", "evidence": ["x:1"]})
    assert moved.status_code == 200, moved.text
    detail = moved.json()
    assert detail["status"] == "no_response" and detail["custody_log"] == "intact"
    assert [e["type"] for e in detail["events"]][-1] == "status_changed"
    assert detail["events"][-1]["payload"]["evidence"] == {"references": ["x:1"]}
    assert len(detail["hit_list"]) == 2
    assert api.ok("reviewer", "/cases", status="no_response")["total"] == 1
    assert api.ok("reviewer", "/cases", status="open")["total"] == 0
    assert api.ok("reviewer", "/cases", site=case["site"])["total"] == 1
    bad_status = api.get("reviewer", "/cases", params={"status": "lost"})
    assert bad_status.status_code == 400 and "'lost'" in one_line(bad_status)

    bundle = api.post("reviewer", f"/cases/{case['id']}/bundle")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/zip"
    assert bundle.headers["content-disposition"] == (
        f'attachment; filename="case-{case["id"]}-evidence.zip"')
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle.content)
    key = load_or_create_key(api.settings.home).public_key()
    result = verify_bundle(path, key)
    assert result.problems == [] and result.case_id == case["id"]
    with zipfile.ZipFile(path) as archive:
        assert any(name.startswith("warc/") for name in archive.namelist())
    events = api.ok("reviewer", f"/cases/{case['id']}")["events"]
    assert events[-1]["type"] == "bundle_exported"
    assert events[-1]["payload"]["size"] == len(bundle.content)


# --- campaigns ------------------------------------------------------------------------------------

def test_campaign_lifecycle_and_exports(api: Api) -> None:
    with api.db.session() as session:
        target = add_target(session, "http://127.0.0.1:9/", depth=1, max_pages=10,
                            every_seconds=None).id
    start, end = utcnow() - timedelta(days=1), utcnow() + timedelta(days=30)
    body = {"name": "Winter push", "starts_at": start.isoformat(), "ends_at": end.isoformat(),
            "target_ids": [target], "every_seconds": 1800, "focus": "films"}
    created = api.post("reviewer", "/campaigns", json=body)
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert (campaign["state"], campaign["targets"]) == ("running", [target])
    duplicate = api.post("reviewer", "/campaigns", json=dict(body, name="winter  PUSH"))
    assert duplicate.status_code == 422 and "already exists" in one_line(duplicate)
    backwards = api.post("reviewer", "/campaigns", json=dict(body, name="B", ends_at=start
                                                             .isoformat()))
    assert backwards.status_code == 422 and "must be after" in one_line(backwards)
    unknown = api.post("reviewer", "/campaigns", json=dict(body, name="C", target_ids=[4242]))
    assert unknown.status_code == 422 and "4242" in one_line(unknown)
    assert api.ok("reviewer", "/campaigns")["total"] == 1

    chosen = pending_hits(api, HOLDER_A)[:2] + pending_hits(api, HOLDER_B)[:1]
    for hit in chosen:
        api.post("reviewer", f"/hits/{hit['id']}/confirm")
    with api.db.session() as session:  # the campaign also aims at the site of those hits
        case = session.scalars(select(Case)).one()
        target = add_target(session, f"http://{case.site.domain}/", depth=1, max_pages=10,
                            every_seconds=None)
        session.add(CampaignTarget(campaign_id=campaign["id"], target_id=target.id))
    shown = api.ok("reviewer", f"/campaigns/{campaign['id']}")
    assert shown["report"]["cases_opened"] == 1 and shown["recent_runs"] == []
    assert shown["report"]["infringing_urls_confirmed"] == len(chosen)
    # the hits and cases it counts, whichever run found them, are what the lists show
    listed = api.ok("reviewer", "/hits", campaign_id=campaign["id"], status="confirmed")
    assert listed["total"] == len(chosen)
    assert api.ok("reviewer", "/cases", campaign_id=campaign["id"])["total"] == 1
    assert api.ok("reviewer", "/cases", campaign_id=campaign["id"] + 1)["total"] == 0

    report = api.get("reviewer", f"/campaigns/{campaign['id']}/report")
    assert report.headers["content-disposition"].startswith("attachment;")
    assert report.json()["campaign"] == "Winter push"
    site = api.ok("reviewer", "/cases")["items"][0]["site"]
    csv_list = api.get("reviewer", f"/campaigns/{campaign['id']}/shutdown-list")
    assert csv_list.status_code == 200
    assert csv_list.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_list.headers["content-disposition"] == (
        f'attachment; filename="campaign-{campaign["id"]}-shutdown-list.csv"')
    rows = list(csv.DictReader(io.StringIO(csv_list.content.decode("utf-8-sig"))))
    assert [row["domain"] for row in rows] == [site] and rows[0]["infringing_urls"] == "3"
    as_json = api.get("reviewer", f"/campaigns/{campaign['id']}/shutdown-list",
                      params={"format": "json"})
    assert json.loads(as_json.content)[0]["works"] == len({h["work_id"] for h in chosen})
    xlsx = api.get("reviewer", f"/campaigns/{campaign['id']}/shutdown-list",
                   params={"format": "xlsx"})
    assert xlsx.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet["A2"].value == site
    assert api.get("reviewer", f"/campaigns/{campaign['id']}/shutdown-list",
                   params={"format": "pdf"}).status_code == 422

    # An allowlist entry leaves out only its holder's hits: the site stays on the list for
    # the other holder's hit, and leaves it once that holder licenses the site too.
    def listed() -> list[tuple[str, int]]:
        rows = json.loads(api.get("reviewer", f"/campaigns/{campaign['id']}/shutdown-list",
                                  params={"format": "json"}).content)
        return [(row["domain"], row["infringing_urls"]) for row in rows]

    assert api.post("north", "/allowlist", json={"domain": site}).status_code == 201
    assert listed() == [(site, 1)]
    assert api.post("harbour", "/allowlist", json={"domain": site}).status_code == 201
    assert listed() == []

    stopped = api.post("reviewer", f"/campaigns/{campaign['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["state"] == "stopped"
    again = api.post("reviewer", f"/campaigns/{campaign['id']}/stop")
    assert again.status_code == 409 and "already stopped" in one_line(again)
    assert api.get("reviewer", "/campaigns/999").status_code == 404


# --- allowlist and tips -------------------------------------------------------------------------

def test_allowlist(api: Api) -> None:
    added = api.post("north", "/allowlist", json={"domain": "Licensed.Example"})
    assert added.status_code == 201
    assert (added.json()["domain"], added.json()["holder"]) == ("licensed.example", HOLDER_A)
    duplicate = api.post("north", "/allowlist", json={"domain": "licensed.example"})
    assert duplicate.status_code == 409 and "already" in one_line(duplicate)
    bad = api.post("north", "/allowlist", json={"domain": "https://x.example/"})
    assert bad.status_code == 422 and one_line(bad).startswith("domain: not a host name")
    own_work = work_ids(api, HOLDER_A)[0]
    one = api.post("north", "/allowlist", json={"domain": "licensed.example",
                                                "work_id": own_work})
    assert one.status_code == 201 and one.json()["work_id"] == own_work
    staff = api.post("reviewer", "/allowlist", json={"domain": "partner.example",
                                                     "holder": HOLDER_B})
    assert staff.status_code == 201 and staff.json()["holder"] == HOLDER_B
    nobody = api.post("reviewer", "/allowlist", json={"domain": "p.example", "holder": "Nobody"})
    assert nobody.status_code == 422 and "'Nobody'" in one_line(nobody)

    mine = api.ok("north", "/allowlist")
    assert mine["total"] == 2 and {e["domain"] for e in mine["items"]} == {"licensed.example"}
    assert api.ok("reviewer", "/allowlist")["total"] == 3
    assert api.ok("north", "/allowlist", work_id=own_work)["total"] == 1
    assert api.delete("north", f"/allowlist/{added.json()['id']}").status_code == 204
    assert api.ok("north", "/allowlist")["total"] == 1


def test_tips(api: Api) -> None:
    own_work = work_ids(api, HOLDER_A)[0]
    tip = api.post("north", "/tips", json={"url": "HTTP://Pirate.Example/film?id=7",
                                           "work_id": own_work})
    assert tip.status_code == 201, tip.text
    created = tip.json()
    assert created["url"] == "http://pirate.example/film?id=7"
    assert (created["status"], created["reporter"], created["work_id"]) == ("queued", "north",
                                                                            own_work)
    bad = api.post("north", "/tips", json={"url": "ftp://pirate.example/", "work_id": own_work})
    assert bad.status_code == 422 and one_line(bad).startswith("url: not an http(s) URL")
    no_work = api.post("north", "/tips", json={"url": "http://pirate.example/"})
    assert no_work.status_code == 422 and "work_id" in one_line(no_work)
    staff = api.post("reviewer", "/tips", json={"url": "http://pirate.example/x",
                                                "reporter": "anonymous caller"})
    assert staff.status_code == 201 and staff.json()["reporter"] == "anonymous caller"

    assert api.ok("north", "/tips")["total"] == 1
    assert api.ok("reviewer", "/tips")["total"] == 2
    assert api.ok("reviewer", "/tips", status="queued")["total"] == 2
    assert api.ok("north", f"/tips/{created['id']}")["id"] == created["id"]
    assert api.get("north", f"/tips/{staff.json()['id']}").status_code == 404


def test_errors_are_one_line_and_unknown_ids_404(reader: Api) -> None:
    for path in ("/works/9999", "/hits/9999", "/cases/9999", "/tips/9999", "/allowlist/9999",
                 "/campaigns/9999", "/works/9999/preview"):
        response = reader.get("reviewer", path)
        assert response.status_code == 404 and "9999" in one_line(response), path
    too_small = reader.get("reviewer", "/works/0")
    assert too_small.status_code == 422
    assert one_line(too_small).startswith("path parameter work_id: Input should be greater")
    assert reader.get("reviewer", f"/hits/{2**40}").status_code == 422
    missing = reader.post("reviewer", "/campaigns", json={"name": "x"})
    assert missing.status_code == 422
    assert "field starts_at: Field required; field ends_at: Field required" in one_line(missing)
    with reader.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Hit)) > 0


def test_deeply_nested_json_is_refused_not_a_crash(api: Api) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    line = {"title": "Deep", "kind": "text", "fingerprints": [{"algorithm": "text",
                                                              "value": deep}]}
    response = api.post("north", "/works/precomputed", json=line)
    assert response.status_code == 422 and "nested too deeply" in one_line(response)
    bulk = api.post("north", "/works/import", files={"file": ("deep.jsonl", deep.encode())})
    assert bulk.status_code == 422
    assert bulk.json()["errors"] == ["line 1: not JSON: nested too deeply"]


def test_nul_characters_in_text_are_refused_on_every_backend(api: Api) -> None:
    """PostgreSQL cannot store a NUL character; SQLite could, but refuses it the same way."""
    before = api.ok("reviewer", "/tips")["total"]
    tip = api.post("reviewer", "/tips", json={"url": "http://tip.example/a", "reporter": "a\x00b"})
    assert tip.status_code == 422 and one_line(tip) == "reporter must not contain NUL characters"
    work = upload(api, "north", jpeg_bytes(23), "a.jpg", title="Bad\x00title", kind="image")
    assert work.status_code == 422 and one_line(work) == "title must not contain NUL characters"
    assert api.ok("reviewer", "/tips")["total"] == before
    assert "Bad" not in str(api.ok("north", "/works", limit=500))


def raw_json(value: object) -> dict[str, object]:
    """A JSON request body written with ASCII escapes, as a client sends ``"\\ud800"``."""
    return {"content": json.dumps(value).encode(),
            "headers": {"Content-Type": "application/json"}}


def test_lone_surrogates_are_refused_at_every_api_boundary(api: Api) -> None:
    """A lone surrogate stored in a work broke every listing and page that showed it."""
    before = count_works(api)
    line = {**fingerprint_line(31, "Night Still"), "aliases": ["ok", "\ud800"]}
    bulk = api.post("north", "/works/import",
                    files={"file": ("w.jsonl", json.dumps(line).encode())})
    assert bulk.status_code == 422
    assert bulk.json()["errors"] == ['line 1: "aliases" must not contain lone surrogates (text '
                                     'that is not valid Unicode)']
    one = api.post("north", "/works/precomputed",
                   **raw_json({**fingerprint_line(32, "T"), "registration_number": "\udfff"}))
    assert one.status_code == 422 and "registration_number" in one_line(one)
    tip = api.post("reviewer", "/tips", **raw_json({"url": "http://tip.example/b",
                                                    "reporter": "x\ud83d"}))
    assert tip.status_code == 422 and "reporter" in one_line(tip)
    assert count_works(api) == before
    listing = api.get("north", "/works", params={"limit": 500})
    assert listing.status_code == 200 and "Night Still" not in listing.text


def test_preview_errors_show_no_internals() -> None:
    """The copy.png error said "cannot identify image file <_io.BytesIO object at 0x...>"."""
    with pytest.raises(NoPreview) as refused:
        thumbnail_png(b"<!doctype html><p>a page, not a picture</p>")
    assert str(refused.value) == "not a readable image (not a recognised image format)"
