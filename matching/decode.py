"""Guarded image decoding and the quality gate every image passes before it is matched.

Decoding refuses an image whose header claims more than :data:`MAX_PIXELS` pixels before any
pixel is decoded (the limit sits below Pillow's own bomb threshold, so Pillow's "possible
decompression bomb" warning is never reached for an image we accept). Odd but valid images
are normalised to what a browser shows: the first frame of an animation, CMYK and 16-bit
samples converted properly, transparency composited over white.

Crawled JPEGs may decode in draft mode (DCT scaling) to at least a requested side: about 8x
faster than a full decode for 1600x1200 photos. Measured over 120 JPEGs of 1024-3000 px, the
pHash of a 256 px draft equals the full-decode hash for 97% and differs by at most 2 bits
otherwise, far inside the match threshold.

The quality gate skips (does not match) images too small, near-blank or too smooth to carry
a fingerprint: such images collide with each other and with nothing useful.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from matching.regions import find_regions
from matching.signal import Content, ContentRejected, ContentSkipped, Region

MAX_PIXELS = 40_000_000
MIN_SIDE = 16
MIN_CONTRAST = 4.0  # std of the 64x64 grayscale thumbnail, 0-255 scale
MIN_DETAIL = 1.5    # mean absolute Laplacian of that thumbnail: ~0 for smooth gradients
# Regions are found on the decode stage 1's pHash made (at least 256 px a side) and cropped
# from the one stage 2's ORB made (800 px), so finding them decodes nothing more.
REGION_FIND_SIDE, REGION_CROP_SIDE = 256, 800
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00",
               b"MM\x00*")
_ISO_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1")


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image ready to fingerprint, and what was done to get it (for the crawl log)."""

    image: Image.Image
    note: str | None = None


