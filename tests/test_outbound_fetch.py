"""Server-side request forgery: no fetch Swordnet makes (tips, crawled pages, their media,
redirects, feeds) reaches an address the outbound-request policy refuses, whatever the URL
says or the name resolves to. Canary servers on loopback count every connection made to
them; nothing here resolves or contacts a non-loopback address."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from sqlalchemy import select

from scheduler import jobs
from scheduler.executor import CrawlRequest, LocalExecutor
from swordnet.accounts.users import add_user, create_token
from swordnet.core.config import Settings
from swordnet.core.db import Database, open_database
from swordnet.core.models import CrawlRun, Tip
from swordnet.core.timeutil import utcnow
from swordnet.demo.site import DemoSite, serve_site
from swordnet.watch.targets import site_for_url
from swordnet.watch.tips import settle_tip
from swordnet.web.throttle import TIPS_PER_HOUR, tip_limit
from tests.api_client import open_api
from tests.canary import Canary
from tests.pirate_sites import HTML, page, plant, register_samples, run_crawl, sample_works

LOOPBACK_REFUSED = "refused: address not allowed (loopback)"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tips_for_hostile_urls_are_refused_when_submitted(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    with db.session() as session:
        add_user(session, "triage", "correct horse battery", "staff")
        token = create_token(session, "triage", "tests").secret
    db.dispose()
    hostile = {
        "http://pirate example/": "url: not a host name: 'pirate example'",
        "http://<svg/onload=alert(1)>/": "url: not a host name: '<svg'",
        "http://" + "a" * 3000 + ".example/": "url: not a host name: 'aaaa",
        "http://pirate.example:0/": "url: port 0 of",
        "http://user:pass@pirate.example/": "url: a URL with a user name or password",
        "http://0x7f000001/": "url: not a host name: '0x7f000001' (write an IPv4",
        "http://2130706433/": "url: not a host name: '2130706433' (write an IPv4",
        "http://127.1/": "url: not a host name: '127.1' (write an IPv4",
    }
    with open_api(sqlite_home, {"triage": token}) as api:
        for url, detail in hostile.items():
            answer = api.post("triage", "/tips", json={"url": url})
            assert answer.status_code == 422, url
            assert answer.json()["detail"].startswith(detail), answer.json()
        idn = api.post("triage", "/tips", json={"url": "http://Bücher.example/raub"})
        assert idn.status_code == 201 and idn.json()["url"] == "http://xn--bcher-kva.example/raub"
        with api.db.session() as session:
            assert session.scalars(select(Tip.url)).all() == [idn.json()["url"]]


def test_tips_are_rate_limited_per_principal(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    with db.session() as session:
        tokens = {}
        for name in ("triage", "other"):
            add_user(session, name, "correct horse battery", "staff")
            tokens[name] = create_token(session, name, "tests").secret
    db.dispose()
    now = [1000.0]
    with open_api(sqlite_home, tokens) as api:
        api.client.app.state.tip_limit = tip_limit(clock=lambda: now[0])  # type: ignore[attr-defined]
        for n in range(TIPS_PER_HOUR):
            now[0] += 1
            assert api.post("triage", "/tips", json={"url": f"http://p.example/{n}"}) \
                .status_code == 201
        refused = api.post("triage", "/tips", json={"url": "http://p.example/more"})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == str(3600 - TIPS_PER_HOUR + 1)
        assert refused.json()["detail"] == (f"too many tips: at most {TIPS_PER_HOUR} in 60 "
                                            f"min; try again in {3600 - TIPS_PER_HOUR + 1} s")
        assert api.post("other", "/tips", json={"url": "http://p.example/x"}).status_code == 201
        now[0] += 3600 - TIPS_PER_HOUR + 1  # the first tip leaves the window
        assert api.post("triage", "/tips", json={"url": "http://p.example/later"}) \
            .status_code == 201


def check_tips(db: Database, settings: Settings) -> None:
    """The scheduler's tips job, once, through the local executor with ``settings``."""
    jobs.install(jobs.JobContext(db, LocalExecutor(db, settings), max_concurrent=4))
    try:
        jobs.check_tips()
    finally:
        jobs.install(None)


