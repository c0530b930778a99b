"""Swordnet's settings in a crawl process: Scrapy settings first, the environment second.

The executors pass the database, the home (evidence store) and the allowed networks as
Scrapy settings (``-s NAME=value``, scrapyd job settings). A crawl started by hand
(``scrapy crawl site -a url=...``) may leave them out: each one absent from the Scrapy
settings is read from the environment variable of the same name, here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from scrapy.settings import BaseSettings

from swordnet.core.config import Settings, SettingsError, load_settings

HOME = "SWORDNET_HOME"
DATABASE_URL = "SWORDNET_DATABASE_URL"
ALLOW_NETWORKS = "SWORDNET_ALLOW_NETWORKS"
NAMES = (HOME, DATABASE_URL, ALLOW_NETWORKS)
# A Scrapy setting only (no environment fallback): pages are rendered with JavaScript.
RENDER_JS = "SWORDNET_RENDER_JS"


def crawl_setting(settings: BaseSettings, name: str,
                  environ: Mapping[str, str] | None = None) -> str | None:
    """The Scrapy setting ``name`` if the crawl was given it (even empty), else the
    environment variable of that name, else None."""
    value = settings.get(name)
    if value is not None:
        return str(value)
    return (os.environ if environ is None else environ).get(name)


def crawl_settings(settings: BaseSettings,
                   environ: Mapping[str, str] | None = None) -> Settings:
    """The crawl's :class:`~swordnet.core.config.Settings`; raises :class:`SettingsError` (one
    line) when neither the Scrapy settings nor the environment name a database or a home,
    or when a value is unusable."""
    given = {name: value for name in NAMES
             if (value := crawl_setting(settings, name, environ)) is not None}
    if not given.get(DATABASE_URL) and not given.get(HOME):
        raise SettingsError(f"no database for this crawl: pass -s {DATABASE_URL}=URL or "
                            f"-s {HOME}=DIR (or set either in the environment)")
    return load_settings(given)
