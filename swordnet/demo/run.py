"""``swordnet demo``: the whole pipeline on a generated pirate site, in a few seconds.

Registers the shipped sample works for a demo rights holder, serves the demo site on
127.0.0.1, puts it on the watchlist, crawls it through the normal executor, takes one typical
case through to publication (:mod:`swordnet.demo.published`), and prints what was found and
what to try next. Running it again reuses the registered works and the site
(on the same port when it is free), so hits are not duplicated.
"""

from __future__ import annotations

import secrets
import socket
from collections import Counter
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from matching.registry import describe_match
from matching.textdoc import sections_of
from scheduler.executor import CrawlRequest, LocalExecutor
from swordnet.accounts.users import add_user, set_password
from swordnet.core.config import Settings
from swordnet.core.db import Database
from swordnet.core.models import Capture, CrawlRun, Hit, User, WarcFile
from swordnet.demo.published import publish_typical_case
from swordnet.demo.samples import sample_files, sample_text
from swordnet.demo.site import build_demo_site, serve_site
from swordnet.evidence.store import EvidenceStore
from swordnet.watch.targets import add_target, site_for_url
from swordnet.works.registry import register_work

DEMO_HOLDER = "Demo Rights Holder"
PREFERRED_PORT = 8765
DEMO_USER = "demo"
LOGIN_FILE = "demo-login.txt"
CONSOLE_URL = "http://127.0.0.1:8000/"


def _port_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound (so re-runs keep the same site address)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server does
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def demo_crawl_settings(settings: Settings) -> Settings:
    """``settings`` allowing the crawl to reach the demo site on 127.0.0.1, which the
    outbound-request policy refuses by default (docs/security.md)."""
    networks = ",".join(n for n in (settings.allow_networks, "127.0.0.1/32") if n)
    return replace(settings, allow_networks=networks)


def chapters(path: Path) -> list[tuple[str, list[str]]]:
    """A text work's chapters as (heading, paragraphs), for the demo site to repost."""
    found: list[tuple[str, list[str]]] = []
    for section in sections_of(path.read_text(encoding="utf-8")):
        paragraphs = [" ".join(p.split()) for p in section.text.split("\n\n") if p.strip()]
        if section.heading and paragraphs:
            found.append((section.heading, paragraphs))
    return found


