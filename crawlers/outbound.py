"""The outbound-request policy in a crawl (:mod:`swordnet.core.outbound`), where it cannot be
bypassed: at name resolution, so at connect time.

- :class:`PolicyResolver` (``TWISTED_DNS_RESOLVER``) hands the connection only the
  addresses the policy allows. Every connection Scrapy opens resolves its host through it,
  IP literals included, so a name that resolves (or re-resolves: DNS rebinding) to a private
  address gets no connection.
- :class:`OutboundPolicyMiddleware` (a downloader middleware, so it sees every request,
  redirects included: a redirect is a new request through the whole chain) refuses schemes
  other than http(s) and IP-literal hosts (in any spelling the resolver accepts) before any
  connection, and turns a lookup the resolver refused into :class:`RefusedRequest` with the
  plain reason, which the spiders record. It comes last in the chain (``process_request``
  sees the request as it will be sent) and so first for exceptions (a refusal is not
  retried).

The allowed networks come from the Scrapy setting ``SWORDNET_ALLOW_NETWORKS`` (the
executors pass :attr:`swordnet.core.config.Settings.allow_networks` as ``-s``), or from the
environment variable of that name for a crawl started by hand (:mod:`crawlers.config`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IResolutionReceiver,
)
from zope.interface import implementer

from crawlers.config import ALLOW_NETWORKS, crawl_setting
from swordnet.core.outbound import PREFIX, AddressPolicy, host_address

SCHEMES = ("http", "https")

# Host names whose every address the resolver refused in this crawl process, with the reason
# (one crawl per process): later requests to them are refused before any lookup.
_refused_hosts: dict[str, str] = {}


class RefusedRequest(IgnoreRequest):
    """A request the outbound policy refused; the message is the plain reason."""


def policy_of(crawler: Crawler) -> AddressPolicy:
    """The policy a crawl was started with; raises ValueError on a bad setting."""
    return AddressPolicy.from_text(crawl_setting(crawler.settings, ALLOW_NETWORKS) or "")


@implementer(IResolutionReceiver)
class _FilteringReceiver:
    """Passes on only the addresses the policy allows."""

    def __init__(self, receiver: IResolutionReceiver, host: str, policy: AddressPolicy) -> None:
        self.receiver, self.host, self.policy = receiver, host, policy
        self.passed = 0
        self.reason: str | None = None

    def resolutionBegan(self, resolution: IHostResolution) -> None:  # noqa: N802 (Twisted)
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:  # noqa: N802
        try:
            reason = self.policy.refusal(getattr(address, "host", ""))
        except ValueError:  # not an IP address: nothing to connect to
            reason = f"{PREFIX}address not allowed (not an IP address)"
        if reason:
            self.reason = self.reason or reason
            return
        self.passed += 1
        self.receiver.addressResolved(address)

    def resolutionComplete(self) -> None:  # noqa: N802
        if not self.passed and self.reason:
            _refused_hosts[self.host.lower().rstrip(".")] = self.reason
        self.receiver.resolutionComplete()


@implementer(IHostnameResolver)
class PolicyResolver:
    """The reactor's name resolver, filtered by the outbound policy."""

    def __init__(self, reactor: Any, policy: AddressPolicy) -> None:
        self.reactor = reactor
        self.policy = policy
        self.original: IHostnameResolver = reactor.nameResolver

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> PolicyResolver:
        return cls(reactor, policy_of(crawler))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(  # noqa: N802 (Twisted's interface)
        self, resolutionReceiver: IResolutionReceiver, hostName: str,  # noqa: N803
        portNumber: int = 0, addressTypes: Sequence[type[IAddress]] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> IHostResolution:
        return self.original.resolveHostName(
            _FilteringReceiver(resolutionReceiver, hostName, self.policy), hostName,
            portNumber, addressTypes, transportSemantics)


def request_refusal(url: str, policy: AddressPolicy) -> str | None:
    """Why a request for ``url`` is refused before any lookup, or None.

    >>> request_refusal("http://0x7f000001/", AddressPolicy())
    'refused: address not allowed (loopback)'
    >>> request_refusal("file:///etc/passwd", AddressPolicy())
    'refused: scheme not allowed (file)'
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        return f"{PREFIX}scheme not allowed ({parts.scheme.lower() or 'none'})"
    host = (parts.hostname or "").lower()
    if not host:
        return f"{PREFIX}no host"
    address = host_address(host)
    if address is not None:
        return policy.refusal(address)
    return _refused_hosts.get(host.rstrip("."))


class OutboundPolicyMiddleware:
    """Refuses requests the outbound policy does not allow (see the module docstring)."""

    def __init__(self, crawler: Crawler) -> None:
        self.policy = policy_of(crawler)
        self.stats = crawler.stats
        resolver = crawler.settings.get("TWISTED_DNS_RESOLVER")
        if resolver != f"{__name__}.PolicyResolver":
            raise ValueError(f"the outbound policy needs TWISTED_DNS_RESOLVER = "
                             f"'{__name__}.PolicyResolver' (not {resolver!r})")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> OutboundPolicyMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        reason = request_refusal(request.url, self.policy)
        if reason:
            self.stats.inc_value("swordnet/refused")
            raise RefusedRequest(reason)

    def process_exception(self, request: Request, exception: BaseException) -> None:
        if isinstance(exception, (CannotResolveHostError, DNSLookupError)):
            reason = request_refusal(request.url, self.policy)
            if reason:
                self.stats.inc_value("swordnet/refused")
                raise RefusedRequest(reason)
