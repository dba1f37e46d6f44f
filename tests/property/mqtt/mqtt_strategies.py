"""Hypothesis strategies for valid MQTT packets of either version.

Every strategy yields only packets the specification allows, so that
``decode(encode(p)) == p`` must hold for all of them.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from fleetward.mqtt import (
    Auth,
    Connack,
    Connect,
    Disconnect,
    Packet,
    Pingreq,
    Pingresp,
    Properties,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    Will,
)
from fleetward.mqtt.constants import (
    AUTH_REASON_CODES,
    CONNACK_REASON_CODES,
    DISCONNECT_REASON_CODES,
    PUBACK_REASON_CODES,
    PUBREL_REASON_CODES,
    SUBACK_REASON_CODES,
    UNSUBACK_REASON_CODES,
    V311_CONNACK_TO_REASON,
    PacketType,
)
from fleetward.mqtt.properties import PROPERTY_SPECS, WILL_PROPERTIES

__all__ = ["PACKET_KINDS", "packets", "properties_for", "topic_filters", "topic_names"]

_TEXT_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_LEVEL_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00/+#")

texts = st.text(_TEXT_CHARS, max_size=12)
binaries = st.binary(max_size=24)
packet_ids = st.integers(1, 0xFFFF)
_levels = st.text(_LEVEL_CHARS, max_size=6)

topic_names = st.lists(_levels, min_size=1, max_size=5).map("/".join).filter(bool)
"""Valid topic names (MQTT-4.7.1-1, MQTT-4.7.3-1/2)."""


@st.composite
def _plain_filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(st.one_of(_levels, st.just("+")), min_size=1, max_size=5))
    if draw(st.booleans()):
        levels.append("#")
    return "/".join(levels) or "+"


@st.composite
def topic_filters(draw: st.DrawFn, shared: bool = False) -> str:
    """Valid topic filters; with ``shared`` also ``$share/{name}/{filter}`` (5.0 §4.8.2)."""
    plain = draw(_plain_filters())
    if shared and draw(st.booleans()):
        name = draw(st.text(_LEVEL_CHARS, min_size=1, max_size=6))
        return f"$share/{name}/{plain}"
    return plain


_U16 = st.integers(0, 0xFFFF)
_U32 = st.integers(0, 0xFFFF_FFFF)
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "payload_format_indicator": st.sampled_from([0, 1]),
    "message_expiry_interval": _U32,
    "content_type": texts,
    "response_topic": topic_names,
    "correlation_data": binaries,
    "session_expiry_interval": _U32,
    "assigned_client_identifier": texts,
    "server_keep_alive": _U16,
    "authentication_method": texts,
    "authentication_data": binaries,
    "request_problem_information": st.booleans(),
    "will_delay_interval": _U32,
    "request_response_information": st.booleans(),
    "response_information": texts,
    "server_reference": texts,
    "reason_string": texts,
    "receive_maximum": st.integers(1, 0xFFFF),
    "topic_alias_maximum": _U16,
    "topic_alias": st.integers(1, 0xFFFF),
    "maximum_qos": st.sampled_from([0, 1]),
    "retain_available": st.booleans(),
    "user_properties": st.lists(st.tuples(texts, texts), max_size=3).map(tuple),
    "maximum_packet_size": st.integers(1, 0xFFFF_FFFF),
    "wildcard_subscription_available": st.booleans(),
    "subscription_identifier_available": st.booleans(),
    "shared_subscription_available": st.booleans(),
}


def properties_for(packet_type: int) -> st.SearchStrategy[Properties]:
    """Any valid property set for ``packet_type`` (5.0 Table 2-4)."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for spec in PROPERTY_SPECS:
        if packet_type not in spec.packets:
            continue
        if spec.name == "subscription_identifiers":
            most = 3 if packet_type == PacketType.PUBLISH else 1
            optional[spec.name] = st.lists(
                st.integers(1, 268_435_455), min_size=1, max_size=most
            ).map(tuple)
        else:
            optional[spec.name] = _VALUES[spec.name]
    strategy = st.fixed_dictionaries({}, optional=optional).map(lambda d: Properties(**d))
    if packet_type == PacketType.CONNECT:
        # Authentication Data needs an Authentication Method (5.0 §3.1.2.11.10).
        strategy = strategy.filter(
            lambda p: p.authentication_data is None or p.authentication_method is not None
        )
    return strategy


def _payload_for(props: Properties) -> st.SearchStrategy[bytes]:
    if props.payload_format_indicator == 1:  # must then be UTF-8 (5.0 §3.3.2.3.2)
        return texts.map(str.encode)
    return binaries


@st.composite
def _wills(draw: st.DrawFn, version: int) -> Will:
    props = draw(properties_for(WILL_PROPERTIES)) if version == 5 else Properties()
    return Will(
        draw(topic_names),
        draw(_payload_for(props)),
        draw(st.integers(0, 2)),
        draw(st.booleans()),
        props,
    )


@st.composite
def _connects(draw: st.DrawFn, version: int) -> Connect:
    clean = draw(st.booleans())
    client_id = draw(texts)
    if version == 4 and not clean and not client_id:
        client_id = "c"  # v3 MQTT-3.1.3-7
    username = draw(st.none() | texts)
    password = draw(st.none() | binaries)
    if version == 4 and username is None:
        password = None  # v3 MQTT-3.1.2-22
    return Connect(
        client_id,
        version,
        clean,
        draw(_U16),
        username,
        password,
        draw(st.none() | _wills(version)),
        draw(properties_for(PacketType.CONNECT)) if version == 5 else Properties(),
    )


