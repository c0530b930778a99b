"""Registration metadata: a work's category and what its copyright registration says, set
from the CLI, imports, the API and the console, and carried into review, cases, notices and
evidence bundles. Bad input is one line naming the field, and stores nothing."""

from __future__ import annotations

import json
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from casefiles.bundle import MANIFEST, export_bundle
from casefiles.notices import record_notice
from casefiles.review import confirm_hit
from swordnet.cli.util import console as cli_console
from swordnet.core.categories import category_label, resolve_kind
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Case, Hit, RightsHolder, Work
from swordnet.core.signing import load_or_create_key
from swordnet.core.timeutil import utcnow
from swordnet.demo.samples import sample_files
from swordnet.evidence.store import EvidenceStore
from swordnet.web.app import create_app
from swordnet.works.metadata import MetadataError, parse_metadata
from swordnet.works.registry import edit_registration
from tests.api_client import open_api
from tests.conftest import run_cli
from tests.images import jpeg_bytes
from tests.test_console import form_token, sign_in
from tests.web_data import HOLDER_A, HOLDER_B, WebData, shared_web_data

# A week ahead, not tomorrow: the constant is made when the tests are collected, and a run
# that crosses midnight (UTC) would find "tomorrow" no longer in the future.
NEXT_WEEK = (utcnow().date() + timedelta(days=7)).isoformat()
REGISTRATION = {"registration_number": "VA 2-345-678", "registration_date": "2024-03-05",
                "registering_authority": "U.S. Copyright Office", "author": "Mei Tanaka",
                "first_published": "2023-11-20", "licence_territories": ["US", "JP"]}


# --- the kind words --------------------------------------------------------------------------

@pytest.mark.parametrize(("word", "kind", "category"), [
    ("music", "audio", "music"), ("audiovisual", "video", "audiovisual"),
    ("film", "video", "film"), ("photography", "image", "photography"),
    ("fine_art", "image", "fine_art"), ("Fine art", "image", "fine_art"),
    ("text", "text", "text"), ("software", "software", "software"),
    ("image", "image", "photography"), ("video", "video", "audiovisual"),
    ("audio", "audio", "music"),
])
def test_every_category_and_media_kind_maps_to_both(word: str, kind: str,
                                                    category: str) -> None:
    assert resolve_kind(word) == (kind, category)


def test_unknown_kind_and_bad_fields_are_one_line_naming_them() -> None:
    with pytest.raises(ValueError, match="kind 'sculpture' is not one of text, music"):
        resolve_kind("sculpture")
    cases = {
        "registration_date": ("2024-13-01", "registration date '2024-13-01' is not a date"),
        "first_published": (NEXT_WEEK, f"first published {NEXT_WEEK} is in the future"),
        "licence_territories": ("US, ZZ", "licence territories: 'ZZ' is not an ISO 3166-1"),
        "author": ("x" * 501, "author is 501 characters; at most 500"),
        "registering_authority": ("Office\x00", "registering authority must not contain NUL"),
    }
    for field, (value, message) in cases.items():
        with pytest.raises(MetadataError, match=message) as raised:
            parse_metadata({field: value})
        assert raised.value.field == field and "\n" not in str(raised.value)
    assert parse_metadata({"licence_territories": "worldwide"}) == {
        "licence_territories": ["worldwide"]}
    with pytest.raises(MetadataError, match="cannot be given with country codes"):
        parse_metadata({"licence_territories": "worldwide, CN"})
    assert category_label("fine_art") == "fine art"


# --- the command line ------------------------------------------------------------------------

def cli_works() -> list[dict[str, Any]]:
    result = run_cli("works", "list", "--json")
    assert result.exit_code == 0, result.output
    return list(json.loads(result.output))


