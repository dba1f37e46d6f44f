"""What the server writes before closing after an error (5.0 §4.13, 3.1.1 §4.8)."""

from __future__ import annotations

import pytest

from fleetward.mqtt import (
    ClientIdentifierNotValidError,
    Connack,
    Disconnect,
    LocalProtocolError,
    MalformedPacketError,
    MqttError,
    PacketTooLargeError,
    RemoteProtocolError,
    TopicFilterInvalidError,
    UnsupportedProtocolVersionError,
    error_answer,
)


@pytest.mark.parametrize(
    ("error", "version", "connack_sent", "answer"),
    [
        # MQTT 5 before CONNACK: a CONNACK, never a DISCONNECT (MQTT-3.14.0-1).
        (MalformedPacketError("x"), 5, False, Connack(reason_code=0x81)),
        (PacketTooLargeError("x"), 5, False, Connack(reason_code=0x95)),
        (UnsupportedProtocolVersionError("x"), 5, False, Connack(reason_code=0x84)),
        (TopicFilterInvalidError("x"), 5, False, Connack(reason_code=0x80)),  # not a CONNACK code
        # MQTT 5 after CONNACK: a DISCONNECT (MQTT-4.13.1-1).
        (RemoteProtocolError("x"), 5, True, Disconnect(0x82)),
        (TopicFilterInvalidError("x"), 5, True, Disconnect(0x8F)),
        (ClientIdentifierNotValidError("x"), 5, True, Disconnect(0x80)),  # not a DISCONNECT code
        (LocalProtocolError("x"), 5, True, Disconnect(0x83)),
        # MQTT 3.1.1: only CONNACK 0x01 / 0x02 exist; otherwise close (v3 MQTT-4.8.0-1).
        (UnsupportedProtocolVersionError("x"), 4, False, Connack(reason_code=0x84)),
        (ClientIdentifierNotValidError("x"), 4, False, Connack(reason_code=0x85)),
        (MalformedPacketError("x"), 4, False, None),
        (RemoteProtocolError("x"), 4, True, None),
        # Version unknown: the client's format is unknown, so just close.
        (MalformedPacketError("x"), None, False, None),
    ],
)
def test_error_answer(
    error: MqttError, version: int | None, connack_sent: bool, answer: object
) -> None:
    assert error_answer(error, version, connack_sent=connack_sent) == answer
