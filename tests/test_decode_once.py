"""Content is decoded once per kind and shared by the kind's signals (and a page's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from crawlers.analysis import analyse
from crawlers.extract import extract_page
from matching import decode, page, software_scan, textdoc
from matching.match_index import MatchIndex
from matching.stages import first_stage_queries, match_content, registration_fingerprints
from swordnet.works.registry import name_fingerprints
from tests.images import jpeg_bytes
from tests.test_software_signal import real_binaries
from tests.texts import as_document, chinese_novel, mangle, pirate_page


def counted(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[Any]:
    """Calls of ``module.name`` from now on (it still runs)."""
    calls: list[Any] = []
    real: Callable[..., Any] = getattr(module, name)

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("draft_side"))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_an_image_is_decoded_once_for_both_image_signals(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    work = jpeg_bytes(3)
    decodes = counted(monkeypatch, decode, "decode_image")
    found = registration_fingerprints("image", work)
    assert {a for a, _, _ in found} == {"phash", "orb"} and decodes == [None]
    index = MatchIndex()
    for n, (algorithm, variant, value) in enumerate(found):
        index.add(n, 1, algorithm, value, variant=variant)
    decodes.clear()
    assert match_content(index, "image", jpeg_bytes(4))  == []  # stage 1 and stage 2 ran
    assert decodes == [256, 800]  # once per decode size: pHash's draft, ORB's query size


def test_software_is_scanned_once_for_both_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    scans = counted(monkeypatch, software_scan, "read_content")
    binary = real_binaries()[0]
    assert {a for a, _, _ in registration_fingerprints("software", binary)} == {"sha256", "tlsh"}
    assert set(first_stage_queries("software", binary)) == {"sha256", "tlsh"}
    assert len(scans) == 2  # one registration, one crawl


def test_a_page_is_read_once_for_its_text_and_once_for_its_links(
        monkeypatch: pytest.MonkeyPatch) -> None:
    simple, _ = chinese_novel(9)
    index = MatchIndex()
    for n, (algorithm, variant, value) in enumerate(
            registration_fingerprints("text", as_document(simple, "星河").encode())
            + name_fingerprints("星河旅人传")):
        index.add(n, 1, algorithm, value, variant=variant)
    documents = counted(monkeypatch, textdoc, "read_document")
    links = counted(monkeypatch, page, "link_query")
    html = pirate_page(simple[1][0], mangle(simple[1][1], 1),
                       links='<p>星河旅人传 <a href="magnet:?xt=urn:btih:1">下载</a></p>')
    result = analyse("page", html, index, "http://pirate.test/1.html")
    assert [m.algorithm for m in result.matches] == ["text"]  # found by text, not again by name
    assert len(documents) == len(links) == 1


def test_a_page_without_download_links_is_not_parsed_for_the_link_signal(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The spider says which kinds of file links a page has: the link signal is asked only
    about pages with magnet, torrent, cloud-drive or playlist links, and finds the same."""
    index = MatchIndex()
    for n, (algorithm, variant, value) in enumerate(name_fingerprints("星河旅人传")):
        index.add(n, 1, algorithm, value, variant=variant)
    links = counted(monkeypatch, page, "link_query")
    with_magnet = pirate_page("第一章", ["正文" * 50],
                              links='<p>星河旅人传 <a href="magnet:?xt=urn:btih:1">下载</a></p>')
    url = "http://pirate.test/1.html"
    found = extract_page(with_magnet, url)
    kinds = frozenset(link.kind for link in found.files)
    assert [m.algorithm for m in analyse("page", with_magnet, index, url, kinds).matches] == [
        "link"]
    assert [m.algorithm for m in analyse("page", with_magnet, index, url).matches] == ["link"]
    assert len(links) == 2
    plain = pirate_page("第一章", ["正文" * 50],
                        links="<p>星河旅人传 <a href='/2.html'>下一章</a></p>")
    kinds = frozenset(link.kind for link in extract_page(plain, url).files)
    assert analyse("page", plain, index, url, kinds).matches == [] and len(links) == 2
