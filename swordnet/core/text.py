"""Text Swordnet can store and show: one check for every boundary.

Two kinds of Python ``str`` cannot be kept: a NUL character (PostgreSQL cannot store one)
and a lone surrogate such as ``"\\ud800"`` (JSON's ``\\ud800`` escape, or a command-line
argument that is not UTF-8). A lone surrogate cannot be encoded as UTF-8: stored in a JSON
column it would break every page, listing and crawl that shows it afterwards. Imports, API
requests, forms and command-line arguments refuse such text with a message naming the
input; the database layer refuses whatever still gets through (see :mod:`swordnet.core.models`
and :mod:`swordnet.core.db`).
"""

from __future__ import annotations

from typing import Any

from swordnet.core.errors import BadInput


class UnusableText(BadInput):
    """Text with a NUL character or a lone surrogate; the message names the input."""


def text_problem(value: str) -> str | None:
    """What makes ``value`` unusable, or None.

    >>> text_problem("Night Train 夜行列车"), text_problem("a\\x00b")
    (None, 'must not contain NUL characters')
    >>> text_problem("\\ud800")
    'must not contain lone surrogates (text that is not valid Unicode)'
    """
    if "\x00" in value:
        return "must not contain NUL characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain lone surrogates (text that is not valid Unicode)"
    return None


def value_problem(value: Any) -> str | None:
    """:func:`text_problem` of any text in ``value``: a string, or lists, tuples and dicts
    (keys too) holding strings, as JSON columns and statement parameters do.

    >>> value_problem({"aliases": ["ok", "\\ud800"]}) is not None, value_problem([1, "x"])
    (True, None)
    """
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, (list, tuple)):
        for item in value:
            if problem := value_problem(item):
                return problem
    return None


def check_text(value: Any, what: str) -> None:
    """Raise :class:`UnusableText` naming ``what`` if any text in ``value`` is unusable.

    >>> check_text(["夜行列车", "x\\x00"], "aliases")
    Traceback (most recent call last):
    ...
    swordnet.core.text.UnusableText: aliases must not contain NUL characters
    """
    if problem := value_problem(value):
        raise UnusableText(f"{what} {problem}")
