"""Topic names, filters, shared subscriptions and matching (5.0 §4.7, §4.8.2)."""

from __future__ import annotations

import pytest

from fleetward.mqtt import (
    SharedSubscription,
    TopicFilterInvalidError,
    is_valid_topic_filter,
    is_valid_topic_name,
    matches,
    parse_shared_subscription,
    topic_filter_problem,
    topic_name_problem,
)


@pytest.mark.parametrize("topic", ["a", "/", "a/b/c", "/finance", "a//b", "$SYS/x", "é/中", " "])
def test_valid_topic_names(topic: str) -> None:
    assert is_valid_topic_name(topic)


@pytest.mark.parametrize(
    ("topic", "rule"),
    [
        ("", "MQTT-4.7.3-1"),
        ("a\x00b", "MQTT-4.7.3-2"),
        ("a/+", "MQTT-3.3.2-2"),
        ("a/#", "MQTT-3.3.2-2"),
        ("x" * 65_536, "MQTT-4.7.3-3"),
        ("é" * 40_000, "MQTT-4.7.3-3"),
        ("\ud800", "MQTT-1.5.4-1"),
    ],
)
def test_invalid_topic_names_cite_their_rule(topic: str, rule: str) -> None:
    problem = topic_name_problem(topic)
    assert problem is not None
    assert rule in problem


def test_topic_name_depth_bound() -> None:
    assert is_valid_topic_name("a/b/c", max_levels=3)
    assert not is_valid_topic_name("a/b/c/d", max_levels=3)


@pytest.mark.parametrize(
    "topic_filter",
    ["#", "+", "+/+", "a/#", "a/+/b", "/+", "+/", "a/b", "$share/g/a/#", "$SYS/#", "sport/+/+"],
)
def test_valid_topic_filters(topic_filter: str) -> None:
    assert is_valid_topic_filter(topic_filter)


@pytest.mark.parametrize(
    ("topic_filter", "rule"),
    [
        ("", "MQTT-4.7.3-1"),
        ("a/#/b", "MQTT-4.7.1-1"),
        ("a#", "MQTT-4.7.1-1"),
        ("#/", "MQTT-4.7.1-1"),
        ("a+", "MQTT-4.7.1-2"),
        ("a/+b/c", "MQTT-4.7.1-2"),
        ("a\x00", "MQTT-4.7.3-2"),
        ("$share/", "MQTT-4.8.2-1"),
        ("$share//a", "MQTT-4.8.2-1"),
        ("$share/g+/a", "MQTT-4.8.2-2"),
        ("$share/g", "MQTT-4.8.2-2"),
        ("$share/g/", "MQTT-4.8.2-2"),
        ("$share/g/a#", "MQTT-4.7.1-1"),
    ],
)
def test_invalid_topic_filters_cite_their_rule(topic_filter: str, rule: str) -> None:
    problem = topic_filter_problem(topic_filter)
    assert problem is not None
    assert rule in problem


def test_share_prefix_is_an_ordinary_filter_in_3_1_1() -> None:
    """MQTT 3.1.1 has no shared subscriptions: "$share/g" is just a filter there."""
    assert is_valid_topic_filter("$share/g", shared=False)
    assert not is_valid_topic_filter("$share/g", shared=True)


def test_filter_depth_bound_applies_to_the_inner_shared_filter() -> None:
    assert is_valid_topic_filter("$share/g/a/b", max_levels=2)
    assert not is_valid_topic_filter("$share/g/a/b/c", max_levels=2)


def test_parse_shared_subscription() -> None:
    assert parse_shared_subscription("a/b") is None
    assert parse_shared_subscription("$share/grp/a/+") == SharedSubscription("grp", "a/+")
    with pytest.raises(TopicFilterInvalidError):
        parse_shared_subscription("$share//a")


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        # 5.0 §4.7.1.2 examples for '#'
        ("sport/tennis/player1/#", "sport/tennis/player1", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
        ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
        ("sport/#", "sport", True),
        ("#", "a/b/c", True),
        # 5.0 §4.7.1.3 examples for '+'
        ("sport/tennis/+", "sport/tennis/player1", True),
        ("sport/tennis/+", "sport/tennis/player1/tournament", False),
        ("sport/+", "sport", False),
        ("sport/+", "sport/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("+/tennis/#", "sport/tennis", True),
        # exact
        ("a/b", "a/b", True),
        ("a/b", "a/B", False),
        ("a/b", "a/b/", False),
        # MQTT-4.7.2-1: leading wildcards do not match $ topics
        ("#", "$SYS/uptime", False),
        ("+/monitor/Clients", "$SYS/monitor/Clients", False),
        ("$SYS/#", "$SYS/monitor/Clients", True),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
        ("+", "$", False),
        # MQTT-4.7.3-4: no normalisation
        ("caf\u00e9", "cafe\u0301", False),
    ],
)
def test_matches(topic_filter: str, topic: str, expected: bool) -> None:
    assert matches(topic_filter, topic) is expected
