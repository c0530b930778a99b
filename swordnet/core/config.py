"""Runtime settings read from the environment (SWORDNET_HOME, SWORDNET_DATABASE_URL,
SWORDNET_TRUSTED_PROXIES, SWORDNET_ALLOW_NETWORKS, the SWORDNET_SMTP_* mail server and
SWORDNET_RDAP_BOOTSTRAP_URL, SWORDNET_RDAP_TIMEOUT, SWORDNET_PUBLIC_PAGES,
SWORDNET_COLD_CRAWLS)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from swordnet.core import outbound
from swordnet.core.errors import Unavailable

SMTP_SECURITY = ("starttls", "tls", "none")
_SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class SmtpSettings:
    """The mail server notices are sent through. The password comes from the environment or
    a file, never from a command line; ``ca_file`` adds trusted certificates (the server's
    certificate is always verified)."""

    host: str
    port: int
    security: str
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Settings:
    """Where Swordnet keeps its data and which database it talks to."""

    home: Path
    database_url: str
    # Addresses or networks of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto
    # are believed; from anyone else those headers are ignored.
    trusted_proxies: tuple[str, ...] = ()
    # Networks fetches may reach besides public addresses (comma-separated, normalised), for
    # an intranet deployment; the crawls get it as the Scrapy setting of the same name.
    allow_networks: str = ""
    # Where notices are emailed from (None: not configured; only recording and dry runs).
    smtp: SmtpSettings | None = None
    # Where RDAP's bootstrap files (dns.json, ipv4.json, ...) are read from.
    rdap_bootstrap_url: str = "https://data.iana.org/rdap/"
    # The most one RDAP request may take, answer included.
    rdap_timeout_s: float = 10.0
    # Whether the unauthenticated pages of published cases (/public/) are served; off in a
    # fresh install (404), on in the demo (make serve).
    public_pages: bool = False
    # Whether the local executor forks crawls from a warm launcher that has imported the crawl
    # code (scheduler/launcher.py) rather than starting each as a fresh subprocess.
    warm_crawls: bool = True

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def evidence_dir(self) -> Path:
        """The content-addressed evidence store (WARC files, screenshots)."""
        return self.home / "evidence"

    @property
    def templates_dir(self) -> Path:
        """Notice and report templates that replace or add to the built-in ones."""
        return self.home / "templates"

    @property
    def jobs_dir(self) -> Path:
        """Parent of the per-run Scrapy JOBDIRs."""
        return self.home / "jobs"


N = TypeVar("N", int, float)


class SettingsError(Unavailable, ValueError):
    """An environment variable Swordnet cannot use; the message names it."""


def parse_networks(value: str, name: str) -> tuple[str, ...]:
    """The comma-separated IP addresses or networks of the environment variable ``name``,
    normalised (:func:`swordnet.core.outbound.parse_networks`).

    >>> parse_networks("127.0.0.1, 10.0.0.0/8,::1", "PROXIES")
    ('127.0.0.1/32', '10.0.0.0/8', '::1/128')
    >>> parse_networks("proxy.internal", "PROXIES")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.config.SettingsError: PROXIES: not a network: 'proxy.internal' (not an ...
    """
    try:
        return tuple(str(network) for network in outbound.parse_networks(value))
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from the environment.

    ``SWORDNET_HOME`` defaults to ``./.swordnet``; ``SWORDNET_DATABASE_URL`` defaults to a
    SQLite file inside it. ``SWORDNET_TRUSTED_PROXIES`` (default: none) lists the reverse
    proxies whose forwarded-for headers the web console and API believe;
    ``SWORDNET_ALLOW_NETWORKS`` (default: none) the private networks fetches may reach. A bad
    entry raises :class:`SettingsError` naming it.

    >>> s = load_settings({"SWORDNET_HOME": "/tmp/sn"})
    >>> s.database_url
    'sqlite:////tmp/sn/swordnet.db'
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("SWORDNET_HOME") or ".swordnet").expanduser().resolve()
    url = env.get("SWORDNET_DATABASE_URL") or f"sqlite:///{home / 'swordnet.db'}"
    proxies = parse_networks(env.get("SWORDNET_TRUSTED_PROXIES", ""), "SWORDNET_TRUSTED_PROXIES")
    networks = parse_networks(env.get("SWORDNET_ALLOW_NETWORKS", ""), "SWORDNET_ALLOW_NETWORKS")
    return Settings(home=home, database_url=url, trusted_proxies=proxies,
                    allow_networks=",".join(networks), smtp=load_smtp(env),
                    rdap_bootstrap_url=env.get("SWORDNET_RDAP_BOOTSTRAP_URL")
                    or Settings.rdap_bootstrap_url,
                    rdap_timeout_s=_number(env, "SWORDNET_RDAP_TIMEOUT",
                                           Settings.rdap_timeout_s, float),
                    public_pages=_switch(env, "SWORDNET_PUBLIC_PAGES"),
                    warm_crawls=not _switch(env, "SWORDNET_COLD_CRAWLS"))


def load_smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    """The mail server from ``SWORDNET_SMTP_HOST``, ``_PORT``, ``_SECURITY`` (starttls, tls,
    none), ``_FROM``, ``_USER``, ``_PASSWORD`` or ``_PASSWORD_FILE``, ``_CA_FILE`` and
    ``_TIMEOUT`` (seconds); None without a host.

    >>> load_smtp({"SWORDNET_SMTP_HOST": "mail.example", "SWORDNET_SMTP_FROM": "a@b.example"})
    SmtpSettings(host='mail.example', port=587, security='starttls', sender='a@b.example', \
user=None, ca_file=None, timeout_s=30.0)
    >>> load_smtp({"SWORDNET_SMTP_HOST": "mail.example", "SWORDNET_SMTP_SECURITY": "ssl"})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.config.SettingsError: SWORDNET_SMTP_SECURITY: 'ssl' is not one of starttls, ...
    """
    host = env.get("SWORDNET_SMTP_HOST", "").strip()
    if not host:
        return None
    security = env.get("SWORDNET_SMTP_SECURITY", "starttls").strip().lower()
    if security not in SMTP_SECURITY:
        raise SettingsError(f"SWORDNET_SMTP_SECURITY: {security!r} is not one of "
                            f"{', '.join(SMTP_SECURITY)}")
    sender = env.get("SWORDNET_SMTP_FROM", "").strip()
    if not sender:
        raise SettingsError("SWORDNET_SMTP_FROM: the address notices are sent from is missing")
    password = env.get("SWORDNET_SMTP_PASSWORD") or None
    password_file = env.get("SWORDNET_SMTP_PASSWORD_FILE")
    if password_file:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"SWORDNET_SMTP_PASSWORD_FILE: cannot read {password_file}: "
                                f"{exc.strerror if isinstance(exc, OSError) else exc}") from None
    ca_file = env.get("SWORDNET_SMTP_CA_FILE")
    return SmtpSettings(
        host=host, port=_number(env, "SWORDNET_SMTP_PORT", _SMTP_PORTS[security], int),
        security=security, sender=sender, user=env.get("SWORDNET_SMTP_USER") or None,
        password=password, ca_file=Path(ca_file) if ca_file else None,
        timeout_s=_number(env, "SWORDNET_SMTP_TIMEOUT", 30.0, float))


_ON, _OFF = ("1", "on", "true", "yes"), ("", "0", "off", "false", "no")


def _switch(env: Mapping[str, str], name: str) -> bool:
    """An on/off variable (unset: off); SettingsError naming it for anything else.

    >>> _switch({"X": "On"}, "X"), _switch({}, "X")
    (True, False)
    >>> _switch({"X": "maybe"}, "X")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    swordnet.core.config.SettingsError: X: 'maybe' is not on or off (use 1/on/true or 0/off/false)
    """
    text = env.get(name, "").strip().lower()
    if text not in _ON + _OFF:
        raise SettingsError(f"{name}: {text!r} is not on or off (use 1/on/true or 0/off/false)")
    return text in _ON


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise SettingsError(f"{name}: {text!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"{name}: {text!r} must be above 0")
    return value
