"""Runtime settings read from the environment (SWORDNET_HOME, SWORDNET_DATABASE_URL,
SWORDNET_TRUSTED_PROXIES)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where Swordnet keeps its data and which database it talks to."""

    home: Path
    database_url: str
    # Addresses or networks of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto
    # are believed; from anyone else those headers are ignored.
    trusted_proxies: tuple[str, ...] = ()

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


class SettingsError(ValueError):
    """An environment variable Swordnet cannot use; the message names it."""


def parse_networks(value: str, name: str = "SWORDNET_TRUSTED_PROXIES") -> tuple[str, ...]:
    """Comma-separated IP addresses or networks, normalised.

    >>> parse_networks("127.0.0.1, 10.0.0.0/8,::1")
    ('127.0.0.1/32', '10.0.0.0/8', '::1/128')
    >>> parse_networks("proxy.internal", "PROXIES")
    Traceback (most recent call last):
    ...
    swordnet.config.SettingsError: PROXIES: 'proxy.internal' is not an IP address or network
    """
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not an IP address or network") from None
    return tuple(networks)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from the environment.

    ``SWORDNET_HOME`` defaults to ``./.swordnet``; ``SWORDNET_DATABASE_URL`` defaults to a
    SQLite file inside it. ``SWORDNET_TRUSTED_PROXIES`` (default: none) lists the reverse
    proxies whose forwarded-for headers the web console and API believe.

    >>> s = load_settings({"SWORDNET_HOME": "/tmp/sn"})
    >>> s.database_url
    'sqlite:////tmp/sn/swordnet.db'
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("SWORDNET_HOME") or ".swordnet").expanduser().resolve()
    url = env.get("SWORDNET_DATABASE_URL") or f"sqlite:///{home / 'swordnet.db'}"
    proxies = parse_networks(env.get("SWORDNET_TRUSTED_PROXIES", ""))
    return Settings(home=home, database_url=url, trusted_proxies=proxies)
