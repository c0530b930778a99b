"""The outbound-request policy: which addresses Swordnet may open a connection to.

Every fetch Swordnet makes (crawls, tips, rechecks, media, redirects, feeds, rendering) may
only reach public addresses. Loopback, private, shared (CGNAT), link-local, multicast,
reserved and unspecified addresses are refused, also when written in another form (an
IPv4-mapped, IPv4-compatible, 6to4 or NAT64 IPv6 address, or a legacy IPv4 spelling such
as ``0x7f000001``, ``2130706433`` or ``127.1`` that the system resolver accepts). An
operator may allow named networks (``SWORDNET_ALLOW_NETWORKS``, e.g. an intranet, or the
tests' own 127.0.0.1 sites).

Pure rules, no I/O: the crawlers apply them to every address a host name resolves to, at
connect time (:mod:`crawlers.outbound`). The reasons are plain and say nothing about what
listens at the address.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes whose addresses carry an IPv4 address in their last 32 bits.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
# What the system resolver reads as a (legacy) numeric IPv4 address: digits, hex, dots.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$",
                           re.IGNORECASE)

PREFIX = "refused: "


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, translated, 6to4,
    NAT64), or None.

    >>> str(embedded_ipv4(ipaddress.ip_address("::ffff:127.0.0.1")))
    '127.0.0.1'
    >>> str(embedded_ipv4(ipaddress.ip_address("2002:a00:1::")))
    '10.0.0.1'
    >>> embedded_ipv4(ipaddress.ip_address("::1")) is None
    True
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV4_TRANSLATED or any(address in net for net in _NAT64):
        return low32
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: nor ::1
        return low32
    return None


def _category(address: IPAddress) -> str | None:
    """Why an address is not a public one, or None if it is."""
    if address.is_unspecified:
        return "unspecified address"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared address space"
    if address.is_private:
        return "private network"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Networks named in a comma-separated list (``127.0.0.0/8,::1/128``; a bare address is
    one host); raises ValueError naming a bad entry.

    >>> [str(n) for n in parse_networks(" 10.1.0.0/16, ::1 ")]
    ['10.1.0.0/16', '::1/128']
    >>> parse_networks("10.1.0.1/16")
    Traceback (most recent call last):
    ...
    ValueError: not a network: '10.1.0.1/16' (host bits set; give e.g. 10.0.0.0/8)
    """
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError as exc:
            detail = "host bits set" if "host bits" in str(exc) else "not an address/prefix"
            raise ValueError(f"not a network: {entry!r} ({detail}; give e.g. 10.0.0.0/8)") \
                from None
    return tuple(networks)


def host_address(host: str) -> IPAddress | None:
    """The address a URL host stands for without any lookup: an IP literal (``[::1]``,
    ``127.0.0.1``) or a legacy IPv4 spelling the resolver accepts; None for a name.

    >>> str(host_address("0x7f000001")), str(host_address("2130706433")), str(host_address("127.1"))
    ('127.0.0.1', '127.0.0.1', '127.0.0.1')
    >>> str(host_address("[::1]")), host_address("pirate.example")
    ('::1', None)
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            return None
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses only, plus the networks an operator allows."""

    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_text(cls, text: str | None) -> AddressPolicy:
        return cls(parse_networks(text or ""))

    def _allowed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.allowed)

    def refusal(self, address: IPAddress | str) -> str | None:
        """The plain reason ``address`` may not be connected to, or None if it may.

        >>> AddressPolicy().refusal("::ffff:169.254.169.254")
        'refused: address not allowed (link-local)'
        >>> AddressPolicy.from_text("127.0.0.0/8").refusal("127.0.0.1") is None
        True
        """
        if isinstance(address, str):
            address = ipaddress.ip_address(address.split("%", 1)[0])
        candidates: list[IPAddress] = [address]
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
        if any(self._allowed(candidate) for candidate in candidates):
            return None
        for candidate in reversed(candidates):  # the embedded IPv4 address says most
            category = _category(candidate)
            if category:
                return f"{PREFIX}address not allowed ({category})"
        return None
