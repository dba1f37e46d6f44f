"""The token ACL: pattern validation (MQTT 3.1.1 §4.7), the ``covers`` relation, JSON form."""

from __future__ import annotations

import pytest

from fleetward.access.acl import MAX_ACL_PATTERNS, MAX_PATTERN_LENGTH, MAX_PATTERN_LEVELS, Acl
from fleetward.errors import InvalidInputError


@pytest.mark.parametrize(
    "pattern",
    [
        "devices/d1/telemetry/#",
        "devices/+/state/reported",
        "#",
        "+",
        "+/+/#",
        "$fleet/presence/+",
        "a//b",  # empty levels are legal (MQTT 3.1.1 §4.7.3)
        "/".join(["x"] * MAX_PATTERN_LEVELS),
    ],
)
def test_valid_patterns_are_accepted(pattern: str) -> None:
    acl = Acl(publish=(pattern,), subscribe=(pattern,))
    assert acl.publish == (pattern,)


@pytest.mark.parametrize(
    "pattern",
    [
        "",  # MQTT-4.7.3-1
        "a/#/b",  # '#' only last (MQTT-4.7.1-2)
        "a#",
        "a/b+",  # '+' a whole level (MQTT-4.7.1-3)
        "+a/b",
        "a\x00b",  # MQTT-4.7.3-2
        "$share/group/devices/#",  # a delivery group, not topics
        "/".join(["x"] * (MAX_PATTERN_LEVELS + 1)),
        "x" * (MAX_PATTERN_LENGTH + 1),
        "\ud800",  # a lone surrogate is not UTF-8 (MQTT-1.5.4-1)
    ],
)
@pytest.mark.parametrize("direction", ["publish", "subscribe"])
def test_invalid_patterns_are_refused(pattern: str, direction: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Acl(**{direction: (pattern,)})
    assert info.value.code == "acl.invalid"


def test_pattern_count_and_types_are_bounded() -> None:
    Acl(publish=tuple(f"a/{i}" for i in range(MAX_ACL_PATTERNS)))
    with pytest.raises(InvalidInputError):
        Acl(publish=tuple(f"a/{i}" for i in range(MAX_ACL_PATTERNS + 1)))
    with pytest.raises(InvalidInputError):
        Acl(publish=["a"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        Acl(subscribe=(1,))  # type: ignore[arg-type]


def test_of_is_canonical() -> None:
    assert Acl.of(publish=["b", "a", "b"], subscribe={"x"}) == Acl(("a", "b"), ("x",))


@pytest.mark.parametrize(
    ("wide", "narrow", "covered"),
    [
        (Acl(("a/#",), ("a/#",)), Acl(("a/b",), ("a/+/c",)), True),
        (Acl(("a/#",)), Acl(("a",)), True),  # "a/#" also matches "a" (5.0 §4.7.1.2)
        (Acl(("a/+",)), Acl(("a/#",)), False),
        (Acl(("#",)), Acl(("$fleet/x",)), False),  # MQTT-4.7.2-1
        (Acl(("$fleet/#",)), Acl(("$fleet/x",)), True),
        (Acl(("a/b",)), Acl((), ("a/b",)), False),  # directions do not mix
        (Acl(("a/1", "a/2")), Acl(("a/+",)), False),  # no union of patterns makes a wildcard
        (Acl(), Acl(), True),
        (Acl(("x",)), Acl(), True),
    ],
)
def test_covers(wide: Acl, narrow: Acl, covered: bool) -> None:
    assert wide.covers(narrow) is covered
    assert wide.covers(wide)


def test_allows() -> None:
    acl = Acl(publish=("devices/d1/telemetry/+",), subscribe=("devices/d1/commands/#",))
    assert acl.allows_publish("devices/d1/telemetry/temp")
    assert not acl.allows_publish("devices/d2/telemetry/temp")
    assert acl.allows_subscribe("devices/d1/commands/+")
    assert not acl.allows_subscribe("devices/+/commands/#")
    assert not acl.allows_publish("devices/d1/commands/reboot")


def test_json_round_trip_and_strictness() -> None:
    acl = Acl(("a/#",), ("b/+",))
    assert Acl.from_json(acl.to_json()) == acl
    bad: object
    for bad in (
        None,
        [],
        {"publish": []},
        {"publish": [], "subscribe": [], "admin": True},
        {"publish": "a", "subscribe": []},
        {"publish": [1], "subscribe": []},
    ):
        with pytest.raises(InvalidInputError) as info:
            Acl.from_json(bad)
        assert info.value.code == "acl.invalid"
