"""The suite's xdist groups hold: under ``--dist loadgroup`` (``make test``) a test marked
``xdist_group`` carries its group in its node id, which is how pytest-xdist sends a group's
tests to one worker. Modules that build an expensive fixture for all their tests (the live
event, generated media, sound hits) are grouped so that it is built once per run, not once
per worker; a pytest that drops the suffix (9.2 did) would silently double that work."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.xdist_group("xdist_groups")


def test_a_grouped_test_runs_in_its_group(request: pytest.FixtureRequest) -> None:
    if not request.config.getoption("loadgroup", False):
        pytest.skip("not run with --dist loadgroup")
    assert request.node.nodeid.endswith("@xdist_groups"), request.node.nodeid
