"""The memory-mapped link name index gives exactly what the in-RAM Aho-Corasick index gives."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matching import index_file
from matching.link import LinkIndex, link_name
from matching.link_context import LinkContext, LinkQuery
from matching.name_index import SharedNameIndex, build_name_segment
from matching.signal import ContentRejected

LATIN = ["heat", "theater", "the", "salt", "road", "matrix", "1999", "up", "avatar", "road2",
         "saltroad", "he", "at", "heater", "ro", "ad", "x"]
CJK = ["英雄", "流浪", "地球", "盐之路", "英", "雄", "路", "地", "球流"]


def _words(rnd: random.Random, count: int) -> list[str]:
    return [rnd.choice(LATIN + CJK) for _ in range(count)]


def _name(rnd: random.Random) -> str | None:
    """A folded name, joined as a pirate writes it (spaces, or none between scripts)."""
    words = _words(rnd, rnd.randint(1, 4))
    text = "".join(w if rnd.random() < 0.3 else f" {w}" for w in words)
    try:
        return link_name(text)
    except ContentRejected:
        return None


def _registry(rnd: random.Random, works: int) -> dict[int, str]:
    registry: dict[int, str] = {}
    for entry_id in rnd.sample(range(1, works * 5), works):
        names = list(dict.fromkeys(n for n in (_name(rnd) for _ in range(rnd.randint(1, 3)))
                                   if n))
        if names:
            registry[entry_id] = "\n".join(names)
    return registry


def _page(rnd: random.Random, registry: dict[int, str]) -> LinkQuery:
    known = [n for value in registry.values() for n in value.split("\n")]
    contexts = []
    for c in range(rnd.randint(1, 6)):
        parts = _words(rnd, rnd.randint(0, 12))
        for _ in range(rnd.randint(0, 3)):  # registered names, whole or cut, glued or not
            name = rnd.choice(known)
            if rnd.random() < 0.2:
                name = name[rnd.randint(0, 2):]
            parts.insert(rnd.randint(0, len(parts)), name)
        text = "".join(p if rnd.random() < 0.25 else f" {p}" for p in parts)
        text = text.upper() if rnd.random() < 0.2 else text.replace(" ", rnd.choice(" .-_"))
        links = [f"magnet:?xt={rnd.randint(0, 30)}" for _ in range(rnd.randint(1, 4))]
        kinds = [rnd.choice(["magnet", "torrent", ""]) for _ in links] if c % 2 else []
        contexts.append(LinkContext(text, links, kinds))
    return LinkQuery(contexts)


def _results(index: Any, query: LinkQuery, limit: float) -> list[Any]:
    return list(index.query_detailed(query, limit))


@pytest.mark.parametrize("seed", range(12))
def test_stored_names_find_exactly_what_the_automaton_finds(seed: int) -> None:
    rnd = random.Random(seed)
    registry = _registry(rnd, rnd.choice([5, 40, 200]))
    rows = sorted(registry.items())
    cut = len(rows) * 2 // 3  # the index file holds the older ones, RAM the rest
    stored = [build_name_segment([(i, i * 10, "names", v) for i, v in rows[:cut // 2]]),
              build_name_segment([(i, i * 10, "names", v) for i, v in rows[cut // 2:cut]])]
    shared, reference = SharedNameIndex(stored), LinkIndex()
    for entry_id, value in rows:
        reference.add(entry_id, value)
    shared.extend(rows[cut:])
    removed = rnd.sample([i for i, _ in rows], max(1, len(rows) // 5))
    for entry_id in removed:
        shared.remove(entry_id)
        reference.remove(entry_id)
    renamed = rnd.choice(rows[:cut])[0]  # a stored entry registered again with other names
    shared.add(renamed, "英雄 avatar")
    reference.add(renamed, "英雄 avatar")
    hits = 0
    for _ in range(60):
        query = _page(rnd, registry)
        for limit in (1, 2):
            expected = _results(reference, query, limit)
            assert _results(shared, query, limit) == expected
            hits += len(expected)
    assert hits > 20  # the pages do name registered works
    assert len(shared) == len(reference)
    assert shared.owner(removed[0]) is None


def test_word_boundaries_prefixes_and_overlaps() -> None:
    values = {1: "heat wave", 2: "the heat", 3: "英雄本色", 4: "英雄",
              5: "salt road\nthe salt road", 6: "avatar"}
    shared = SharedNameIndex([build_name_segment([(i, i, "names", v) for i, v in values.items()])])

    def found(text: str) -> dict[int, str]:
        query = LinkQuery([LinkContext(text, ["magnet:?xt=1"])])
        return {e: d["name"] for e, _, d in shared.query_detailed(query, 1)}

    assert found("theater heat waves avatars") == {}
    assert found("The Heat Wave (2020)") == {1: "heat wave", 2: "the heat"}
    assert found("【英雄本色】下载") == {3: "英雄本色", 4: "英雄"}
    assert found("Download The.Salt.Road") == {5: "the salt road"}
    assert found("x英雄avatar") == {4: "英雄"}


def test_a_one_character_cjk_name_is_refused() -> None:
    with pytest.raises(ValueError, match="one CJK character"):
        build_name_segment([(1, 1, "names", "英")])


def test_name_segments_survive_the_index_file(tmp_path: Path) -> None:
    segment = build_name_segment([(3, 30, "names", "盐之路\nthe salt road"),
                                  (1, 10, "names", "avatar 2")])
    manifest = index_file.write_segment(tmp_path, index_file.Manifest(), segment)
    index_file.commit(tmp_path, manifest)
    loaded = index_file.load(tmp_path)
    assert loaded is not None and loaded.manifest.segments[0]["kind"] == index_file.LINK
    (names,) = loaded.names
    assert names.values() == [(1, 10, "names", "avatar 2"),
                              (3, 30, "names", "盐之路\nthe salt road")]
    assert names.values(np.array([1])) == [(3, 30, "names", "盐之路\nthe salt road")]
    assert isinstance(names.keys, np.memmap)
