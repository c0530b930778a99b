"""Request dependencies: the database session, and who is asking.

The API takes a token in the ``Authorization: Bearer`` header (never in the URL) or the
console's session cookie. A cookie-authenticated request that changes anything must also
carry the session's CSRF token (``X-CSRF-Token`` header, or a ``csrf_token`` form field on
console forms), so another site cannot make a signed-in browser act.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from swordnet.accounts.users import Principal, find_session, principal_of, token_principal
from swordnet.core.db import Database
from swordnet.evidence.store import EvidenceStore

SESSION_COOKIE = "swordnet_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def get_store(request: Request) -> EvidenceStore:
    return request.app.state.store


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    """One unit of work per request: committed when the endpoint returns normally, before
    the response is sent (a failed commit is the response)."""
    with db.session() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]
Store = Annotated[EvidenceStore, Depends(get_store)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def session_principal(request: Request, session: Session) -> tuple[Principal, str] | None:
    """The principal and CSRF token of the console session cookie, if it is live."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    row = find_session(session, cookie)
    if row is None:
        return None
    return principal_of(row.user), row.csrf_token


def check_csrf(request: Request, expected: str, submitted: str | None) -> None:
    """Refuse a state-changing cookie-authenticated request without the session's token."""
    if request.method in SAFE_METHODS:
        return
    if not submitted or not hmac.compare_digest(submitted, expected):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


_bearer = HTTPBearer(auto_error=False, description="An API token from `swordnet tokens create`.")


def api_principal(request: Request, session: DbSession,
                  _documented: Annotated[HTTPAuthorizationCredentials | None,
                                         Depends(_bearer)]) -> Principal:
    """Who calls the API: a bearer token, or a console session plus its CSRF header."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise _unauthorized("Authorization header must be 'Bearer <token>'")
        principal = token_principal(session, secret.strip())
        if principal is None:
            raise _unauthorized("API token is unknown, expired or revoked")
        return principal
    found = session_principal(request, session)
    if found is None:
        raise _unauthorized("send an API token as 'Authorization: Bearer <token>'")
    principal, csrf = found
    check_csrf(request, csrf, request.headers.get(CSRF_HEADER))
    return principal


Caller = Annotated[Principal, Depends(api_principal)]
