"""Broker access decisions: ``filter_covers`` and the config-driven :class:`StaticPolicy`.

``filter_covers(pattern, filter)`` must be sound: whenever it says yes, every topic the
filter can match is matched by the pattern, so a wildcard subscription can never reach
past what the policy grants. The oracle is :func:`fleetward.mqtt.matches` (MQTT 5.0
§4.7, MQTT-4.7.2-1 for ``$`` topics).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from fleetward.access.mqtt_hooks import ConnectInfo, Identity, filter_covers
from fleetward.access.static_policy import MqttUser, StaticPolicy
from fleetward.crypto import SecretHasher
from fleetward.errors import AuthenticationError
from fleetward.mqtt import matches

# -- filter_covers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "topic_filter"),
    [
        ("a/b", "a/b"),
        ("#", "#"),
        ("#", "a/b/c"),
        ("#", "+/+"),
        ("a/#", "a"),  # "a/#" matches the parent level (5.0 §4.7.1.2)
        ("a/#", "a/#"),
        ("a/#", "a/+"),
        ("a/#", "a/b/#"),
        ("a/+", "a/+"),
        ("a/+", "a/b"),
        ("a/+", "a/"),
        ("+/+", "a/+"),
        ("+/b", "+/b"),
        ("a/+/c", "a/x/c"),
        ("a/+/#", "a/+/c/#"),
        ("$fleet/#", "$fleet/broker/stats"),
        ("$fleet/#", "$fleet"),
        ("$fleet/+", "$fleet/+"),
        ("devices/alice/#", "devices/alice/telemetry/t"),
    ],
)
def test_filter_covers(pattern: str, topic_filter: str) -> None:
    assert filter_covers(pattern, topic_filter)


@pytest.mark.parametrize(
    ("pattern", "topic_filter"),
    [
        ("a/b", "a/+"),  # the filter also reaches a/c
        ("a/b", "a/#"),
        ("a/b", "a"),
        ("a/b", "a/b/c"),
        ("a/+", "a/#"),  # "a/#" matches "a" and "a/b/c"
        ("a/+", "a"),
        ("a/+", "a/b/c"),
        ("a/+/#", "a/#"),  # "a/#" matches "a", which "a/+/#" does not
        ("a/+/#", "a"),
        ("+/+", "+"),
        ("+", "#"),
        ("a/#", "b/#"),
        ("a/#", "#"),
        ("a/#", "+/x"),
        ("devices/alice/#", "devices/alicex/t"),
        ("devices/alice/#", "devices/+/t"),
        ("#", "$SYS/x"),  # MQTT-4.7.2-1: "#" never matches a $ topic
        ("#", "$SYS/#"),
        ("+/#", "$fleet/x"),
        ("+/x", "$fleet/x"),
        ("+", "$fleet"),
        ("$fleet/a", "$fleet/+"),
    ],
)
def test_filter_does_not_cover(pattern: str, topic_filter: str) -> None:
    assert not filter_covers(pattern, topic_filter)


_LEVELS = ["a", "b", "", "$x"]


@st.composite
def _filters(draw: st.DrawFn) -> str:
    """Valid topic filters: ``+`` whole levels, ``#`` only last (MQTT-4.7.1-1/2)."""
    levels = draw(st.lists(st.sampled_from([*_LEVELS, "+"]), max_size=4))
    if draw(st.booleans()) or not levels:
        levels.append("#")
    return "/".join(levels)


_topics = st.lists(st.sampled_from(_LEVELS), min_size=1, max_size=5).map("/".join).filter(bool)


def _topic_from(topic_filter: str, fills: list[list[str]]) -> str:
    """A topic made from ``topic_filter`` by filling in each wildcard from ``fills``.

    ``+`` becomes one level, ``#`` zero or more levels (zero: the parent level).
    """
    out: list[str] = []
    for index, level in enumerate(topic_filter.split("/")):
        fill = fills[index % len(fills)] if fills else []
        if level == "+":
            out.append(fill[0] if fill else "")
        elif level == "#":
            out.extend(fill)
        else:
            out.append(level)
    return "/".join(out)


@settings(max_examples=400, deadline=None)
@example(pattern="a/+/#", topic_filter="a/#", fills=[[]])
@example(pattern="#", topic_filter="+/x", fills=[["$x"]])
@given(
    pattern=_filters(),
    topic_filter=_filters(),
    fills=st.lists(st.lists(st.sampled_from(_LEVELS), max_size=3), max_size=4),
)
def test_covered_filters_only_reach_topics_the_pattern_matches(
    pattern: str, topic_filter: str, fills: list[list[str]]
) -> None:
    """If ``filter_covers(p, f)`` then every topic ``f`` matches is matched by ``p``."""
    topic = _topic_from(topic_filter, fills)
    assume(topic and matches(topic_filter, topic))
    if filter_covers(pattern, topic_filter):
        assert matches(pattern, topic), (pattern, topic_filter, topic)


