"""The watchlist: suspect sites (keyed by network location) and their watch targets."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import idna
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from swordnet.core.errors import BadInput, Conflict, NotFound
from swordnet.core.models import SPIDERS, CampaignTarget, CrawlRun, Site, WatchTarget, Work
from swordnet.core.outbound import host_address
from swordnet.core.timeutil import utcnow

DEFAULT_PORTS = {"http": 80, "https": 443}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SEARCH_PLACEHOLDER = "{query}"
# A DNS label (underscores occur in real host names, though not in registered domains).
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
MAX_HOST_LENGTH = 253
_HOST_PORT = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^:/@\[\]\s]+)(?::([0-9]{1,5}))?")


def check_hostname(host: str) -> str:
    """A URL's host as sites are keyed: a DNS name in lower-case ASCII (IDN names in their
    punycode form), or an IP address as it is usually written; raises BadInput otherwise.

    >>> check_hostname("Bücher.Example")
    'xn--bcher-kva.example'
    >>> check_hostname("0x7f000001")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: not a host name: '0x7f000001' (write an IPv4 address as four ...
    """
    name = host.strip().rstrip(".").lower()
    literal = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    address = host_address(literal)
    if address is not None:
        if address.version == 4 and literal != str(address):
            raise BadInput(f"not a host name: {host!r} (write an IPv4 address as four "
                           "decimal numbers)")
        return str(address)
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise BadInput(f"not a host name: {host[:80]!r} (not a valid "
                           "internationalised domain name)") from None
    labels = name.split(".")
    if (len(name) > MAX_HOST_LENGTH or not all(_LABEL.match(label) for label in labels)
            or labels[-1].isdigit()):
        raise BadInput(f"not a host name: {host[:80]!r} (letters, digits and hyphens in "
                       f"dot-separated labels of at most 63, {MAX_HOST_LENGTH} in all)")
    return name


def check_url(url: str) -> str:
    """``url`` with scheme and host normalised, if it is an absolute http(s) URL with a valid
    host (see :func:`check_hostname`), no user name or password, and a port of 1-65535.

    >>> check_url(" HTTPS://Pirate.Example/Films?id=7 ")
    'https://pirate.example/Films?id=7'
    >>> check_url("ftp://example.org/")
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: not an http(s) URL: 'ftp://example.org/'
    >>> check_url("http://user:pw@pirate.example/")
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: a URL with a user name or password is not accepted: 'http://user:pw@pirate.example/'
    """
    shown = url if len(url) <= 200 else url[:200] + "..."
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise BadInput(f"not a valid URL: {shown!r}") from None
    if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
        raise BadInput(f"not an http(s) URL: {shown!r}")
    if "@" in parts.netloc:
        raise BadInput(f"a URL with a user name or password is not accepted: {shown!r}")
    if port == 0:
        raise BadInput(f"port 0 of {shown!r} is not 1-65535")
    host = check_hostname(parts.hostname)
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=netloc))


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
        raise BadInput(f"not an interval: {text!r} (use e.g. 45s, 30m, 6h, 1d)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]


def check_cron(expression: str) -> str:
    """A standard five-field crontab expression (minute hour day month weekday), in UTC.

    >>> check_cron("30 2 * * mon-fri")
    '30 2 * * mon-fri'
    >>> check_cron("61 * * * *")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: not a cron expression: '61 * * * *' (... higher than the ...
    """
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise BadInput(f"not a cron expression: {expression!r} ({exc})") from None
    return expression


def check_patterns(patterns: list[str]) -> list[str]:
    """The patterns, if every one is a valid regular expression.

    >>> check_patterns([r"/films/\\d+"])
    ['/films/\\\\d+']
    >>> check_patterns(["/films/("])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: not a valid regular expression: '/films/(' (missing ), ...
    """
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise BadInput(f"not a valid regular expression: {pattern!r} ({exc.msg})") from None
    return list(patterns)


def check_search_template(template: str) -> str:
    """A search URL template with exactly one ``{query}`` placeholder.

    >>> check_search_template("https://pirate.example/search?q={query}")
    'https://pirate.example/search?q={query}'
    >>> check_search_template("https://pirate.example/search")
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: search template needs one {query} placeholder: 'https://pirate.example/search'
    """
    if template.count(SEARCH_PLACEHOLDER) != 1:
        raise BadInput(f"search template needs one {SEARCH_PLACEHOLDER} placeholder: "
                       f"{template!r}")
    check_url(template.replace(SEARCH_PLACEHOLDER, "q"))
    return template


def check_host(host: str) -> str:
    """A mirror domain as sites are keyed: lower-case host, plus a port if not the default.

    >>> check_host("Mirror.Pirate.Example")
    'mirror.pirate.example'
    >>> check_host("https://mirror.example/")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: not a host name: 'https://mirror.example/' (give e.g. ...
    >>> check_host("mirror.example:99999")
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: port 99999 of 'mirror.example:99999' is not 1-65535
    """
    match = _HOST_PORT.fullmatch(host.strip())
    try:
        if match is None:
            raise ValueError
        key = check_hostname(match.group(1))
    except ValueError:
        raise BadInput(f"not a host name: {host[:80]!r} (give e.g. mirror.example)") from None
    port = match.group(2)
    if port and not 1 <= int(port) <= 65535:
        raise BadInput(f"port {port} of {host!r} is not 1-65535")
    key = f"[{key}]" if ":" in key else key
    return f"{key}:{int(port)}" if port else key


def site_for_url(session: Session, url: str) -> Site:
    """The site ``url`` belongs to, added to the sites table on first sight."""
    key = site_key(url)
    site = session.scalar(select(Site).where(Site.domain == key))
    if site is None:
        site = Site(domain=key, status="active", first_seen_at=utcnow())
        session.add(site)
        session.flush()
    return site


# Bounds of a target's numeric settings (the CLI's options, the API's fields and the
# console's form all check these): inclusive, None for no upper bound.
LIMITS: dict[str, tuple[float, float | None]] = {
    "depth": (0, 50), "max_pages": (1, None), "delay_s": (0, 600), "concurrency": (1, 64),
    "time_cap_s": (1, None), "every_seconds": (1, None),
}
# The settings a target's owner may change after adding it (its URL and spider stay).
EDITABLE = ("depth", "max_pages", "every_seconds", "cron", "mirror_domains", "allow_patterns",
            "deny_patterns", "obey_robots", "delay_s", "concurrency", "time_cap_s",
            "render_js", "screenshot", "search_template", "work_ids")


def check_limit(name: str, value: float) -> float:
    """``value`` if it is within the bounds :data:`LIMITS` gives setting ``name``.

    >>> check_limit("depth", 3)
    3
    >>> check_limit("depth", 51)
    Traceback (most recent call last):
    ...
    swordnet.core.errors.BadInput: depth 51 is out of range (0 to 50)
    """
    low, high = LIMITS[name]
    if value < low or (high is not None and value > high):
        bounds = f"{low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise BadInput(f"{name} {value:g} is out of range ({bounds})")
    return value


def _checked(session: Session, spider: str, options: dict[str, Any]) -> dict[str, Any]:
    """A target's settings, checked; raises BadInput naming the first bad one (NotFound for
    an unknown work)."""
    for name in LIMITS:
        if options.get(name) is not None:
            check_limit(name, options[name])
    if options.get("every_seconds") is not None and options.get("cron"):
        raise BadInput("give either an interval (--every) or a cron expression (--cron)")
    if options.get("cron"):
        check_cron(options["cron"])
    if "mirror_domains" in options:
        options["mirror_domains"] = [check_host(h) for h in options["mirror_domains"]]
    check_patterns([*options.get("allow_patterns", []), *options.get("deny_patterns", [])])
    if options.get("search_template"):
        check_search_template(options["search_template"])
    elif spider == "search":
        raise BadInput("a search target needs --search-template URL containing {query}")
    if options.get("screenshot"):
        options["render_js"] = True  # screenshots are taken of rendered pages
    for work_id in options.get("work_ids", []):
        if session.get(Work, work_id) is None:
            raise NotFound(f"no work with id {work_id}")
    return options


def add_target(
    session: Session, url: str, *, depth: int, max_pages: int, every_seconds: int | None,
    spider: str = "site", **options: Any,
) -> WatchTarget:
    """Put ``url`` on the watchlist with a spider and its settings (WatchTarget columns);
    raises BadInput naming the bad setting (Conflict if that spider already watches the URL).
    """
    url = check_url(url)
    if spider not in SPIDERS:
        raise BadInput(f"unknown spider {spider!r} (choose from {', '.join(SPIDERS)})")
    options = _checked(session, spider, {**options, "depth": depth, "max_pages": max_pages,
                                         "every_seconds": every_seconds})
    site = site_for_url(session, url)
    for target in site.targets:
        if url in target.start_urls and target.spider == spider:
            raise Conflict(f"{url} is already on the watchlist (site {site.id}, "
                           f"{spider} spider)")
    target = WatchTarget(site=site, spider=spider, start_urls=[url], enabled=True, **options)
    session.add(target)
    session.flush()
    return target


def update_target(session: Session, target_id: int, **changes: Any) -> WatchTarget:
    """Change some of a target's :data:`EDITABLE` settings, checked as when it was added
    (together with the settings left as they were); nothing changes if one is bad."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise BadInput(f"not a setting of a watch target: {', '.join(sorted(unknown))}")
    target = get_target(session, target_id)
    merged = {name: getattr(target, name) for name in EDITABLE} | changes
    if "cron" in changes and changes["cron"] and "every_seconds" not in changes:
        merged["every_seconds"] = None  # a new cron replaces the interval, and vice versa
    if changes.get("every_seconds") is not None and "cron" not in changes:
        merged["cron"] = None
    for name, value in _checked(session, target.spider, merged).items():
        setattr(target, name, value)
    return target


def set_enabled(session: Session, target_id: int, enabled: bool) -> WatchTarget:
    """Pause (take off its standing schedule) or resume a target; campaigns naming it still
    crawl it while they run."""
    target = get_target(session, target_id)
    if target.enabled == enabled:
        raise Conflict(f"watch target {target_id} is already "
                       f"{'active' if enabled else 'paused'}")
    target.enabled = enabled
    return target


def remove_target(session: Session, target_id: int) -> None:
    """Take a target off the watchlist; refused (Conflict) once it has crawl history or a
    campaign names it, whose records point at it: pause it instead. Its site stays."""
    target = get_target(session, target_id)
    runs = session.scalar(select(func.count()).where(CrawlRun.target_id == target_id)) or 0
    if runs:
        raise Conflict(f"watch target {target_id} has {runs} crawl run(s) on record; "
                       "pause it instead")
    campaigns = session.scalar(select(func.count()).where(
        CampaignTarget.target_id == target_id)) or 0
    if campaigns:
        raise Conflict(f"watch target {target_id} belongs to {campaigns} campaign(s); "
                       "pause it instead")
    session.delete(target)
    session.flush()


def get_target(session: Session, target_id: int) -> WatchTarget:
    """The watch target with this id; raises NotFound naming the id if there is none."""
    target = session.get(WatchTarget, target_id)
    if target is None:
        raise NotFound(f"no watch target with id {target_id} (see `swordnet sites list`)")
    return target


def scrapy_settings(target: WatchTarget) -> dict[str, bool | int | float]:
    """The Scrapy settings a crawl of ``target`` runs with: its robots policy, politeness,
    time cap and JavaScript rendering (the executors pass them with ``-s``)."""
    return {"ROBOTSTXT_OBEY": target.obey_robots, "DOWNLOAD_DELAY": float(target.delay_s),
            "CONCURRENT_REQUESTS_PER_DOMAIN": target.concurrency,
            "CLOSESPIDER_TIMEOUT": target.time_cap_s, "SWORDNET_RENDER_JS": target.render_js}


def set_schedule(session: Session, target_id: int, every_seconds: int | None,
                 cron: str | None) -> WatchTarget:
    """Crawl a target on an interval, on a cron expression, or (neither) not on a schedule."""
    return update_target(session, target_id, every_seconds=every_seconds, cron=cron)
