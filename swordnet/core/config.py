"""Runtime settings read from the environment (SWORDNET_HOME, SWORDNET_DATABASE_URL,
SWORDNET_TRUSTED_PROXIES, SWORDNET_ALLOW_NETWORKS)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from swordnet.core import outbound
from swordnet.core.errors import Unavailable


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
                    allow_networks=",".join(networks))
