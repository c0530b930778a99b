"""The text signal: chapters of registered texts found in pirate pages, and nothing else."""

from __future__ import annotations

import io
import zipfile

import pytest

from matching.match_index import MatchIndex
from matching.signal import ContentRejected, ContentSkipped
from matching.stages import match_content, registration_fingerprints
from matching.text import TextSignal
from matching.textdoc import epub_document
from tests.texts import (
    as_document,
    chinese_novel,
    english_topic,
    mangle,
    pirate_page,
    story,
)


def index_of(*documents: bytes) -> MatchIndex:
    index = MatchIndex()
    for work_id, content in enumerate(documents, start=1):
        [(algorithm, variant, value)] = registration_fingerprints("text", content)
        index.add(work_id, work_id, algorithm, value, variant=variant)
    return index


def page_matches(index: MatchIndex, page: bytes) -> dict[int, dict]:
    return {m.work_id: {"score": m.score, **m.detail}
            for m in index.match("text", TextSignal.query_value(page))}


@pytest.fixture(scope="module")
def novels() -> dict[str, object]:
    simple, traditional = chinese_novel(1)
    other, _ = chinese_novel(2)
    return {"zh": simple, "zh_trad": traditional, "other": other, "en": story()}


@pytest.fixture(scope="module")
def index(novels: dict) -> MatchIndex:
    return index_of(as_document(novels["zh"], "星河旅人").encode(),
                    as_document(novels["en"], "The Lamplighter's Almanac").encode())


@pytest.mark.parametrize("chapter", [0, 3, 5])
def test_a_chinese_chapter_with_ads_and_reordered_paragraphs_is_a_hit_on_its_novel(
        novels: dict, index: MatchIndex, chapter: int) -> None:
    heading, paragraphs = novels["zh"][chapter]
    found = page_matches(index, pirate_page(heading, mangle(paragraphs, seed=chapter)))
    assert list(found) == [1]
    assert found[1]["chapters"] == [heading]
    assert found[1]["score"] >= 0.6
    start, end = found[1]["work_range"]
    assert 0 <= start < end <= found[1]["work_length"]
    assert found[1]["work_fraction"] < 0.25  # one chapter of six


def test_a_chapter_reposted_in_traditional_characters_matches_the_simplified_work(
        novels: dict, index: MatchIndex) -> None:
    heading, paragraphs = novels["zh_trad"][2]
    found = page_matches(index, pirate_page(heading, mangle(paragraphs, seed=9)))
    assert list(found) == [1] and found[1]["chapters"] == [novels["zh"][2][0]]


def test_an_english_chapter_is_found_with_its_chapter_heading(novels: dict,
                                                              index: MatchIndex) -> None:
    heading, paragraphs = novels["en"][1]
    found = page_matches(index, pirate_page("Read free online", mangle(paragraphs, seed=3)))
    assert list(found) == [2] and found[2]["chapters"] == [heading]


def test_unrelated_pages_do_not_match(novels: dict, index: MatchIndex) -> None:
    for heading, paragraphs in novels["other"]:
        assert page_matches(index, pirate_page(heading, paragraphs)) == {}
    for topic in ("formatstrings", "debugger", "execmodel", "string-methods"):
        text = english_topic(topic)
        assert page_matches(index, pirate_page(topic, text.split("\n\n"))) == {}


def test_boilerplate_quoting_a_work_does_not_make_a_match(novels: dict,
                                                          index: MatchIndex) -> None:
    """A sidebar excerpt and comments quoting the novel around unrelated main text."""
    quoted = "".join(novels["zh"][1][1][:2])
    heading, unrelated = novels["other"][0]
    page = pirate_page(heading, unrelated, sidebar=quoted, comments=[quoted[:200]])
    assert page_matches(index, page) == {}


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "big5", "utf-16"])
def test_registered_files_in_other_encodings_match_utf8_pages(novels: dict,
                                                              encoding: str) -> None:
    chapters = novels["zh_trad"] if encoding == "big5" else novels["zh"]
    # utf-16: with its byte-order mark; big5 lacks a few rare characters of the phrase table
    content = as_document(chapters).encode(encoding, errors="ignore")
    index = index_of(content)
    heading, paragraphs = novels["zh"][4]
    assert list(page_matches(index, pirate_page(heading, mangle(paragraphs, 4)))) == [1]


def test_a_gbk_page_is_read_through_its_declared_charset(novels: dict,
                                                         index: MatchIndex) -> None:
    heading, paragraphs = novels["zh"][3]
    page = pirate_page(heading, mangle(paragraphs, 1), encoding="gbk")
    assert list(page_matches(index, page)) == [1]


