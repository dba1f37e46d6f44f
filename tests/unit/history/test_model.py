"""The pure history rules: which topics are telemetry, which streams are kept, the AAD."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.history import StreamRule, looks_sealed, retention_for, telemetry_stream

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("devices/d1/telemetry/temp", ("d1", "temp")),
        ("devices/d1/telemetry/power/phase-a", ("d1", "power/phase-a")),
        ("devices/d1/telemetry/", None),
        ("devices//telemetry/temp", None),
        ("devices/d1/commands/reboot", None),
        ("devices/a/b/telemetry/temp", None),
        ("shared/telemetry/temp", None),
        ("$fleet/presence/d1", None),
    ],
)
def test_telemetry_stream(topic: str, expected: tuple[str, str] | None) -> None:
    assert telemetry_stream(topic) == expected


def test_first_matching_rule_gives_the_retention() -> None:
    rules = [StreamRule("temp", DAY), StreamRule("power/+", 2 * DAY), StreamRule("#", 3 * DAY)]
    assert retention_for(rules, "temp") == DAY
    assert retention_for(rules, "power/a") == 2 * DAY
    assert retention_for(rules, "power/a/b") == 3 * DAY
    assert retention_for(rules[:2], "humidity") is None
    assert retention_for([], "temp") is None


def test_looks_sealed_only_for_an_envelope_header() -> None:
    assert looks_sealed(bytes([1, 1]) + bytes(16))
    assert looks_sealed(bytes([1, 2]) + bytes(16))
    assert looks_sealed(bytes([1, 3]) + bytes(16))  # the stream suite
    assert not looks_sealed(bytes([1, 4]) + bytes(16))
    assert not looks_sealed(bytes([1, 1]) + bytes(15))
    assert not looks_sealed(b'{"temp": 21.5, "unit": "C"}')
