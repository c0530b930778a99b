"""Registration's cheaper paths store exactly what the plain computations stored: imagehash's
pHash, its blur-stability verdict (on the gray image's box thumbnail), OpenCV's ORB
features of the reduced image (Pillow's bilinear down, OpenCV's bicubic up), and the
preview made from the decode the fingerprints shared."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib

import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps
from sqlalchemy import func, select

from matching import local_features
from matching.image import MAX_UNSTABLE_BITS, OrbSignal, PHashSignal
from matching.local_features import FAST_THRESHOLD, FEATURES, SIDE, LocalFeatures
from matching.registry import content_for
from matching.signal import ContentSkipped
from matching.stages import registration_fingerprints
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Work
from swordnet.core.text import UnusableText
from swordnet.demo.samples import artwork, sample_files
from swordnet.evidence.store import EvidenceStore
from swordnet.works.previews import work_thumbnail
from swordnet.works.registry import register_work
from tests.images import jpeg_bytes, png_bytes


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _pictures() -> list[bytes]:
    """The demo's photographs (smaller than ORB's side: enlarged) and 1024 x 768 JPEGs
    (reduced), as works are registered."""
    return ([path.read_bytes() for path, _ in sample_files()]
            + [_jpeg(artwork(seed, size=(1024, 768))) for seed in range(3)])


def _plain_moved(image: Image.Image) -> int:
    thumb = image.convert("L").resize((256, 256), Image.Resampling.BOX)
    return imagehash.phash(thumb) - imagehash.phash(thumb.filter(ImageFilter.GaussianBlur(2)))


def _plain_orb(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    scale = SIDE / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    gray = (np.asarray(image.convert("L").resize(size, Image.Resampling.BILINEAR)) if scale < 1
            else cv2.resize(np.asarray(image.convert("L")), size, interpolation=cv2.INTER_CUBIC))
    orb = cv2.ORB.create(nfeatures=FEATURES, fastThreshold=FAST_THRESHOLD)
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    return np.array([kp.pt for kp in keypoints], np.float32), descriptors


def test_registered_phash_values_are_imagehash_phash_of_the_image_and_its_mirror() -> None:
    for content in _pictures():
        image = Image.open(io.BytesIO(content)).convert("RGB")
        assert PHashSignal.registration_variants(content) == {
            "original": str(imagehash.phash(image)),
            "mirrored": str(imagehash.phash(ImageOps.mirror(image))),
        }


def test_the_stability_probe_counts_the_bits_imagehash_counts() -> None:
    # a gradient under colour noise: its hash is set by the noise, and moves under a slight blur
    gradient = (np.linspace(60, 200, 320)[None, :] + np.linspace(0, 30, 240)[:, None])[..., None]
    rnd = np.random.default_rng(7)
    verdicts = []
    for strength in (5, 10, 20, 30) * 3:
        noisy = np.clip(gradient + rnd.normal(0, strength, (240, 320, 3)), 0, 255)
        image = Image.fromarray(noisy.astype(np.uint8))
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


def test_registered_orb_features_are_opencv_orb_of_the_reduced_image() -> None:
    for content in _pictures():
        points, descriptors = _plain_orb(Image.open(io.BytesIO(content)).convert("RGB"))
        stored = LocalFeatures.decode(OrbSignal.registration_variants(content)["original"])
        assert len(stored) > 100
        # stored coordinates are rounded to 1/8 px, as they always were
        assert np.array_equal(stored.points, np.round(points * 8) / 8)
        assert np.array_equal(stored.descriptors, descriptors)


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


def test_a_registered_picture_s_preview_is_the_one_decoded_afresh() -> None:
    """Registration shares its full decode with the preview: an opaque picture's thumbnail
    is the same bytes as one decoded afresh; a transparent one keeps its transparency."""
    see_through = Image.open(io.BytesIO(jpeg_bytes(seed=31))).convert("RGBA")
    see_through.putalpha(Image.linear_gradient("L").resize(see_through.size))
    for content in [*_pictures(), png_bytes(see_through)]:
        shared = content_for("image", content)
        registration_fingerprints("image", shared)  # decodes it, as register_work does
        assert work_thumbnail(shared) == work_thumbnail(content)
    kind, thumbnail = work_thumbnail(shared)
    assert kind == "image" and Image.open(io.BytesIO(thumbnail)).mode == "RGBA"


def test_a_registration_refused_for_its_text_stores_no_preview(home: Settings) -> None:
    """The preview is stored before the work's row is written: text the database would
    refuse is refused first, so nothing is left behind."""
    db = open_database(home)
    store = EvidenceStore(home.evidence_dir)
    try:
        for fields in ({"title": "Bad\x00title"}, {"title": "T", "aliases": ["\ud800"]},
                       {"title": "T", "source_name": "bad\udcff.jpg"}):
            with pytest.raises(UnusableText), db.session() as session:
                register_work(session, jpeg_bytes(seed=5), holder_name="H",
                              preview_store=store, **fields)
        with db.session() as session:
            assert session.scalar(select(func.count()).select_from(Work)) == 0
    finally:
        db.dispose()
    assert not any(p.is_file() for p in store.objects_dir.rglob("*"))
