"""What to send before closing after an error (5.0 §4.13, 3.1.1 §4.8).

A pure mapping from an error, the protocol version and whether a CONNACK went out to
the packet that tells the client why, or ``None`` when the only answer is to close.
"""

from __future__ import annotations

from fleetward.mqtt.constants import (
    CONNACK_REASON_CODES,
    DISCONNECT_REASON_CODES,
    MQTT_5_0,
    ReasonCode,
)
from fleetward.mqtt.errors import MqttError
from fleetward.mqtt.packets import Connack, Disconnect

__all__ = ["error_answer"]

_V311_CONNACK_REFUSALS = frozenset(
    {ReasonCode.UNSUPPORTED_PROTOCOL_VERSION, ReasonCode.CLIENT_IDENTIFIER_NOT_VALID}
)


def error_answer(
    error: MqttError, version: int | None, *, connack_sent: bool
) -> Connack | Disconnect | None:
    """The CONNACK or DISCONNECT to send for ``error``, or ``None`` to just close.

    MQTT 5: a CONNACK carrying the reason code while no CONNACK was sent (a server may
    not send DISCONNECT before it, MQTT-3.14.0-1), a DISCONNECT afterwards (MQTT-4.13.1-1);
    a code the packet cannot carry becomes 0x80 Unspecified error. MQTT 3.1.1 can only
    say 0x01 (unacceptable protocol version, v3 MQTT-3.1.2-2) or 0x02 (identifier
    rejected, v3 MQTT-3.1.3-8) in a CONNACK; anything else just closes (v3 MQTT-4.8.0-1).
    With no known version the client's format is unknown, so it just closes too.
    """
    if version is None:
        return None
    reason = error.mqtt_reason
    if version != MQTT_5_0:
        if not connack_sent and reason in _V311_CONNACK_REFUSALS:
            return Connack(reason_code=reason)
        return None
    allowed = DISCONNECT_REASON_CODES if connack_sent else CONNACK_REASON_CODES
    if reason < 0x80 or reason not in allowed:
        reason = ReasonCode.UNSPECIFIED_ERROR
    return Disconnect(reason) if connack_sent else Connack(reason_code=reason)
