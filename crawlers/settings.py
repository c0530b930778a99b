"""Scrapy settings for Swordnet's spiders (``scrapy crawl site -a url=...``).

The executors add the run's own with ``-s`` (or scrapyd job settings): the database, the
home, the allowed networks and the watch target's robots policy, politeness, time cap and
JavaScript rendering. The defaults below are those of a crawl of a URL.
"""

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
DOWNLOAD_DELAY = 0
CLOSESPIDER_TIMEOUT = 3600  # a watch target's time cap replaces it
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
RETRY_TIMES = 1
# Breadth-first order (Scrapy's "crawl in BFO order"): shallow pages first, so a page cap
# keeps the pages nearest the start and few pages are reached by a shorter path after they
# were read (crawlers/frontier.py fetches those again).
DEPTH_PRIORITY = 1
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"
COOKIES_ENABLED = False
LOG_LEVEL = "INFO"
# Non-2xx responses reach the spider so that failures are recorded on the run.
HTTPERROR_ALLOW_ALL = True

# Items (media files) processed in parallel per response. Scrapy's default of 100 starts
# that many tasks for every response, which costs a plain crawl about half its speed.
CONCURRENT_ITEMS = 8

# Where the crawl keeps its results: SWORDNET_DATABASE_URL and SWORDNET_HOME (evidence
# store), passed by the executors; a crawl started by hand without them reads the
# environment variables of the same names (crawlers/config.py). One database per crawl
# process, opened by the CrawlDatabase extension. The match workers are forked from the crawl
# process before any thread starts in it (the database's opener is one): their extension is
# built first (crawlers/match_workers.py).
EXTENSIONS = {"crawlers.match_workers.MatchWorkers": -1000, "crawlers.database.CrawlDatabase": 0}
# Scrapy's own extensions: those of EXTENSIONS_BASE that a crawl here uses. Scrapy imports
# every extension it lists, even one disabled with None in EXTENSIONS, so those a crawl never
# turns on are left out of the list instead: the remote-control HTTP server (aiohttp and its
# TLS contexts, about 0.25 CPU s of every crawl's start) and the telnet console (runs are
# managed through the scheduler's executor), the memory debugger, feed exports (results go
# to the database), spider state (no spider keeps any) and AutoThrottle (politeness is the
# target's DOWNLOAD_DELAY and concurrency).
EXTENSIONS_BASE = {
    "scrapy.extensions.corestats.CoreStats": 0,
    "scrapy.extensions.logcount.LogCount": 0,
    "scrapy.extensions.memusage.MemoryUsage": 0,
    "scrapy.extensions.closespider.CloseSpider": 0,
    "scrapy.extensions.logstats.LogStats": 0,
}

# JavaScript rendering (scrapy-playwright behind the outbound policy's proxy) for a watch
# target that asks for it (-s SWORDNET_RENDER_JS=True); otherwise the add-on stays off.
ADDONS = {"crawlers.browser_proxy.JsRendering": 0}
SWORDNET_RENDER_JS = False

ITEM_PIPELINES = {
    "crawlers.pipelines.AnalysisPipeline": 100,  # fingerprint + match, in worker processes
    "crawlers.pipelines.StorePipeline": 300,     # evidence, captures and hits
}
# Worker processes that fingerprint and match media: SWORDNET_MATCH_WORKERS, as a Scrapy setting
# or in the environment (unset or 0: one per CPU core; crawlers/config.py).

# WARC files of evidence roll over (and are sealed into the evidence store) at this size.
SWORDNET_WARC_MAX_BYTES = 256 * 1024 * 1024

# The outbound-request policy (crawlers/outbound.py, docs/security.md): every connection goes
# to an address the policy allows, checked when the host is resolved; schemes other than
# http(s) have no handler; proxies from the environment are not used (a proxy would resolve
# the host itself, out of the policy's reach).
TWISTED_DNS_RESOLVER = "crawlers.outbound.PolicyResolver"
DOWNLOADER_MIDDLEWARES = {"crawlers.outbound.OutboundPolicyMiddleware": 990}
DOWNLOAD_HANDLERS = {"data": None, "file": None, "s3": None, "ftp": None}
HTTPPROXY_ENABLED = False
# SWORDNET_ALLOW_NETWORKS: networks allowed besides public addresses (comma-separated),
# e.g. 10.20.0.0/16 for an intranet deployment; passed by the executors, or read from the
# environment (crawlers/config.py). No default here: an absent setting means "ask the
# environment".

# Imported here, at the start of every crawl process, for its cost: Scrapy's TLS context
# factory module names its deprecated aliases' module with inspect.stack(), whose cost grows
# with the stack's depth and the modules loaded. Imported by the HTTP download handler, deep
# in building the engine with ~1,200 modules loaded, it cost each crawl 0.7-0.8 CPU s; here,
# with ~600 loaded and a shallow stack, the whole module with OpenSSL costs 0.08.
import scrapy.core.downloader.contextfactory  # noqa: E402,F401