def test_works_add_with_every_field_and_list_shows_them(home: Settings,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_console(), "width", 250)  # a wide terminal: the table unwrapped
    path, title = sample_files()[0]
    result = run_cli("works", "add", str(path), "--title", title, "--holder", "Studio A",
                     "--kind", "fine_art", "--registration-number", "VA 2-345-678",
                     "--registration-date", "2024-03-05", "--authority",
                     "U.S. Copyright Office", "--author", "Mei Tanaka", "--first-published",
                     "2023-11-20", "--territories", "us, jp")
    assert result.exit_code == 0, result.output
    assert "(image, fine art, 4 fingerprints)" in result.output
    [work] = cli_works()
    assert {k: work[k] for k in REGISTRATION} == REGISTRATION
    assert (work["kind"], work["category"], work["category_label"]) == (
        "image", "fine_art", "fine art")
    table = run_cli("works", "list").output
    for shown in ("fine art", "VA 2-345-678", "U.S. Copyright Office", "Mei Tanaka", "US JP"):
        assert shown in table

    edited = run_cli("works", "edit", "1", "--kind", "photography", "--author", "",
                     "--territories", "worldwide")
    assert edited.exit_code == 0, edited.output
    [work] = cli_works()
    assert (work["category"], work["author"], work["licence_territories"]) == (
        "photography", None, ["worldwide"])
    wrong_kind = run_cli("works", "edit", "1", "--kind", "film")
    assert wrong_kind.exit_code == 1
    assert "work 1 is fingerprinted as image (its category can be photography or fine_art)" \
        in wrong_kind.output


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--registration-date", "05/03/2024", "registration date '05/03/2024' is not a date"),
    ("--first-published", NEXT_WEEK, f"first published {NEXT_WEEK} is in the future"),
    ("--territories", "US,EU", "licence territories: 'EU' is not an ISO 3166-1 alpha-2"),
    ("--kind", "sculpture", "kind 'sculpture' is not one of"),
])
def test_works_add_refuses_a_bad_field_and_stores_nothing(home: Settings, option: str,
                                                          value: str, message: str) -> None:
    path, title = sample_files()[0]
    result = run_cli("works", "add", str(path), "--title", title, "--holder", "Studio A",
                     option, value)
    assert result.exit_code != 0 and message in result.output
    assert cli_works() == []


def detected_image_line(tmp_path: Path, *extra: str) -> dict[str, Any]:
    path, _title = sample_files()[0]
    result = run_cli("fingerprint", str(path), *extra)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_import_fingerprints_jsonl_and_csv_carry_the_fields(home: Settings,
                                                            tmp_path: Path) -> None:
    detected = detected_image_line(tmp_path)
    assert detected["kind"] == "photography"  # told from the bytes: the alias's default
    line = detected_image_line(tmp_path, "--kind", "fine_art", "--author", "Mei Tanaka",
                               "--territories", "JP")
    assert (line["kind"], line["author"], line["licence_territories"]) == (
        "fine_art", "Mei Tanaka", ["JP"])
    line.update({**REGISTRATION, "title": "Harbour at Dusk"})
    film = {"title": "Night Ferry", "kind": "film", "registration_number": "PA 1-000-001",
            "registering_authority": "U.S. Copyright Office", "registration_date": "2022-01-02",
            "fingerprints": [{"algorithm": "link", "variant": "names", "value": "night ferry"}]}
    good = tmp_path / "works.jsonl"
    good.write_text(json.dumps(line) + "\n")
    assert run_cli("works", "import-fingerprints", str(good), "--holder", "H").exit_code == 0

    phash = next(fp["value"] for fp in line["fingerprints"] if fp["algorithm"] == "phash")
    csv_file = tmp_path / "works.csv"
    csv_file.write_text(
        "title,kind,algorithm,value,registration_number,registration_date,"
        "registering_authority,author,first_published,licence_territories\n"
        f"Still Life,fine art,phash,{phash},VA 9,2020-02-02,Office,Ana,2019-09-09,CN|TW\n")
    csv_result = run_cli("works", "import-fingerprints", str(csv_file), "--holder", "H")
    assert csv_result.exit_code == 0, csv_result.output

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**film, "title": "Fine"}) + "\n"
                   + json.dumps({**film, "registration_date": "2022-02-30"}) + "\n"
                   + json.dumps({**film, "kind": "sculpture"}) + "\n")
    refused = run_cli("works", "import-fingerprints", str(bad), "--holder", "H")
    assert refused.exit_code == 1
    assert "line 2: registration date '2022-02-30' is not a date" in refused.output
    assert "line 3: kind 'sculpture' is not one of" in refused.output
    assert "nothing registered" in refused.output
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("title,kind,algorithm,value,licence_territories\n"
                       f"Other,photography,phash,{phash},US\n"
                       f"Another,photography,phash,{phash},XK9\n")
    refused = run_cli("works", "import-fingerprints", str(bad_csv), "--holder", "H")
    assert refused.exit_code == 1
    assert "line 3: licence territories: 'XK9' is not an ISO 3166-1" in refused.output

    works = {w["title"]: w for w in cli_works()}
    assert set(works) == {"Harbour at Dusk", "Still Life"}
    assert {k: works["Harbour at Dusk"][k] for k in REGISTRATION} == REGISTRATION
    still = works["Still Life"]
    assert (still["category"], still["registration_number"], still["first_published"],
            still["licence_territories"]) == ("fine_art", "VA 9", "2019-09-09", ["CN", "TW"])


# --- the API ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> WebData:
    return shared_web_data(tmp_path_factory)


