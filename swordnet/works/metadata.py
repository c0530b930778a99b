"""A work's registration metadata: what its copyright registration says, checked.

Every way a work is registered or edited (``works add``, imports, the API, the console)
passes its fields through :func:`parse_metadata`, so each refuses the same bad input with the
same one line naming the field: dates are ISO ``YYYY-MM-DD`` and not in the future,
territories are ISO 3166-1 alpha-2 codes (or ``worldwide``), text is bounded and storable
(:mod:`swordnet.core.text`). :func:`registration_facts` is how notices, bundles, the console
and listings show them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import pycountry

from swordnet.core.categories import category_label
from swordnet.core.errors import BadInput
from swordnet.core.models import Work
from swordnet.core.text import text_problem
from swordnet.core.timeutil import utcnow

WORLDWIDE = "worldwide"
TEXT_FIELDS = {"registration_number": 100, "registering_authority": 200, "author": 500}
DATE_FIELDS = ("registration_date", "first_published")
TERRITORIES = "licence_territories"
FIELDS = (*TEXT_FIELDS, *DATE_FIELDS, TERRITORIES)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class MetadataError(BadInput):
    """A registration field that cannot be stored as given; the message names it, and
    ``field`` is its key (for a form to mark it)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _label(field: str) -> str:
    return field.replace("_", " ")


def _text(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MetadataError(f"{_label(field)} must be text", field)
    if problem := text_problem(value):
        raise MetadataError(f"{_label(field)} {problem}", field)
    value = " ".join(value.split())
    if len(value) > TEXT_FIELDS[field]:
        raise MetadataError(f"{_label(field)} is {len(value)} characters; at most "
                            f"{TEXT_FIELDS[field]}", field)
    return value or None


def parse_date(field: str, value: Any, today: date) -> date | None:
    """An ISO date not after ``today`` (empty: none).

    >>> parse_date("registration_date", "2024-02-29", date(2026, 1, 1))
    datetime.date(2024, 2, 29)
    >>> parse_date("first_published", "2027-01-01", date(2026, 1, 1))
    Traceback (most recent call last):
    ...
    swordnet.works.metadata.MetadataError: first published 2027-01-01 is in the future
    """
    if value is None or isinstance(value, date):
        parsed = value
    elif not isinstance(value, str):
        raise MetadataError(f"{_label(field)} must be a date (YYYY-MM-DD)", field)
    elif not value.strip():
        return None
    else:
        text = value.strip()
        try:
            if not ISO_DATE.fullmatch(text):
                raise ValueError
            parsed = date.fromisoformat(text)
        except ValueError:
            raise MetadataError(f"{_label(field)} {text[:40]!r} is not a date "
                                "(YYYY-MM-DD)", field) from None
    if parsed is not None and parsed > today:
        raise MetadataError(f"{_label(field)} {parsed.isoformat()} is in the future", field)
    return parsed


def parse_territories(value: Any) -> list[str]:
    """ISO 3166-1 alpha-2 codes (any case; a list, or text separated by commas or spaces),
    upper-cased, each once in the order given, or ``["worldwide"]``. Text may separate
    them by commas, ``|`` or spaces.

    >>> parse_territories("cn, tw HK"), parse_territories(["Worldwide"]), parse_territories("")
    (['CN', 'TW', 'HK'], ['worldwide'], [])
    >>> parse_territories("CN,XX")
    Traceback (most recent call last):
    ...
    swordnet.works.metadata.MetadataError: licence territories: 'XX' is not an ISO 3166-1 \
alpha-2 country code (or "worldwide")
    """
    if value is None:
        return []
    if isinstance(value, str):
        items: list[Any] = value.replace(",", " ").replace("|", " ").split()
    elif isinstance(value, list):
        items = value
    else:
        raise MetadataError("licence territories must be a list of country codes", TERRITORIES)
    codes: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise MetadataError("licence territories must be a list of country codes", TERRITORIES)
        code = item.strip()
        if code.lower() == WORLDWIDE:
            code = WORLDWIDE
        elif len(code) == 2 and code.isascii() and pycountry.countries.get(
                alpha_2=code.upper()) is not None:
            code = code.upper()
        else:
            raise MetadataError(f"licence territories: {code[:40]!r} is not an ISO 3166-1 "
                                "alpha-2 country code (or \"worldwide\")", TERRITORIES)
        if code not in codes:
            codes.append(code)
    if WORLDWIDE in codes and len(codes) > 1:
        raise MetadataError("licence territories: \"worldwide\" cannot be given with "
                            "country codes", TERRITORIES)
    return codes


def parse_metadata(raw: Mapping[str, Any], today: date | None = None) -> dict[str, Any]:
    """The registration fields in ``raw``, checked and normalised, keyed as :class:`Work`'s
    columns; only the fields ``raw`` names (an empty value clears one). Raises
    :class:`MetadataError` naming the first bad field, or an unknown one.

    >>> parse_metadata({"author": "  Lin  Wei ", "licence_territories": "cn"})
    {'author': 'Lin Wei', 'licence_territories': ['CN']}
    """
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise MetadataError(f"unknown registration field(s): {', '.join(sorted(unknown))} "
                            f"(fields: {', '.join(FIELDS)})")
    today = today or utcnow().date()
    fields: dict[str, Any] = {}
    for field, value in raw.items():
        if field in TEXT_FIELDS:
            fields[field] = _text(field, value)
        elif field in DATE_FIELDS:
            fields[field] = parse_date(field, value, today)
        else:
            fields[field] = parse_territories(value)
    return fields


def registration_facts(work: Work) -> dict[str, Any]:
    """A work's category and registration metadata as shown to people and written into
    notices and bundles: dates as ISO text, the category in words."""
    return {
        "category": work.category, "category_label": category_label(work.category),
        "registration_number": work.registration_number,
        "registration_date": work.registration_date.isoformat()
        if work.registration_date else None,
        "registering_authority": work.registering_authority,
        "author": work.author,
        "first_published": work.first_published.isoformat() if work.first_published else None,
        "licence_territories": [str(t) for t in work.licence_territories],
    }
