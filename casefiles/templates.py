"""Editable templates: takedown notices and the evidence bundle's report.

Built-in templates live in ``casefiles/templates/``; a file of the same name in
``$SWORDNET_HOME/templates/`` replaces one, and a new file there adds a notice template.
Notices are ``notice-<name>.txt`` (plain text); the report is ``report.html``, rendered with
autoescaping, so crawled text (page titles, URLs) is never interpreted as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from swordnet.core.errors import NotFound
from swordnet.core.models import Case, Hit, Notice
from swordnet.works.metadata import registration_facts

BUILT_IN = Path(__file__).with_name("templates")


def environment(overrides: Path | None) -> Environment:
    search = [str(overrides)] if overrides is not None and overrides.is_dir() else []
    return Environment(loader=FileSystemLoader([*search, str(BUILT_IN)]),
                       autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                       keep_trailing_newline=True)


def notice_templates(overrides: Path | None) -> list[str]:
    names = {p.name for d in (overrides, BUILT_IN) if d is not None and d.is_dir()
             for p in d.glob("notice-*.txt")}
    return sorted(n.removeprefix("notice-").removesuffix(".txt") for n in names)


def check_template(overrides: Path | None, name: str) -> None:
    if name not in notice_templates(overrides):
        raise NotFound(f"no notice template {name!r} (templates: "
                       f"{', '.join(notice_templates(overrides))})")


def notice_context(session: Session, case: Case, notice: Notice,
                   hits: Sequence[Hit]) -> dict[str, Any]:
    works: dict[int, dict[str, Any]] = {}
    for hit in hits:
        work = hit.work
        works.setdefault(work.id, {"id": work.id, "title": work.title,
                                   "holder": work.holder.name if work.holder else None,
                                   **registration_facts(work),
                                   "urls": []})["urls"].append({
            "url": hit.url, "page_url": hit.page_url,
            "first_seen": hit.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            "sha256": _evidence_sha256(hit)})
    return {"case": {"id": case.id, "domain": case.site.domain},
            "notice": {"id": notice.id, "recipient": notice.recipient,
                       "date": (notice.sent_at or notice.created_at).strftime("%Y-%m-%d")},
            "works": list(works.values()), "url_count": len(hits)}


def _evidence_sha256(hit: Hit) -> str | None:
    """The sha256 of the capture that proves the copy: the file, or the page for a copy
    found in a page (text, links)."""
    capture = hit.media_capture or hit.page_capture
    return capture.sha256 if capture is not None else None


def render_notice(overrides: Path | None, name: str, context: dict[str, Any]) -> str:
    return environment(overrides).get_template(f"notice-{name}.txt").render(context)


def render_report(overrides: Path | None, context: dict[str, Any]) -> str:
    return environment(overrides).get_template("report.html").render(context)
