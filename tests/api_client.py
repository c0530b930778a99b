"""A REST API client for tests: the app on a (copied) web-data home, called as a named user."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi.testclient import TestClient

from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.web.app import API_PREFIX, create_app


@dataclass
class Api:
    """``api.get("north", "/works")``: a request to ``/api/v1/works`` with north's token."""

    client: TestClient
    tokens: dict[str, str]
    settings: Settings
    db: Database

    def headers(self, user: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}

    def call(self, method: str, user: str | None, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers(user), **kwargs.pop("headers", {})}
        return self.client.request(method, API_PREFIX + path, headers=headers, **kwargs)

    def get(self, user: str | None, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("GET", user, path, **kwargs)

    def post(self, user: str | None, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("POST", user, path, **kwargs)

    def delete(self, user: str | None, path: str, **kwargs: Any) -> httpx.Response:
        return self.call("DELETE", user, path, **kwargs)

    def ok(self, user: str, path: str, **params: Any) -> Any:
        """GET that must succeed; its JSON."""
        response = self.get(user, path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@contextmanager
def open_api(settings: Settings, tokens: dict[str, str]) -> Iterator[Api]:
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            yield Api(client, tokens, settings, app.state.db)
    finally:
        app.state.db.dispose()


def one_line(response: httpx.Response) -> str:
    """The response's ``detail``, which must be one line of text."""
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, detail
    return detail
