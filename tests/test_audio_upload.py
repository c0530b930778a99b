"""Audio works registered through the REST API and the console's upload form: the same
registry as ``swordnet works add``, so a song gets its Chromaprint fingerprint, and a file
that is not audio is refused naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bench.audiogen import music, write_audio
from swordnet.core.db import open_database
from swordnet.core.models import Work
from swordnet.web.app import create_app
from tests.api_client import one_line, open_api
from tests.test_console import form_token, sign_in
from tests.web_data import HOLDER_A, WebData, shared_web_data


@pytest.fixture(scope="module")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> WebData:
    return shared_web_data(tmp_path_factory)


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("song")
    return write_audio(folder / "song.mp3", music(701, 30.0), args=("-b:a", "96k")).read_bytes()


def test_an_audio_work_is_uploaded_through_the_api(web_data: WebData, tmp_path: Path,
                                                    song: bytes) -> None:
    with open_api(web_data.copy_to(tmp_path), web_data.tokens) as api:
        response = api.post("north", "/works", files={"file": ("song.mp3", song)},
                            data={"title": "Harbour Song", "kind": "audio"})
        assert response.status_code == 201, response.text
        work = response.json()["work"]
        assert work["kind"] == "audio" and work["holder"] == HOLDER_A
        silent = api.post("north", "/works", files={"file": ("blank.wav", bytes(44))},
                          data={"title": "Blank", "kind": "audio"})
        assert silent.status_code == 422 and one_line(silent).startswith("blank.wav: ")
        with api.db.session() as session:
            stored = session.get(Work, work["id"])
            assert stored is not None
            assert "chromaprint" in {fp.algorithm for fp in stored.fingerprints}


def test_an_audio_work_is_uploaded_in_the_console(web_data: WebData, tmp_path: Path,
                                                   song: bytes) -> None:
    settings = web_data.copy_to(tmp_path)
    db = open_database(settings)
    with TestClient(create_app(settings, db)) as client:
        sign_in(client, "reviewer")
        token = form_token(client.get("/works").text)
        assert 'value="audio"' in client.get("/works").text  # offered as a kind
        fields = {"title": "Harbour Song", "kind": "audio", "holder": "Studio C",
                  "csrf_token": token}
        response = client.post("/works", data=fields,
                               files={"file": ("song.mp3", song, "audio/mpeg")},
                               follow_redirects=False)
        assert response.status_code == 303, response.text
        bad = client.post("/works", data=fields,
                          files={"file": ("notes.mp3", b"not a song at all", "audio/mpeg")})
        assert bad.status_code == 422 and "notes.mp3" in bad.text
    with db.session() as session:
        work = session.scalars(select(Work).where(Work.title == "Harbour Song")).one()
        assert work.kind == "audio" and work.source_name == "song.mp3"
        assert "chromaprint" in {fp.algorithm for fp in work.fingerprints}
    db.dispose()
