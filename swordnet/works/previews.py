"""What reviewers see: thumbnails and plain text made from registered works and captures.

Crawled bytes are never handed to the browser as they are. An image (the registered work or
a found copy) is decoded with Pillow and re-encoded as a PNG thumbnail; a page is reduced to
its main text, which templates escape. So a crawled SVG with script, an HTML page posing as
an image or a polyglot file never runs in the console. Sound (an audio work, a video's
soundtrack) is re-encoded by ffmpeg as a small mono Opus file (:mod:`swordnet.works.audio_codec`).
A work matched through its sound but previewed otherwise (a video work, previewed by its key
frames) keeps that sound as a second stored object (:func:`store_work_sound`), so a match
through its soundtrack can be heard too. A registered picture's stored thumbnail is a JPEG
(preview type ``"jpeg"``) unless it has transparency (``"image"``: a PNG, as works
registered before JPEG thumbnails keep).
"""

from __future__ import annotations

import io
import json
import zlib
from typing import Any, NamedTuple

from PIL import Image, UnidentifiedImageError

from matching.audio import WORK_MAX_SECONDS as AUDIO_WORK_MAX_SECONDS
from matching.decode import ImageContent
from matching.registry import keeps_soundtrack, preview_of
from matching.signal import Content, ContentRejected
from matching.textdoc import decode_text, html_main_text, looks_like_html
from swordnet.core.errors import BadInput
from swordnet.core.models import Work
from swordnet.evidence.store import EvidenceStore
from swordnet.works.audio_codec import AudioUnreadable, opus_excerpt

THUMBNAIL_SIDE = 640
# Pillow's antialiased bilinear filter, not its thumbnail()'s bicubic default: 2.0 against 3.2 ms
# for `bench/registration.py`'s photos over 640 px, and within 50.7 dB PSNR (median; 36.9 at
# least) of a Lanczos resize, closer than the JPEG at quality 90 it is stored as (43.6 dB).
THUMBNAIL_FILTER = Image.Resampling.BILINEAR
# zlib's run-length strategy at level 1: a 640 px photo's thumbnail encodes in a fifth of the
# CPU time of the default (level 6: 12.5 against 60 ms) and 3% more bytes (230 against 223
# KB); the default was two thirds of the CPU time of registering an image (`works import`).
PNG_ZLIB = {"compress_level": 1, "compress_type": zlib.Z_RLE}
# A registered picture's thumbnail, kept for every work: `bench/registration.py`'s photos
# encode in 0.8 ms and 39 KB at quality 90, against 17.6 ms and 230 KB as PNG above (the PNG
# was most of `works import`'s CPU per image, and 230 GB of previews for 10^6 works).
JPEG_QUALITY = 90
# Refused before decoding (below Pillow's own bomb guard, which stays as it is).
MAX_PREVIEW_PIXELS = 60_000_000
# Modes of pictures without transparency, which matching's decode only converts to RGB as the
# preview's own would (their full decode is shared by registration: one decode, not two).
OPAQUE_MODES = frozenset({"RGB", "L", "CMYK"})
TEXT_PREVIEW_CHARS = 2_000_000
# An audio work's stored preview: its first half hour (32 kbit/s Opus: about 7 MB at most).
AUDIO_PREVIEW_SECONDS = 1800.0
# A video work's stored soundtrack: as much as its soundtrack fingerprint covers (a film's
# match may lie anywhere in it), at half the rate (16 kbit/s: about 15 MB for two hours).
SOUNDTRACK_SECONDS = AUDIO_WORK_MAX_SECONDS
SOUNDTRACK_BITRATE = "16k"


class PreviewFormat(NamedTuple):
    suffix: str  # of the stored object
    media_type: str  # as served


# A work's stored preview, by its preview type (video key frames and software file lists are
# JSON manifests read by their own modules).
PREVIEW_FORMATS = {"image": PreviewFormat(".png", "image/png"),
                   "jpeg": PreviewFormat(".jpg", "image/jpeg"),
                   "text": PreviewFormat(".txt", "text/plain; charset=utf-8"),
                   "audio": PreviewFormat(".ogg", "audio/ogg")}
IMAGE_PREVIEWS = frozenset(kind for kind, f in PREVIEW_FORMATS.items()  # shown as a picture
                           if f.media_type.startswith("image/"))


class NoPreview(BadInput):
    """Content the console cannot show (not an image, not text, too big)."""


def _thumbnail(content: bytes | Content) -> Image.Image:
    """Any image Pillow reads, at most 640 pixels on its longer side: decoded afresh, or for
    an opaque picture taken from ``content``'s full decode (an :class:`ImageContent`, as
    registration fingerprinted it), which then holds the same pixels."""
    raw = content.raw if isinstance(content, Content) else content
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > MAX_PREVIEW_PIXELS:
                raise NoPreview(f"image is {image.width}x{image.height}, too large to preview")
            picture = _opaque_decode(content, image)
            if picture is None:
                image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                picture = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    except UnidentifiedImageError:  # its message shows the in-memory file's repr
        raise NoPreview("not a readable image (not a recognised image format)") from None
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise NoPreview(f"not a readable image ({exc})") from None
    scale = THUMBNAIL_SIDE / max(picture.size)
    if scale >= 1:
        return picture
    return picture.resize((max(1, round(picture.width * scale)),
                           max(1, round(picture.height * scale))), THUMBNAIL_FILTER,
                          reducing_gap=2.0)  # as thumbnail() does, without changing picture


def _opaque_decode(content: bytes | Content, image: Image.Image) -> Image.Image | None:
    """``content``'s full RGB decode if it has one and ``image`` (the same file, opened) has
    no transparency; else None."""
    if not isinstance(content, ImageContent) or image.mode not in OPAQUE_MODES \
            or "transparency" in image.info:
        return None
    try:
        return content.gated(None)
    except ContentRejected:
        return None


