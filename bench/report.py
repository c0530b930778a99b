"""What every benchmark does last: write its summary as JSON and say where."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_results(path: Path, summary: dict[str, Any]) -> None:
    """Write ``summary`` to ``path`` (creating ``bench/results/``) and print the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
