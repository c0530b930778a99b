"""Media and link extraction from pages, including malformed markup."""

from __future__ import annotations

from scrapy import Request

from crawlers.extract import extract_page
from matching.image import PHashSignal
from matching.registry import download_cap, work_kind_of_file
from matching.software import TlshSignal

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


def test_a_linked_full_size_image_is_media_not_a_page() -> None:
    found = extract_page('<a href="/full/7.jpg"><img src="/thumb/7.jpg"></a>'
                         '<a href="/gallery/2.html">next</a>', "https://p.example/g/1.html")
    assert found.images == ["https://p.example/thumb/7.jpg", "https://p.example/full/7.jpg"]
    assert found.links == ["https://p.example/gallery/2.html"]


def test_file_links_are_classified_and_kept_out_of_the_page_links() -> None:
    html = """
      <video src="/stream/88"></video>
      <video><source src="/v/film.mp4" type="video/mp4"></video>
      <a href="magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Film">magnet</a>
      <a href="/dl/Film.2026.torrent">torrent</a>
      <a href="https://pan.baidu.com/s/1AbC?pwd=x1y2">pan</a>
      <a href="/dl/setup.EXE">installer</a> <a href="/dl/all.part1.rar">archive</a>
      <a href="/live/index.m3u8">stream</a> <a href="/film/9.html">details</a>
    """
    found = extract_page(html, "https://p.example/")
    assert {(f.kind, f.url) for f in found.files} == {
        ("video", "https://p.example/stream/88"),
        ("video", "https://p.example/v/film.mp4"),
        ("magnet", "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=Film"),
        ("torrent", "https://p.example/dl/Film.2026.torrent"),
        ("cloud", "https://pan.baidu.com/s/1AbC?pwd=x1y2"),
        ("software", "https://p.example/dl/setup.EXE"),
        ("archive", "https://p.example/dl/all.part1.rar"),
        ("playlist", "https://p.example/live/index.m3u8"),
    }
    assert found.links == ["https://p.example/film/9.html"]


def test_urls_no_request_can_be_made_for_are_left_out_and_the_rest_is_kept() -> None:
    """A template left in a page (``http://host:{port}/``), a port out of range or a broken
    IPv6 literal made Scrapy's Request raise and lost the rest of the page's media and links."""
    page = extract_page("""<img src="http://cdn.test:{port}/a.jpg"><img src="http://[::1/b.jpg">
        <img src="http://cdn.test:99999/c.jpg"><img src="/ok.jpg">
        <a href="http://x.test:{p}/">t</a><a href="/next.html">n</a>""", "http://site.test/")
    assert page.images == ["http://site.test/ok.jpg"]
    assert page.links == ["http://site.test/next.html"]
    for url in page.images + page.links:
        Request(url)


def test_players_and_embeds_are_classified_by_what_they_play_or_their_type() -> None:
    html = """
      <audio src="/ost/theme"></audio> <audio><source src="/ost/2.flac"></audio>
      <a href="/ost/album.mp3">mp3</a>
      <embed src="/player?id=3"> <object data="/flash/x"></object>
      <embed src="/watch?v=9" type="video/mp4"> <object data="/s/1" type="application/zip">
      <video><source src="/live/feed" type="application/x-mpegURL"></video>
    """
    found = extract_page(html, "https://p.example/")
    assert {(f.kind, f.url) for f in found.files} == {
        ("audio", "https://p.example/ost/theme"), ("audio", "https://p.example/ost/2.flac"),
        ("audio", "https://p.example/ost/album.mp3"),
        ("embed", "https://p.example/player?id=3"), ("embed", "https://p.example/flash/x"),
        ("video", "https://p.example/watch?v=9"), ("archive", "https://p.example/s/1"),
        ("playlist", "https://p.example/live/feed"),
    }


def test_a_source_counts_only_inside_its_player_or_picture_at_any_depth() -> None:
    html = """
      <source src="/loose/clip.mp4"> <source srcset="/loose/pic.webp">
      <video><div><source src="/deep/clip"></div></video>
      <picture><span><source srcset="/deep/pic.webp 2x"></span></picture>
      <audio><video><source src="/both/track"></video></audio>
    """
    found = extract_page(html, "https://p.example/")
    assert [(f.kind, f.url) for f in found.files] == [
        ("video", "https://p.example/deep/clip"), ("video", "https://p.example/both/track")]
    assert found.images == ["https://p.example/deep/pic.webp"]


def test_crawls_fetch_only_file_kinds_some_signal_reads_within_its_cap() -> None:
    assert {kind: work_kind_of_file(kind) for kind in
            ("image", "video", "archive", "software", "audio", "embed", "torrent")} == {
        "image": "image", "video": "video", "archive": "software", "software": "software",
        "audio": "audio", "embed": None, "torrent": None}
    assert download_cap("image") == 32 * 2**20 < PHashSignal.max_content_bytes
    assert download_cap("archive") == TlshSignal.max_content_bytes == 512 * 2**20
