"""The outbound half of a client connection: batched writes, PUBLISH encoding, close.

Writes are gathered and flushed once per event-loop turn, so a burst of routed messages
costs one system call per destination; acknowledgements leave only after the journal
made what they acknowledge durable. :class:`~fleetward.broker.protocol.MqttProtocol`
sets the state up; this base class holds the outbound behaviour and its slots.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from fleetward.broker.deadlines import DeadlineWheel, HasDeadline
from fleetward.broker.session import Delivery, Message, Session
from fleetward.broker.tcp import SocketTransport
from fleetward.mqtt import (
    EMPTY_PROPERTIES,
    MQTT_5_0,
    Disconnect,
    LocalProtocolError,
    PeerPacketTooLargeError,
    Properties,
    Publish,
    ServerConnection,
)

if TYPE_CHECKING:
    from fleetward.broker.core import Broker

__all__ = ["OutboundMixin"]

_CLOSE_LINGER = 1.0
"""Seconds a closing connection may take to flush its buffer before it is aborted."""


class OutboundMixin(asyncio.Protocol):
    """Queueing, flushing and ending a connection (set up by the subclass's ``__init__``)."""

    __slots__ = (
        "_closing",
        "_flush_pending",
        "_linger",
        "_loop",
        "_out",
        "_paused",
        "broker",
        "close_code",
        "close_reason",
        "deadline_bucket",
        "sc",
        "session",
        "transport",
    )

    broker: Broker
    sc: ServerConnection
    session: Session | None
    transport: asyncio.Transport | None
    close_reason: str
    close_code: int | None
    _loop: asyncio.AbstractEventLoop
    _out: list[bytes] | None
    _flush_pending: bool
    _paused: bool
    _closing: bool
    _linger: asyncio.TimerHandle | None
    deadline_bucket: set[HasDeadline] | None

    if TYPE_CHECKING:

        def deadline_passed(self) -> None:
            """Defined by the connection (see broker/deadlines.py)."""

    def write(self, data: bytes) -> None:
        """Queue ``data``; everything queued this loop turn goes out in one write."""
        if not data or self.transport is None:
            return
        if self._out is None:
            self._out = [data]
        else:
            self._out.append(data)
        if not self._flush_pending:
            self._flush_pending = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        # Acknowledgements leave only after what they acknowledge is durable.
        self.broker.journal.commit()
        out, self._out = self._out, None
        if self.transport is not None and out:
            # one write per destination per turn
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def can_send(self) -> bool:
        """Whether a QoS 1/2 message may go out now (quota, window, buffer)."""
        return (
            not self._paused
            and not self._closing
            and self.sc.send_quota > 0
            and self.session is not None
            and len(self.session.inflight) < self.broker.limits.max_inflight
        )

    def can_resend(self) -> bool:
        """Whether a message already in flight may be re-sent now (quota and buffer)."""
        return not self._paused and not self._closing and self.sc.send_quota > 0

    @property
    def congested(self) -> bool:
        """Whether the write buffer is over its high-water mark."""
        return self._paused

    def send_publish(self, delivery: Delivery, *, dup: bool = False) -> bool:
        """Encode and queue one PUBLISH; False if the client's size limit dropped it."""
        if self._closing:
            return False  # nothing more piles up behind a DISCONNECT
        msg = delivery.message
        props = msg.properties
        if props.topic_alias is not None or delivery.sub_ids or msg.expires_at is not None:
            expiry = props.message_expiry_interval
            if msg.expires_at is not None:
                expiry = max(1, int(msg.expires_at - self._loop.time()))
            props = props._replace(
                topic_alias=None,
                subscription_identifiers=delivery.sub_ids,
                message_expiry_interval=expiry,
            )
        sc = self.sc
        try:
            if props is EMPTY_PROPERTIES and delivery.qos:
                head = sc.publish_head(
                    msg.topic, msg.payload, delivery.qos, delivery.packet_id, delivery.retain, dup
                )
                if head is not None:
                    self.write(head)
                    self.write(msg.payload)
                    return True
            qos, retain, pid = delivery.qos, delivery.retain, delivery.packet_id
            packet = Publish(msg.topic, msg.payload, qos, retain, dup, pid, props)
            head, payload = sc.send_publish(packet)
        except PeerPacketTooLargeError:
            return False  # MQTT-3.1.2-25: discard as if sent
        except LocalProtocolError:
            return False  # the connection is closing
        self.write(head)
        self.write(payload)
        return True

    def send_parts(self, head: bytes, payload: bytes) -> bool:
        """Queue an encoded PUBLISH (its header from :meth:`ServerConnection.qos0_head`)."""
        if self._closing:
            return False
        out = self._out
        if out is None:
            self._out = [head, payload]
            if not self._flush_pending:
                self._flush_pending = True
                self._loop.call_soon(self._flush)
        else:
            out += (head, payload)
        return True

    def send_qos0(self, msg: Message, retain: bool) -> bool:
        """Send ``msg`` at QoS 0 with no per-client properties: the fan-out fast path."""
        if self._closing:
            return False
        head = self.sc.qos0_head(msg.topic, msg.payload, retain, msg.properties)
        if head is None:
            return self.send_publish(Delivery(msg, 0, retain, ()))
        out = self._out
        if out is None:
            self._out = [head, msg.payload]
            if not self._flush_pending:
                self._flush_pending = True
                self._loop.call_soon(self._flush)
        else:
            out += (head, msg.payload)
        return True

    def close(
        self,
        reason_code: int | None,
        reason: str,
        *,
        code: int | None = None,
        discard: bool = False,
    ) -> None:
        """End the connection, telling an MQTT 5 client why when ``reason_code`` is set.

        ``discard``: drop what was queued for the client but not yet written (revocation:
        nothing more reaches a client whose rights are gone).
        """
        if discard:
            self._out = None
        if self._closing:
            return
        self._closing = True
        self.close_reason = reason
        self.close_code = reason_code if reason_code is not None else code
        if reason_code is not None and self.sc.version == MQTT_5_0:
            with contextlib.suppress(LocalProtocolError):
                self.write(
                    self.sc.send(Disconnect(reason_code, Properties(reason_string=reason[:64])))
                )
        self._flush()
        transport = self.transport
        if transport is not None:
            transport.close()
            DeadlineWheel.disarm(self)
            if type(transport) is SocketTransport and not transport.get_write_buffer_size():
                return  # nothing left to drain: the connection ends on the next loop turn
            # close() waits for the buffer to drain, which a peer that stopped reading never
            # lets happen: give it a moment, then cut the socket (the timer slot is free now)
            self._linger = self._loop.call_later(_CLOSE_LINGER, self._abort)

    def _abort(self) -> None:
        self._linger = None
        if self.transport is not None:
            self.transport.abort()
