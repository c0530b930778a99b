"""What every console page shares: templates, who is signed in, errors, forms' CSRF tokens.

Templates are autoescaped jinja2; crawled text (titles, URLs, page text) is only ever
inserted as escaped text, and a crawled URL becomes a link only when it is http(s). A page
request without a live session redirects to ``/login``; a page a role may not see, or an
object the viewer may not see, is an HTML error page with status 403 or 404 (the app's
:class:`~swordnet.core.errors.SwordnetError` handler).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from swordnet.accounts.users import Principal
from swordnet.core.errors import Forbidden
from swordnet.web.deps import DbSession, check_csrf, session_principal
from swordnet.works.previews import IMAGE_PREVIEWS

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
API = "/api/v1"


class LoginRequired(Exception):
    """A console page asked for without a live session."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a console request and their session's CSRF token."""

    principal: Principal
    csrf: str

    @property
    def is_staff(self) -> bool:
        return self.principal.is_staff


def current_viewer(request: Request, session: DbSession) -> Viewer:
    found = session_principal(request, session)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return Viewer(*found)


Signed = Annotated[Viewer, Depends(current_viewer)]


def require_staff_page(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("This page is for monitoring and enforcement staff.")


def check_form_csrf(request: Request, viewer: Viewer, submitted: str | None) -> None:
    """A console form's hidden ``csrf_token`` must be the session's (403 otherwise)."""
    check_csrf(request, viewer.csrf, submitted)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another origin.

    >>> safe_next("/review?status=pending"), safe_next("//evil.example/"), safe_next(None)
    ('/review?status=pending', '/', '/')
    >>> safe_next("https://evil.example/"), safe_next("/\\\\evil.example")
    ('/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


def login_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(safe_next(path), safe='/')}", status_code=303)


# --- templates -------------------------------------------------------------------------------

def when(value: datetime | None, seconds: bool = False) -> str:
    """A stored (UTC) time as shown on every page.

    >>> from datetime import UTC
    >>> when(datetime(2026, 11, 21, 19, 8, 22, tzinfo=UTC))
    '2026-11-21 19:08 UTC'
    >>> when(None)
    '—'
    """
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def http_link(url: str | None) -> str | None:
    """The URL if it may be a link (http or https), else None: a crawled ``javascript:`` or
    ``data:`` URL is shown as text only.

    >>> http_link("https://pirate.example/a"), http_link("javascript:alert(1)")
    ('https://pirate.example/a', None)
    """
    if url and urlsplit(url.strip()).scheme.lower() in ("http", "https"):
        return url
    return None


def number(value: float | int | None) -> str:
    """A score or statistic without needless decimals.

    >>> number(4.0), number(0.8527), number(None)
    ('4', '0.8527', '—')
    """
    return "—" if value is None else f"{value:g}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(when=when, number=number, http_link=http_link)
    env.globals.update(API=API, IMAGE_PREVIEWS=IMAGE_PREVIEWS)
    return env


ENV = _environment()
NAV = [("/", "Dashboard", False), ("/review", "Review", False), ("/works", "Works", False),
       ("/cases", "Cases", False), ("/sites", "Sites", True), ("/runs", "Runs", True),
       ("/campaigns", "Campaigns", True), ("/staydown", "Staydown", True),
       ("/live", "Live", False), ("/blocklist", "Blocking list", True), ("/tips", "Tips", False),
       ("/allowlist", "Allowlist", False), ("/api/docs", "API", False)]


def render(request: Request, template: str, viewer: Viewer | None, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    """A page from ``template``, with the navigation for ``viewer``."""
    nav = [(href, label) for href, label, staff in NAV
           if viewer is not None and (viewer.is_staff or not staff)]
    html = ENV.get_template(template).render(
        request_path=request.url.path, viewer=viewer, nav=nav,
        csrf=viewer.csrf if viewer else "", **context)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, message: str,
               viewer: Viewer | None = None) -> Response:
    return render(request, "error.html", viewer, status=status, status_code=status,
                  message=message)
