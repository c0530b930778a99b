"""Registration categories (the copyright class of a work) and the media kind each is matched as.

A work's ``kind`` is its media kind: it chooses the signals that fingerprint it (image, text,
video, audio, software). Its ``category`` is what it is registered as: text, music,
audiovisual, film, photography, fine art or software. Wherever a kind is given (``--kind``,
an API field, an import line, a console form) either word is accepted: a category brings its
media kind, and a media kind brings its default category. :func:`resolve_kind` is that one
mapping.
"""

from __future__ import annotations

from typing import NamedTuple

from swordnet.core.errors import BadInput

CATEGORIES = ("text", "music", "audiovisual", "film", "photography", "fine_art", "software")
# category -> the media kind whose signals fingerprint it
MEDIA_KIND_OF = {"text": "text", "music": "audio", "audiovisual": "video", "film": "video",
                 "photography": "image", "fine_art": "image", "software": "software"}
# media kind -> the category a work of that kind is registered as unless told otherwise
DEFAULT_CATEGORY = {"image": "photography", "video": "audiovisual", "audio": "music",
                    "text": "text", "software": "software"}


class UnknownKind(BadInput):
    """A kind that is neither a registration category nor a media kind."""


class KindAndCategory(NamedTuple):
    kind: str
    category: str


def kind_words() -> list[str]:
    """Every word a kind may be given as: the categories, then the media kinds not already
    among them (fine art as ``fine_art``; ``fine art`` and ``fine-art`` are accepted too)."""
    return [*CATEGORIES, *(k for k in DEFAULT_CATEGORY if k not in CATEGORIES)]


def resolve_kind(word: str) -> KindAndCategory:
    """The media kind and category a given kind stands for.

    >>> resolve_kind("music")
    KindAndCategory(kind='audio', category='music')
    >>> tuple(resolve_kind("Fine art")), tuple(resolve_kind("video"))
    (('image', 'fine_art'), ('video', 'audiovisual'))
    >>> resolve_kind("sculpture")
    Traceback (most recent call last):
    ...
    swordnet.core.categories.UnknownKind: kind 'sculpture' is not one of text, music, \
audiovisual, film, photography, fine_art, software, image, video, audio
    """
    normal = "_".join(word.strip().lower().replace("-", " ").split())
    if normal in MEDIA_KIND_OF:
        return KindAndCategory(MEDIA_KIND_OF[normal], normal)
    if normal in DEFAULT_CATEGORY:
        return KindAndCategory(normal, DEFAULT_CATEGORY[normal])
    raise UnknownKind(f"kind {word!r} is not one of {', '.join(kind_words())}")


def category_label(category: str | None) -> str:
    """How a category reads to people: ``fine_art`` is "fine art".

    >>> category_label("fine_art"), category_label(None)
    ('fine art', '')
    """
    return (category or "").replace("_", " ")
