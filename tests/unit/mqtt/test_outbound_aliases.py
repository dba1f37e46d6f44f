"""Outbound Topic Aliases: a client that tracks the mappings always recovers each topic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fleetward.mqtt.limits import OutboundAliases


@given(
    maximum=st.integers(min_value=1, max_value=5),
    topics=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), max_size=60),
    dropped=st.sets(st.integers(min_value=0, max_value=59)),
)
def test_client_side_table_always_resolves_the_right_topic(
    maximum: int, topics: list[str], dropped: set[int]
) -> None:
    """Whatever the order, and even when some sends are dropped before commit."""
    aliases = OutboundAliases(maximum)
    client: dict[int, str] = {}
    for i, topic in enumerate(topics):
        alias, known = aliases.choose(topic)
        assert 1 <= alias <= maximum  # MQTT-3.3.2-9
        if i in dropped:
            continue  # not sent (too large for the client): nothing may change
        aliases.commit(topic, alias)
        if known:
            assert client[alias] == topic  # an empty topic the client can resolve
        else:
            client[alias] = topic  # topic and alias on the wire: (re-)mapped


def test_a_known_topic_reuses_its_alias_and_a_full_table_recycles_the_oldest() -> None:
    aliases = OutboundAliases(2)
    for topic, expected in [("a", (1, False)), ("b", (2, False)), ("a", (1, True))]:
        got = aliases.choose(topic)
        assert got == expected
        aliases.commit(topic, got[0])
    assert aliases.choose("c") == (1, False)  # recycles alias 1 (oldest assignment)
    aliases.commit("c", 1)
    assert aliases.choose("a") == (2, False)  # 'a' lost its alias when 1 was re-mapped
    assert aliases.choose("b") == (2, True)
