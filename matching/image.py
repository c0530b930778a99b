"""The image signal types: pHash (stage 1) and ORB local features (stage 2).

Stage 1, a 64-bit DCT perceptual hash, settles re-encoded, resized, recoloured, blurred and
watermarked copies, and mirrored ones through the mirrored variant registered with every
work. Stage 2 runs only on images stage 1 did not settle (no match, or a marginal one it
must confirm): ORB keypoints verified by a RANSAC
similarity fit (see :mod:`matching.local_features`) find crops, borders, rotations and
copies embedded in larger screenshots. ``bench/detection.py`` measures both.

Registration always decodes fully, so a registered pHash is exactly imagehash's pHash of the
original; crawled JPEGs decode in draft mode (see :mod:`matching.decode`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import imagehash
import numpy as np
from PIL import Image, ImageFilter, ImageOps

from matching import local_features
from matching.decode import ImageContent
from matching.hamming import HammingIndex, hex_to_u64
from matching.media import IMAGE, FileKind
from matching.signal import Content, ContentSkipped, SignalIndex, SignalType
from matching.word_index import WordIndex

PHASH_DRAFT_SIDE = 256
PHASH_THUMBNAIL_SIDE = 32  # imagehash.phash's hash_size 8 x highfreq_factor 4
# A pHash that moves more than this under a slight blur is made of noise, not structure:
# the 624 altered copies of bench/detection.py move 0-4 bits, noisy gradients up to 30.
MAX_UNSTABLE_BITS = 6
# Below this much detail (:func:`hash_detail`) a copy's pHash is not telling: a plain image (a
# dark field with one bright blob) shares its coarse layout, and so its hash, with others in a
# large registry, so even its close matches go to stage 2. bench/detection.py's 858 copies
# against 100,013 registered images: those with an unrelated work within 8 bits had 4.4-6.6,
# none of the 725 with 7 or more (see docs/architecture.md).
MIN_SURE_DETAIL = 7.0
QUERY_SIDE, QUERY_FEATURES = 800, 3000  # crawled copies: room for a work inside a screenshot
MIN_QUERY_FEATURES = 1000  # however small the copy
MIRRORED_FEATURES = 1000  # a mirrored copy is seldom a small part of it


class _ImageSignal(SignalType):
    """What the image signals share: the files they read and how reviewers see them."""

    work_kind: ClassVar[str] = "image"
    file_kinds: ClassVar[tuple[FileKind, ...]] = (IMAGE,)
    content_type: ClassVar[type[Content]] = ImageContent
    preview: ClassVar[str | None] = "image"

    @classmethod
    def describe(cls, detail: dict[str, Any]) -> str:
        """Where in the copy the work was found, when it was found in one region of it
        (a collage's cell, a picture on a page: :meth:`ImageContent.regions`).

        >>> PHashSignal.describe({"region": {"left": 346, "top": 264, "width": 330,
        ...                                  "height": 248}})
        'in the region 330x248 at (346, 264) of the copy'
        """
        region = detail.get("region")
        if not region:
            return ""
        return (f"in the region {region['width']}x{region['height']} at "
                f"({region['left']}, {region['top']}) of the copy")


def gated_gray(content: bytes | Content, draft_side: int | None) -> Image.Image:
    """Decoded (once per size, see :class:`ImageContent`), through the quality gate and in
    grayscale, converted once per size (pHash and ORB read gray); raises
    ``ContentRejected``/``ContentSkipped``."""
    return ImageContent.of(content).gray(draft_side)


def hash_thumbnail(gray: Image.Image) -> Image.Image:
    """The 32 x 32 thumbnail imagehash's pHash computes its DCT of (Lanczos, grayscale)."""
    return gray.resize((PHASH_THUMBNAIL_SIDE, PHASH_THUMBNAIL_SIDE), Image.Resampling.LANCZOS)


def hash_detail(thumbnail: Image.Image) -> float:
    """How much structure pHash sees in an image: the mean gray-level step between neighbouring
    pixels of its :func:`hash_thumbnail` (cf. the gradient "quality" of Facebook's PDQ hash)."""
    pixels = np.asarray(thumbnail, dtype=np.float32)
    steps = np.abs(np.diff(pixels, axis=0)).mean() + np.abs(np.diff(pixels, axis=1)).mean()
    return float(steps) / 2


class PlainHash(str):
    """The pHash of a copy with too little detail for a close match to be sure."""


class PHashSignal(_ImageSignal):
    """64-bit DCT perceptual hash; the mirrored variant is registered with every work."""

    name: ClassVar[str] = "phash"
    # Calibrated by bench/detection.py (see docs/architecture.md): altered copies that
    # stage 1 settles stay within 12 bits. A smooth, low-structure work's hash can fall within
    # 10 bits of an unrelated gradient's, and among 10^5 registered photographs (2x10^5
    # hashes with the mirrors) unrelated crops and pages fall within 4-6 bits of some work's
    # (detection.py --registry: 39 of 10,000 distractors), so matches beyond 2 bits wait for
    # stage 2 to confirm them. Every true copy stage 1 finds at 3-6 bits there was confirmed
    # (28 of 28: watermarks, brightness, resize + watermark); those at 0-2 bits include the
    # ones stage 2 cannot place (27 of 39 quarter-size copies).
    default_threshold: ClassVar[float] = 12
    confirm_beyond: ClassVar[float | None] = 2

    @classmethod
    def fingerprint(cls, content: bytes | Content) -> str:
        return str(cls.query_value(content))

    @classmethod
    def query_value(cls, content: bytes | Content) -> str:
        """The copy's pHash; a :class:`PlainHash` if it has less than :data:`MIN_SURE_DETAIL`."""
        shared = ImageContent.of(content)
        thumbnail = hash_thumbnail(shared.gray(PHASH_DRAFT_SIDE))
        value = cls.stable_hash(shared.gray(PHASH_DRAFT_SIDE), thumbnail)
        return value if hash_detail(thumbnail) >= MIN_SURE_DETAIL else PlainHash(value)

    @classmethod
    def telling(cls, query: Any) -> bool:
        return not isinstance(query, PlainHash)

    @staticmethod
    def hash_image(image: Image.Image) -> str:
        """imagehash's pHash; of a :func:`hash_thumbnail` too (pHash resizes to its size)."""
        return str(imagehash.phash(image))

    @classmethod
    def stable_hash(cls, image: Image.Image, thumbnail: Image.Image | None = None) -> str:
        """pHash of ``image``; raises ``ContentSkipped`` if noise rather than structure sets it.

        The stability probe compares the pHash of a 256 px square thumbnail with and without
        a slight blur, so it means the same at any image size. ``thumbnail``, ``image``'s
        :func:`hash_thumbnail`, saves pHash the resize when the caller has it already.
        """
        # gray before the box thumbnail and the blur (phash would gray after both): one band
        # to resize instead of three, the same verdicts (see docs/architecture.md)
        gray = image if image.mode == "L" else image.convert("L")
        thumb = gray.resize((256, 256), Image.Resampling.BOX)
        moved = imagehash.phash(thumb) - imagehash.phash(thumb.filter(ImageFilter.GaussianBlur(2)))
        if moved > MAX_UNSTABLE_BITS:
            raise ContentSkipped(f"low-information image: its perceptual hash is noise "
                                 f"({moved} bits change under a slight blur)")
        return cls.hash_image(image if thumbnail is None else thumbnail)

    @classmethod
    def registration_variants(cls, content: bytes | Content) -> dict[str, str]:
        """The hash of the image and of its mirror image, both from one thumbnail: mirroring
        commutes with the gray conversion and with pHash's resize (the Lanczos window of a
        column and of its mirror column are mirror images), so the hashes are those of the
        mirrored full image, at half the resizing."""
        shared = ImageContent.of(content)
        thumbnail = hash_thumbnail(shared.gray(None))
        return {
            "original": cls.stable_hash(shared.gray(None), thumbnail),
            "mirrored": cls.hash_image(ImageOps.mirror(thumbnail)),
        }

    @classmethod
    def score(cls, a: str, b: str) -> float:
        return float((hex_to_u64(a) ^ hex_to_u64(b)).bit_count())

    @classmethod
    def validate(cls, value: str) -> str:
        value = value.strip().lower()
        hex_to_u64(value)
        return value

    @classmethod
    def new_index(cls) -> SignalIndex:
        return HammingIndex()


class OrbSignal(_ImageSignal):
    """ORB keypoints of the work; a copy matches when enough of them verify geometrically."""

    name: ClassVar[str] = "orb"
    stage: ClassVar[int] = 2
    higher_is_closer: ClassVar[bool] = True
    score_unit: ClassVar[str] = "inliers"
    # Minimum RANSAC inliers. bench/detection.py: distractors peaked at 5, altered copies
    # verified with 9 or more (see docs/architecture.md).
    default_threshold: ClassVar[float] = 10

    @classmethod
    def fingerprint(cls, content: bytes | Content) -> str:
        return local_features.extract(gated_gray(content, None)).encode()

    @classmethod
    def query_value(cls, content: bytes | Content) -> local_features.LocalFeatures:
        """The copy's keypoints and its mirror image's, side by side in one feature set.

        ORB is not mirror-invariant, so a copy both mirrored and cropped (which stage 1's
        mirrored pHash cannot see) is found through the mirrored view. Keypoints are spread
        over the copy (:func:`local_features.extract_spread_and_mirror`, one detection for
        both views) so that a small work pasted into a text-heavy page screenshot still gets
        its share.
        """
        gray = gated_gray(content, QUERY_SIDE)
        # Never enlarge (upscaling a thumbnail adds no detail, only keypoints to compare) and
        # keep the keypoint density of a full-size query: fewer keypoints on smaller images.
        side = min(QUERY_SIDE, max(gray.size))
        features = max(MIN_QUERY_FEATURES, round(QUERY_FEATURES * (side / QUERY_SIDE) ** 2))
        return local_features.side_by_side(list(local_features.extract_spread_and_mirror(
            gray, side, features, MIRRORED_FEATURES)))

    @classmethod
    def score(cls, a: str, b: str) -> float:
        placement = local_features.verify(local_features.LocalFeatures.decode(a),
                                          local_features.LocalFeatures.decode(b), 1)
        return float(placement.inliers) if placement else 0.0

    @classmethod
    def validate(cls, value: str) -> str:
        value = value.strip()
        local_features.LocalFeatures.decode(value)
        return value

    @classmethod
    def new_index(cls) -> SignalIndex:
        return WordIndex()
