"""Abuse contacts from RDAP: who answers for a domain (its registrar's abuse desk) or an IP
address (its network's abuse desk).

whoisit reads IANA's bootstrap files (which RDAP server answers for which TLD or network)
and parses RDAP answers (entities by role, vCard emails, nested registrar contacts); the
HTTP requests are made here, so that each one is held to the outbound-request policy
(:mod:`swordnet.core.outbound`), a hard deadline and a size cap, and an answer that is not
RDAP is a plain :class:`RdapFailure`. The bootstrap base URL is a setting, so a local
mirror (or a test's own server) can stand in for IANA.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import tldextract
from whoisit.bootstrap import Bootstrap
from whoisit.errors import WhoisItError
from whoisit.parser import parse
from whoisit.query import QueryBuilder

from swordnet.core.config import Settings
from swordnet.core.outbound import AddressPolicy, host_address

BOOTSTRAP_FILES = {"dns": "dns.json", "ipv4": "ipv4.json", "ipv6": "ipv6.json",
                   "asn": "asn.json", "object": "object-tags.json"}
MAX_ANSWER_BYTES = 2_000_000
MAX_REDIRECTS = 3
_SUFFIXES = tldextract.TLDExtract(suffix_list_urls=())  # the bundled list: no download


class RdapFailure(Exception):
    """A lookup that got no usable answer; the message says why in a few words."""


def registered_domain(host: str) -> str:
    """The domain a registrar registered for ``host`` (``www.a.co.uk`` -> ``a.co.uk``); for a
    suffix the public list does not know, the last two labels.

    >>> registered_domain("www.pirate.co.uk"), registered_domain("cdn.pirate.example:8080")
    ('pirate.co.uk', 'pirate.example')
    """
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    name = name.strip("[]").rstrip(".").lower()
    found = _SUFFIXES(name).top_domain_under_public_suffix
    return found or ".".join(name.split(".")[-2:])


class RdapClient:
    """Looks up abuse emails over RDAP within ``timeout_s`` per request (the whole request,
    answer included), connecting only where ``policy`` allows."""

    def __init__(self, bootstrap_url: str, policy: AddressPolicy, timeout_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap_url = bootstrap_url if bootstrap_url.endswith("/") else bootstrap_url + "/"
        self.policy, self.timeout_s, self.clock = policy, timeout_s, clock
        self._bootstrap: Bootstrap | None = None
        self._session = requests.Session()

    def abuse_emails(self, kind: str, subject: str) -> list[str]:
        """The abuse emails RDAP gives for a ``domain`` or an ``ip`` address (may be empty)."""
        bootstrap = self._loaded_bootstrap()
        try:
            _method, url, _exact = QueryBuilder(bootstrap).build(kind, subject)
        except WhoisItError as exc:
            raise RdapFailure(f"no RDAP server for {subject}: {exc}") from None
        answer = self._get_json(url)
        try:
            parsed = parse(bootstrap, kind, subject, answer)
            entities = parsed.get("entities", {}).get("abuse", [])
            emails = [e for entity in entities for e in entity.get("emails", [])]
        except (WhoisItError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise RdapFailure(f"the answer from {_server(url)} is not RDAP ({exc})") from None
        return list(dict.fromkeys(e for e in emails if isinstance(e, str) and "@" in e))

    def _loaded_bootstrap(self) -> Bootstrap:
        if self._bootstrap is None:
            data: dict[str, Any] = {"timestamp": int(time.time())}
            for name, file in BOOTSTRAP_FILES.items():
                data[name] = self._get_json(urljoin(self.bootstrap_url, file))
            bootstrap = Bootstrap()
            try:
                bootstrap.load_bootstrap_data(
                    json.dumps(data),
                    allow_insecure=urlsplit(self.bootstrap_url).scheme == "http")
            except (WhoisItError, AttributeError, KeyError, TypeError, ValueError) as exc:
                raise RdapFailure(f"the RDAP bootstrap files at {self.bootstrap_url} cannot "
                                  f"be used ({exc})") from None
            self._bootstrap = bootstrap
        return self._bootstrap

    def _get_json(self, url: str) -> dict[str, Any]:
        """GET ``url`` as JSON, following a few redirects, each hop checked by the policy."""
        deadline = self.clock() + self.timeout_s
        for _ in range(MAX_REDIRECTS + 1):
            self._check_address(url)
            body, status, location = self._get(url, deadline)
            if status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            if status == 404:
                raise RdapFailure(f"{_server(url)} has no record (HTTP 404)")
            if status != 200:
                raise RdapFailure(f"{_server(url)} answered HTTP {status}")
            try:
                answer = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise RdapFailure(f"the answer from {_server(url)} is not JSON") from None
            if not isinstance(answer, dict):
                raise RdapFailure(f"the answer from {_server(url)} is not an RDAP object")
            return answer
        raise RdapFailure(f"more than {MAX_REDIRECTS} redirects from {_server(url)}")

    def _get(self, url: str, deadline: float) -> tuple[bytes, int, str | None]:
        remaining = deadline - self.clock()
        try:
            with self._session.get(url, stream=True, allow_redirects=False,
                                   timeout=(max(remaining, 0.1), max(remaining, 0.1)),
                                   headers={"Accept": "application/rdap+json"}) as response:
                chunks, size = [], 0
                while chunk := response.raw.read1(16384, decode_content=True):
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        raise RdapFailure(f"the answer from {_server(url)} is over "
                                          f"{MAX_ANSWER_BYTES} bytes")
                    if self.clock() > deadline:
                        raise RdapFailure(f"no complete answer from {_server(url)} within "
                                          f"{self.timeout_s:g} s")
                    chunks.append(chunk)
                return b"".join(chunks), response.status_code, response.headers.get("location")
        except requests.Timeout:
            raise RdapFailure(f"no complete answer from {_server(url)} within "
                              f"{self.timeout_s:g} s") from None
        except requests.RequestException as exc:
            raise RdapFailure(f"cannot reach {_server(url)} ({type(exc).__name__})") from None

    def _check_address(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RdapFailure(f"not an RDAP URL: {url}")
        literal = host_address(parts.hostname)
        try:
            addresses = [str(literal)] if literal is not None else sorted({
                str(info[4][0]) for info in socket.getaddrinfo(
                    parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)})
        except OSError:
            raise RdapFailure(f"cannot resolve {parts.hostname}") from None
        for address in addresses:
            refusal = self.policy.refusal(address)
            if refusal is not None:
                raise RdapFailure(f"{_server(url)}: {refusal}")


def rdap_client(settings: Settings) -> RdapClient:
    """The configured client: bootstrap URL, timeout, and the fetches' address policy."""
    return RdapClient(settings.rdap_bootstrap_url,
                      AddressPolicy.from_text(settings.allow_networks), settings.rdap_timeout_s)


def _server(url: str) -> str:
    return urlsplit(url).netloc or url
