"""The web console: server-rendered pages for reviewers, enforcement staff and rights holders.

:func:`install` adds the console's routes, its static files under ``/static`` and the handlers
that turn "not signed in" into a redirect to ``/login`` and refusals into HTML error pages.
This module holds signing in and out; the pages are in ``console_pages`` (dashboard, works,
cases, tips), ``console_works`` (a work's registration form), ``console_ops`` (sites, runs:
staff only), ``console_targets`` (the watchlist's forms), ``console_campaigns`` (campaigns,
rapid responses and their live hits: staff only), ``console_review`` (the review queue;
``console_sound`` draws and plays a sound match's segments), ``console_notices`` (a case's
notices and its site's abuse contact: staff only), ``console_publication`` (publishing a case,
holders' consent), ``console_blocklist`` (the live blocking list and its clients: staff only),
``console_previews`` (video and software hits' previews), ``console_apidocs`` (the REST API's
reference at ``/api/docs``) and ``console_live`` (live events: an event's feed, candidate
streams and timeline).

Signing in is protected against login CSRF by a double-submit token: ``GET /login`` sets a
random pre-session cookie and puts the same value in the form, and ``POST /login`` accepts the
form only when the two agree. The session cookie is HttpOnly, SameSite=Strict, Path=/.
Repeated wrong passwords for one username from one address, or from one address for any
usernames, are throttled (429).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from swordnet.accounts.users import SESSION_LIFETIME, authenticate, end_session, start_session
from swordnet.web import (
    console_apidocs,
    console_blocklist,
    console_campaigns,
    console_live,
    console_notices,
    console_ops,
    console_pages,
    console_previews,
    console_publication,
    console_review,
    console_sound,
    console_staydown,
    console_targets,
    console_works,
)
from swordnet.web.console_base import (
    STATIC_DIR,
    LoginRequired,
    Signed,
    Viewer,
    check_form_csrf,
    error_page,
    login_redirect,
    render,
    safe_next,
)
from swordnet.web.deps import SESSION_COOKIE, session_principal
from swordnet.web.throttle import LoginThrottle

LOGIN_CSRF_COOKIE = "swordnet_login_csrf"
router = APIRouter(include_in_schema=False)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(request: Request, *, message: str | None = None, username: str = "",
                next_path: str = "/", status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", None, status=status, login_csrf=token,
                      message=message, username=username, next_path=safe_next(next_path))
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/login", httponly=True,
                        samesite="strict", secure=_secure(request))
    return response


@router.get("/login")
def login_page(request: Request,
               next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/") -> Response:
    with request.app.state.db.session() as session:
        if session_principal(request, session) is not None:
            return RedirectResponse(safe_next(next_path), status_code=303)
    return _login_form(request, next_path=next_path)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form(max_length=100)] = "",
          password: Annotated[str, Form(max_length=1000)] = "",
          csrf_token: Annotated[str, Form(max_length=200)] = "",
          next_path: Annotated[str, Form(alias="next", max_length=2000)] = "/") -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not csrf_token or not hmac.compare_digest(expected, csrf_token):
        return _login_form(request, username=username, next_path=next_path, status=403,
                           message="The sign-in form expired or was not sent from this site; "
                                   "please sign in again.")
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "-"
    # Per username *and* address, so that nobody can lock a user out from elsewhere.
    user_key = f"user:{username.strip().casefold()}@{address}"
    keys = [user_key, f"ip:{address}"]
    wait = throttle.retry_after(keys)
    if wait:
        response = _login_form(request, username=username, next_path=next_path, status=429,
                               message=f"Too many failed sign-ins; try again in "
                                       f"{max(1, round(wait / 60))} min.")
        response.headers["Retry-After"] = str(wait)
        return response
    with request.app.state.db.session() as session:
        user = authenticate(session, username.strip(), password)
        if user is None:
            throttle.failed(keys)
            return _login_form(request, username=username, next_path=next_path, status=401,
                               message="Wrong username or password.")
        throttle.succeeded(user_key)
        cookie, _row = start_session(session, user)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, max_age=int(SESSION_LIFETIME.total_seconds()),
                        path="/", httponly=True, samesite="strict", secure=_secure(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, viewer: Signed,
           csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    check_form_csrf(request, viewer, csrf_token)
    with request.app.state.db.session() as session:
        end_session(session, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _viewer_of(request: Request) -> Viewer | None:
    try:
        with request.app.state.db.session() as session:
            found = session_principal(request, session)
    except Exception:  # an error page must not fail in turn
        return None
    return Viewer(*found) if found else None


def html_error(request: Request, status: int, message: str) -> Response:
    """A user's mistake on a console page or form, as an HTML error page."""
    return error_page(request, status, message, _viewer_of(request))


def install(app: FastAPI) -> None:
    """Add the console pages, ``/static`` and the console's error handling to ``app``."""
    for module in (console_pages, console_review, console_ops, console_targets,
                   console_campaigns, console_notices, console_staydown, console_publication,
                   console_previews, console_apidocs, console_sound, console_works, console_live,
                   console_blocklist):
        app.include_router(module.router)
    app.include_router(router)
    app.state.login_throttle = LoginThrottle()
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def to_login(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return login_redirect(exc.path)

    app.add_exception_handler(LoginRequired, to_login)