@settings(max_examples=300, deadline=None)
@given(pattern=_filters(), topic=_topics)
def test_for_a_plain_topic_covering_is_matching(pattern: str, topic: str) -> None:
    """A topic name (no wildcards) is covered exactly when the pattern matches it."""
    assert filter_covers(pattern, topic) == matches(pattern, topic)


@settings(max_examples=200, deadline=None)
@given(topic_filter=_filters())
def test_every_filter_covers_itself(topic_filter: str) -> None:
    assert filter_covers(topic_filter, topic_filter)


# -- StaticPolicy ------------------------------------------------------------------------------

_HASHER = SecretHasher(time_cost=1, memory_kib=8192, parallelism=1)
_ALICE_HASH = _HASHER.hash("alice-pw")
_OPS_HASH = _HASHER.hash("ops-pw")


def _policy() -> StaticPolicy:
    return StaticPolicy(
        [
            MqttUser(
                "alice",
                _ALICE_HASH,
                publish=("devices/{username}/#", "clients/{client_id}/out"),
                subscribe=("devices/{username}/+/cmd", "clients/{client_id}/#", "broadcast/#"),
            ),
            # An over-broad configuration: "#" and a $ pattern still never publish to $.
            MqttUser("ops", _OPS_HASH, publish=("#", "$fleet/#"), subscribe=("#", "$fleet/#")),
        ],
        _HASHER,
    )


def _info(
    username: str | None = None,
    password: bytes | None = None,
    *,
    allow_anonymous: bool = False,
    client_id: str = "c1",
) -> ConnectInfo:
    return ConnectInfo(
        client_id=client_id,
        username=username,
        password=password,
        listener="plain" if allow_anonymous else "tls",
        peer="127.0.0.1:50000",
        protocol_version=5,
        allow_anonymous=allow_anonymous,
    )


def _resolve(result: Identity | Awaitable[Identity]) -> Identity:
    """The identity, waiting for it when the policy could not decide at once."""
    if isinstance(result, Identity):
        return result

    async def wait() -> Identity:
        return await result

    return asyncio.run(wait())


def test_anonymous_is_decided_without_waiting() -> None:
    # the broker's connect fast path: no task, no thread, for an answer known at once
    assert _policy().authenticate(_info(allow_anonymous=True)) == ANON


def test_a_password_is_checked_off_the_event_loop() -> None:
    result = _policy().authenticate(_info("alice", b"alice-pw"))
    assert not isinstance(result, Identity)  # an awaitable: argon2 runs in a thread
    assert _resolve(result) == ALICE


ALICE = Identity("alice")
OPS = Identity("ops")
ANON = Identity("anonymous", anonymous=True)


def test_a_configured_user_with_the_right_password_is_authenticated() -> None:
    identity = _resolve(_policy().authenticate(_info("alice", b"alice-pw")))
    assert identity == ALICE
    assert not identity.anonymous


@pytest.mark.parametrize(
    "info",
    [
        _info("alice", b"wrong"),
        _info("alice", None),  # user name without password
        _info(None, b"alice-pw"),  # password without user name (allowed by MQTT 5 framing)
        _info("mallory", b"alice-pw"),
        _info("alice", b"\xff\xfe"),  # not UTF-8
        _info("", b"alice-pw"),
        _info("alice", b"alice-pw\x00"),
        _info(None, None),  # anonymous on a listener that does not allow it
    ],
    ids=[
        "wrong-password",
        "no-password",
        "no-user-name",
        "unknown-user",
        "non-utf8-password",
        "empty-user-name",
        "password-with-suffix",
        "anonymous-not-allowed",
    ],
)
def test_bad_credentials_are_refused(info: ConnectInfo) -> None:
    with pytest.raises(AuthenticationError) as caught:
        _resolve(_policy().authenticate(info))
    assert caught.value.mqtt_reason == 0x86  # Bad User Name or Password


def test_anonymous_is_admitted_only_where_the_listener_allows_it() -> None:
    identity = _resolve(_policy().authenticate(_info(allow_anonymous=True)))
    assert identity.anonymous
    with pytest.raises(AuthenticationError):
        _resolve(_policy().authenticate(_info(allow_anonymous=False)))


def test_credentials_on_an_anonymous_listener_are_still_checked() -> None:
    with pytest.raises(AuthenticationError):
        _resolve(_policy().authenticate(_info("alice", b"wrong", allow_anonymous=True)))
    identity = _resolve(_policy().authenticate(_info("alice", b"alice-pw", allow_anonymous=True)))
    assert identity == ALICE


