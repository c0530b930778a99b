"""A user's mistake is one line (CLI) or its status with a one-line ``detail`` (API, console);
a bug is neither: the CLI shows it as an exception and the API answers 500.

Bugs are simulated by making a command's or endpoint's callee raise a plain ValueError,
KeyError or LookupError, the exceptions that used to pass for user errors.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest
from click.testing import CliRunner, Result
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from swordnet.accounts.users import add_user, create_token
from swordnet.cli import campaigns as cli_campaigns
from swordnet.cli import cases as cli_cases
from swordnet.cli import tips as cli_tips
from swordnet.cli.main import main
from swordnet.core.config import Settings
from swordnet.core.errors import (
    BadInput,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    SwordnetError,
    TooLarge,
    TooMany,
    Unavailable,
)
from swordnet.web import api_tips
from swordnet.web.app import API_PREFIX, create_app


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def raiser(exc: Exception) -> Callable[..., NoReturn]:
    """A stand-in for a callee that raises ``exc``."""
    def fail(*_args: object, **_kwargs: object) -> NoReturn:
        raise exc
    return fail


# --- the command line ------------------------------------------------------------------------

@pytest.mark.parametrize("bug", [ValueError("bad state"), KeyError("status"),
                                 LookupError("no such row")])
def test_a_bug_in_a_command_is_not_shown_as_a_user_error(
        sqlite_home: Settings, monkeypatch: pytest.MonkeyPatch, bug: Exception) -> None:
    monkeypatch.setattr(cli_tips, "add_tip", raiser(bug))
    result = invoke("tips", "add", "https://pirate.example/film")
    assert result.exit_code == 1
    assert result.exc_info is not None and result.exc_info[0] is type(bug)
    assert "Error:" not in result.output


def test_a_bug_inside_a_unit_of_work_is_not_a_one_line_failure(
        sqlite_home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_cases, "get_case", raiser(KeyError("case_id")))
    result = invoke("cases", "transition", "1", "notice_sent", "--reason", "sent")
    assert isinstance(result.exception, KeyError)
    monkeypatch.setattr(cli_campaigns, "stop_campaign", raiser(ValueError("boom")))
    result = invoke("campaigns", "stop", "spring")
    assert isinstance(result.exception, ValueError) and "Error: boom" not in result.output


def test_a_bug_shows_its_traceback_from_the_installed_command(sqlite_home: Settings) -> None:
    """Run as a user would: a bug prints Python's traceback with the exception's type."""
    code = ("import sys\nfrom swordnet.cli import tips\nfrom swordnet.cli.main import main\n"
            "def add_tip(*args):\n    raise KeyError('work_id')\n"
            "tips.add_tip = add_tip\nsys.argv = ['swordnet', 'tips', 'add', "
            "'https://pirate.example/']\nmain()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.rstrip().endswith("KeyError: 'work_id'")


@pytest.mark.parametrize("error", [BadInput("not an http(s) URL: 'ftp://x'"),
                                   NotFound("no work with id 7"),
                                   Unavailable("the database is unreachable")])
def test_a_swordnet_error_is_one_line_and_exit_1(
        sqlite_home: Settings, monkeypatch: pytest.MonkeyPatch, error: SwordnetError) -> None:
    monkeypatch.setattr(cli_tips, "add_tip", raiser(error))
    result = invoke("tips", "add", "https://pirate.example/film")
    assert result.exit_code == 1 and result.exc_info is not None
    assert result.exc_info[0] is SystemExit
    assert result.output.strip().splitlines() == [f"Error: {error}"]


def test_real_user_mistakes_stay_one_line(sqlite_home: Settings) -> None:
    for args, message in [
        (["tips", "add", "ftp://pirate.example/"], "Error: not an http(s) URL: "),
        (["tips", "add", "https://pirate.example/", "--work", "7"], "Error: no work with id 7"),
        (["cases", "transition", "5", "closed", "--reason", "done"],
         "Error: no case with id 5"),
        (["campaigns", "stop", "nothing"], "Error: no campaign named 'nothing'"),
        (["notices", "text", "3"], "Error: no notice with id 3"),
        (["works", "release", "4"], "Error: no work with id 4"),
    ]:
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(message), (args, result.output)


# --- the API and the console -----------------------------------------------------------------

STATUSES = [(BadRequest, 400), (BadInput, 422), (Forbidden, 403), (NotFound, 404),
            (Conflict, 409), (TooLarge, 413), (Unavailable, 503)]


@pytest.fixture
def app(sqlite_home: Settings) -> Iterator[FastAPI]:
    app = create_app(sqlite_home)

    @app.get(f"{API_PREFIX}/raise/{{name}}")
    @app.get("/raise/{name}")
    def raise_it(name: str, request: Request) -> None:
        errors: dict[str, Exception] = {cls.__name__: cls(f"{cls.__name__} said so")
                                        for cls, _ in STATUSES}
        errors["TooMany"] = TooMany("slow down", retry_after=42)
        errors["ValueError"] = ValueError("a bug")
        raise errors[name]

    yield app
    app.state.db.dispose()


@pytest.mark.parametrize(("cls", "status"), STATUSES)
def test_each_swordnet_error_answers_with_its_status(app: FastAPI, cls: type[SwordnetError],
                                                    status: int) -> None:
    client = TestClient(app)
    api = client.get(f"{API_PREFIX}/raise/{cls.__name__}")
    assert api.status_code == status
    assert api.json() == {"detail": f"{cls.__name__} said so"}
    page = client.get(f"/raise/{cls.__name__}")
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert f"{cls.__name__} said so" in page.text


def test_too_many_says_when_to_retry(app: FastAPI) -> None:
    answer = TestClient(app).get(f"{API_PREFIX}/raise/TooMany")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "42"
    assert answer.json() == {"detail": "slow down"}


def test_a_bug_is_a_500_without_its_message(app: FastAPI) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    for path in (f"{API_PREFIX}/raise/ValueError", "/raise/ValueError"):
        answer = client.get(path)
        assert answer.status_code == 500 and "a bug" not in answer.text


def test_a_bug_in_an_endpoint_is_a_500(sqlite_home: Settings,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(sqlite_home)
    with app.state.db.session() as session:
        add_user(session, "staff", "correct horse battery", "staff")
        token = create_token(session, "staff", "test").secret
    headers = {"Authorization": f"Bearer {token}"}
    client = TestClient(app, raise_server_exceptions=False)
    refused = client.post(f"{API_PREFIX}/tips", json={"url": "ftp://pirate.example/"},
                          headers=headers)
    assert refused.status_code == 422 and "not an http(s) URL" in refused.json()["detail"]
    monkeypatch.setattr(api_tips, "submit_within_limit", raiser(ValueError("bad state")))
    bug = client.post(f"{API_PREFIX}/tips", json={"url": "https://pirate.example/"},
                      headers=headers)
    assert bug.status_code == 500 and "bad state" not in bug.text
    app.state.db.dispose()
