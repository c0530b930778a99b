"""The JavaScript path: pages whose images only appear after a script runs, rendered in the
system Chromium through scrapy-playwright, with full-page screenshots kept as evidence."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import pytest
from sqlalchemy import select

from casefiles.captures import capture_record
from swordnet.core.config import Settings
from swordnet.core.db import open_database
from swordnet.core.models import Capture, Hit
from swordnet.demo.site import DemoSite, serve_site
from swordnet.evidence.store import EvidenceStore
from tests.canary import Canary
from tests.pirate_sites import (
    HTML,
    add_watch_target,
    crawl_target,
    hit_set,
    page,
    plant,
    planted_set,
    register_samples,
    sample_works,
)

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(autouse=True)
def chromium() -> None:
    if not shutil.which(CHROMIUM):
        if os.environ.get("SWORDNET_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is not installed (make browser installs it)")
        pytest.skip(f"{CHROMIUM} is not installed (make browser installs it)")


def scripted_site() -> DemoSite:
    """A page that adds its only image 300 ms after load, from a script."""
    site = DemoSite()
    plant(site, sample_works()[0], "/img/late.jpg", "/")
    script = ("<div id='g'></div><script>setTimeout(function () {"
              "var i = document.createElement('img'); i.src = '/img/late.jpg';"
              "document.getElementById('g').appendChild(i); }, 300);</script>")
    site.add("/", page("Gallery (needs JavaScript)", script), HTML)
    return site


def test_images_added_by_script_are_found_only_when_rendering(sqlite_home: Settings) -> None:
    db = open_database(sqlite_home)
    register_samples(db)
    site = scripted_site()
    with serve_site(site) as running:
        plain = add_watch_target(db, running.url)
        crawl_target(db, sqlite_home, plain)
        assert hit_set(db) == set()  # the raw HTML holds no image
        rendered = add_watch_target(db, running.url + "?js", render_js=True, screenshot=True)
        run = crawl_target(db, sqlite_home, rendered)
    assert run.outcome == "finished", run.error
    assert hit_set(db) == planted_set(site)
    store = EvidenceStore(sqlite_home.evidence_dir)
    with db.session() as session:
        hit = session.scalars(select(Hit)).one()
        assert hit.page_capture is not None
        page_record = capture_record(session, store, hit.page_capture)
        assert b"/img/late.jpg" in page_record.payload  # the DOM after the script ran
        assert ("X-Swordnet-Rendered-By", "Chromium (DOM after scripts ran)") in \
            page_record.http_headers
        shot = session.scalars(select(Capture).where(Capture.kind == "screenshot")).one()
        assert shot.url == hit.page_capture.url
        png = capture_record(session, store, shot).payload
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    db.dispose()


def test_a_rendered_page_reaches_no_refused_address(
        sqlite_home: Settings, canaries: tuple[Canary, Canary, Canary]) -> None:
    """Chromium's own requests (script-added images, a frame that redirects, a fetch) go
    through the outbound policy's proxy: the test site is allowed, other loopback addresses
    are not, and no connection reaches them."""
    _, canary2, canary6 = canaries
    db = open_database(sqlite_home)
    register_samples(db)
    site = scripted_site()
    hostile = (f"<script>['{canary2.url(path='/a.jpg')}', '{canary6.url('[::1]', '/b.jpg')}']"
               ".forEach(function (u) { var i = document.createElement('img'); i.src = u;"
               " document.body.appendChild(i); });"
               f"fetch('{canary2.url(path='/api')}').catch(function () {{}});</script>"
               "<iframe src='/go.html'></iframe>")
    site.add("/", page("Gallery (needs JavaScript)", site.files["/"].body.decode()
                       .split("<body>", 1)[1] + hostile), HTML)
    site.add("/go.html", b"", None, status=302,
             headers=(("Location", canary2.url(path="/landing.html")),))
    with serve_site(site) as running:
        target = add_watch_target(db, running.url, render_js=True)
        run = crawl_target(db, replace(sqlite_home, allow_networks="127.0.0.1/32"), target)
    assert run.outcome == "finished", run.error
    assert (canary2.connections, canary6.connections) == (0, 0)
    assert hit_set(db) == planted_set(site)  # the allowed site rendered as before
    db.dispose()
