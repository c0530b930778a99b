"""Runtime settings read from the environment (SWORDNET_HOME, SWORDNET_DATABASE_URL,
SWORDNET_ALLOW_NETWORKS)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from swordnet.outbound import parse_networks


@dataclass(frozen=True)
class Settings:
    """Where Swordnet keeps its data and which database it talks to."""

    home: Path
    database_url: str
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


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from the environment.

    ``SWORDNET_HOME`` defaults to ``./.swordnet``; ``SWORDNET_DATABASE_URL`` defaults to a
    SQLite file inside it. ``SWORDNET_ALLOW_NETWORKS`` (default: none) names private networks
    fetches may reach; raises ValueError naming a bad entry.

    >>> s = load_settings({"SWORDNET_HOME": "/tmp/sn"})
    >>> s.database_url
    'sqlite:////tmp/sn/swordnet.db'
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("SWORDNET_HOME") or ".swordnet").expanduser().resolve()
    url = env.get("SWORDNET_DATABASE_URL") or f"sqlite:///{home / 'swordnet.db'}"
    try:
        networks = parse_networks(env.get("SWORDNET_ALLOW_NETWORKS") or "")
    except ValueError as exc:
        raise ValueError(f"SWORDNET_ALLOW_NETWORKS: {exc}") from None
    return Settings(home=home, database_url=url,
                    allow_networks=",".join(str(network) for network in networks))
