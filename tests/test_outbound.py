"""The outbound-request policy's pure rules: which addresses are refused, in every spelling,
and which URLs are accepted at all (milliseconds, no network)."""

from __future__ import annotations

import ipaddress
import re

import pytest
from twisted.internet import error
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseNeverReceived

from crawlers.failures import failure_reason
from crawlers.outbound import RefusedRequest, request_refusal
from swordnet.core.config import load_settings
from swordnet.core.outbound import AddressPolicy, host_address, parse_networks
from swordnet.watch.targets import check_host, check_url

REFUSED = {
    "127.0.0.1": "loopback", "127.255.0.9": "loopback", "::1": "loopback",
    "10.0.0.1": "private network", "172.16.5.4": "private network",
    "192.168.1.1": "private network", "fc00::1": "private network",
    "fd12:3456::1": "private network", "100.64.0.1": "shared address space",
    "169.254.169.254": "link-local", "fe80::1": "link-local",
    "224.0.0.1": "multicast", "239.255.255.250": "multicast", "ff02::1": "multicast",
    "0.0.0.0": "unspecified address", "::": "unspecified address",
    "240.0.0.1": "private network", "255.255.255.255": "private network",
    "192.0.2.10": "private network", "2001:db8::1": "private network",
    # IPv6 spellings of IPv4 addresses: refused for the address they stand for
    "::ffff:127.0.0.1": "loopback", "::ffff:169.254.169.254": "link-local",
    "::127.0.0.1": "loopback", "::ffff:0:10.0.0.1": "private network",
    "2002:7f00:1::": "loopback", "2002:a9fe:a9fe::1": "link-local",
    "64:ff9b::7f00:1": "loopback", "64:ff9b::a00:1": "private network",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111",
          "2001:4860:4860::8888", "2002:808:808::1"]


@pytest.mark.parametrize(("address", "category"), sorted(REFUSED.items()))
def test_private_and_special_addresses_are_refused(address: str, category: str) -> None:
    assert AddressPolicy().refusal(address) == f"refused: address not allowed ({category})"


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().refusal(address) is None


def test_a_mapped_public_address_is_still_refused() -> None:
    """Nothing needs ::ffff:a.b.c.d on the wire; refused rather than reasoned about."""
    assert AddressPolicy().refusal("::ffff:8.8.8.8") is not None


def test_operators_allow_named_networks_only() -> None:
    policy = AddressPolicy.from_text("127.0.0.1/32, 10.20.0.0/16")
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("::ffff:127.0.0.1") is None  # the same host
    assert policy.refusal("10.20.3.4") is None
    assert policy.refusal("127.0.0.2") == "refused: address not allowed (loopback)"
    assert policy.refusal("::1") == "refused: address not allowed (loopback)"
    assert policy.refusal("10.21.0.1") == "refused: address not allowed (private network)"


@pytest.mark.parametrize(("host", "address"), [
    ("0x7f000001", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"),
    ("[::1]", "::1"), ("[::ffff:127.0.0.1]", "::ffff:7f00:1"), ("169.254.169.254",
                                                                 "169.254.169.254"),
    ("017700000001", "127.0.0.1"), ("[fe80::1%25eth0]", "fe80::1"),
])
def test_every_spelling_of_an_address_is_read_as_the_resolver_reads_it(
        host: str, address: str) -> None:
    assert str(host_address(host)) == address


@pytest.mark.parametrize("host", ["localhost", "pirate.example", "0xzz", "1e3", "face.bad"])
def test_names_are_left_to_the_resolver(host: str) -> None:
    assert host_address(host) is None


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:6379/", "http://0x7f000001/", "http://2130706433/", "http://127.1/",
    "http://[::1]:5432/", "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/", "https://10.0.0.8/admin",
])
def test_requests_for_private_literals_are_refused_before_any_connection(url: str) -> None:
    assert (request_refusal(url, AddressPolicy()) or "").startswith(
        "refused: address not allowed (")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://pirate.example/x",
                                 "data:text/html,hi", "s3://bucket/key"])