def _flatten(image: Image.Image) -> Image.Image:
    """RGB as a browser would show it on a white page."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        samples = np.asarray(image, dtype=np.uint32)
        peak = 65535 if image.mode.startswith("I;16") or samples.max() > 255 else 255
        return Image.fromarray((samples * 255 // peak).astype(np.uint8), "L").convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")  # no copy of an RGB one


def _animation_note(image: Image.Image) -> str | None:
    frames = getattr(image, "n_frames", 1)
    if frames <= 1:
        return None
    image.seek(0)
    return f"animated {image.format} with {frames} frames: first frame fingerprinted"


def animation_note(content: bytes) -> str | None:
    """What :func:`decode_image` notes about an animation, without decoding any pixels."""
    try:
        return _animation_note(Image.open(io.BytesIO(content)))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return None


def decode_image(content: bytes, *, draft_side: int | None = None) -> DecodedImage:
    """Decode image bytes into an RGB image; raises :class:`ContentRejected`.

    ``draft_side`` lets JPEGs decode at a reduced size no smaller than that many pixels a
    side (see the module docstring); ``None`` decodes fully.
    """
    if not content:
        raise ContentRejected("empty file, not an image")
    try:
        image = Image.open(io.BytesIO(content))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ContentRejected(
                f"image claims {width}x{height} pixels, over the {MAX_PIXELS:,} pixel limit "
                "(possible decompression bomb)"
            )
        if min(width, height) < MIN_SIDE:
            raise ContentSkipped(f"image is {width}x{height}, too small to fingerprint")
        note = _animation_note(image)
        if draft_side and image.format == "JPEG":
            image.draft("RGB", (draft_side, draft_side))
        image.load()
        rgb = _flatten(image)
    except ContentRejected:
        raise
    except UnidentifiedImageError:
        raise ContentRejected("not a recognised image format") from None
    except Image.DecompressionBombError:
        raise ContentRejected(
            f"image claims over the {MAX_PIXELS:,} pixel limit (possible decompression bomb)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ContentRejected(f"truncated or corrupt image data ({exc})") from None
    return DecodedImage(rgb, note)


def check_information(image: Image.Image) -> None:
    """Raise :class:`ContentSkipped` for a near-blank or featureless (smooth) image."""
    gray = image if image.mode == "L" else image.convert("L")
    thumb = np.asarray(gray.resize((64, 64), Image.Resampling.BOX), dtype=np.float32)
    contrast = float(thumb.std())
    if contrast < MIN_CONTRAST:
        raise ContentSkipped(f"near-blank image (contrast {contrast:.1f} < {MIN_CONTRAST})")
    laplacian = (4 * thumb[1:-1, 1:-1] - thumb[:-2, 1:-1] - thumb[2:, 1:-1]
                 - thumb[1:-1, :-2] - thumb[1:-1, 2:])
    detail = float(np.abs(laplacian).mean())
    if detail < MIN_DETAIL:
        raise ContentSkipped(
            f"low-information image (detail {detail:.2f} < {MIN_DETAIL}): too smooth to match")


class ImageContent(Content):
    """An image, decoded and gated once per decode size and shared by the image signals
    (registration decodes fully for every signal: one decode serves them all), with its
    grayscale version (converted once: the gate, pHash and ORB all read gray pixels)."""

    def __init__(self, raw: bytes) -> None:
        super().__init__(raw)
        self._gated: dict[int | None, Image.Image | ContentRejected] = {}
        self._gray: dict[int | None, Image.Image] = {}
        self._note: str | None = None

    def gated(self, draft_side: int | None) -> Image.Image:
        """The RGB image, decoded as :func:`decode_image` does with ``draft_side``, that
        passed :func:`check_information`; raises ``ContentRejected``/``ContentSkipped`` (the
        same each time)."""
        size = self._decode_size(draft_side)
        found = self._gated.get(size)
        if found is None:
            try:
                image = self._decode(size)
                gray = image.convert("L")
                check_information(gray)
                self._gray[size] = gray
                found = image
            except ContentRejected as exc:
                found = exc
            self._gated[size] = found
        if isinstance(found, ContentRejected):
            raise found
        return found

    def gray(self, draft_side: int | None) -> Image.Image:
        """:meth:`gated`'s image in grayscale (mode ``L``, as ``convert("L")`` makes it)."""
        self.gated(draft_side)
        return self._gray[self._decode_size(draft_side)]

    def _decode_size(self, draft_side: int | None) -> int | None:
        """The decode that serves ``draft_side`` (each size its own)."""
        return draft_side

    def _decode(self, draft_side: int | None) -> Image.Image:
        """The RGB image before the quality gate; raises ``ContentRejected``."""
        decoded = decode_image(self.raw, draft_side=draft_side)
        self._note = decoded.note
        return decoded.image

    @property
    def note(self) -> str | None:
        return self._note if self._gated else animation_note(self.raw)

    def regions(self) -> list[Region]:
        """The picture regions :func:`matching.regions.find_regions` sees, each cropped as an
        :class:`ImageRegion`; where each lies is in pixels of the image at full size."""
        try:
            boxes = find_regions(np.asarray(self.gated(REGION_FIND_SIDE)))
            if not boxes:
                return []
            large = self.gated(REGION_CROP_SIDE)
            width, height = Image.open(io.BytesIO(self.raw)).size
        except (ContentRejected, OSError, UnidentifiedImageError):
            return []
        found = []
        for box in boxes:
            left, top, right, bottom = box.pixels(width, height)
            found.append(Region(ImageRegion(large.crop(box.pixels(*large.size))),
                                {"left": left, "top": top, "width": right - left,
                                 "height": bottom - top}))
        return found

    @classmethod
    def recognise(cls, head: bytes) -> int:
        """2 for JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF and HEIF signatures, else 0.

        >>> ImageContent.recognise(b"\\x89PNG\\r\\n\\x1a\\n"), ImageContent.recognise(b"Chapter")
        (2, 0)
        """
        if head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
            return 2
        if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00":
            return 2
        return 2 if head[4:8] == b"ftyp" and head[8:12] in _ISO_IMAGE_BRANDS else 0


class ImageRegion(ImageContent):
    """A region cropped from a decoded image, matched as an image of its own: every decode
    size is the crop itself (through the quality gate), and it has no regions of its own."""

    def __init__(self, image: Image.Image) -> None:
        super().__init__(b"")
        self._image = image

    def _decode_size(self, draft_side: int | None) -> int | None:
        return None  # the crop serves every size

    def _decode(self, draft_side: int | None) -> Image.Image:
        return self._image

    def regions(self) -> list[Region]:
        return []
