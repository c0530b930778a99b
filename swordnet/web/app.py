"""The FastAPI application: REST API under ``/api/v1``, console pages at the root.

Every response carries a strict Content-Security-Policy (scripts, styles and images from
this origin only, no inline script, no framing) and ``nosniff``. Errors a user can cause
become 4xx responses with a one-line ``detail``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from casefiles.evidence import EvidenceStore
from casefiles.review import ReviewError
from matching.signal import ContentRejected
from swordnet.access import BadQuery, Forbidden, NotFound
from swordnet.accounts import AccountError
from swordnet.config import Settings
from swordnet.db import Database, open_database
from swordnet.models import NulInText
from swordnet.registry import RegistrationError
from swordnet.web import (
    api_allowlists,
    api_campaigns,
    api_cases,
    api_hits,
    api_tips,
    api_works,
    console,
)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
API_PREFIX = "/api/v1"

# Exception -> status: what a caller did wrong, as 4xx with the message as ``detail``.
_ERROR_STATUS: dict[type[Exception], int] = {
    NotFound: 404,
    Forbidden: 403,
    BadQuery: 400,
    ReviewError: 409,
    AccountError: 400,
    RegistrationError: 422,
    ContentRejected: 422,
    NulInText: 422,
}


_PLACES = {"body": "field", "query": "query parameter", "path": "path parameter",
           "header": "header", "cookie": "cookie"}


def validation_message(errors: Sequence[Any]) -> str:
    """FastAPI's validation problems as one line, each naming the input.

    >>> validation_message([{"loc": ("body", "target_ids"), "msg": "Field required"},
    ...                     {"loc": ("query", "limit"), "msg": "Input should be <= 500"}])
    'field target_ids: Field required; query parameter limit: Input should be <= 500'
    """
    lines = []
    for error in errors:
        place, *names = [str(part) for part in error.get("loc", ())] or ["request"]
        name = ".".join(names)
        where = f"{_PLACES.get(place, place)} {name}".strip() if name else "request body"
        lines.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(lines)


def invalid_request(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": validation_message(exc.errors())}, status_code=422)


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """The app for ``settings``' database and evidence store (migrated on start)."""
    app = FastAPI(title="Swordnet", version="1", summary="Piracy monitoring and takedown "
                  "tracker: works, hits, review, cases, campaigns.",
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.db = db or open_database(settings)
    app.state.store = EvidenceStore(settings.evidence_dir)

    @app.middleware("http")
    async def security_headers(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(API_PREFIX) or "text/html" in response.headers.get(
                "content-type", ""):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    def user_error(status: int) -> Callable[[Request, Exception], Response]:
        def handle(_request: Request, exc: Exception) -> Response:
            return JSONResponse({"detail": str(exc).strip("'\"")}, status_code=status)
        return handle

    for error, status in _ERROR_STATUS.items():
        app.add_exception_handler(error, user_error(status))
    app.add_exception_handler(RequestValidationError, invalid_request)

    for module in (api_hits, api_works, api_allowlists, api_cases, api_campaigns, api_tips):
        app.include_router(module.router, prefix=API_PREFIX)
    console.install(app)  # the console's pages and /static, after the API
    return app
