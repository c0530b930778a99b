"""Importing Swordnet changes nothing outside it: no environment variable, no library-wide
setting. A crawl's worker imports every matcher; what one module set there would hold for
all of them (Pillow's decompression-bomb guard, FFmpeg's allowed formats)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from matching.signal import ContentRejected
from matching.video import CAPTURE_OPTIONS_ENV, VideoSignal
from tests.images import png_bytes

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["swordnet", "matching", "crawlers", "casefiles", "scheduler"]

# Runs in a fresh interpreter: the process-wide state before and after importing every
# module of our packages (``__main__`` modules run a program, so they are left out).
_PROBE = """
import importlib, json, logging, os, pkgutil, socket, sys
import cv2, numpy
from PIL import Image

def state():
    return {"environ": dict(os.environ), "pil_max_pixels": Image.MAX_IMAGE_PIXELS,
            "cv2_threads": cv2.getNumThreads(), "numpy_errors": numpy.geterr(),
            "socket_timeout": socket.getdefaulttimeout(),
            "recursion_limit": sys.getrecursionlimit(),
            "root_logger": [logging.root.level, len(logging.root.handlers)]}

before = state()
names = []
for package in sys.argv[1:]:
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
            names.append(module.name)
print(json.dumps({"before": before, "after": state(), "modules": names}))
"""


def test_importing_every_module_leaves_the_process_as_it_was() -> None:
    env = {name: value for name, value in os.environ.items()
           if name != CAPTURE_OPTIONS_ENV}
    result = subprocess.run([sys.executable, "-c", _PROBE, *PACKAGES], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(result.stdout.splitlines()[-1])
    assert {"matching.video", "swordnet.works.previews", "crawlers.settings"} \
        <= set(report["modules"])
    assert report["after"] == report["before"]


def test_ffmpeg_is_limited_to_video_containers_while_opening_and_only_then(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CAPTURE_OPTIONS_ENV, raising=False)
    image = _noise_png()
    # FFmpeg would read a PNG as a one-frame video; its format is not on the allowed list
    with pytest.raises(ContentRejected, match="not a video FFmpeg can open"):
        VideoSignal.query_value(image)
    assert CAPTURE_OPTIONS_ENV not in os.environ


def test_an_operators_own_ffmpeg_options_win(monkeypatch: pytest.MonkeyPatch) -> None:
    own = "protocol_whitelist;file|format_whitelist;png_pipe"
    monkeypatch.setenv(CAPTURE_OPTIONS_ENV, own)
    with pytest.raises(ContentRejected, match="video too short"):  # opened as a video
        VideoSignal.query_value(_noise_png())
    assert os.environ[CAPTURE_OPTIONS_ENV] == own


def _noise_png() -> bytes:
    pixels = np.random.default_rng(3).integers(0, 255, (240, 320, 3), np.uint8)
    return png_bytes(Image.fromarray(pixels))
