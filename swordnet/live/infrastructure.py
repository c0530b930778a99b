"""Shared infrastructure: addresses the blocking list must never list by IP, because blocking
them would cut off lawful sites too.

An address is shared when it lies in a listed CDN or cloud provider's network (the
``infrastructure_ranges`` table, shipped as ``swordnet/data/infrastructure_ranges.json`` and
refreshed from a file by :func:`load_ranges`), or when it serves many unrelated domains: at
least :data:`SHARED_DOMAINS` distinct site domains whose recorded IPs (``sites.ips``) or
captures' IPs include it. Domains are counted as sites are identified (host, and port if not
the default; a leading ``www.`` dropped), so subdomains count apart: over-counting errs on the
side of not listing an IP.

A ranges file is JSON::

    {"format": "swordnet-infrastructure-ranges/1",
     "providers": [{"provider": "Cloudflare", "source": "https://www.cloudflare.com/ips-v4",
                    "as_of": "2024-06-25", "networks": ["173.245.48.0/20", "2400:cb00::/32"]}]}

Each provider in the file replaces that provider's stored networks; other providers are kept.
A file with any problem changes nothing (:class:`RangesFileError` names the first one).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import date, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Text, cast, delete, select
from sqlalchemy.orm import Session

from swordnet.core.errors import BadInput
from swordnet.core.models import Capture, InfrastructureRange, Site

RANGES_FORMAT = "swordnet-infrastructure-ranges/1"
SHARED_DOMAINS = 5
MAX_NETWORKS = 100_000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RangesFileError(BadInput):
    """A ranges file that cannot be loaded as it is."""


@dataclass(frozen=True)
class ProviderRanges:
    """One provider's networks as a ranges file gives them."""

    provider: str
    source: str
    as_of: date
    networks: tuple[IPNetwork, ...]


def _text(entry: dict[str, Any], key: str, where: str, limit: int) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RangesFileError(f"{where}: {key!r} must be a non-empty string")
    if len(value.strip()) > limit:
        raise RangesFileError(f"{where}: {key!r} is longer than {limit} characters")
    return value.strip()


def _provider(entry: Any, number: int) -> ProviderRanges:
    where = f"provider {number}"
    if not isinstance(entry, dict):
        raise RangesFileError(f"{where} must be an object")
    name = _text(entry, "provider", where, 100)
    where = f"provider {name!r}"
    source = _text(entry, "source", where, 2000)
    if not all(urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc
               for url in source.split()):
        raise RangesFileError(f"{where}: 'source' must be the http(s) URL(s) of the list")
    try:
        as_of = date.fromisoformat(_text(entry, "as_of", where, 10))
    except ValueError:
        raise RangesFileError(f"{where}: 'as_of' must be a date like 2026-12-06") from None
    raw = entry.get("networks")
    if not isinstance(raw, list) or not raw:
        raise RangesFileError(f"{where}: 'networks' must be a non-empty list")
    networks = []
    for item in raw:
        try:
            networks.append(ipaddress.ip_network(str(item)))
        except ValueError:
            raise RangesFileError(f"{where}: {item!r} is not a network like 104.16.0.0/13 "
                                  "(no host bits set)") from None
    return ProviderRanges(name, source, as_of, tuple(dict.fromkeys(networks)))


def parse_ranges(text: str) -> list[ProviderRanges]:
    """The providers of a ranges file; raises RangesFileError naming the first problem."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RangesFileError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(document, dict) or document.get("format") != RANGES_FORMAT:
        raise RangesFileError(f"not a ranges file: 'format' must be {RANGES_FORMAT!r}")
    providers = document.get("providers")
    if not isinstance(providers, list) or not providers:
        raise RangesFileError("'providers' must be a non-empty list")
    parsed = [_provider(entry, number) for number, entry in enumerate(providers, start=1)]
    names = [p.provider for p in parsed]
    if len(set(names)) != len(names):
        raise RangesFileError("a provider is named twice; give each one entry")
    if sum(len(p.networks) for p in parsed) > MAX_NETWORKS:
        raise RangesFileError(f"more than {MAX_NETWORKS} networks")
    return parsed


def shipped_ranges() -> list[ProviderRanges]:
    """The ranges shipped with Swordnet (what migration 0016 loads into a new database)."""
    text = (files("swordnet") / "data" / "infrastructure_ranges.json").read_text("utf-8")
    return parse_ranges(text)


def load_ranges(session: Session, text: str, *, at: datetime) -> list[ProviderRanges]:
    """Replace the stored networks of each provider in the ranges file ``text``; returns
    them. Nothing is changed when the file has any problem."""
    providers = parse_ranges(text)
    for provider in providers:
        session.execute(delete(InfrastructureRange)
                        .where(InfrastructureRange.provider == provider.provider))
        session.add_all(InfrastructureRange(provider=provider.provider, network=str(network),
                                            as_of=provider.as_of, source=provider.source,
                                            loaded_at=at)
                        for network in provider.networks)
    session.flush()
    return providers


def stored_ranges(session: Session) -> list[InfrastructureRange]:
    """Every stored network, by provider."""
    return list(session.scalars(select(InfrastructureRange)
                                .order_by(InfrastructureRange.provider, InfrastructureRange.id)))


def provider_range(session: Session, address: IPAddress) -> InfrastructureRange | None:
    """The stored provider network ``address`` lies in, or None."""
    for row in stored_ranges(session):
        network = ipaddress.ip_network(row.network)
        if network.version == address.version and address in network:
            return row
    return None


def site_domain(url: str) -> str:
    """The site a URL belongs to, as sites are counted here: its network location, lowercased,
    without a leading ``www.``.

    >>> site_domain("https://WWW.Pirate.example:8443/live.m3u8")
    'pirate.example:8443'
    """
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1].lower()
    return netloc.removeprefix("www.")


def domains_on(session: Session, address: IPAddress) -> set[str]:
    """Distinct site domains recorded at ``address``: sites whose IPs include it, and the
    hosts of captures fetched from it."""
    text = str(address)
    recorded = select(Site.domain, Site.ips).where(
        cast(Site.ips, Text).contains(f'"{text}"', autoescape=True))  # then checked exactly
    domains = {domain.lower().removeprefix("www.") for domain, ips
               in session.execute(recorded) if text in (ips or [])}
    domains |= {site_domain(url) for url in session.scalars(
        select(Capture.url).where(Capture.ip == text).distinct())}
    return domains


def shared_reason(session: Session, address: IPAddress,
                  min_domains: int = SHARED_DOMAINS) -> str | None:
    """Why ``address`` is shared infrastructure, in a few words, or None if it is not."""
    found = provider_range(session, address)
    if found is not None:
        return (f"in {found.provider}'s network {found.network} (list of "
                f"{found.as_of.isoformat()}, {found.source})")
    domains = domains_on(session, address)
    if len(domains) >= min_domains:
        shown = ", ".join(sorted(domains)[:5]) + (", ..." if len(domains) > 5 else "")
        return f"serves {len(domains)} unrelated domains ({shown})"
    return None