def test_tips_to_private_addresses_get_one_refusal_and_no_connection(
        sqlite_home: Settings, canaries: tuple[Canary, Canary, Canary]) -> None:
    """By default (no networks allowed) a tip for loopback, by address or by a name that
    resolves there, is refused before any connection; a closed port, PostgreSQL and Redis
    answer exactly as the canary does, so tips map nothing."""
    canary, _, _ = canaries
    db = open_database(sqlite_home)
    urls = [canary.url(), f"http://127.0.0.1:{closed_port()}/", "http://127.0.0.1:5432/",
            "http://127.0.0.1:6379/", canary.url("localhost", "/admin")]  # by name too
    with db.session() as session:
        for url in urls:
            session.add(Tip(url=url, status="queued", created_at=utcnow()))
            site_for_url(session, url)
    check_tips(db, replace(sqlite_home, allow_networks=""))
    with db.session() as session:
        errors = {tip.url: (tip.status, tip.result["error"]) for tip in
                  session.scalars(select(Tip))}
    assert errors == {url: ("failed", "the URL could not be fetched: " + LOOPBACK_REFUSED)
                      for url in urls}
    assert canary.connections == 0
    db.dispose()


def hostile_page_site(canary2: Canary, canary6: Canary) -> DemoSite:
    """A public-looking page on the (allowed) test site whose links, images and redirects
    point at other loopback addresses, which are not allowed."""
    site = DemoSite()
    copy = plant(site, sample_works()[0], "/img/copy.jpg", "/")
    images = "".join(f'<img src="{url}">' for url in (
        canary2.url(path="/a.jpg"), canary6.url("[::1]", "/b.jpg"),
        f"http://0x7f000002:{canary2.server_address[1]}/c.jpg",
        f"http://2130706434:{canary2.server_address[1]}/d.jpg", "/img/moved.jpg"))
    site.add("/", page("Gallery", copy + images + '<a href="/go.html">next</a>'), HTML)
    site.add("/go.html", b"", None, status=302,
             headers=(("Location", canary2.url(path="/landing.html")),))
    site.add("/img/moved.jpg", b"", None, status=301,
             headers=(("Location", canary6.url("[::1]", "/moved.jpg")),))
    return site


def test_a_crawl_fetches_no_refused_page_image_or_redirect(
        sqlite_home: Settings, canaries: tuple[Canary, Canary, Canary]) -> None:
    _, canary2, canary6 = canaries
    db = open_database(sqlite_home)
    register_samples(db)
    site = hostile_page_site(canary2, canary6)
    settings = replace(sqlite_home, allow_networks="127.0.0.1/32")  # the test site only
    with serve_site(site) as running:
        with db.session() as session:
            site_id = site_for_url(session, running.url).id
        run = run_crawl(db, settings, CrawlRequest(site_id=site_id, start_url=running.url))
        feed = run_crawl(db, settings, CrawlRequest(
            site_id=site_id, start_url=canary2.url(path="/feed.xml"), spider="feed"))
    assert (canary2.connections, canary6.connections) == (0, 0)
    assert run.outcome == "finished" and run.stats["hits_new"] == 1  # the page itself was read
    refused = {e["url"].rsplit("/", 1)[1] for e in run.errors
               if (e["kind"], e["message"]) == ("refused", "address not allowed (loopback)")}
    assert refused == {"a.jpg", "b.jpg", "c.jpg", "d.jpg", "landing.html", "moved.jpg"}
    assert run.stats["errors_by_type"] == {"refused": 6}
    assert feed.stats["start_reachable"] == 0
    assert [(e["kind"], e["message"]) for e in feed.errors] == [
        ("refused", "address not allowed (loopback)")]
    db.dispose()


