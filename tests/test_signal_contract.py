"""The contract every registered signal keeps, run over ``matching.registry.SIGNAL_TYPES``.

Fingerprints round-trip through ``validate``; malformed values are refused with a one-line
error; the index finds what querying each registered work on its own finds (after removals
too); bad input is refused with a one-line ``ContentRejected``, never another exception. The
sample content of each signal is in :mod:`tests.signal_samples`.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from matching.registry import SIGNAL_TYPES, signals_for_kind, supported_kinds
from matching.signal import ContentRejected, SignalIndex, SignalType
from tests.signal_samples import SAMPLES, Samples

NAMES = sorted(SIGNAL_TYPES)
_made: dict[str, Samples] = {}


@pytest.fixture
def signal(request: pytest.FixtureRequest) -> type[SignalType]:
    return SIGNAL_TYPES[request.param]


@pytest.fixture
def samples(signal: type[SignalType], tmp_path_factory: pytest.TempPathFactory) -> Samples:
    if signal.name not in SAMPLES:
        pytest.fail(f"signal {signal.name!r} has no samples in tests/signal_samples.py")
    if signal.name not in _made:
        _made[signal.name] = SAMPLES[signal.name](tmp_path_factory.mktemp(signal.name))
    return _made[signal.name]


def each_signal(test: Any) -> Any:
    return pytest.mark.parametrize("signal", NAMES, indirect=True)(test)


def registered(signal: type[SignalType], works: list[bytes]) -> list[tuple[int, int, str]]:
    """``(entry id, work number, value)`` of every value registration stores."""
    entries: list[tuple[int, int, str]] = []
    for number, work in enumerate(works):
        for value in signal.registration_variants(work).values():
            entries.append((len(entries) + 1, number, value))
    return entries


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message.strip() and "\n" not in message, repr(message)
    return message


def test_every_kind_shares_one_content_object_and_every_signal_declares_itself() -> None:
    for kind in supported_kinds():  # a signal also reading another kind gets its content
        assert len({s.content_type for s in signals_for_kind(kind) if s.work_kind == kind}) == 1
        assert signals_for_kind(kind)[0].work_kind == kind, kind
    for signal in SIGNAL_TYPES.values():
        assert signal.max_content_bytes > 0 and signal.score_unit
        assert signal.matches_pages or signal.file_kinds, f"{signal.name} reads nothing"


@each_signal
def test_fingerprints_round_trip_through_validate(signal: type[SignalType],
                                                  samples: Samples) -> None:
    for work in samples.works:
        value = signal.fingerprint(work)
        assert signal.validate(value) == value
        assert signal.accepts(signal.score(value, value), signal.default_threshold)
        for variant, stored in signal.registration_variants(work).items():
            assert signal.validate(stored) == stored, variant
    first, second = (signal.fingerprint(w) for w in samples.works[:2])
    assert not signal.accepts(signal.score(first, second), signal.default_threshold)


@each_signal
def test_malformed_values_are_refused_with_one_line(signal: type[SignalType],
                                                    samples: Samples) -> None:
    for value in samples.bad_values:
        with pytest.raises(ValueError) as refused:
            signal.validate(value)
        one_line(refused.value)


def _results(index: SignalIndex, query: Any, limit: float) -> list[tuple[int, float]]:
    return sorted(index.query(query, limit))


def _one_by_one(signal: type[SignalType], entries: list[tuple[int, int, str]], query: Any,
                limit: float) -> list[tuple[int, float]]:
    """The brute-force answer: each registered value alone in an index of its own."""
    found = []
    for entry_id, _, value in entries:
        alone = signal.new_index()
        alone.add(entry_id, value)
        found += alone.query(query, limit)
    return sorted(found)


@each_signal
def test_the_index_finds_what_each_work_alone_finds(signal: type[SignalType],
                                                    samples: Samples) -> None:
    entries = registered(signal, samples.works)
    index = signal.new_index()
    index.extend([(entry_id, value) for entry_id, _, value in entries])
    limit = signal.default_threshold
    for content in (samples.copy, samples.unrelated):
        query = signal.query_value(content)
        found, expected = _results(index, query, limit), _one_by_one(signal, entries, query,
                                                                      limit)
        if samples.approximate:
            assert set(found) <= set(expected)
        else:
            assert found == expected
        works = {number for entry_id, number, _ in entries if entry_id in dict(found)}
        assert works == ({0} if content is samples.copy else set()), (signal.name, found)
        assert all(signal.accepts(score, limit) for _, score in found)
    # removing the first work forgets it at once and leaves the others as they were
    query = signal.query_value(samples.copy)
    for entry_id, number, _ in entries:
        if number == 0:
            index.remove(entry_id)
    assert _results(index, query, limit) == []
    assert len(index) == sum(number != 0 for _, number, _ in entries)


def _bad_inputs(samples: Samples) -> dict[str, bytes]:
    work = samples.works[0]
    return {"empty": b"", "truncated": work[: len(work) // 2],
            "garbage": random.Random(7).randbytes(64 * 1024)}


@each_signal
def test_bad_input_is_refused_with_a_clear_error(signal: type[SignalType],
                                                 samples: Samples) -> None:
    assert "empty" in samples.refused  # every signal refuses an empty file
    index = signal.new_index()
    index.extend([(entry_id, value) for entry_id, _, value in registered(signal, samples.works)])
    for name, content in _bad_inputs(samples).items():
        try:
            value = signal.fingerprint(content)
        except ContentRejected as exc:
            one_line(exc)
        else:
            assert name not in samples.refused, f"{signal.name} fingerprinted {name} input"
            assert signal.validate(value) == value
        try:
            query = signal.query_value(content)
        except ContentRejected as exc:
            one_line(exc)
        else:  # what a crawl queries with never breaks the index
            assert isinstance(index.query(query, signal.default_threshold), list)


def test_every_registered_signal_has_samples_and_no_sample_is_stale() -> None:
    assert set(SAMPLES) == set(SIGNAL_TYPES)

