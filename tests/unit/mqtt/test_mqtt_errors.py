"""The MQTT error classes: one tree, stable codes, the right reason codes."""

from __future__ import annotations

import inspect

import pytest

from fleetward import errors as fleetward_errors
from fleetward.errors import FleetwardError
from fleetward.mqtt import ReasonCode, errors

ERROR_CLASSES = [getattr(errors, name) for name in errors.__all__]


def test_every_mqtt_error_is_a_fleetward_error_with_a_dotted_code() -> None:
    defined = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.MqttError)
    ]
    assert sorted(c.__name__ for c in defined) == sorted(errors.__all__)
    for cls in ERROR_CLASSES:
        assert issubclass(cls, errors.MqttError)
        assert issubclass(cls, FleetwardError)
        assert cls.code.startswith("mqtt.")
        assert cls.mqtt_reason in set(ReasonCode)


def test_reason_codes_are_unique_per_remote_error_class() -> None:
    remote = [c for c in ERROR_CLASSES if issubclass(c, errors.RemoteProtocolError)]
    assert len({c.mqtt_reason for c in remote}) == len(remote)


@pytest.mark.parametrize(
    ("cls", "reason"),
    [
        (errors.MalformedPacketError, 0x81),
        (errors.RemoteProtocolError, 0x82),
        (errors.UnsupportedProtocolVersionError, 0x84),
        (errors.ClientIdentifierNotValidError, 0x85),
        (errors.TopicFilterInvalidError, 0x8F),
        (errors.TopicNameInvalidError, 0x90),
        (errors.ReceiveMaximumExceededError, 0x93),
        (errors.TopicAliasInvalidError, 0x94),
        (errors.PacketTooLargeError, 0x95),
        (errors.PayloadFormatInvalidError, 0x99),
        (errors.RetainNotSupportedError, 0x9A),
        (errors.QosNotSupportedError, 0x9B),
        (errors.SubscriptionIdentifiersNotSupportedError, 0xA1),
    ],
)
def test_remote_errors_carry_their_reason_code(
    cls: type[errors.RemoteProtocolError], reason: int
) -> None:
    error = cls("detail", protocol_version=5)
    assert error.reason_code == reason
    assert error.protocol_version == 5
    assert error.detail == "detail"


def test_local_errors_are_ours_not_the_peers() -> None:
    assert not issubclass(errors.LocalProtocolError, errors.RemoteProtocolError)
    assert issubclass(errors.PeerPacketTooLargeError, errors.LocalProtocolError)
    assert errors.LocalProtocolError("x").http_status == 500


def test_the_full_reason_code_table_agrees_with_the_error_tree() -> None:
    """5.0 Table 2-6 here and the subset in fleetward.errors must never disagree."""
    for name, value in vars(fleetward_errors.ReasonCode).items():
        if name.isupper():
            assert ReasonCode[name] == value
    assert len(ReasonCode) == 43
