"""Real text for bench/text.py: Chinese poetry and English documentation, split into
registered "books", pirated chapters and unrelated pages.

* Chinese: the Tang and Song poems of the ``chinese-poetry`` npm package (traditional
  characters), fetched by ``make bench-setup`` into ``bench/.data/``. A book is
  :data:`CHAPTERS` chapters of consecutive poems (with titles and authors), each about
  :data:`CHAPTER_CHARS` characters.
* English: the docstrings of the Python standard library and of the installed packages
  (read with ``ast``, no code), a book per module with enough of them.

Every paragraph (a poem, a docstring paragraph) is used once in the whole corpus: repeats
and near-repeats (a poem in two anthologies, a docstring copied between modules and edited)
are dropped, so an "unrelated" page does not hold passages of a registered book. A paragraph
is a near-repeat when more than :data:`MAX_SEEN_FRACTION` of its winnowed shingles occur
in paragraphs kept before it.
"""

from __future__ import annotations

import ast
import json
import random
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from matching.text import shingles
from matching.textnorm import shingle_text

DATA = Path(__file__).resolve().parent / ".data" / "chinese-poetry" / "package" / "dist"
CHAPTERS = 8
MAX_SEEN_FRACTION = 0.1
CHAPTER_CHARS = {"zh": 1500, "en": 2500}

Chapter = tuple[str, list[str]]


@dataclass
class Book:
    language: str
    title: str
    chapters: list[Chapter]

    def text(self) -> str:
        parts = [self.title]
        for heading, paragraphs in self.chapters:
            parts.append(heading)
            parts.extend(paragraphs)
        return "\n\n".join(parts)


class _Unique:
    """Drops paragraphs whose text was (mostly) seen before anywhere in the corpus."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.dropped = 0

    def keep(self, paragraph: str) -> bool:
        norm = shingle_text(paragraph)
        if len(norm) < 20:
            return False
        hashes = shingles(norm).hashes.tolist() or [hash(norm)]
        if sum(h in self.seen for h in hashes) > MAX_SEEN_FRACTION * len(hashes):
            self.dropped += 1
            return False
        self.seen.update(hashes)
        return True


def poems(unique: _Unique) -> Iterator[str]:
    files = sorted(DATA.glob("quantangshi/poet.*.json"))
    if not files:
        sys.exit(f"{DATA} has no poems: run `make bench-setup` first (it fetches the "
                 f"chinese-poetry package with npm)")
    for path in files:
        for poem in json.loads(path.read_text(encoding="utf-8")):
            body = "".join(poem.get("paragraphs") or [])
            text = f"{poem.get('title', '')}　{poem.get('author', '')}\n{body}"
            if body and unique.keep(body):
                yield text


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc:
                found.extend(" ".join(p.split()) for p in doc.split("\n\n"))
    return found


def docstring_texts(unique: _Unique) -> Iterator[list[str]]:
    """Per module: its unique prose paragraphs (no doctest or code-looking lines)."""
    roots = {Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])}
    for root in sorted(roots):
        for path in sorted(root.rglob("*.py")):
            if "_vendor" in path.parts or "test" in path.parts or "tests" in path.parts:
                continue
            paragraphs = [p for p in _docstrings(path)
                          if not p.startswith((">>>", "..", ":")) and " " in p
                          and sum(c.isalpha() for c in p) > 0.7 * len(p) and unique.keep(p)]
            if paragraphs:
                yield paragraphs


def _chapters(paragraphs: Iterator[str], size: int, count: int,
              heading: str) -> list[Chapter] | None:
    chapters: list[Chapter] = []
    current: list[str] = []
    length = 0
    for paragraph in paragraphs:
        current.append(paragraph)
        length += len(paragraph)
        if length >= size:
            chapters.append((heading.format(len(chapters) + 1), current))
            current, length = [], 0
            if len(chapters) == count:
                return chapters
    return None


def build(books_per_language: int, negatives: int,
          seed: int = 7) -> tuple[list[Book], list[tuple[str, list[str]]], int]:
    """Registered books, unrelated chapter-sized pages (language, paragraphs) and the number
    of near-repeat paragraphs dropped. English pages are half the negatives at most (there
    is less English text); Chinese ones make up the rest."""
    unique = _Unique()
    books: list[Book] = []
    unrelated: list[tuple[str, list[str]]] = []
    modules = list(docstring_texts(unique))
    random.Random(seed).shuffle(modules)
    english = (p for module in modules for p in module)
    for number in range(books_per_language):
        chapters = _chapters(english, CHAPTER_CHARS["en"], CHAPTERS, "Chapter {}")
        if chapters is None:
            break
        books.append(Book("en", f"Collected notes, volume {number + 1}", chapters))
    while len(unrelated) < negatives // 2:
        page = _chapters(english, CHAPTER_CHARS["en"], 1, "{}")
        if page is None:
            break
        unrelated.append(("en", page[0][1]))
    stream = poems(unique)
    for number in range(books_per_language):
        chapters = _chapters(stream, CHAPTER_CHARS["zh"], CHAPTERS, "第{}章")
        if chapters is None:
            break
        books.append(Book("zh", f"詩選 第{number + 1}卷", chapters))
    while len(unrelated) < negatives:
        page = _chapters(stream, CHAPTER_CHARS["zh"], 1, "{}")
        if page is None:
            break
        unrelated.append(("zh", page[0][1]))
    return books, unrelated, unique.dropped