def epub(chapters: list[tuple[str, list[str]]], *, bomb: bool = False,
         no_href: int | None = None) -> bytes:
    """An EPUB book of ``chapters``; chapter ``no_href``'s manifest item names no file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("mimetype", "application/epub+zip", zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml",
                      '<?xml version="1.0"?><container xmlns="urn:oasis:names:tc:opendocument'
                      ':xmlns:container"><rootfiles><rootfile full-path="OEBPS/book.opf" '
                      'media-type="application/oebps-package+xml"/></rootfiles></container>')
        hrefs = ["" if n == no_href else f' href="c{n}.xhtml"' for n in range(len(chapters))]
        items = "".join(f'<item id="c{n}"{href} media-type="application/xhtml+xml"/>'
                        for n, href in enumerate(hrefs))
        spine = "".join(f'<itemref idref="c{n}"/>' for n in range(len(chapters)))
        book.writestr("OEBPS/book.opf", f'<?xml version="1.0"?><package xmlns="http://www.idpf'
                      f'.org/2007/opf"><manifest>{items}</manifest><spine>{spine}</spine>'
                      f"</package>")
        for n, (heading, paragraphs) in enumerate(chapters):
            body = "".join(f"<p>{p}</p>" for p in paragraphs)
            if bomb and n == 0:
                body += "<p>" + " " * (80 * 1024 * 1024) + "</p>"
            book.writestr(f"OEBPS/c{n}.xhtml", f'<html xmlns="http://www.w3.org/1999/xhtml">'
                          f"<head><title>x</title></head><body><h2>{heading}</h2>{body}"
                          f"</body></html>")
    return buffer.getvalue()


def test_an_epub_registers_chapter_by_chapter(novels: dict) -> None:
    index = index_of(epub(novels["zh"]))
    heading, paragraphs = novels["zh"][2]
    found = page_matches(index, pirate_page(heading, mangle(paragraphs, 2)))
    assert found[1]["chapters"] == [heading]


def test_an_epub_item_that_names_no_file_is_left_out(novels: dict) -> None:
    document = epub_document(epub(novels["zh"][:3], no_href=1))
    assert [s.heading for s in document.sections] == [novels["zh"][0][0], novels["zh"][2][0]]


def test_an_epub_zip_bomb_is_refused_before_it_is_inflated(novels: dict) -> None:
    bomb = epub(novels["zh"], bomb=True)
    assert len(bomb) < 1024 * 1024
    with pytest.raises(ContentRejected, match="zip bomb"):
        TextSignal.fingerprint(bomb)


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty document"),
    (b"  \n\t ", "empty document"),
    (bytes(range(256)) * 40, "binary content, not text"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(1, 255)) * 30, "binary content, not text"),
    (b"Too short to tell anything.", "too little text"),
    (b"\xff\xfe" + b"\x00\xd8" * 9, "bad utf-16 text"),
])
def test_bad_documents_are_refused_with_a_reason(content: bytes, message: str) -> None:
    with pytest.raises(ContentRejected, match=message):
        TextSignal.fingerprint(content)


def test_a_page_with_too_little_text_is_skipped_not_an_error() -> None:
    with pytest.raises(ContentSkipped, match="too little text"):
        TextSignal.query_value(b"<html><body><p>Chapter 1</p></body></html>")


def test_precomputed_values_are_validated_strictly(novels: dict) -> None:
    value = TextSignal.fingerprint(as_document(novels["zh"]).encode())
    assert TextSignal.validate(value) == value
    bad = [
        ("not json", "not JSON"),
        ('{"v": 2}', '"v": 1'),
        (value.replace('"gram":24', '"gram":5'), "gram 5"),
        (value.replace('"length":', '"length":-'), "non-negative"),
        (value.replace('"hashes":"', '"hashes":"@@'), "base64"),
        (value.replace('"chapters":[', '"extra":1,"chapters":['), "unknown keys: extra"),
    ]
    for text, message in bad:
        with pytest.raises(ValueError, match=message):
            TextSignal.validate(text)


def test_a_precomputed_fingerprint_matches_like_the_file(novels: dict) -> None:
    value = TextSignal.validate(TextSignal.fingerprint(as_document(novels["en"]).encode()))
    index = MatchIndex()
    index.add(1, 7, "text", value)
    heading, paragraphs = novels["en"][3]
    [match] = match_content(index, "text", pirate_page(heading, mangle(paragraphs, 5)))
    assert match.work_id == 7 and match.detail["chapters"] == [heading]


def test_a_newly_added_work_is_matchable_at_once_and_removal_forgets_it(novels: dict) -> None:
    index = index_of(as_document(novels["en"]).encode())
    heading, paragraphs = novels["other"][1]
    page = pirate_page(heading, paragraphs)
    assert page_matches(index, page) == {}
    [(algorithm, _, value)] = registration_fingerprints("text", as_document(novels["other"])
                                                        .encode())
    for n in range(20):  # more works than segments: merging must keep every one findable
        index.add(100 + n, 100 + n, algorithm, value)
    assert set(page_matches(index, page)) == set(range(100, 120))
    index.remove_work(105)
    assert 105 not in page_matches(index, page)
