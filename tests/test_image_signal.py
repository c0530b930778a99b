"""The pHash image signal: decoding guards, draft-mode equivalence, registration variants."""

from __future__ import annotations

import io

import imagehash
import pytest
from PIL import Image, ImageOps

from matching.decode import decode_image
from matching.image import PHashSignal
from matching.signal import ContentRejected, ContentSkipped
from swordnet.demo_site import ALTERATIONS
from swordnet.samples import artwork, sample_files
from tests.images import NOT_AN_IMAGE, jpeg_bytes, png_bytes, png_header_claiming, truncated_jpeg


@pytest.mark.parametrize(("content", "reason"), [
    (NOT_AN_IMAGE, "not a recognised image format"),
    (b"", "empty file"),
    (truncated_jpeg(), "truncated or corrupt"),
    (png_header_claiming(20000, 20000), "over the 40,000,000 pixel limit .*decompression bomb"),
    (png_header_claiming(8000, 8000), "8000x8000 pixels, over the 40,000,000 pixel limit"),
])
def test_bad_images_are_rejected_with_a_reason(content: bytes, reason: str) -> None:
    with pytest.raises(ContentRejected, match=reason):
        PHashSignal.fingerprint(content)


def test_tiny_images_are_skipped_not_errors() -> None:
    with pytest.raises(ContentSkipped, match="too small"):
        PHashSignal.fingerprint(png_bytes(Image.new("RGB", (1, 1))))


def test_draft_decoding_stays_within_two_bits_of_the_full_decode() -> None:
    distances = []
    for seed in range(20):
        buffer = io.BytesIO()
        artwork(seed, size=(1600, 1200)).save(buffer, "JPEG", quality=90)
        data = buffer.getvalue()
        # draft mode really decoded a reduced image
        assert decode_image(data, draft_side=256).image.size[0] < 1600
        full = str(imagehash.phash(Image.open(io.BytesIO(data)).convert("RGB")))
        distances.append(PHashSignal.score(PHashSignal.fingerprint(data), full))
    assert max(distances) <= 2
    assert distances.count(0) >= 16


def test_registration_is_exactly_imagehash_phash() -> None:
    data = jpeg_bytes(3)
    registered = PHashSignal.registration_variants(data)["original"]
    assert registered == str(imagehash.phash(Image.open(io.BytesIO(data))))


def test_registration_stores_original_and_mirrored_variants() -> None:
    path, _ = sample_files()[0]
    variants = PHashSignal.registration_variants(path.read_bytes())
    assert set(variants) == {"original", "mirrored"}
    mirrored_copy = png_bytes(ImageOps.mirror(Image.open(path)))
    assert PHashSignal.score(PHashSignal.fingerprint(mirrored_copy), variants["mirrored"]) == 0
    assert PHashSignal.score(variants["original"], variants["mirrored"]) > 12


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
def test_mild_alterations_stay_within_the_default_threshold(alteration: str) -> None:
    for path, _ in sample_files():
        image = Image.open(path).convert("RGB")
        registered = PHashSignal.registration_variants(path.read_bytes()).values()
        copy = PHashSignal.fingerprint(ALTERATIONS[alteration](image))
        nearest = min(PHashSignal.score(copy, value) for value in registered)
        assert nearest <= PHashSignal.default_threshold, (path.name, alteration, nearest)


def test_unrelated_images_stay_beyond_the_default_threshold() -> None:
    registered = [v for path, _ in sample_files()
                  for v in PHashSignal.registration_variants(path.read_bytes()).values()]
    for seed in range(5000, 5200):
        value = PHashSignal.fingerprint(jpeg_bytes(seed))
        nearest = min(PHashSignal.score(value, r) for r in registered)
        assert nearest > PHashSignal.default_threshold


def test_validate_normalises_precomputed_values() -> None:
    assert PHashSignal.validate(" 00FF00FF00FF00FF ") == "00ff00ff00ff00ff"
    with pytest.raises(ValueError):
        PHashSignal.validate("xyz")