def test_schemes_other_than_http_are_refused(url: str) -> None:
    assert (request_refusal(url, AddressPolicy()) or "").startswith("refused: scheme")


def test_names_and_public_literals_pass_the_request_check() -> None:
    assert request_refusal("https://pirate.example/a.jpg", AddressPolicy()) is None
    assert request_refusal("http://93.184.215.14/", AddressPolicy()) is None


def test_allowed_networks_are_a_setting_with_a_clear_error() -> None:
    env = {"SWORDNET_HOME": "/tmp/sn", "SWORDNET_ALLOW_NETWORKS": "127.0.0.0/8, ::1"}
    assert load_settings(env).allow_networks == "127.0.0.0/8,::1/128"
    assert load_settings({"SWORDNET_HOME": "/tmp/sn"}).allow_networks == ""
    with pytest.raises(ValueError, match=r"SWORDNET_ALLOW_NETWORKS: not a network: 'intranet'"):
        load_settings({**env, "SWORDNET_ALLOW_NETWORKS": "intranet"})
    assert parse_networks("") == ()
    assert parse_networks("10.0.0.0/8") == (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(("url", "message"), [
    ("http://pirate example/", "not a host name: 'pirate example'"),
    ("http://<svg/onload=alert(1)>/", "not a host name: '<svg'"),
    ("http://" + "a" * 3000 + ".example/", "not a host name"),
    ("http://" + ".".join(["abcdefgh" * 4] * 8) + "/", "not a host name"),  # 263 characters
    ("http://" + "a" * 64 + ".example/", "not a host name"),
    ("http://pirate.example:0/", "port 0 of"),
    ("http://user:pass@pirate.example/", "a URL with a user name or password"),
    ("http://@pirate.example/", "a URL with a user name or password"),
    ("http://0x7f000001/", "write an IPv4 address as four decimal numbers"),
    ("http://2130706433:8080/", "write an IPv4 address as four decimal numbers"),
    ("http://127.1/", "write an IPv4 address as four decimal numbers"),
    ("http://pirate.123/", "not a host name"),
    ("http://pirate.example:99999/", "not a valid URL"),
])
def test_bad_urls_are_refused_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_url(url)


def test_idn_hosts_are_normalised_to_ascii() -> None:
    assert check_url("https://Bücher.Example:8443/Weg?q=ä") == \
        "https://xn--bcher-kva.example:8443/Weg?q=ä"
    assert check_url("http://xn--bcher-kva.example/") == "http://xn--bcher-kva.example/"
    assert check_host("BÜCHER.example") == "xn--bcher-kva.example"
    assert check_url("http://[::1]:8080/a") == "http://[::1]:8080/a"
    assert check_url("http://127.0.0.1:8080/a") == "http://127.0.0.1:8080/a"


@pytest.mark.parametrize("host", ["mirror example", "<svg/onload=1>", "a" * 300,
                                  "user@mirror.example", "mirror.example:0", "0x7f000001"])
def test_bad_mirror_and_allowlist_hosts_are_refused(host: str) -> None:
    with pytest.raises(ValueError):
        check_host(host)


@pytest.mark.parametrize(("exc", "kind", "reason"), [
    (error.ConnectionRefusedError("111: Connection refused"), "connect_error",
     "could not connect to the server"),
    (error.DNSLookupError("no results for hostname lookup: x"), "dns_error",
     "the host name was not found"),
    (error.TCPTimedOutError(), "timeout", "no answer in time"),
    (ResponseNeverReceived([Failure(error.ConnectionLost("Connection to the other side "
                                                         "was lost"))]),
     "no_response", "the server sent no complete HTTP response"),
    (error.ConnectionDone(), "no_response", "the server sent no complete HTTP response"),
    (RefusedRequest("refused: address not allowed (private network)"), "refused",
     "address not allowed (private network)"),
])
def test_failures_are_recorded_as_plain_one_line_reasons(
        exc: Exception, kind: str, reason: str) -> None:
    assert failure_reason(Failure(exc)) == (kind, reason)
    assert "twisted" not in reason and "<" not in reason


def test_scrapy_wrapped_failures_get_the_same_reasons() -> None:
    from scrapy.exceptions import (
        CannotResolveHostError,
        DownloadConnectionRefusedError,
        DownloadFailedError,
    )

    assert failure_reason(Failure(CannotResolveHostError("x")))[0] == "dns_error"
    assert failure_reason(Failure(DownloadConnectionRefusedError("x")))[0] == "connect_error"
    assert failure_reason(Failure(DownloadFailedError(
        "[<twisted.python.failure.Failure twisted.internet.error.ConnectionLost: ...>]"))) == (
        "no_response", "the server sent no complete HTTP response")


def test_a_bad_allowed_network_stops_every_command_with_one_line(
        sqlite_home: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from swordnet.cli.main import main

    monkeypatch.setenv("SWORDNET_ALLOW_NETWORKS", "127.0.0.0/8,intranet")
    result = CliRunner().invoke(main, ["works", "list"])
    assert result.exit_code == 1
    assert result.output == ("Error: SWORDNET_ALLOW_NETWORKS: not a network: 'intranet' (not "
                             "an address/prefix; give e.g. 10.0.0.0/8)\n")


class _Collect:
    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.complete = False

    def resolutionBegan(self, resolution: object) -> None:  # noqa: N802 (Twisted's names)
        pass

    def addressResolved(self, address: object) -> None:  # noqa: N802
        self.addresses.append(address.host)  # type: ignore[attr-defined]

    def resolutionComplete(self) -> None:  # noqa: N802
        self.complete = True


class _FakeDNS:
    """A name resolver answering from a table (no lookups at all)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    def resolveHostName(self, receiver: _Collect, name: str, portNumber: int = 0,  # noqa: N802,N803
                        *args: object) -> _Collect:
        from twisted.internet.address import IPv4Address, IPv6Address

        receiver.resolutionBegan(None)
        for host in self.table[name]:
            kind = IPv6Address if ":" in host else IPv4Address
            receiver.addressResolved(kind("TCP", host, portNumber))
        receiver.resolutionComplete()
        return receiver


def test_the_resolver_hands_a_connection_only_allowed_addresses() -> None:
    """What a name resolves to is judged when the connection is made: a name that resolves
    to loopback (DNS rebinding, ``localhost``) gets no address to connect to."""
    from crawlers.outbound import PolicyResolver

    class Reactor:
        nameResolver = _FakeDNS({  # noqa: N815 (Twisted's name)
            "rebound.test": ["127.0.0.1", "::ffff:127.0.0.1"],
            "mixed.test": ["10.1.2.3", "93.184.215.14", "169.254.169.254"],
            "intranet.test": ["10.1.2.3"]})

    resolver = PolicyResolver(Reactor(), AddressPolicy())
    found = {}
    for name in ("rebound.test", "mixed.test", "intranet.test"):
        receiver = _Collect()
        resolver.resolveHostName(receiver, name, 80)
        assert receiver.complete
        found[name] = receiver.addresses
    assert found == {"rebound.test": [], "mixed.test": ["93.184.215.14"], "intranet.test": []}
    policy = AddressPolicy()
    assert request_refusal("http://rebound.test/x", policy) == \
        "refused: address not allowed (loopback)"
    assert request_refusal("http://intranet.test/", policy) == \
        "refused: address not allowed (private network)"
    assert request_refusal("http://mixed.test/", policy) is None

    allowing = PolicyResolver(Reactor(), AddressPolicy.from_text("10.1.0.0/16"))
    receiver = _Collect()
    allowing.resolveHostName(receiver, "mixed.test", 80)
    assert receiver.addresses == ["10.1.2.3", "93.184.215.14"]