@st.composite
def _connacks(draw: st.DrawFn, version: int) -> Connack:
    codes = CONNACK_REASON_CODES if version == 5 else V311_CONNACK_TO_REASON.values()
    reason = draw(st.sampled_from(sorted(codes)))
    present = draw(st.booleans()) if reason == 0 else False
    props = draw(properties_for(PacketType.CONNACK)) if version == 5 else Properties()
    return Connack(present, reason, props)


@st.composite
def _publishes(draw: st.DrawFn, version: int) -> Publish:
    props = draw(properties_for(PacketType.PUBLISH)) if version == 5 else Properties()
    topic = draw(topic_names)
    if props.topic_alias is not None and draw(st.booleans()):
        topic = ""  # the alias stands in for the topic (5.0 §3.3.2.3.4)
    qos = draw(st.integers(0, 2))
    return Publish(
        topic,
        draw(_payload_for(props)),
        qos,
        draw(st.booleans()),
        draw(st.booleans()) if qos else False,
        draw(packet_ids) if qos else 0,
        props,
    )


def _acks(cls: type[Puback | Pubrec | Pubrel | Pubcomp], version: int) -> st.SearchStrategy[Any]:
    if version == 4:
        return st.builds(cls, packet_ids)
    codes = PUBREL_REASON_CODES if cls in (Pubrel, Pubcomp) else PUBACK_REASON_CODES
    return st.builds(
        cls, packet_ids, st.sampled_from(sorted(codes)), properties_for(cls.packet_type)
    )


@st.composite
def _subscriptions(draw: st.DrawFn, version: int) -> Subscription:
    topic_filter = draw(topic_filters(shared=version == 5))
    if version == 4:
        return Subscription(topic_filter, draw(st.integers(0, 2)))
    no_local = draw(st.booleans()) and not topic_filter.startswith("$share/")
    return Subscription(
        topic_filter,
        draw(st.integers(0, 2)),
        no_local,
        draw(st.booleans()),
        draw(st.integers(0, 2)),
    )


def _subscribes(version: int) -> st.SearchStrategy[Subscribe]:
    return st.builds(
        Subscribe,
        packet_ids,
        st.lists(_subscriptions(version), min_size=1, max_size=4),
        properties_for(PacketType.SUBSCRIBE) if version == 5 else st.just(Properties()),
    )


def _subacks(version: int) -> st.SearchStrategy[Suback]:
    codes = sorted(SUBACK_REASON_CODES) if version == 5 else [0, 1, 2, 0x80]
    return st.builds(
        Suback,
        packet_ids,
        st.lists(st.sampled_from(codes), min_size=1, max_size=4),
        properties_for(PacketType.SUBACK) if version == 5 else st.just(Properties()),
    )


def _unsubscribes(version: int) -> st.SearchStrategy[Unsubscribe]:
    return st.builds(
        Unsubscribe,
        packet_ids,
        st.lists(topic_filters(shared=version == 5), min_size=1, max_size=4),
        properties_for(PacketType.UNSUBSCRIBE) if version == 5 else st.just(Properties()),
    )


def _unsubacks(version: int) -> st.SearchStrategy[Unsuback]:
    if version == 4:
        return st.builds(Unsuback, packet_ids)
    return st.builds(
        Unsuback,
        packet_ids,
        st.lists(st.sampled_from(sorted(UNSUBACK_REASON_CODES)), min_size=1, max_size=4),
        properties_for(PacketType.UNSUBACK),
    )


def _disconnects(version: int) -> st.SearchStrategy[Disconnect]:
    if version == 4:
        return st.just(Disconnect())
    return st.builds(
        Disconnect,
        st.sampled_from(sorted(DISCONNECT_REASON_CODES)),
        properties_for(PacketType.DISCONNECT),
    )


def _auths() -> st.SearchStrategy[Auth]:
    return st.builds(
        Auth, st.sampled_from(sorted(AUTH_REASON_CODES)), properties_for(PacketType.AUTH)
    )


PACKET_KINDS = (
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "AUTH",
)


def packets(version: int, kind: str | None = None) -> st.SearchStrategy[Packet]:
    """Valid packets of ``kind`` (all kinds when ``None``) for ``version``."""
    table: dict[str, st.SearchStrategy[Any]] = {
        "CONNECT": _connects(version),
        "CONNACK": _connacks(version),
        "PUBLISH": _publishes(version),
        "PUBACK": _acks(Puback, version),
        "PUBREC": _acks(Pubrec, version),
        "PUBREL": _acks(Pubrel, version),
        "PUBCOMP": _acks(Pubcomp, version),
        "SUBSCRIBE": _subscribes(version),
        "SUBACK": _subacks(version),
        "UNSUBSCRIBE": _unsubscribes(version),
        "UNSUBACK": _unsubacks(version),
        "PINGREQ": st.just(Pingreq()),
        "PINGRESP": st.just(Pingresp()),
        "DISCONNECT": _disconnects(version),
    }
    if version == 5:
        table["AUTH"] = _auths()
    if kind is not None:
        return table[kind]
    return st.one_of(*table.values())
