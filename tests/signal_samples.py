"""Sample content for every registered signal, for the contract suite (test_signal_contract).

A new signal adds one function here (its works, a copy of the first, an unrelated copy and
malformed values), decorated with :func:`samples_for`; the suite fails for a registered
signal without one.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bench.audiogen import RATE, music, write_audio
from bench.video import write_work
from swordnet.demo.samples import artwork
from tests.test_software_signal import patched, real_binaries
from tests.texts import as_document, chinese_novel, mangle, pirate_page, story


@dataclass(frozen=True)
class Samples:
    """Works to register, crawled copies (the first a copy of ``works[0]``), bad values."""

    works: list[bytes]
    copy: bytes               # a crawled copy of works[0]
    unrelated: bytes          # crawled content matching none of the works
    bad_values: list[str]     # malformed fingerprint values validate must refuse
    refused: tuple[str, ...]  # bad inputs ("empty", "truncated", "garbage") fingerprint refuses
    approximate: bool = False  # the index may miss (never invent) what one-by-one finds


Maker = Callable[[Path], Samples]  # given a folder for any files it must write
SAMPLES: dict[str, Maker] = {}


def samples_for(*names: str) -> Callable[[Maker], Maker]:
    def register(make: Maker) -> Maker:
        for name in names:
            SAMPLES[name] = make
        return make
    return register


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@samples_for("phash", "orb")
def images(folder: Path) -> Samples:
    works = [artwork(seed) for seed in (11, 12, 13)]
    copy = works[0].resize((400, 300)).crop((10, 10, 390, 290))
    return Samples([_jpeg(w) for w in works], _jpeg(copy, 75), _jpeg(artwork(99)),
                   ["", "xyz", "0" * 15, "{}", "not base64 at all!"],
                   ("empty", "truncated", "garbage"), approximate=True)


@samples_for("text")
def texts(folder: Path) -> Samples:
    first, _ = chinese_novel(21)
    second, _ = chinese_novel(22)
    works = [as_document(first, "甲").encode(), as_document(second, "乙").encode(),
             as_document(story(), "Almanac").encode()]
    third, _ = chinese_novel(23)
    return Samples(works, pirate_page(first[2][0], mangle(first[2][1], 3)),
                   pirate_page(third[1][0], third[1][1]),
                   ["", "{}", "[]", '{"v": 1}', '{"v": 1, "gram": 24, "window": 12}'],
                   ("empty", "garbage"))


@samples_for("link")
def names(folder: Path) -> Samples:
    works = ["The Salt Road\n盐之路".encode(), b"Night Train to Lisbon",
             b"Winter Harbour"]
    page = (b'<html><head><title>Download</title></head><body><ul><li>The Salt Road 1080p '
            b'<a href="magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a">get</a>'
            b'</li></ul></body></html>')
    unrelated = (b'<ul><li>Some Other Film <a href="/x.torrent">torrent</a></li></ul>')
    return Samples(works, page, unrelated, ["", "Up", "\n", "a\nUp"], ("empty", "garbage"))


@samples_for("video")
def videos(folder: Path) -> Samples:
    works = [write_work(folder / f"w{seed}.mp4", seed, 8.0, 10, (320, 180)).read_bytes()
             for seed in (101, 102)]
    unrelated = write_work(folder / "u.mp4", 999, 8.0, 10, (320, 180)).read_bytes()
    return Samples(works, works[0], unrelated,
                   ["", "{}", '{"v": 1, "duration": 1, "frames": []}', '{"v": 2}', "[1, 2]"],
                   ("empty", "truncated", "garbage"))


@samples_for("sha256", "tlsh")
def software(folder: Path) -> Samples:
    works = real_binaries()[:3]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("release/game.so", works[0])
        archive.writestr("release/game-cracked.so", patched(works[0]))
        archive.writestr("release/readme.txt", b"cracked " * 300)
    return Samples(works, buffer.getvalue(), real_binaries()[4],
                   ["", "xyz", "ab" * 31, "T1" + "0A" * 34, "ab" * 32 + " has spaces"],
                   ("empty",))


@samples_for("chromaprint")
def recordings(folder: Path) -> Samples:
    works = [write_audio(folder / f"w{seed}.mp3", music(seed, 20.0), args=("-b:a", "96k"))
             .read_bytes() for seed in (301, 302)]
    copy = write_audio(folder / "copy.ogg", music(301, 20.0)[5 * RATE:],
                       args=("-c:a", "libvorbis")).read_bytes()
    unrelated = write_audio(folder / "u.mp3", music(399, 12.0)).read_bytes()
    return Samples(works, copy, unrelated,
                   ["", "{}", '{"v": 1, "duration": 10, "chromaprint": ""}',
                    '{"v": 2, "duration": 10, "chromaprint": "AQAA"}', "AQADtEmUaEkS",
                    '{"v": 1, "duration": 10, "chromaprint": "!!not base64!!"}'],
                   ("empty", "garbage"), approximate=True)
