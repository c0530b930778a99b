"""``/api/docs``: the REST API's reference, rendered on the server from the app's own
OpenAPI document (no script, no CDN, nothing the Content-Security-Policy has to allow).

Operations are grouped by tag, each with its parameters, request body, responses and who
may call it; every schema the operations name is listed after them. Any signed-in user may
read it; the machine-readable document is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from swordnet.web.console_base import Signed, render

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "put", "patch", "delete")
REF_PREFIX = "#/components/schemas/"


def type_text(schema: dict[str, Any]) -> str:
    """A schema's type in a few words.

    >>> type_text({"anyOf": [{"type": "integer"}, {"type": "null"}]})
    'integer or null'
    >>> type_text({"type": "array", "items": {"$ref": "#/components/schemas/HitOut"}})
    'array of HitOut'
    >>> type_text({"type": "string", "enum": ["a", "b"]})
    'string: a, b'
    """
    if "$ref" in schema:
        return str(schema["$ref"]).removeprefix(REF_PREFIX)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " or ".join(type_text(part) for part in schema[key])
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {type_text(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_text(schema['additionalProperties'])}"
    if "format" in schema:
        kind = f"{kind} ({schema['format']})"
    if "enum" in schema:
        return f"{kind}: {', '.join(map(str, schema['enum']))}"
    if "const" in schema:
        return f"{kind}: {schema['const']}"
    return kind


def limits_text(schema: dict[str, Any]) -> str:
    """The bounds a value must keep (``1 ≤ n ≤ 500``, ``at most 255 characters``)."""
    parts = []
    for part in [schema, *schema.get("anyOf", [])]:
        low, high = part.get("minimum"), part.get("maximum")
        if low is not None or high is not None:
            parts.append(" ≤ ".join(str(v) for v in (low, "n", high) if v is not None))
        if part.get("maxLength") is not None:
            parts.append(f"at most {part['maxLength']} characters")
    return "; ".join(parts)


@dataclass
class DocField:
    name: str
    where: str
    type: str
    required: bool
    description: str
    default: str
    limits: str


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    description: str
    parameters: list[DocField]
    body: list[tuple[str, str]]  # (content type, schema)
    responses: list[tuple[str, str, str]]  # (status, description, content)
    secured: bool


@dataclass
class Tag:
    name: str
    operations: list[Operation] = field(default_factory=list)


def _default(schema: dict[str, Any]) -> str:
    return "" if "default" not in schema else repr(schema["default"])


def _parameters(operation: dict[str, Any]) -> list[DocField]:
    return [DocField(name=p["name"], where=p["in"], type=type_text(p.get("schema", {})),
                   required=bool(p.get("required")),
                   description=p.get("description") or p.get("schema", {}).get(
                       "description", ""),
                   default=_default(p.get("schema", {})),
                   limits=limits_text(p.get("schema", {})))
            for p in operation.get("parameters", [])]


def _content(content: dict[str, Any]) -> str:
    return "; ".join(f"{kind}: {type_text(value.get('schema', {}))}" if value.get("schema")
                     else kind for kind, value in content.items())


def operations_by_tag(document: dict[str, Any]) -> list[Tag]:
    """The document's operations grouped by their first tag, tags in first-seen order."""
    tags: dict[str, Tag] = {}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            name = (operation.get("tags") or ["other"])[0]
            body = operation.get("requestBody", {}).get("content", {})
            tags.setdefault(name, Tag(name)).operations.append(Operation(
                method=method.upper(), path=path,
                anchor=operation.get("operationId", f"{method}-{path}"),
                summary=operation.get("summary", ""),
                description=operation.get("description", ""),
                parameters=_parameters(operation),
                body=[(kind, type_text(value.get("schema", {})))
                      for kind, value in body.items()],
                responses=[(status, r.get("description", ""), _content(r.get("content", {})))
                           for status, r in operation.get("responses", {}).items()],
                secured=bool(operation.get("security"))))
    return list(tags.values())


def schema_fields(schema: dict[str, Any]) -> list[DocField]:
    """A component schema's properties."""
    required = set(schema.get("required", []))
    return [DocField(name=name, where="", type=type_text(prop), required=name in required,
                   description=prop.get("description", ""), default=_default(prop),
                   limits=limits_text(prop))
            for name, prop in schema.get("properties", {}).items()]


@router.get("/api/docs")
def api_docs(request: Request, viewer: Signed) -> Response:
    document = request.app.openapi()
    schemas = document.get("components", {}).get("schemas", {})
    schemes = document.get("components", {}).get("securitySchemes", {})
    return render(request, "api_docs.html", viewer, document=document,
                  tags=operations_by_tag(document), schemes=schemes,
                  schemas=[(name, s.get("description", ""), schema_fields(s))
                           for name, s in sorted(schemas.items())],
                  schema_names=set(schemas), openapi_url=request.app.openapi_url)
