"""The FastAPI application: REST API under ``/api/v1``, console pages at the root.

Every response carries a strict Content-Security-Policy (scripts, styles and images from
this origin only, no inline script, no framing) and ``nosniff``: see
:mod:`swordnet.web.headers`. A :class:`~swordnet.core.errors.SwordnetError` (what a user can
cause) becomes its status with a one-line ``detail`` (an error page on the console); any
other exception is a bug and a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.errors import SwordnetError
from swordnet.evidence.store import EvidenceStore
from swordnet.web import (
    api_allowlists,
    api_blocklist,
    api_campaigns,
    api_captures,
    api_cases,
    api_evidence,
    api_hits,
    api_live,
    api_mirrors,
    api_notices,
    api_publication,
    api_runs,
    api_scheduler,
    api_targets,
    api_tips,
    api_work_matching,
    api_works,
    console,
    public,
)
from swordnet.web.headers import SecurityHeaders
from swordnet.web.params import refuse_unusable_query
from swordnet.web.throttle import tip_limit
from swordnet.web.uploads import JsonTooLarge

API_PREFIX = "/api/v1"
# Request bodies beyond this are refused as they arrive (413), before any parsing or
# authentication; upload routes set larger caps of their own.
MAX_BODY_BYTES = 2 * 1024 * 1024

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


def user_error_response(request: Request, status: int, message: str,
                        headers: dict[str, str] | None = None) -> Response:
    """JSON ``{"detail": ...}`` for the API, an HTML error page for the console."""
    if request.url.path.startswith(API_PREFIX):
        return JSONResponse({"detail": message}, status_code=status, headers=headers)
    response = console.html_error(request, status, message)
    response.headers.update(headers or {})
    return response


def invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return user_error_response(request, 422, validation_message(exc.errors()))


def swordnet_error(request: Request, exc: Exception) -> Response:
    """A user's mistake: its status and one-line message."""
    assert isinstance(exc, SwordnetError)
    return user_error_response(request, exc.status, str(exc), exc.headers)


class SwordnetApp(FastAPI):
    """FastAPI with :class:`~swordnet.web.headers.SecurityHeaders` outside everything else,
    and forwarded-for headers believed only from the configured trusted proxies."""

    trusted_proxies: tuple[str, ...] = ()

    def build_middleware_stack(self) -> ASGIApp:
        app = SecurityHeaders(JsonTooLarge(super().build_middleware_stack(), API_PREFIX),
                              no_store_prefix=API_PREFIX)
        if self.trusted_proxies:
            # The client address (sign-in throttling) and scheme (Secure cookies) come from
            # X-Forwarded-For/-Proto only when the direct peer is one of these. (uvicorn types
            # ASGI apps with its own TypedDicts, Starlette with plain mappings: the same
            # interface, spelt in two ways mypy cannot match.)
            return ProxyHeadersMiddleware(  # type: ignore[return-value]
                app, trusted_hosts=list(self.trusted_proxies))  # type: ignore[arg-type]
        return app


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """The app for ``settings``' database and evidence store (migrated on start)."""
    app = SwordnetApp(title="Swordnet", version="1", summary="Piracy monitoring and takedown "
                  "tracker: works, hits, review, cases, campaigns.",
                  openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None,
                  max_body_size=MAX_BODY_BYTES, dependencies=[Depends(refuse_unusable_query)])
    app.trusted_proxies = settings.trusted_proxies
    app.state.settings = settings
    app.state.db = db or open_database(settings)
    app.state.store = EvidenceStore(settings.evidence_dir)
    app.state.tip_limit = tip_limit()

    app.add_exception_handler(SwordnetError, swordnet_error)
    app.add_exception_handler(RequestValidationError, invalid_request)

    for module in (api_hits, api_works, api_allowlists, api_cases, api_campaigns, api_tips,
                   api_notices, api_publication, api_targets, api_runs, api_captures, api_mirrors,
                   api_scheduler, api_evidence, api_work_matching, api_live, api_blocklist):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(public.router)  # published cases, for anyone when switched on
    console.install(app)  # the console's pages and /static, after the API
    return app
