"""Works registered from precomputed fingerprints: one JSON object, or JSON Lines in bulk.

A rights holder need not upload the content itself: ``swordnet fingerprint FILE --kind K``
prints the line for a file, computed locally, and ``swordnet works import-fingerprints``
registers such lines. Each line is validated strictly (known keys only, a known kind, every
fingerprint parsed by its signal's ``validate``) before anything is stored; one bad line
stores nothing and every problem is reported with its line number.

Line format::

    {"title": "Night Train", "kind": "text", "aliases": ["夜行列车"],
     "registration_number": "TX-2026-001",
     "fingerprints": [{"algorithm": "text", "variant": "original", "value": "..."}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from matching.registry import SIGNAL_TYPES, signals_for_kind, supported_kinds

KEYS = {"title", "kind", "aliases", "registration_number", "fingerprints"}
FINGERPRINT_KEYS = {"algorithm", "variant", "value"}
MAX_VARIANT_CHARS = 40


class PrecomputedError(ValueError):
    """A line that cannot be registered; the message says where and why."""


@dataclass(frozen=True)
class PrecomputedWork:
    line: int
    title: str
    kind: str
    fingerprints: list[tuple[str, str, str]]
    aliases: list[str] = field(default_factory=list)
    registration_number: str | None = None


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


def parse_work(data: Any, line: int = 1) -> PrecomputedWork:
    """One work from a parsed JSON object; raises :class:`PrecomputedError`."""
    if not isinstance(data, dict):
        raise PrecomputedError("each line must be a JSON object")
    extra = set(data) - KEYS
    if extra:
        raise PrecomputedError(f"unknown keys: {', '.join(sorted(extra))} "
                               f"(allowed: {', '.join(sorted(KEYS))})")
    title = _string(data, "title", required=True)
    kind = _string(data, "kind", required=True)
    assert title is not None and kind is not None
    if kind not in supported_kinds():
        raise PrecomputedError(f"kind {kind!r} is not one of {', '.join(supported_kinds())}")
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
                           _string(data, "registration_number", required=False))


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
        except json.JSONDecodeError:
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
        except PrecomputedError as exc:
            errors.append(f"line {number}: {exc}")
    if not works and not errors:
        errors.append("no works in the file (it is empty)")
    return works, errors
