"""Media and link extraction from pages, including malformed markup."""

from __future__ import annotations

from crawlers.extract import extract_page

PAGE = """<html><head><title> Free HD </title>
<meta property="og:image" content="/og.jpg"><meta name="twitter:image" content="tw.jpg">
<style>.hero { background: url("/css/block.jpg") }
.x{background-image:url(data:image/png;base64,AAA)}</style>
<link rel="next" href="/page/2"></head><body>
<img src="/a.jpg"><img src="small.jpg" srcset="small.jpg 320w, large.jpg 1280w, mid.jpg 640w">
<img src="/spacer.gif" data-src="/lazy.jpg"><img data-srcset="l1.jpg 1x, l2.jpg 2x">
<picture><source srcset="/pic-1x.webp 1x, /pic-2x.webp 2x"><img src="/pic.jpg"></picture>
<div style="background-image: url('/inline.jpg')"></div>
<a href="/gallery/1.html#top">g</a><a href="https://other.example/x">x</a>
<a href="mailto:a@b.c">m</a><a href="javascript:void(0)">j</a><area href="/map.html">
<img src="/a.jpg"><p>unclosed <b>markup <img src="/after-bad-markup.jpg">
"""


def test_every_embedding_style_is_found_once() -> None:
    page = extract_page(PAGE, "http://site.test/dir/index.html")
    assert page.title == "Free HD"
    assert page.images == [
        "http://site.test/a.jpg", "http://site.test/dir/large.jpg",
        "http://site.test/lazy.jpg", "http://site.test/dir/l2.jpg",
        "http://site.test/pic.jpg", "http://site.test/after-bad-markup.jpg",
        "http://site.test/pic-2x.webp", "http://site.test/og.jpg",
        "http://site.test/dir/tw.jpg", "http://site.test/inline.jpg",
        "http://site.test/css/block.jpg",
    ]


def test_links_are_absolute_http_without_fragments() -> None:
    page = extract_page(PAGE, "http://site.test/dir/index.html")
    assert page.links == ["http://site.test/gallery/1.html", "https://other.example/x",
                          "http://site.test/map.html", "http://site.test/page/2"]


def test_garbage_input_does_not_crash() -> None:
    page = extract_page(b"\x00\xff\xfe<<<img src=>>>\x00", "http://site.test/")
    assert page.images == [] and page.links == []