def test_api_upload_and_edit_with_422s_and_holders_kept_apart(web_data: WebData,
                                                              tmp_path: Path) -> None:
    settings = web_data.copy_to(tmp_path)
    form = {**REGISTRATION, "licence_territories": "US, JP", "title": "Lighthouse",
            "kind": "fine_art"}
    with open_api(settings, web_data.tokens) as api:
        def upload(fields: dict[str, str], seed: int) -> Any:
            return api.post("north", "/works", data=fields,
                            files={"file": ("p.jpg", jpeg_bytes(seed=seed), "image/jpeg")})

        created = upload(form, 9101)
        assert created.status_code == 201, created.text
        work = created.json()["work"]
        assert {k: work[k] for k in REGISTRATION} == REGISTRATION
        assert (work["kind"], work["category"]) == ("image", "fine_art")
        work_id = work["id"]
        for field, value, message in [
            ("registration_date", "2024-02-30", "registration date '2024-02-30' is not a date"),
            ("first_published", NEXT_WEEK, "is in the future"),
            ("licence_territories", "US, QQ", "'QQ' is not an ISO 3166-1"),
            ("kind", "sculpture", "kind 'sculpture' is not one of"),
        ]:
            refused = upload({**form, field: value}, 9102)
            assert refused.status_code == 422 and message in refused.json()["detail"]
        listed = api.ok("north", "/works", category="fine_art")["items"]
        assert [w["id"] for w in listed] == [work_id]

        patched = api.call("PATCH", "north", f"/works/{work_id}",
                           json={"kind": "photography", "author": None,
                                 "licence_territories": ["worldwide"],
                                 "registration_number": "VA 2-345-679"})
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert (body["category"], body["author"], body["licence_territories"],
                body["registration_number"], body["registering_authority"]) == (
            "photography", None, ["worldwide"], "VA 2-345-679", "U.S. Copyright Office")
        for change, message in [({"registration_date": "yesterday"}, "registration date"),
                                ({"kind": "film"}, "fingerprinted as image"),
                                ({"licence_territories": ["USA"]}, "'USA' is not an ISO"),
                                ({"title": "x"}, "")]:
            bad = api.call("PATCH", "north", f"/works/{work_id}", json=change)
            assert bad.status_code == 422 and message in bad.text
        assert api.ok("north", f"/works/{work_id}")["registration_number"] == "VA 2-345-679"
        other = api.call("PATCH", "harbour", f"/works/{work_id}",
                         json={"registration_number": "STOLEN"})
        assert other.status_code == 404
        assert api.ok("north", f"/works/{work_id}")["registration_number"] == "VA 2-345-679"


# --- the console, review, cases, notices, bundles ---------------------------------------------

def test_console_register_and_edit_forms(web_data: WebData, tmp_path: Path) -> None:
    settings = web_data.copy_to(tmp_path)
    app = create_app(settings)
    fields = {**REGISTRATION, "licence_territories": "US JP", "title": "Night Pier",
              "kind": "film"}
    with TestClient(app) as client:
        sign_in(client, "north")
        token = form_token(client.get("/works").text)
        files = {"file": ("pier.jpg", jpeg_bytes(seed=5150), "image/jpeg")}
        video_for_picture = client.post("/works", data={**fields, "csrf_token": token},
                                        files=files)
        assert video_for_picture.status_code == 422  # a film is fingerprinted as video
        bad_date = client.post("/works", data={**fields, "kind": "photography",
                                               "registration_date": "2024-3-5",
                                               "csrf_token": token}, files=files)
        assert bad_date.status_code == 422
        assert 'id="registration_date-error"' in bad_date.text
        assert "registration date &#39;2024-3-5&#39; is not a date" in bad_date.text
        assert 'value="Mei Tanaka"' in bad_date.text  # what was typed is kept
        done = client.post("/works", data={**fields, "kind": "photography",
                                           "csrf_token": token}, files=files,
                           follow_redirects=False)
        assert done.status_code == 303, done.text
        page = client.get(done.headers["location"]).text
        assert "VA 2-345-678" in page and "U.S. Copyright Office" in page

        with app.state.db.session() as session:
            work = session.scalars(select(Work).where(Work.title == "Night Pier")).one()
            work_id = work.id
            assert (work.category, work.registration_date, work.licence_territories) == (
                "photography", date(2024, 3, 5), ["US", "JP"])
            foreign = session.scalars(select(Work).join(RightsHolder)
                                      .where(RightsHolder.name == HOLDER_B)).first()
            assert foreign is not None
            foreign_id = foreign.id
        edit_page = client.get(f"/works/{work_id}/edit").text
        assert ">fine art</option>" in edit_page and "film" not in edit_page
        token = form_token(edit_page)
        refused = client.post(f"/works/{work_id}/edit", data={
            "category": "fine_art", "licence_territories": "US, XX", "csrf_token": token})
        assert refused.status_code == 422 and 'id="licence_territories-error"' in refused.text
        saved = client.post(f"/works/{work_id}/edit", data={
            "category": "fine_art", "registration_number": "VA 7", "author": "M. Tanaka",
            "registration_date": "2024-03-05", "licence_territories": "worldwide",
            "csrf_token": token}, follow_redirects=False)
        assert saved.status_code == 303
        assert client.get(f"/works/{foreign_id}/edit").status_code == 404
        stolen = client.post(f"/works/{foreign_id}/edit",
                             data={"registration_number": "MINE", "csrf_token": token})
        assert stolen.status_code == 404
    with app.state.db.session() as session:
        work = session.get(Work, work_id)
        foreign = session.get(Work, foreign_id)
        assert work is not None and foreign is not None
        assert (work.category, work.registration_number, work.author,
                work.registering_authority, work.licence_territories) == (
            "fine_art", "VA 7", "M. Tanaka", None, ["worldwide"])
        assert foreign.registration_number is None
    app.state.db.dispose()


