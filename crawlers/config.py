"""Swordnet's settings in a crawl process: Scrapy settings first, the environment second.

The executors pass the database, the home (evidence store) and the allowed networks as
Scrapy settings (``-s NAME=value``, scrapyd job settings). A crawl started by hand
(``scrapy crawl site -a url=...``) may leave them out: each one absent from the Scrapy
settings is read from the environment variable of the same name, here and nowhere else.
The number of match workers is read the same way (:func:`match_workers`).
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
# How many worker processes fingerprint and match a crawl's media (unset or 0: one per core).
MATCH_WORKERS = "SWORDNET_MATCH_WORKERS"
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


def match_workers(settings: BaseSettings, environ: Mapping[str, str] | None = None) -> int:
    """The crawl's number of match worker processes: :data:`MATCH_WORKERS` from the Scrapy
    settings, else from the environment; one per core when neither gives one above 0.

    >>> from scrapy.settings import Settings as ScrapySettings
    >>> match_workers(ScrapySettings({MATCH_WORKERS: 3}), {MATCH_WORKERS: "1"})
    3
    >>> match_workers(ScrapySettings(), {MATCH_WORKERS: "1"})
    1
    >>> match_workers(ScrapySettings(), {MATCH_WORKERS: "many"})
    Traceback (most recent call last):
    ...
    swordnet.core.config.SettingsError: SWORDNET_MATCH_WORKERS: 'many' is not a whole number
    """
    text = (crawl_setting(settings, MATCH_WORKERS, environ) or "").strip()
    try:
        workers = int(text or 0)
    except ValueError:
        raise SettingsError(f"{MATCH_WORKERS}: {text!r} is not a whole number") from None
    return workers if workers > 0 else os.cpu_count() or 1