def test_a_tip_whose_check_crashed_shows_one_line_not_the_crawl_log(
        sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    url = "http://pirate.example/film"
    with db.session() as session:
        site = site_for_url(session, url)
        tip = Tip(url=url, status="checking", created_at=utcnow())
        run = CrawlRun(site_id=site.id, start_url=url, outcome="failed", purpose="tip",
                       error="crawl process exited with status 1\nTraceback (most recent call "
                             "last):\n  twisted.internet.error.ConnectionLost: <object at "
                             "0x7f...>")
        session.add_all([tip, run])
        session.flush()
        assert settle_tip(session, tip.id, run.id).result["error"] == (
            "the check did not complete: crawl process exited with status 1")
    db.dispose()


def test_the_browser_proxy_connects_only_where_the_policy_allows(
        canaries: tuple[Canary, Canary, Canary]) -> None:
    """Chromium's proxy (no browser needed): plain HTTP and CONNECT to an allowed address are
    relayed; to any other address, by literal or by name, refused without a connection."""
    import asyncio

    from crawlers.browser_proxy import PolicyProxy
    from swordnet.core.outbound import AddressPolicy

    canary, canary2, canary6 = canaries
    port1, port2, port6 = (c.server_address[1] for c in canaries)

    async def ask(proxy: PolicyProxy, head: str) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(head.encode())
        await writer.drain()
        answer = await reader.read()  # the whole answer: the proxy closes after each one
        writer.close()
        return answer

    async def main() -> list[bytes]:
        proxy = PolicyProxy(AddressPolicy.from_text("127.0.0.1/32"))
        await proxy.start()
        try:
            return [await ask(proxy, head) for head in (
                f"GET http://127.0.0.1:{port1}/ok HTTP/1.1\r\nHost: x\r\n"
                "Proxy-Connection: keep-alive\r\n\r\n",
                f"GET http://127.0.0.2:{port2}/ HTTP/1.1\r\nHost: x\r\n\r\n",
                f"CONNECT [::1]:{port6} HTTP/1.1\r\nHost: x\r\n\r\n",
                f"CONNECT 2130706434:{port2} HTTP/1.1\r\n\r\n",
                f"GET http://localhost:{port2}/ HTTP/1.1\r\n\r\n",  # 127.0.0.1: allowed,
            )]                                                    # but nothing listens
        finally:
            await proxy.close()

    answers = asyncio.run(main())
    assert answers[0].startswith(b"HTTP/1.0 200") and b"internal secret" in answers[0]
    assert [a.split(b"\r\n")[0] for a in answers[1:4]] == [b"HTTP/1.1 403 Forbidden"] * 3
    assert not answers[4].startswith(b"HTTP/1.1 403")
    assert (canary.connections, canary2.connections, canary6.connections) == (1, 0, 0)


def test_a_fetched_video_that_names_urls_makes_no_connection(
        canaries: tuple[Canary, Canary, Canary]) -> None:
    """Decoding is no way round the policy: FFmpeg reads only the downloaded file."""
    from matching.signal import ContentRejected
    from matching.video import sample_video

    canary = canaries[0]
    url = canary.url(path="/segment.ts")
    for body in (f"ffconcat version 1.0\nfile {url}\n",
                 f"\ufeff#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{url}\n#EXT-X-ENDLIST\n",
                 "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                 f"m=video {canary.server_address[1]} RTP/AVP 96\r\n"):
        with pytest.raises(ContentRejected):
            sample_video(body.encode(), interval=1.0, max_seconds=10, max_decoded=100,
                         max_bytes=10**7)
    assert canary.connections == 0


def test_a_tip_queued_before_the_url_checks_fails_without_a_fetch(
        sqlite_home: Settings) -> None:
    from swordnet.watch.tips import claim_queued

    db = open_database(sqlite_home)
    with db.session() as session:
        old = Tip(url="http://user:pw@127.0.0.1:6379/", status="queued", created_at=utcnow())
        good = Tip(url="http://pirate.example/a", status="queued", created_at=utcnow())
        session.add_all([old, good])
        session.flush()
        assert [c.url for c in claim_queued(session)] == [good.url]
        assert (old.status, old.result["error"]) == (
            "failed", "the URL is not accepted: a URL with a user name or password is not "
                      "accepted: 'http://user:pw@127.0.0.1:6379/'")
    db.dispose()
