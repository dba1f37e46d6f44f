"""The connection state machine as data: states and the legal transitions (h11 style).

Keeping the table apart from :class:`~fleetward.mqtt.connection.ServerConnection` makes
the protocol's ordering rules reviewable at a glance and testable on their own.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

from fleetward.mqtt.constants import PacketType
from fleetward.mqtt.errors import RemoteProtocolError

__all__ = ["CONNACK_REFUSED", "TRANSITIONS", "ConnectionState", "Sender", "illegal_receive"]


class ConnectionState(Enum):
    """Where a connection stands."""

    AWAIT_CONNECT = "await_connect"
    """Transport open, nothing received (MQTT-3.1.0-1: the first packet must be CONNECT)."""
    AUTHENTICATING = "authenticating"
    """CONNECT received, CONNACK not yet sent; AUTH may go back and forth (5.0 §4.12)."""
    CONNECTED = "connected"
    """A successful CONNACK was sent."""
    CLOSED = "closed"
    """DISCONNECT, a refusing CONNACK, a protocol error or the transport ended it."""


class Sender(Enum):
    """Who sends the packet of a transition."""

    CLIENT = "client"
    SERVER = "server"


_S = ConnectionState
_P = PacketType
CONNACK_REFUSED: Final = 0x100
"""Pseudo packet type: a CONNACK whose reason code refuses the connection."""

_CLIENT_STEADY = (_P.PUBLISH, _P.PUBACK, _P.PUBREC, _P.PUBREL, _P.PUBCOMP)
_CLIENT_CONNECTED = (*_CLIENT_STEADY, _P.SUBSCRIBE, _P.UNSUBSCRIBE, _P.PINGREQ, _P.AUTH)
_SERVER_CONNECTED = (*_CLIENT_STEADY, _P.SUBACK, _P.UNSUBACK, _P.PINGRESP, _P.AUTH)

TRANSITIONS: Final[dict[tuple[ConnectionState, Sender, int], ConnectionState]] = {
    (_S.AWAIT_CONNECT, Sender.CLIENT, _P.CONNECT): _S.AUTHENTICATING,
    (_S.AUTHENTICATING, Sender.CLIENT, _P.AUTH): _S.AUTHENTICATING,
    (_S.AUTHENTICATING, Sender.CLIENT, _P.DISCONNECT): _S.CLOSED,
    (_S.AUTHENTICATING, Sender.SERVER, _P.AUTH): _S.AUTHENTICATING,
    (_S.AUTHENTICATING, Sender.SERVER, _P.CONNACK): _S.CONNECTED,
    (_S.AUTHENTICATING, Sender.SERVER, CONNACK_REFUSED): _S.CLOSED,
    **{(_S.CONNECTED, Sender.CLIENT, t): _S.CONNECTED for t in _CLIENT_CONNECTED},
    (_S.CONNECTED, Sender.CLIENT, _P.DISCONNECT): _S.CLOSED,
    **{(_S.CONNECTED, Sender.SERVER, t): _S.CONNECTED for t in _SERVER_CONNECTED},
    (_S.CONNECTED, Sender.SERVER, _P.DISCONNECT): _S.CLOSED,
}
"""(state, sender, packet type) -> next state; every pair not listed is illegal.

MQTT-3.1.0-1/2 (CONNECT first and once), MQTT-3.2.0-1/2 (a successful CONNACK before
anything but AUTH, and only one), MQTT-3.14.0-1 (no server DISCONNECT before CONNACK).
CONNACK, SUBACK, UNSUBACK and PINGRESP never come from a client; CONNECT, SUBSCRIBE,
UNSUBSCRIBE and PINGREQ never from a server. Version rules (AUTH and a server DISCONNECT
exist only in MQTT 5) are checked beside the table.
"""


def illegal_receive(state: ConnectionState, ptype: int) -> RemoteProtocolError:
    """The error for a client packet the table has no move for, naming the rule broken."""
    name = PacketType(ptype).name
    if state is ConnectionState.AWAIT_CONNECT:
        return RemoteProtocolError(f"{name} before CONNECT (MQTT-3.1.0-1)")
    if ptype == PacketType.CONNECT:
        return RemoteProtocolError("second CONNECT (MQTT-3.1.0-2)")
    if ptype in (PacketType.CONNACK, PacketType.SUBACK, PacketType.UNSUBACK, PacketType.PINGRESP):
        return RemoteProtocolError(f"a client never sends {name}")
    return RemoteProtocolError(f"{name} is not allowed in state {state.value}")
