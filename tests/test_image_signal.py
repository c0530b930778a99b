"""The pHash image signal: decoding guards, draft-mode equivalence, registration variants."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageOps

from matching.decode import animation_note, decode_image
from matching.image import PHashSignal
from matching.signal import ContentRejected, ContentSkipped
from swordnet.demo.samples import artwork, sample_files
from swordnet.demo.site import MILD_ALTERATIONS
from tests.images import (
    NOT_AN_IMAGE,
    animated,
    encoded,
    jpeg_bytes,
    png_bytes,
    png_header_claiming,
    truncated_jpeg,
)


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


@pytest.mark.parametrize("width", [257, 480, 544, 800, 1056])  # 544, 1056: 32 mod 64 px
def test_the_mirrored_variant_is_exactly_imagehash_phash_of_the_mirrored_image(width: int
                                                                              ) -> None:
    # registration hashes the mirror from the original's 32 px thumbnail: the stored value
    # must stay that of the mirrored full image (registries made before rely on it)
    for seed in range(4):
        picture = artwork(seed, size=(width, 600))
        expected = str(imagehash.phash(ImageOps.mirror(picture)))
        assert PHashSignal.registration_variants(png_bytes(picture))["mirrored"] == expected


@pytest.mark.parametrize("alteration", sorted(MILD_ALTERATIONS))
def test_mild_alterations_stay_within_the_default_threshold(alteration: str) -> None:
    for path, _ in sample_files():
        image = Image.open(path).convert("RGB")
        registered = PHashSignal.registration_variants(path.read_bytes()).values()
        copy = PHashSignal.fingerprint(MILD_ALTERATIONS[alteration](image))
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


def test_animations_fingerprint_their_first_frame_and_say_so() -> None:
    first, second = artwork(11), artwork(12)
    expected = PHashSignal.hash_image(first)
    for format_name in ("GIF", "WEBP"):
        data = animated(format_name, [first, second])
        decoded = decode_image(data)
        assert decoded.note == f"animated {format_name} with 2 frames: first frame fingerprinted"
        assert animation_note(data) == decoded.note
        assert PHashSignal.score(PHashSignal.fingerprint(data), expected) <= 6  # palette/lossy
        assert PHashSignal.score(PHashSignal.fingerprint(data),
                                 PHashSignal.hash_image(second)) > 12
    assert animation_note(jpeg_bytes()) is None


def test_odd_but_valid_images_are_read_as_a_browser_shows_them() -> None:
    picture = artwork(21)
    reference = PHashSignal.hash_image(picture)
    cmyk = encoded(picture.convert("CMYK"), "JPEG")
    assert PHashSignal.score(PHashSignal.fingerprint(cmyk), reference) <= 4
    gray = picture.convert("L")
    deep = Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257)  # 16-bit samples
    assert deep.mode.startswith("I")
    assert PHashSignal.fingerprint(encoded(deep, "PNG")) == PHashSignal.hash_image(gray)
    # palette with a transparent index: transparent pixels show the page's white
    palette = picture.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 0
    shown = Image.alpha_composite(Image.new("RGBA", picture.size, "white"),
                                  palette.convert("RGBA")).convert("RGB")
    assert decode_image(encoded(palette, "PNG")).image.tobytes() == shown.tobytes()


def noisy_gradient() -> Image.Image:
    """A soft radial gradient under grain: its pHash would be set by the noise."""
    yy, xx = np.mgrid[0:512, 0:512]
    base = 120 + 30 * np.hypot(xx - 380, yy - 280) / 512
    grain = np.random.default_rng(0).normal(0, 8, base.shape)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8)).convert("RGB")


@pytest.mark.parametrize(("image", "reason"), [
    (Image.new("RGB", (300, 200), (128, 128, 128)), "near-blank image"),
    (Image.linear_gradient("L").convert("RGB"), "low-information image .*too smooth"),
    (noisy_gradient(), "low-information image: its perceptual hash is noise"),
])
def test_blank_and_featureless_images_are_skipped(image: Image.Image, reason: str) -> None:
    with pytest.raises(ContentSkipped, match=reason):
        PHashSignal.fingerprint(png_bytes(image))
    with pytest.raises(ContentSkipped, match=reason):  # and cannot be registered as a work
        PHashSignal.registration_variants(png_bytes(image))
