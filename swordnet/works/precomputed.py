"""Works registered from precomputed fingerprints: one JSON object, JSON Lines or CSV in bulk.

A rights holder need not upload the content itself: ``swordnet fingerprint FILE --kind K``
prints the line for a file, computed locally, and ``swordnet works import-fingerprints``
registers such lines. Each line is validated strictly (known keys only, a known kind, every
fingerprint parsed by its signal's ``validate``) before anything is stored; one bad line
stores nothing and every problem is reported with its line number.

Line format::

    {"title": "Night Train", "kind": "text", "aliases": ["夜行列车"],
     "registration_number": "TX-2026-001", "registration_date": "2026-03-01",
     "registering_authority": "Copyright Protection Center of China", "author": "Lin Wei",
     "first_published": "2025-11-20", "licence_territories": ["CN", "TW"],
     "fingerprints": [{"algorithm": "text", "variant": "original", "value": "..."}]}

``kind`` is a registration category or a media kind (:mod:`swordnet.core.categories`); the
registration fields are optional and checked by :mod:`swordnet.works.metadata`.

CSV holds one fingerprint per row under a header naming the columns ``title``, ``kind``,
``algorithm`` and ``value`` (required) and ``aliases`` (separated by ``|``), ``variant``
(default ``original``) and the registration fields (optional; territories separated by
``|``, commas or spaces); rows with the same title, kind, aliases and registration fields
are one work. Text holding a NUL character or a lone surrogate is refused, naming the line
and the key (:mod:`swordnet.core.text`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from matching.registry import SIGNAL_TYPES, signals_for_kind, supported_kinds
from swordnet.core.categories import UnknownKind, resolve_kind
from swordnet.core.errors import BadInput
from swordnet.core.text import value_problem
from swordnet.works.metadata import FIELDS as METADATA_FIELDS
from swordnet.works.metadata import MetadataError, parse_metadata

KEYS = {"title", "kind", "aliases", "fingerprints", *METADATA_FIELDS}
FINGERPRINT_KEYS = {"algorithm", "variant", "value"}
MAX_VARIANT_CHARS = 40
CSV_REQUIRED = ("title", "kind", "algorithm", "value")
CSV_OPTIONAL = ("aliases", "variant", *METADATA_FIELDS)
ALIAS_SEPARATOR = "|"
MAX_CSV_FIELD = 64 * 1024 * 1024  # a text work's fingerprint is one long value


class PrecomputedError(BadInput):
    """A line that cannot be registered; the message says where and why."""


@dataclass(frozen=True)
class PrecomputedWork:
    line: int
    title: str
    kind: str
    fingerprints: list[tuple[str, str, str]]
    aliases: list[str] = field(default_factory=list)
    category: str | None = None
    # registration fields, checked (see swordnet.works.metadata.parse_metadata)
    metadata: dict[str, Any] = field(default_factory=dict)


def _string(data: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PrecomputedError(f"\"{key}\" must be a non-empty string")
    return value.strip()


def _fingerprint(kind: str, number: int, raw: Any) -> tuple[str, str, str]:
    where = f"fingerprints[{number}]"
    if not isinstance(raw, dict):
        raise PrecomputedError(f"{where} must be an object")
    extra = set(raw) - FINGERPRINT_KEYS
    if extra:
        raise PrecomputedError(f"{where} has unknown keys: {', '.join(sorted(extra))}")
    algorithm = raw.get("algorithm")
    allowed = {s.name for s in signals_for_kind(kind)}
    if algorithm not in allowed:
        raise PrecomputedError(f"{where}: algorithm {algorithm!r} is not one of a {kind} "
                               f"work's ({', '.join(sorted(allowed))})")
    variant = raw.get("variant", "original")
    if not isinstance(variant, str) or not 0 < len(variant) <= MAX_VARIANT_CHARS:
        raise PrecomputedError(f"{where}: variant must be 1-{MAX_VARIANT_CHARS} characters")
    value = raw.get("value")
    if not isinstance(value, str):
        raise PrecomputedError(f"{where}: value must be a string")
    try:
        return algorithm, variant, SIGNAL_TYPES[algorithm].validate(value)
    except ValueError as exc:
        raise PrecomputedError(f"{where}: {exc}") from None
    except RecursionError:  # e.g. a text fingerprint of nested JSON arrays
        raise PrecomputedError(f"{where}: value is nested too deeply") from None


def parse_work(data: Any, line: int = 1) -> PrecomputedWork:
    """One work from a parsed JSON object; raises :class:`PrecomputedError`."""
    if not isinstance(data, dict):
        raise PrecomputedError("each line must be a JSON object")
    for key, value in data.items():
        if problem := value_problem(key) or value_problem(value):
            raise PrecomputedError(f"{json.dumps(key)} {problem}")
    extra = set(data) - KEYS
    if extra:
        raise PrecomputedError(f"unknown keys: {', '.join(sorted(extra))} "
                               f"(allowed: {', '.join(sorted(KEYS))})")
    title = _string(data, "title", required=True)
    given_kind = _string(data, "kind", required=True)
    assert title is not None and given_kind is not None
    try:
        kind, category = resolve_kind(given_kind)
        metadata = parse_metadata({k: v for k, v in data.items() if k in METADATA_FIELDS})
    except (UnknownKind, MetadataError) as exc:
        raise PrecomputedError(str(exc)) from None
    if kind not in supported_kinds():
        raise PrecomputedError(f"kind {given_kind!r} is not one of "
                               f"{', '.join(supported_kinds())} (its media kind, {kind}, "
                               "cannot be registered yet)")
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip()
                                                for a in aliases):
        raise PrecomputedError("\"aliases\" must be a list of non-empty strings")
    raw = data.get("fingerprints")
    if not isinstance(raw, list) or not raw:
        raise PrecomputedError("\"fingerprints\" must be a non-empty list")
    fingerprints = [_fingerprint(kind, n, fp) for n, fp in enumerate(raw)]
    seen = [(a, v) for a, v, _ in fingerprints]
    if len(set(seen)) != len(seen):
        raise PrecomputedError("two fingerprints share an algorithm and variant")
    return PrecomputedWork(line, title, kind, fingerprints, [a.strip() for a in aliases],
                           category, metadata)


def parse_lines(text: str) -> tuple[list[PrecomputedWork], list[str]]:
    """Works and per-line errors of a JSON Lines text (or of one JSON object over several
    lines). Blank lines are skipped.

    >>> works, errors = parse_lines('{"title": "X", "kind": "text"}\\n\\nnot json\\n')
    >>> works, errors
    ([], ['line 1: "fingerprints" must be a non-empty list', 'line 3: not JSON: Expecting value'])
    """
    stripped = text.strip()
    if stripped.startswith("{") and "\n" in stripped:
        try:  # a single pretty-printed object
            return [parse_work(json.loads(stripped))], []
        except (json.JSONDecodeError, RecursionError):
            pass
        except PrecomputedError as exc:
            return [], [f"line 1: {exc}"]
    works: list[PrecomputedWork] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            works.append(parse_work(json.loads(line), number))
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: not JSON: {exc.msg}")
        except RecursionError:
            errors.append(f"line {number}: not JSON: nested too deeply")
        except PrecomputedError as exc:
            errors.append(f"line {number}: {exc}")
    if not works and not errors:
        errors.append("no works in the file (it is empty)")
    return works, errors


def _csv_header(header: list[str]) -> tuple[list[str], str | None]:
    columns = [name.strip().lower() for name in header]
    missing = [name for name in CSV_REQUIRED if name not in columns]
    unknown = [name for name in columns if name not in CSV_REQUIRED + CSV_OPTIONAL]
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
    if len(set(columns)) != len(columns):
        problems.append("a column is named twice")
    if not problems:
        return columns, None
    return columns, (f"line 1: the CSV header must name {', '.join(CSV_REQUIRED)} (and "
                     f"optionally {', '.join(CSV_OPTIONAL)}): {'; '.join(problems)}")


def parse_csv(text: str) -> tuple[list[PrecomputedWork], list[str]]:
    """Works and per-line errors of a CSV text, one fingerprint per row (see above).

    >>> works, errors = parse_csv("title,kind,algorithm,value\\nStill,image,phash,zz\\n")
    >>> works, errors
    ([], ["line 2: fingerprint: expected 16 hex digits, got 2: 'zz'"])
    """
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD))
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    errors: list[str] = []
    groups: dict[tuple[str, str, tuple[str, ...], str], list[tuple[int, Any]]] = {}
    works_of: dict[tuple[str, str, tuple[str, ...], str], PrecomputedWork] = {}
    try:
        header = next(reader, None)
        if header is None:
            return [], ["no works in the file (it is empty)"]
        columns, problem = _csv_header(header)
        if problem:
            return [], [problem]
        for row in reader:
            number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(columns):
                errors.append(f"line {number}: {len(row)} cells, the header names "
                              f"{len(columns)} columns")
                continue
            cells = dict(zip(columns, row, strict=True))
            aliases = [a for a in cells.get("aliases", "").split(ALIAS_SEPARATOR) if a.strip()]
            data: dict[str, Any] = {
                "title": cells["title"], "kind": cells["kind"].strip(), "aliases": aliases,
                "fingerprints": [{"algorithm": cells["algorithm"].strip(),
                                  "variant": cells.get("variant", "").strip() or "original",
                                  "value": cells["value"]}]}
            data.update({key: cells[key] for key in METADATA_FIELDS
                         if cells.get(key, "").strip()})
            try:
                one = parse_work(data, number)
            except PrecomputedError as exc:
                message = str(exc).replace("fingerprints[0]", "fingerprint")
                errors.append(f"line {number}: {message}")
                continue
            key = (one.title, one.category or one.kind, tuple(one.aliases),
                   repr(sorted(one.metadata.items())))
            works_of.setdefault(key, one)
            rows = groups.setdefault(key, [])
            algorithm, variant, _value = one.fingerprints[0]
            earlier = [line for line, (a, v, _) in rows if (a, v) == (algorithm, variant)]
            if earlier:
                errors.append(f"line {number}: {one.title!r} already has a {algorithm} "
                              f"{variant} fingerprint on line {earlier[0]}")
                continue
            rows.append((number, one.fingerprints[0]))
    except csv.Error as exc:
        errors.append(f"line {reader.line_num}: not CSV: {exc}")
    works = [PrecomputedWork(rows[0][0], works_of[key].title, works_of[key].kind,
                             [fp for _, fp in rows], list(works_of[key].aliases),
                             works_of[key].category, works_of[key].metadata)
             for key, rows in groups.items()]
    if not works and not errors:
        errors.append("no works in the file (only a header)")
    return works, errors