def _encoded(picture: Image.Image, image_format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, image_format, **options)
    return out.getvalue()


def thumbnail_png(content: bytes) -> bytes:
    """A PNG at most 640 pixels on its longer side, re-encoded from any image Pillow reads."""
    return _encoded(_thumbnail(content), "PNG", **PNG_ZLIB)


def work_thumbnail(content: bytes | Content) -> tuple[str, bytes]:
    """A registered picture's thumbnail and its preview type: a JPEG (``"jpeg"``), or a PNG
    (``"image"``) where the picture has transparency, which JPEG cannot keep. ``content``
    may be the image content registration fingerprinted (its decode is shared)."""
    picture = _thumbnail(content)
    if picture.mode == "RGBA":
        return "image", _encoded(picture, "PNG", **PNG_ZLIB)
    return "jpeg", _encoded(picture, "JPEG", quality=JPEG_QUALITY)


def readable_text(content: bytes) -> str:
    """The text of a text file, or the main text of an HTML page, capped for display."""
    try:
        text, _encoding = decode_text(content)
    except ContentRejected as exc:
        raise NoPreview(str(exc)) from None
    if looks_like_html(text):
        text = html_main_text(text)
    return text[:TEXT_PREVIEW_CHARS]


def audio_preview(content: bytes) -> bytes:
    """The sound of an audio file (or a video's soundtrack), its first
    :data:`AUDIO_PREVIEW_SECONDS`, as mono Opus in Ogg."""
    try:
        return opus_excerpt(content, 0.0, AUDIO_PREVIEW_SECONDS)
    except AudioUnreadable as exc:
        raise NoPreview(f"no sound to preview ({exc})") from None


def store_work_preview(store: EvidenceStore, work: Work, content: bytes | Content) -> None:
    """Keep a preview of a registered work in the evidence store, as its kind's signals say
    reviewers see it (an image thumbnail, text, or its sound re-encoded). ``content`` may be
    the content object its fingerprints were computed from (a picture's decode is shared)."""
    preview = preview_of(work.kind)
    raw = content.raw if isinstance(content, Content) else content
    try:
        if preview == "image":
            preview, thumbnail = work_thumbnail(content)
            stored = store.put_bytes(thumbnail, PREVIEW_FORMATS[preview].suffix)
        elif preview == "text":
            stored = store.put_bytes(readable_text(raw).encode(), ".txt")
        elif preview == "audio":
            stored = store.put_bytes(audio_preview(raw), ".ogg")
        else:
            return
    except NoPreview:
        return
    work.preview_type = preview
    work.preview_sha256 = stored.sha256


def store_work_sound(store: EvidenceStore, work: Work, content: bytes) -> None:
    """Keep the sound of a work matched through its sound but previewed otherwise (a video
    work's soundtrack, its first :data:`SOUNDTRACK_SECONDS` as mono Opus) as
    ``work.sound_sha256``; nothing for other kinds, or a file without sound."""
    if not keeps_soundtrack(work.kind):
        return
    try:
        sound = opus_excerpt(content, 0.0, SOUNDTRACK_SECONDS, SOUNDTRACK_BITRATE)
    except AudioUnreadable:
        return
    work.sound_sha256 = store.put_bytes(sound, ".ogg").sha256


def stored_sound_seconds(work: Work) -> float:
    """How much of a work's sound is stored at most (its first seconds)."""
    return AUDIO_PREVIEW_SECONDS if work.preview_type == "audio" else SOUNDTRACK_SECONDS


def work_sound_sha256(work: Work) -> str | None:
    """Where the work's sound is kept: an audio work's preview, a video work's soundtrack
    (None if it has none)."""
    return work.preview_sha256 if work.preview_type == "audio" else work.sound_sha256


def work_sound(store: EvidenceStore, work: Work) -> bytes | None:
    """The work's stored sound (mono Opus in Ogg), or None if it has none (or it is gone)."""
    digest = work_sound_sha256(work)
    if digest is None:
        return None
    try:
        with store.open_object(digest, PREVIEW_FORMATS["audio"].suffix) as f:
            return f.read()
    except FileNotFoundError:
        return None


def store_json_preview(store: EvidenceStore, work: Work, preview_type: str,
                       manifest: dict[str, Any]) -> None:
    """Keep ``manifest`` (a kind's own preview: key frames, software parts) as the work's
    preview of ``preview_type``."""
    stored = store.put_bytes(json.dumps(manifest, separators=(",", ":")).encode(), ".json")
    work.preview_type = preview_type
    work.preview_sha256 = stored.sha256


def stored_json_preview(store: EvidenceStore, work: Work,
                        preview_type: str) -> dict[str, Any] | None:
    """The work's preview kept by :func:`store_json_preview` as ``preview_type``, or None if
    it has none of that type (or it is gone, or unreadable)."""
    if work.preview_type != preview_type or work.preview_sha256 is None:
        return None
    try:
        with store.open_object(work.preview_sha256, ".json") as f:
            data = json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def work_preview(store: EvidenceStore, work: Work) -> bytes | None:
    """The stored preview's bytes (JPEG or PNG, UTF-8 text or Ogg Opus), or None if the work has
    none (video key frames and software file lists are read by their own modules)."""
    if work.preview_sha256 is None or work.preview_type not in PREVIEW_FORMATS:
        return None
    suffix = PREVIEW_FORMATS[work.preview_type].suffix
    try:
        with store.open_object(work.preview_sha256, suffix) as f:
            return f.read()
    except FileNotFoundError:
        return None