@pytest.mark.parametrize(
    ("topic", "allowed"),
    [
        ("devices/alice/telemetry", True),
        ("devices/alice", True),  # the parent level of "devices/alice/#"
        ("devices/alice/a/b/c", True),
        ("devices/bob/telemetry", False),
        ("devices/alicex/telemetry", False),
        ("devices", False),
        ("other/alice", False),
        ("clients/c1/out", True),  # {client_id} is the connection's own id
        ("clients/c2/out", False),
        ("clients/c1/out/more", False),
    ],
)
def test_user_publish_patterns_substitute_user_name_and_client_id(
    topic: str, allowed: bool
) -> None:
    assert _policy().may_publish(ALICE, "c1", topic) is allowed


@pytest.mark.parametrize(
    ("topic_filter", "allowed"),
    [
        ("devices/alice/+/cmd", True),
        ("devices/alice/lamp/cmd", True),
        ("devices/alice/#", False),  # wider than the grant
        ("devices/+/+/cmd", False),
        ("devices/bob/lamp/cmd", False),
        ("clients/c1/#", True),
        ("clients/c1/x/y", True),
        ("clients/+/x", False),
        ("clients/c2/#", False),
        ("broadcast/#", True),
        ("broadcast/news/+", True),
        ("#", False),
        ("+/#", False),
        ("$fleet/#", False),
    ],
)
def test_user_subscribe_patterns_must_cover_the_whole_filter(
    topic_filter: str, allowed: bool
) -> None:
    assert _policy().may_subscribe(ALICE, "c1", topic_filter) is allowed


@pytest.mark.parametrize(
    ("client_id", "victim_topic", "victim_filter"),
    [
        ("+", "clients/victim/out", "clients/victim/#"),
        ("#", "clients/victim/out", "clients/#"),
        ("+/+", "clients/victim/x/out", "clients/victim/x/#"),
    ],
)
def test_wildcards_in_a_client_id_never_widen_a_grant(
    client_id: str, victim_topic: str, victim_filter: str
) -> None:
    """The client chooses its own id. Substituted into ``clients/{client_id}/…``, an id
    holding "+" or "#" turns the grant into a wildcard over every other client's topics
    (Mosquitto refuses such "dangerous" ids in its pattern ACLs for this reason)."""
    policy = _policy()
    assert not policy.may_publish(ALICE, client_id, victim_topic)
    assert not policy.may_subscribe(ALICE, client_id, victim_filter)


@pytest.mark.parametrize(
    "topic", ["$fleet/broker/stats", "$fleet", "$SYS/uptime", "$share/g/x", "$x"]
)
def test_dollar_topics_are_never_publishable(topic: str) -> None:
    """Only the hub publishes to $-topics, whatever the patterns say (MQTT-4.7.2-1)."""
    policy = _policy()
    assert not policy.may_publish(OPS, "ops-1", topic)
    assert not policy.may_publish(ANON, "anon-1", topic)
    assert not policy.may_publish(ALICE, "c1", topic)


def test_a_hash_grant_does_not_reach_dollar_topics_for_subscribers() -> None:
    policy = _policy()
    assert policy.may_subscribe(OPS, "ops-1", "#")
    assert policy.may_subscribe(OPS, "ops-1", "$fleet/broker/#")  # granted explicitly
    assert not policy.may_subscribe(OPS, "ops-1", "$SYS/#")  # "#" does not cover $SYS


@pytest.mark.parametrize(
    ("topic_filter", "allowed"),
    [
        ("#", True),
        ("devices/+/telemetry", True),
        ("a/b", True),
        ("$SYS/#", True),
        ("$fleet", False),
        ("$fleet/#", False),
        ("$fleet/broker/stats", False),
        ("$fleet/+/x", False),
    ],
)
def test_anonymous_open_policy_subscribes_anywhere_but_fleet(
    topic_filter: str, allowed: bool
) -> None:
    assert _policy().may_subscribe(ANON, "anon-1", topic_filter) is allowed


@pytest.mark.parametrize("topic", ["a", "a/b/c", "devices/alice/x", "fleet/x", "x/$fleet"])
def test_anonymous_open_policy_publishes_anywhere_but_dollar(topic: str) -> None:
    assert _policy().may_publish(ANON, "anon-1", topic)


def test_an_unknown_identity_gets_nothing() -> None:
    ghost = Identity("ghost")
    policy = _policy()
    assert not policy.may_publish(ghost, "c1", "devices/ghost/x")
    assert not policy.may_subscribe(ghost, "c1", "broadcast/#")


def test_user_name_patterns_are_per_user() -> None:
    """``{username}`` is the authenticated user's name, never another user's."""
    policy = _policy()
    assert policy.may_publish(ALICE, "c1", "devices/alice/x")
    assert not policy.may_publish(ALICE, "c1", "devices/{username}/x")
    assert not policy.may_publish(ALICE, "c1", "devices/ops/x")
