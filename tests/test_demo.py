"""`swordnet demo` end to end, as `make demo` runs it, in a fresh home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from swordnet.samples import SAMPLE_WORKS


def test_demo_runs_and_a_rerun_adds_nothing(tmp_path: Path) -> None:
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
    second = demo()
    assert "(0 new)" in second and "0 new hits (44 already known" in second

    listed = subprocess.run([sys.executable, "-m", "swordnet", "hits", "list", "--json"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and listed.stdout.count('"status": "pending"') == 44
    hits = json.loads(listed.stdout)
    [text] = [h for h in hits if h["algorithm"] == "text"]
    assert text["work_title"] == "The Lamplighter's Almanac"
    assert text["detail"]["chapters"] == ["Chapter 3: The Second Ledger"]
    [link] = [h for h in hits if h["algorithm"] == "link"]
    assert link["work_title"] == "Harbour at Dusk" and len(link["detail"]["links"]) == 3
