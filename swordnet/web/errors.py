"""The API's error responses: one shape for every 4xx, documented on every router.

Each error is ``{"detail": "one line naming the input and what to do"}``: a
:class:`~swordnet.core.errors.SwordnetError`'s message with its status, or FastAPI's request
validation problems joined into one line (both by :mod:`swordnet.web.app`); a bulk import
that stores nothing also lists every bad line in ``errors``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    detail: str = Field(description="What was wrong with the request, in one line.")
    errors: list[str] | None = Field(None, description="Every bad line of an import.")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Bad query: unknown sort field or filter value."),
    401: _error("No valid API token or console session."),
    403: _error("Your role may not do this (or a console request lacks its CSRF token)."),
    404: _error("No such object, or not one you may see."),
    409: _error("The object is not in a state that allows this."),
    422: _error("The request or its content cannot be used as given."),
}
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    411: _error("The upload did not say its length."),
    413: _error("The upload is larger than its kind allows."),
}

