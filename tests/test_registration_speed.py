"""Registration's cheaper paths: pHash values and the blur-stability verdict exactly as the
plain imagehash computation makes them; ORB features from an OpenCV-reduced work that still
verify in the copies the Pillow-reduced query sees."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from matching import local_features
from matching.image import MAX_UNSTABLE_BITS, OrbSignal, PHashSignal
from matching.local_features import SIDE, LocalFeatures
from matching.signal import ContentSkipped
from swordnet.demo.samples import artwork, sample_files
from tests.images import png_bytes


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _pictures() -> list[bytes]:
    """The demo's photographs (smaller than ORB's side: enlarged) and JPEGs shrunk by less
    and by more than half, as works are registered."""
    return ([path.read_bytes() for path, _ in sample_files()]
            + [_jpeg(artwork(seed, size=(1024, 768))) for seed in range(2)]
            + [_jpeg(artwork(3, size=(2000, 1500)))])


def _plain_moved(image: Image.Image) -> int:
    thumb = image.resize((256, 256), Image.Resampling.BOX).convert("L")
    return imagehash.phash(thumb) - imagehash.phash(thumb.filter(ImageFilter.GaussianBlur(2)))


def test_registered_phash_values_are_imagehash_phash_of_the_image_and_its_mirror() -> None:
    for content in _pictures():
        image = Image.open(io.BytesIO(content)).convert("RGB")
        assert PHashSignal.registration_variants(content) == {
            "original": str(imagehash.phash(image)),
            "mirrored": str(imagehash.phash(ImageOps.mirror(image))),
        }


def test_the_stability_probe_counts_the_bits_imagehash_counts() -> None:
    # a gradient under noise: its hash is set by the noise, and moves under a slight blur
    gradient = np.linspace(60, 200, 320)[None, :] + np.linspace(0, 30, 240)[:, None]
    rnd = np.random.default_rng(7)
    verdicts = []
    for strength in (5, 10, 20, 30) * 3:
        noisy = np.clip(gradient + rnd.normal(0, strength, gradient.shape), 0, 255)
        image = Image.fromarray(noisy.astype(np.uint8)).convert("RGB")
        moved = _plain_moved(image)
        try:
            PHashSignal.fingerprint(png_bytes(image))
        except ContentSkipped as exc:
            assert f"its perceptual hash is noise ({moved} bits change" in str(exc)
            verdicts.append(True)
        else:
            assert moved <= MAX_UNSTABLE_BITS
            verdicts.append(False)
    assert True in verdicts and False in verdicts  # both sides of the threshold were seen


def test_registered_works_verify_in_cropped_and_embedded_copies() -> None:
    for content in _pictures():
        work = Image.open(io.BytesIO(content)).convert("RGB")
        registered = LocalFeatures.decode(OrbSignal.registration_variants(content)["original"])
        width, height = work.size
        cropped = work.crop((width // 8, height // 8, width * 7 // 8, height * 7 // 8))
        page = Image.new("RGB", (1024, 768), "white")
        page.paste(work.resize((614, round(614 * height / width))), (300, 40))
        for copy in (cropped, page):
            query = OrbSignal.query_value(_jpeg(copy))
            placement = local_features.verify(query, registered, OrbSignal.default_threshold)
            assert placement is not None and placement.inliers >= 30


def test_works_are_reduced_to_orbs_side_as_pillow_reduces_them() -> None:
    for content in _pictures():  # enlarged (the demo's 480 px photos) and shrunk
        image = Image.open(io.BytesIO(content)).convert("L")
        work, pillow = local_features.reduce_work(image), local_features.reduce(image)
        assert work.shape == pillow.shape and max(work.shape) == SIDE
        assert np.abs(work.astype(int) - pillow).mean() < 0.5


def test_a_work_shrunk_more_than_twice_is_averaged_not_aliased() -> None:
    # a 1 px checkerboard: averaged, it is flat grey; sampled, it turns into a false pattern
    checkerboard = (np.indices((1500, 2000)).sum(axis=0) % 2 * 255).astype(np.uint8)
    assert local_features.reduce_work(Image.fromarray(checkerboard)).std() < 10


def test_orb_values_stored_deflated_before_decode_the_same() -> None:
    features = local_features.extract(artwork(2, size=(640, 480)))
    raw = zlib.decompress(base64.b64decode(features.encode()))
    deflated = base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
    assert len(deflated) < len(features.encode())  # really the older, deflated form
    old = LocalFeatures.decode(deflated)
    assert np.array_equal(old.points, LocalFeatures.decode(features.encode()).points)
    assert np.array_equal(old.descriptors, features.descriptors)
    assert (old.width, old.height) == struct.unpack_from("<BHHI", raw)[1:3]


@pytest.mark.parametrize("value", ["", "not base64!", base64.b64encode(b"junk").decode()])
def test_malformed_orb_values_are_refused_with_a_reason(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape("not an encoded ORB feature set")):
        OrbSignal.validate(value)
