"""Text normalisation shared by the text and link signals.

Pirates change what does not change meaning: full-width and half-width forms, case,
whitespace, punctuation, and traditional versus simplified Chinese characters. Both signals
compare text after undoing all of that: Unicode NFKC, case folding, and OpenCC's
traditional-to-simplified character table (one character for another, so offsets are kept).

CJK characters carry far more information each than Latin letters; :func:`char_weights`
gives every normalised character a weight (3 for Han, kana and hangul, 1 otherwise) so a
shingle or a minimum title length means about the same amount of text in every script.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

import numpy as np

CJK_WEIGHT = 3
# Han (with extensions and compatibility forms), kana, hangul: the scripts written without
# spaces, where one character is about a word.
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
               (0xF900, 0xFAFF), (0x20000, 0x3134F))
_NOT_WORD = re.compile(r"[\W_]+")


@lru_cache(maxsize=1)
def _t2s_table() -> dict[int, str]:
    """Traditional -> simplified, character by character, from OpenCC's TSCharacters table."""
    table: dict[int, str] = {}
    path = resources.files("opencc") / "dictionary" / "TSCharacters.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[0]) == 1 and len(parts[1]) == 1:
            table[ord(parts[0])] = parts[1]
    return table


def fold(text: str) -> str:
    """NFKC, case folding and traditional -> simplified characters.

    >>> fold("ＡＢＣ　第一章　風雲")
    'abc 第一章 风云'
    """
    return unicodedata.normalize("NFKC", text).casefold().translate(_t2s_table())


def shingle_text(text: str) -> str:
    """Folded text with everything but letters and digits removed: what shingles are cut from.

    >>> shingle_text("He said: “Hello,   World!”\\n\\n他說：「你好。」")
    'hesaidhelloworld他说你好'
    """
    return _NOT_WORD.sub("", fold(text))


def is_cjk(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def char_weights(text: str) -> np.ndarray:
    """Per-character weight of a normalised text (``CJK_WEIGHT`` for CJK, else 1)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    cjk = np.zeros(len(codes), dtype=bool)
    for lo, hi in _CJK_RANGES:
        cjk |= (codes >= lo) & (codes <= hi)
    return np.where(cjk, CJK_WEIGHT, 1).astype(np.int64)


def text_weight(text: str) -> int:
    """Total weight of ``text``'s letters and digits.

    >>> text_weight("Avatar"), text_weight("流浪地球")
    (6, 12)
    """
    return int(char_weights(shingle_text(text)).sum())


def phrase(text: str) -> str:
    """A name or title folded for finding it in running text: words separated by one space,
    no space between CJK characters, no punctuation.

    >>> phrase("The.Matrix.1999.1080p")
    'the matrix 1999 1080p'
    >>> phrase("《流浪 地球》2")
    '流浪地球 2'
    """
    words = _NOT_WORD.sub(" ", fold(text)).split()
    if not words:
        return ""
    out = [words[0]]
    for word in words[1:]:
        if is_cjk(out[-1][-1]) and is_cjk(word[0]):
            out[-1] += word
        else:
            out.append(word)
    return " ".join(out)
