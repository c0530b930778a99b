"""The crawl benchmark's homes: a full crawl against a copy of a large registry."""

from __future__ import annotations

import io
from pathlib import Path

from bench.crawl import fresh_home, registered_works
from matching import index_file
from swordnet.core.config import load_settings
from swordnet.core.db import open_database
from swordnet.demo.samples import artwork, sample_files
from swordnet.works.image_index import index_directory, update_index_file
from swordnet.works.registry import register_work


def _registry(home: Path) -> str:
    """A registry home as ``bench/scale.py`` leaves one: one work, its index file current."""
    settings = load_settings({"SWORDNET_HOME": str(home)})
    database = open_database(settings)
    picture = io.BytesIO()
    artwork(99, size=(640, 480)).save(picture, "JPEG", quality=95)
    with database.session() as session:
        register_work(session, picture.getvalue(), title="registry work", holder_name="holder",
                      source_name="work.jpg")
        update_index_file(session, index_directory(home))
    database.dispose()
    return settings.database_url


def test_a_crawl_home_copies_the_registry_adds_the_samples_and_leaves_the_registry_alone(
        tmp_path: Path) -> None:
    registry_url = _registry(tmp_path / "registry")
    crawl_home = tmp_path / "crawl"
    crawl_home.mkdir()
    crawl_url = fresh_home(crawl_home, tmp_path / "registry")

    assert registered_works(crawl_url) == 1 + len(sample_files())
    assert registered_works(registry_url) == 1
    # the index file is current: the crawl's first worker has nothing to build
    before = index_file.read_manifest(index_directory(crawl_home))
    database = open_database(load_settings({"SWORDNET_HOME": str(crawl_home)}))
    with database.session() as session:
        assert update_index_file(session, index_directory(crawl_home)) == before
    database.dispose()
    assert before is not None and before.high_water > 0