def run_demo(db: Database, settings: Settings, console: Console) -> int:
    """Run the demo; returns the crawl run id."""
    samples = sample_files()
    text_path, text_title = sample_text()
    store = EvidenceStore(settings.evidence_dir)
    with db.session() as session:
        created = sum(register_work(session, path.read_bytes(), title=title,
                                    holder_name=DEMO_HOLDER, source_name=path.name,
                                    preview_store=store).created
                      for path, title in samples)
        created += register_work(session, text_path.read_bytes(), title=text_title,
                                 holder_name=DEMO_HOLDER, kind="text",
                                 source_name=text_path.name, preview_store=store).created
    console.print(f"Registered {len(samples)} sample images and 1 text work for "
                  f"'{DEMO_HOLDER}' ({created} new).")

    site = build_demo_site([(title, Image.open(path).convert("RGB")) for path, title in samples],
                           novel=(text_title, chapters(text_path)), download_page=True)
    with serve_site(site, port=PREFERRED_PORT if _port_free(PREFERRED_PORT) else 0) as running:
        console.print(f"Demo pirate site serving at {running.url} "
                      f"({len(site.page_paths)} pages, {len(site.planted)} altered copies).")
        with db.session() as session:
            target = next((t for t in site_for_url(session, running.url).targets
                           if running.url in t.start_urls), None)
            if target is None:
                target = add_target(session, running.url, depth=2, max_pages=50,
                                    every_seconds=None)
            request = CrawlRequest.for_target(target)
        console.print("Crawling it (scrapy crawl site, as the scheduler would) ...")
        run_id = LocalExecutor(db, demo_crawl_settings(settings)).run(request)

    with db.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        hits = session.scalars(select(Hit).where(Hit.site_id == run.site_id)
                               .order_by(Hit.work_id, Hit.id)).all()
        stats = run.stats
        table = Table(title=f"Hits on {run.site.domain}", title_justify="left")
        for column in ("hit", "work", "stage", "found by", "status", "path"):
            table.add_column(column)
        for hit in hits:
            table.add_row(str(hit.id), hit.work.title, str(hit.stage),
                          describe_match(hit.algorithm, hit.variant, hit.score, hit.detail),
                          hit.status, urlsplit(hit.url).path)
        outcome, error, site_id = run.outcome, run.error, run.site_id
        by_stage = Counter(hit.stage for hit in hits if hit.run_id == run_id)
        health = "healthy" if run.healthy else "unhealthy: " + "; ".join(run.health_problems)
        captures = session.scalar(select(func.count()).select_from(Capture)
                                  .where(Capture.run_id == run_id)) or 0
        warcs = session.scalars(select(WarcFile).where(WarcFile.run_id == run_id)).all()

    console.print(table)
    console.print(
        f"Run {run_id}: {outcome}; {stats.get('pages', 0)} pages and {stats.get('media', 0)} "
        f"images fetched, {stats.get('hits_new', 0)} new hits ({stats.get('hits_seen', 0)} "
        f"already known; {by_stage.get(2, 0)} found by stage 2, the local-feature matcher "
        f"that sees through hard crops and screenshots), {stats.get('errors', 0)} fetch "
        f"errors recorded "
        f"(the site serves a broken page and two bad images on purpose); {health}. Text hits "
        f"are pages reposting a chapter of a registered text; link hits are pages naming a "
        f"work next to download links.")
    if warcs:
        files = ", ".join(f"{w.filename} (sha256 {w.sha256})" for w in warcs)
        console.print(f"Evidence: {captures} captured pages and images, as WARC records in "
                      f"{files}.")
    if error:
        console.print(f"[red]{error}[/red]")
    with db.session() as session:
        published = publish_typical_case(session, site_id, DEMO_HOLDER)
    if published is not None:
        console.print(f"Case {published} (the reposted chapter) was noticed, removed, closed "
                      f"and published with its holder's consent: {CONSOLE_URL}public/cases/"
                      f"{published} under make serve.", highlight=False)
    login = demo_login(db, settings)
    console.print(
        f"\nData kept in {settings.home}. Next:\n"
        "  swordnet hits list --status pending   the review queue\n"
        "  swordnet hits confirm ID [ID ...]     confirm: opens the site's case\n"
        "  swordnet hits reject ID               reject a false match\n"
        "  swordnet captures list HIT_ID         the WARC records behind a hit\n"
        "  swordnet evidence check               re-hash the evidence store\n"
        "  swordnet runs list                    crawl runs and their health\n"
        "  swordnet cases list                   cases; cases show ID for the log\n"
        "  swordnet match FILE                   which works a local file matches\n"
        "  swordnet sites list                   the watchlist and last runs")
    console.print(
        "\n[bold]Review the hits in the web console:[/bold] run [bold]make serve[/bold] (or "
        f"swordnet serve), open {CONSOLE_URL} and sign in as [bold]{DEMO_USER}[/bold] with "
        f"password [bold]{login}[/bold] (also in {settings.home / LOGIN_FILE}). Published "
        f"cases are at {CONSOLE_URL}public/cases for anyone (make serve turns "
        "SWORDNET_PUBLIC_PAGES on; a plain swordnet serve leaves them off).",
        highlight=False)
    return run_id


def demo_login(db: Database, settings: Settings) -> str:
    """Create the demo's staff user, or give it a new password; returns the password and
    keeps it in the home (readable by its owner only)."""
    password = secrets.token_urlsafe(12)
    with db.session() as session:
        if session.scalar(select(User.id).where(User.username == DEMO_USER)) is None:
            add_user(session, DEMO_USER, password, "staff")
        else:
            set_password(session, DEMO_USER, password)
    path = settings.home / LOGIN_FILE
    path.touch(mode=0o600)
    path.write_text(f"console: {CONSOLE_URL}\nuser: {DEMO_USER}\npassword: {password}\n")
    return password
