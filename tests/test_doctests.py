"""The runnable examples in module docstrings stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "swordnet.core.config",
    "swordnet.watch.targets",
    "matching.hamming",
    "casefiles.custody",
    "crawlers.extract",
    "crawlers.traps",
    "crawlers.items",
    "crawlers.health",
    "matching.local_features",
    "swordnet.watch.campaigns",
    "casefiles.notices",
    "scheduler.scrapyd",
    "scheduler.executor",
    "matching.textnorm",
    "matching.textdoc",
    "matching.text",
    "matching.link",
    "matching.link_context",
    "matching.media",
    "matching.registry",
    "matching.decode",
    "swordnet.works.precomputed",
    "swordnet.works.registry",
    "swordnet.accounts.users",
    "swordnet.accounts.access",
    "swordnet.web.app",
    "swordnet.web.throttle",
    "crawlers.frontier",
    "crawlers.pipelines",
    "casefiles.zipcheck",
    "swordnet.core.text",
    "swordnet.cli.util",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
