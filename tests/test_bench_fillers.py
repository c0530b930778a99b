"""The registry-scale benchmark's filler works: reproducible, and distinct from each other."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.fillers import filler
from swordnet.demo.samples import artwork


def _sources() -> list[Image.Image]:
    # Stand-ins for the Debian photographs (not installed on every machine): pictures
    # larger than any crop the generator draws.
    return [artwork(seed, size=(1200, 800)) for seed in range(3)]


def test_a_filler_is_the_same_picture_every_time() -> None:
    sources = _sources()
    for k in (0, 7, 10**9):
        assert filler(sources, k).tobytes() == filler(sources, k).tobytes()


def test_fillers_are_distinct_pictures_of_registrable_sizes() -> None:
    sources = _sources()
    pictures = [filler(sources, k) for k in range(60)]
    assert len({p.tobytes() for p in pictures}) == len(pictures)
    sizes = {p.size for p in pictures}
    assert len(sizes) > 30, "crops vary in size and aspect"
    assert all(160 <= max(p.size) <= 1100 for p in pictures)
    # not all cut from one photo: the mean colours differ as the sources' do
    means = {tuple(np.asarray(p).reshape(-1, 3).mean(axis=0).round(-1)) for p in pictures}
    assert len(means) > 10
