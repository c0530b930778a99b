"""Filler works for registry-scale benchmarks: crops, rescales and tiles of real photographs.

A registry of 10^5-10^6 works is simulated by registering that many distinct pictures that
none of the benchmark's test images contains. Generated abstract art would flatter an index
(few natural keypoints, little texture in common), so the fillers are cut from real
photographs installed by Debian packages (``make bench-setup`` installs them):

* ``mate-backgrounds`` (``/usr/share/backgrounds/mate/nature/``): 12 nature photographs
  (flowers, grass, leaves, dunes, rain drops, a storm, wood), GPL-2+ per the package's
  ``copyright`` file.
* ``plasma-workspace-wallpapers`` (``/usr/share/wallpapers/*/``): 10 photographs (a jetty,
  boats at sunset, autumn leaves, cups, a forest path, a façade, moss, a lake at dusk, a
  kite in the sky), GPL-2+ (KDE Visual Design Group) per the package's ``copyright`` file.

None of them is a work or a held-out image of :mod:`bench.imageset` (those come from
scikit-image and scikit-learn and stay the test images). They are only read at benchmark
time, never redistributed. Filler ``k`` is a pure function of ``k`` and the source photos:
a random crop (10-80% of the photo's side, any aspect from 1:2 to 2:1) rescaled to 320-1024
px, sometimes mirrored, re-lit and re-coloured; or a 2x2 / 3x3 collage of such crops from
different photos (like a stock-photo contact sheet). Two fillers share no parameters, so
``N`` fillers are ``N`` distinct images, many of them overlapping views of one photo, as a
real registry's series of shots are.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

MATE = Path("/usr/share/backgrounds/mate/nature")
PLASMA = Path("/usr/share/wallpapers")
MATE_PHOTOS = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird",
               "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower")
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "EveningGlow", "FallenLeaf",
                 "Grey", "Kite", "OneStandsOut", "Path", "summer_1am")
SOURCE_SIDE = 1600  # source photos are held at most this long on their long side
DEBIAN_PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers")


def _plasma_file(name: str) -> Path:
    """The largest JPEG of a Plasma wallpaper package (they ship one file per resolution)."""
    images = sorted((PLASMA / name / "contents" / "images").glob("*.jpg"),
                    key=lambda p: int(p.stem.split("x")[0]))
    if not images:
        raise FileNotFoundError(PLASMA / name)
    return images[-1]


def photo_files() -> list[Path]:
    """The source photographs' files; a clear error if the Debian packages are missing."""
    files = [MATE / f"{name}.jpg" for name in MATE_PHOTOS]
    try:
        files += [_plasma_file(name) for name in PLASMA_PHOTOS]
    except FileNotFoundError as exc:
        raise SystemExit(f"missing filler photo {exc}: apt-get install "
                         + " ".join(DEBIAN_PACKAGES)) from None
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"missing filler photo {missing[0]}: apt-get install "
                         + " ".join(DEBIAN_PACKAGES))
    return files


def load_sources() -> list[Image.Image]:
    """The source photographs as RGB, at most :data:`SOURCE_SIDE` px on the long side."""
    photos = []
    for path in photo_files():
        with Image.open(path) as image:
            photo = image.convert("RGB")
        photo.thumbnail((SOURCE_SIDE, SOURCE_SIDE))
        photos.append(photo)
    return photos


def _crop(photo: Image.Image, rnd: random.Random, low: float, high: float) -> Image.Image:
    side = rnd.uniform(low, high)
    aspect = 2 ** rnd.uniform(-1, 1)
    width = min(photo.width, max(16, round(photo.width * side * aspect ** 0.5)))
    height = min(photo.height, max(16, round(photo.height * side / aspect ** 0.5)))
    x, y = rnd.randint(0, photo.width - width), rnd.randint(0, photo.height - height)
    return photo.crop((x, y, x + width, y + height))


def _resized(image: Image.Image, long_side: int) -> Image.Image:
    """Rescaled with OpenCV (area averaging down, bilinear up): 3x cheaper than Pillow's
    bilinear convolution, and as free of aliasing when shrinking."""
    scale = long_side / max(image.size)
    size = (max(16, round(image.width * scale)), max(16, round(image.height * scale)))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return Image.fromarray(cv2.resize(np.asarray(image), size, interpolation=method))


def _retouched(image: Image.Image, rnd: random.Random) -> Image.Image:
    """Sometimes mirrored, then re-lit (brightness and contrast about the mean grey, one
    lookup table) and re-coloured (blended with its own grey, as ``ImageEnhance.Color``)."""
    pixels = np.asarray(image)
    if rnd.random() < 0.3:
        pixels = pixels[:, ::-1]
    brightness, contrast = rnd.uniform(0.8, 1.2), rnd.uniform(0.8, 1.2)
    colour = rnd.uniform(0.6, 1.3)
    mean = brightness * float(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).mean())
    levels = (np.arange(256) * brightness - mean) * contrast + mean
    lit = cv2.LUT(np.ascontiguousarray(pixels), np.clip(levels + 0.5, 0, 255).astype(np.uint8))
    grey = cv2.cvtColor(cv2.cvtColor(lit, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return Image.fromarray(cv2.addWeighted(lit, colour, grey, 1 - colour, 0))


def _collage(sources: Sequence[Image.Image], rnd: random.Random) -> Image.Image:
    grid = rnd.choice((2, 3))
    cell = rnd.randint(160, 340)
    gap = rnd.choice((0, 4, 8))
    side = grid * cell + (grid + 1) * gap
    sheet = Image.new("RGB", (side, side), rnd.choice(((255, 255, 255), (0, 0, 0))))
    for position in range(grid * grid):
        tile = _crop(rnd.choice(sources), rnd, 0.1, 0.5).resize((cell, cell))
        sheet.paste(tile, (gap + (position % grid) * (cell + gap),
                           gap + (position // grid) * (cell + gap)))
    return sheet


def filler(sources: Sequence[Image.Image], k: int) -> Image.Image:
    """Filler picture number ``k`` (deterministic): a retouched crop or a collage of crops."""
    rnd = random.Random(f"filler/{k}")
    if rnd.random() < 0.2:
        image = _collage(sources, rnd)
    else:
        image = _resized(_crop(rnd.choice(sources), rnd, 0.1, 0.8), rnd.randint(320, 1024))
    return _retouched(image, rnd)
