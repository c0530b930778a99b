"""Scrapy settings for Swordnet's spiders (``scrapy crawl site -a url=...``)."""

from __future__ import annotations

BOT_NAME = "swordnet"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

USER_AGENT = "Mozilla/5.0 (compatible; Swordnet/0.1; copyright monitoring)"
# robots.txt is a per-target policy (WatchTarget.obey_robots, applied by the spider); evidence
# collection on suspected infringing sites does not obey it by default (docs/operations.md).
ROBOTSTXT_OBEY = False
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
RETRY_TIMES = 1
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
# Non-2xx responses reach the spider so that failures are recorded on the run.
HTTPERROR_ALLOW_ALL = True

ITEM_PIPELINES = {
    "crawlers.pipelines.FingerprintPipeline": 100,
    "crawlers.pipelines.MatchPipeline": 200,
    "crawlers.pipelines.StorePipeline": 300,
}

# WARC files of evidence roll over (and are sealed into the evidence store) at this size.
SWORDNET_WARC_MAX_BYTES = 256 * 1024 * 1024
