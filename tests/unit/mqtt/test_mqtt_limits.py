"""Announced limits and their defaults (5.0 §3.1.2.11, §3.2.2.3), and the alias table."""

from __future__ import annotations

import pytest

from fleetward.mqtt import (
    ClientLimits,
    Connack,
    Connect,
    Properties,
    Publish,
    QosNotSupportedError,
    RemoteProtocolError,
    RetainNotSupportedError,
    ServerLimits,
    TopicAliases,
    TopicAliasInvalidError,
)


def test_absent_properties_mean_the_spec_defaults() -> None:
    """Receive Maximum 65,535; no Topic Aliases; QoS 2, Retain and ids available."""
    assert ClientLimits.from_connect(Connect("c", 5)) == ClientLimits(
        receive_maximum=65_535,
        topic_alias_maximum=0,
        maximum_packet_size=None,
        problem_information=True,
        authentication_method=None,
    )
    assert ServerLimits.from_connack(Connack()) == ServerLimits()
    assert ServerLimits().maximum_qos == 2
    assert ServerLimits().retain_available


def test_limits_are_read_from_the_properties() -> None:
    props = Properties(
        receive_maximum=5,
        topic_alias_maximum=3,
        maximum_packet_size=1000,
        request_problem_information=False,
        authentication_method="X",
    )
    assert ClientLimits.from_connect(Connect("c", 5, properties=props)) == ClientLimits(
        5, 3, 1000, False, "X"
    )
    server = ServerLimits.from_connack(
        Connack(properties=Properties(maximum_qos=0, retain_available=False, server_keep_alive=9))
    )
    assert (server.maximum_qos, server.retain_available, server.server_keep_alive) == (0, False, 9)
    with pytest.raises(QosNotSupportedError):
        server.check_publish(Publish("t", qos=1, packet_id=1))
    with pytest.raises(RetainNotSupportedError):
        server.check_publish(Publish("t", retain=True))


def test_topic_alias_table() -> None:
    """5.0 §3.3.2.3.4: set by a topic plus alias, used by an empty topic plus alias."""
    aliases = TopicAliases(maximum=2)
    first = Publish("a/b", properties=Properties(topic_alias=1, content_type="c"))
    aliases.resolve(first, 1)
    assert first.properties == Properties(content_type="c")
    again = Publish("", properties=Properties(topic_alias=1))
    aliases.resolve(again, 1)
    assert again.topic == "a/b"
    with pytest.raises(TopicAliasInvalidError):
        aliases.resolve(Publish("x", properties=Properties(topic_alias=3)), 3)
    with pytest.raises(RemoteProtocolError, match="unknown Topic Alias"):
        aliases.resolve(Publish("", properties=Properties(topic_alias=2)), 2)