@pytest.fixture
def case_with_registered_works(web_data: WebData, tmp_path: Path) -> tuple[Settings, int]:
    """A copy whose first case holds confirmed hits on two works with registrations."""
    settings = web_data.copy_to(tmp_path)
    db = open_database(settings)
    with db.session() as session:
        hits = session.scalars(select(Hit).join(Work).join(RightsHolder)
                               .where(RightsHolder.name == HOLDER_A)
                               .where(Hit.page_url.not_like("%thread-7%"))
                               .order_by(Hit.id)).all()
        first = hits[0]
        second = next(h for h in hits if h.work_id != first.work_id)
        for hit in (first, second):
            confirm_hit(session, hit.id, "reviewer")
        edit_registration(first.work, {**REGISTRATION}, "fine_art")
        edit_registration(second.work, {"registration_number": "TX 0-111-222",
                                        "registration_date": "2021-06-07",
                                        "registering_authority": "中国版权保护中心"})
        case_id = session.scalars(select(Case.id)).one()
    db.dispose()
    return settings, case_id


def test_review_and_case_pages_show_the_registration(
        case_with_registered_works: tuple[Settings, int]) -> None:
    settings, case_id = case_with_registered_works
    app = create_app(settings)
    with TestClient(app) as client:
        for user in ("reviewer", "north"):
            client.cookies.clear()
            sign_in(client, user)
            review = client.get("/review?status=confirmed").text
            assert "reg. no. <span class=\"reg-number\">VA 2-345-678</span>" in review
            assert "fine art" in review and "licensed in US, JP" in review
            case = client.get(f"/cases/{case_id}").text
            assert 'id="case-works"' in case and "by Mei Tanaka" in case
            assert "TX 0-111-222</span>, 2021-06-07, 中国版权保护中心" in case
    app.state.db.dispose()


def test_notices_and_bundles_carry_each_works_registration(
        case_with_registered_works: tuple[Settings, int], tmp_path: Path) -> None:
    settings, case_id = case_with_registered_works
    db = open_database(settings)
    with db.session() as session:
        english = record_notice(session, case_id, "abuse@host.example", "dmca-en", "staff")
        chinese = record_notice(session, case_id, "abuse@host.example", "admin-zh", "staff")
        english_body, chinese_body = english.body, chinese.body
        case = session.get(Case, case_id)
        assert case is not None
        output = tmp_path / "bundle.zip"
        export_bundle(session, EvidenceStore(settings.evidence_dir), case, output,
                      load_or_create_key(settings.home), None, "staff")
    db.dispose()
    assert english_body is not None and chinese_body is not None
    assert ("Registration no. VA 2-345-678, U.S. Copyright Office, registered 2024-03-05"
            in english_body)
    assert "(fine art by Mei Tanaka)" in english_body and "Licensed in: US, JP" in english_body
    assert "Registration no. TX 0-111-222, 中国版权保护中心, registered 2021-06-07" in english_body
    assert "登记号：VA 2-345-678；登记机构：U.S. Copyright Office；登记日期：2024-03-05" \
        in chinese_body
    with zipfile.ZipFile(output) as bundle:
        manifest = json.loads(bundle.read(MANIFEST))
        report = bundle.read("report.html").decode()
        case_json = json.loads(bundle.read("case.json"))
    registered = {w["registration_number"]: w for w in manifest["works"]}
    assert set(registered) == {"VA 2-345-678", "TX 0-111-222"}
    assert {k: registered["VA 2-345-678"][k] for k in REGISTRATION} == REGISTRATION
    assert registered["TX 0-111-222"]["registering_authority"] == "中国版权保护中心"
    assert "<td>VA 2-345-678</td>" in report and "<td>U.S. Copyright Office</td>" in report
    assert "<td>2024-03-05</td>" in report and "<td>fine art</td>" in report
    assert {w["registration_number"] for w in case_json["works"]} == set(registered)
    assert HOLDER_A in {w["holder"] for w in manifest["works"]}
