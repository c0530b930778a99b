"""`swordnet demo` end to end, as `make demo` runs it, in a fresh home."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from swordnet.demo.samples import SAMPLE_WORKS
from tests.test_schedule_cli import free_port

LOGIN = re.compile(r"open (http://127\.0\.0\.1:8000/) and sign in as (\w+) with password (\S+)")


def test_demo_runs_and_a_rerun_adds_nothing(tmp_path: Path, demo_port: None) -> None:
    env = {**os.environ, "SWORDNET_HOME": str(tmp_path / "home"), "COLUMNS": "120"}
    env.pop("SWORDNET_DATABASE_URL", None)

    def demo() -> str:
        result = subprocess.run([sys.executable, "-m", "swordnet", "demo"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    first = demo()
    assert (f"Registered {len(SAMPLE_WORKS)} sample images and 1 text work for 'Demo Rights "
            f"Holder' (7 new)") in first
    flat = " ".join(first.split())
    # 42 image copies, the reposted chapter (text) and the download page (link)
    assert ("finished; 9 pages and 56 images fetched, 44 new hits (0 already known; 12 found by "
            "stage 2") in flat
    assert all(title in first for _, title in SAMPLE_WORKS)
    assert "/read/3.html" in first and "/downloads.html" in first
    assert "swordnet hits list --status pending" in first
    assert "(the reposted chapter) was noticed, removed, closed and published" in flat
    second = demo()
    assert "(0 new)" in second and "0 new hits (44 already known" in second
    assert "was noticed" not in second  # the published case is not made again
    assert_console_login(env, LOGIN.search(" ".join(second.split())),
                         stale_password=LOGIN.search(" ".join(first.split())).group(3))

    listed = subprocess.run([sys.executable, "-m", "swordnet", "hits", "list", "--json"],
                            env=env, capture_output=True, text=True, timeout=60)
    # 43 to review: the reposted chapter is confirmed into the demo's published case
    assert listed.returncode == 0 and listed.stdout.count('"status": "pending"') == 43
    hits = json.loads(listed.stdout)
    [text] = [h for h in hits if h["algorithm"] == "text"]
    assert text["status"] == "confirmed" and text["work_title"] == "The Lamplighter's Almanac"
    assert text["detail"]["chapters"] == ["Chapter 3: The Second Ledger"]
    [link] = [h for h in hits if h["algorithm"] == "link"]
    assert link["work_title"] == "Harbour at Dusk" and len(link["detail"]["links"]) == 3


def assert_console_login(env: dict[str, str], login: re.Match[str] | None,
                         stale_password: str) -> None:
    """What the demo's last lines say works: `swordnet serve` (with the public pages on, as
    `make serve` runs it), sign in, 43 hits to review, the published case signed out."""
    assert login is not None
    _url, user, password = login.groups()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "swordnet", "serve", "--port", str(port)],
                              env={**env, "SWORDNET_PUBLIC_PAGES": "on"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 300  # far beyond need: only ends a hang
            while True:
                try:
                    form = client.get("/login")
                    break
                except httpx.ConnectError:
                    assert server.poll() is None and time.monotonic() < deadline
                    time.sleep(0.2)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)

            def sign_in(secret: str) -> httpx.Response:
                return client.post("/login", data={"username": user, "password": secret,
                                                   "csrf_token": token, "next": "/review"})

            assert sign_in(stale_password).status_code == 401  # a rerun gave a new password
            token = re.search(r'name="csrf_token" value="([^"]+)"',
                              client.get("/login").text).group(1)
            signed_in = sign_in(password)
            assert signed_in.status_code == 303 and signed_in.headers["location"] == "/review"
            review = client.get("/review")
            assert review.status_code == 200 and "Review queue" in review.text
            hits = client.get("/api/v1/hits", params={"status": "pending", "limit": 1})
            assert hits.json()["total"] == 43
        with httpx.Client(base_url=base, timeout=60) as signed_out:
            public = signed_out.get("/public/cases")
            assert public.status_code == 200 and "A forum reposted a chapter" in public.text
    finally:
        server.terminate()
        server.wait(timeout=30)
