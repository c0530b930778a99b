"""Runtime settings read from the environment (SWORDNET_HOME, SWORDNET_DATABASE_URL)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where Swordnet keeps its data and which database it talks to."""

    home: Path
    database_url: str

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
    SQLite file inside it.

    >>> s = load_settings({"SWORDNET_HOME": "/tmp/sn"})
    >>> s.database_url
    'sqlite:////tmp/sn/swordnet.db'
    """
    env = os.environ if environ is None else environ
    home = Path(env.get("SWORDNET_HOME") or ".swordnet").expanduser().resolve()
    url = env.get("SWORDNET_DATABASE_URL") or f"sqlite:///{home / 'swordnet.db'}"
    return Settings(home=home, database_url=url)
