"""The watchlist: suspect sites (keyed by network location) and their watch targets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from swordnet.models import Site, WatchTarget
from swordnet.timeutil import utcnow

DEFAULT_PORTS = {"http": 80, "https": 443}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def check_url(url: str) -> str:
    """``url`` with scheme and host lower-cased, if it is an absolute http(s) URL with a host.

    >>> check_url(" HTTPS://Pirate.Example/Films?id=7 ")
    'https://pirate.example/Films?id=7'
    >>> check_url("ftp://example.org/")
    Traceback (most recent call last):
    ...
    ValueError: not an http(s) URL: 'ftp://example.org/'
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError:
        raise ValueError(f"not a valid URL: {url!r}") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()))


def site_key(url: str) -> str:
    """The site a URL belongs to: lower-case host, plus the port when not the default.

    >>> site_key("HTTPS://Pirate.Example:443/a?b")
    'pirate.example'
    >>> site_key("http://127.0.0.1:8080/")
    '127.0.0.1:8080'
    """
    parts = urlsplit(check_url(url))
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    return host if port in (None, DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"


def parse_interval(text: str) -> int:
    """Seconds in an interval like ``30m``, ``6h`` or ``1d``.

    >>> parse_interval("6h")
    21600
    """
    match = _INTERVAL.match(text)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"not an interval: {text!r} (use e.g. 45s, 30m, 6h, 1d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def site_for_url(session: Session, url: str) -> Site:
    """The site ``url`` belongs to, added to the sites table on first sight."""
    key = site_key(url)
    site = session.scalar(select(Site).where(Site.domain == key))
    if site is None:
        site = Site(domain=key, status="active", first_seen_at=utcnow())
        session.add(site)
        session.flush()
    return site


def add_target(
    session: Session, url: str, *, depth: int, max_pages: int, every_seconds: int | None
) -> WatchTarget:
    """Put ``url`` on the watchlist; raises ValueError if it is already there."""
    url = check_url(url)
    site = site_for_url(session, url)
    for target in site.targets:
        if url in target.start_urls:
            raise ValueError(f"{url} is already on the watchlist (site {site.id})")
    target = WatchTarget(site=site, spider="site", start_urls=[url], depth=depth,
                         max_pages=max_pages, every_seconds=every_seconds, enabled=True)
    session.add(target)
    session.flush()
    return target
