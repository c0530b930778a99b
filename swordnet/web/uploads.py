"""Upload size caps: a request body is refused by its declared length before it is read or
parsed, and an uploaded file by its size before it is read into memory.

Every other request body is capped by the app's ``max_body_size`` (FastAPI counts the bytes
as they arrive); upload routes raise that limit to their own cap. The API answers either
refusal as JSON ``detail``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, UploadFile
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matching.registry import max_content_bytes, supported_kinds
from swordnet.core.errors import TooLarge

MB = 1024 * 1024
FORM_SLACK_BYTES = 64 * 1024  # the multipart framing and form fields around the file


def upload_cap() -> int:
    """The largest work file any kind accepts (each kind's own cap is checked after)."""
    return max(max_content_bytes(kind) for kind in supported_kinds())


_BODY_CAPS: dict[Callable[..., Any], Callable[[], int]] = {}


def body_cap(limit: Callable[[], int]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give an endpoint a request-body cap (a callable, read per request)."""
    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        _BODY_CAPS[endpoint] = limit
        return endpoint
    return mark


class CappedBodyRoute(APIRoute):
    """Refuses a body larger than its endpoint's cap by ``Content-Length``, before FastAPI
    reads or parses any of it; a capped endpoint needs the length declared."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = _BODY_CAPS.get(self.endpoint)
        if limit is None:
            return handler

        async def capped(request: Request) -> Response:
            declared = request.headers.get("content-length")
            if declared is None or not declared.isdigit():
                return JSONResponse({"detail": "send the upload with a Content-Length header"},
                                    status_code=411)
            cap = limit() + FORM_SLACK_BYTES
            if int(declared) > cap:
                return JSONResponse({"detail": f"the request is {int(declared) / MB:,.1f} MB; "
                                     f"at most {cap / MB:,.1f} MB is accepted here"},
                                    status_code=413)
            return await handler(request)

        return capped


def read_capped(upload: UploadFile, cap: int, what: str) -> bytes:
    """The upload's bytes, refusing it by its size (before reading) if over ``cap``."""
    size = upload.size
    if size is None:
        size = upload.file.seek(0, 2)
        upload.file.seek(0)
    name = upload.filename or "upload"
    too_big = f"{name}: the file is {size / MB:,.1f} MB; {what} can be at most {cap / MB:,.1f} MB"
    if size > cap:
        raise TooLarge(too_big)
    data = upload.file.read(cap + 1)
    if len(data) > cap:
        raise TooLarge(too_big)
    return data


class JsonTooLarge:
    """Starlette answers a body over a route's ``max_body_size`` with a plain-text 413;
    under ``prefix`` (the API) that answer becomes ``{"detail": "..."}`` like every other
    error, naming the limit."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        replaced = False

        async def as_json(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413 and \
                    MutableHeaders(scope=message).get("content-type", "").startswith(
                        "text/plain"):
                replaced = True
                limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
                most = f"; at most {limit / MB:,.1f} MB is accepted here" if limit else ""
                body = json.dumps({"detail": f"the request body is too large{most}"}).encode()
                headers = MutableHeaders(raw=[(k, v) for k, v in message["headers"]
                                              if k not in (b"content-type", b"content-length")])
                headers["content-type"] = "application/json"
                headers["content-length"] = str(len(body))
                await send({**message, "headers": headers.raw})
                await send({"type": "http.response.body", "body": body})
            elif not replaced:
                await send(message)

        await self.app(scope, receive, as_json)
