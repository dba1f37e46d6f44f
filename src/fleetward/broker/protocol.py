"""One client connection: the thin asyncio shell around :class:`ServerConnection`.

Bytes arrive in :meth:`data_received`, are decoded in bulk, and each packet is handled
synchronously (runs of PUBLISH or PUBACK as one batch, see ``fastpath``) except CONNECT,
whose authentication may await (reading is paused until it is decided, and pipelined
packets wait in the state machine, MQTT-3.1.4-6). Writes are gathered and flushed once
per event-loop turn, so a burst of routed messages costs one system call per destination.
When the transport's write buffer passes its high-water mark, QoS 0 messages for this
client are dropped and counted, QoS 1/2 wait in the session's bounded queue; a queue
that overflows ends the session with Quota Exceeded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast

from fleetward.access.mqtt_hooks import ConnectInfo, Identity
from fleetward.broker.deadlines import DeadlineWheel, HasDeadline
from fleetward.broker.fastpath import on_pubacks, on_publishes
from fleetward.broker.session import Delivery, Message, Session
from fleetward.broker.tcp import SocketTransport
from fleetward.errors import FleetwardError
from fleetward.mqtt import (
    EMPTY_PROPERTIES,
    MQTT_5_0,
    Connack,
    Connect,
    Disconnect,
    LocalProtocolError,
    MqttError,
    Packet,
    PeerPacketTooLargeError,
    Pingresp,
    Properties,
    Puback,
    Pubcomp,
    Publish,
    Pubrec,
    Pubrel,
    ReasonCode,
    RemoteProtocolError,
    ServerConnection,
    Subscribe,
    Unsubscribe,
)

if TYPE_CHECKING:
    from fleetward.broker.core import Broker
    from fleetward.broker.listeners import ListenerInfo

__all__ = ["MqttProtocol"]

log = logging.getLogger("fleetward.broker")

_CLOSE_LINGER = 1.0
"""Seconds a closing connection may take to flush its buffer before it is aborted."""


class _BadAuthMethodError(RemoteProtocolError):
    code = "mqtt.bad_authentication_method"
    mqtt_reason = ReasonCode.BAD_AUTHENTICATION_METHOD


class MqttProtocol(asyncio.Protocol):
    """An MQTT client connection on any listener."""

    __slots__ = (
        "_auth_task",
        "_closing",
        "_flush_pending",
        "_linger",
        "_loop",
        "_out",
        "_paused",
        "broker",
        "cert_der",
        "cert_serial",
        "cert_subject",
        "close_code",
        "close_reason",
        "deadline_bucket",
        "listener",
        "peer_address",
        "sc",
        "session",
        "tls_version",
        "transport",
        "will_wanted",
    )

    def __init__(self, broker: Broker, listener: ListenerInfo) -> None:
        self.broker = broker
        self.listener = listener
        self._loop = asyncio.get_running_loop()
        self.sc = ServerConnection(
            max_packet_size=broker.limits.max_packet_size, now=self._loop.time()
        )
        self.session: Session | None = None
        self.transport: asyncio.Transport | None = None
        self.peer_address: object = None  # the transport's own peername object, not a copy
        self.tls_version: str | None = None
        # the verified client certificate (mTLS), kept only until CONNECT is decided
        self.cert_der: bytes | None = None
        self.cert_subject: str | None = None
        self.cert_serial: str | None = None
        self.close_reason = "socket_closed"
        self.close_code: int | None = None
        self.will_wanted = True
        self._out: list[bytes] | None = None  # created per burst, not per connection
        self._flush_pending = False
        self._paused = False
        self._closing = False
        self._linger: asyncio.TimerHandle | None = None
        self.deadline_bucket: set[HasDeadline] | None = None  # see broker/deadlines.py
        self._auth_task: asyncio.Task[None] | None = None

    # -- asyncio callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.peer_address = transport.get_extra_info("peername")
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.tls_version = ssl_object.version()
            self._read_client_certificate(ssl_object)
        self.transport.set_write_buffer_limits(high=self.broker.limits.write_buffer_high_water)
        self.broker.connections.add(self)
        # A client that never sends CONNECT is dropped after a grace period.
        self.broker.deadlines.arm(self, self._loop.time() + self.broker.limits.connect_timeout)

    @property
    def peer(self) -> str:
        """The client's address as ``host:port`` (formatted when asked, not per connection)."""
        peer = self.peer_address
        if isinstance(peer, tuple):
            return f"{peer[0]}:{peer[1]}"
        return "?" if peer is None else str(peer)

    def _read_client_certificate(self, ssl_object: ssl.SSLObject) -> None:
        """Note the client certificate the TLS layer verified against the client CA."""
        der = ssl_object.getpeercert(binary_form=True)
        if not der:
            return
        info = ssl_object.getpeercert() or {}
        self.cert_der = der
        self.cert_serial = str(info.get("serialNumber", "")) or None
        subject = info.get("subject", ())
        parts = [
            f"{pair[0]}={pair[1]}"
            for rdn in subject
            if not isinstance(rdn, str)
            for pair in rdn
            if not isinstance(pair, str)
        ]
        self.cert_subject = ",".join(parts) or None

    def data_received(self, data: bytes) -> None:
        self.sc.receive_data(data, self._loop.time())
        self._pump()
        # libuv (uvloop) reads a busy socket up to 32 times before the loop runs its
        # callbacks: with 256 KiB reads from a few fast publishers, the batched writes (and
        # timers) waited for seconds. Pausing until the next turn makes it one read per
        # socket per turn, as the standard loop does.
        transport = self.transport
        if self.broker.yield_reads and transport and self.session and not self._closing:
            transport.pause_reading()
            self._loop.call_soon(self._resume_reading)

    def _resume_reading(self) -> None:
        if self.transport is not None and not self._closing and self._auth_task is None:
            self.transport.resume_reading()

    def eof_received(self) -> bool | None:
        return None

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self.session is not None:
            self.broker.drain(self.session)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.sc.connection_lost()
        DeadlineWheel.disarm(self)
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._auth_task is not None and not self._auth_task.done():
            self._auth_task.cancel()
        self.broker.connections.discard(self)
        self.broker.detach(self)
        self.transport = None

    # -- inbound ---------------------------------------------------------------------------

    def _pump(self) -> None:
        sc = self.sc
        router = self.broker.router
        while not self._closing:
            session = self.session
            batch: list[Publish] = []
            acks: list[Puback] = []
            try:
                if session is not None:  # the hot paths first: runs of PUBLISH or PUBACK
                    batch = sc.next_publishes()
                    if not batch:
                        acks = sc.next_pubacks()
                packet = None if batch or acks else sc.next_packet()
            except RemoteProtocolError as e:
                self._protocol_error(e)
                return
            try:
                if session is not None and batch:
                    on_publishes(router, self, session, batch)
                elif session is not None and acks:
                    on_pubacks(router, session, acks)
                elif packet is None:
                    return
                else:
                    self._handle(packet)
            except MqttError as e:
                self._protocol_error(e)
                return

    def _handle(self, packet: Packet) -> None:  # noqa: PLR0912 - one branch per packet type
        session = self.session
        if type(packet) is Connect:
            self._begin_connect(packet)
            return
        if type(packet) is Disconnect:
            # MQTT-3.14.4-3: a normal DISCONNECT discards the will; 0x04 asks to send it.
            self.will_wanted = packet.reason_code == ReasonCode.DISCONNECT_WITH_WILL_MESSAGE
            if session is not None and packet.properties.session_expiry_interval is not None:
                session.expiry_interval = min(
                    packet.properties.session_expiry_interval, self.broker.limits.max_session_expiry
                )
            self.close(None, "client_disconnect")
            return
        if session is None:  # the state machine holds everything else until CONNACK
            raise LocalProtocolError(f"{type(packet).__name__} before the session exists")
        if type(packet) is Publish:
            self.broker.on_publish(self, session, packet)
        elif type(packet) is Puback or type(packet) is Pubcomp:
            done = session.inflight.pop(packet.packet_id, None)
            if done is not None:
                self.broker.journal.delivery_done(session, done)
                self.broker.drain(session)
        elif type(packet) is Pubrec:
            delivery = session.inflight.get(packet.packet_id)
            if delivery is None:
                self.write(
                    self.sc.send(Pubrel(packet.packet_id, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND))
                )
            elif packet.reason_code >= 0x80:  # the client refused it: the flow ends here
                del session.inflight[packet.packet_id]
                self.broker.journal.delivery_done(session, delivery)
                self.broker.drain(session)
            else:
                delivery.released = True
                self.broker.journal.delivery_in_flight(session, delivery)
                self.write(self.sc.send(Pubrel(packet.packet_id)))
        elif type(packet) is Pubrel:
            known = session.qos2_forget(packet.packet_id)
            if known:
                self.broker.journal.incoming_qos2(session, packet.packet_id, False)
            reason = 0 if known else ReasonCode.PACKET_IDENTIFIER_NOT_FOUND
            self.write(self.sc.send(Pubcomp(packet.packet_id, reason)))
        elif type(packet) is Subscribe:
            self.broker.on_subscribe(self, session, packet)
        elif type(packet) is Unsubscribe:
            self.broker.on_unsubscribe(self, session, packet)
        elif packet.packet_type == 12:  # PINGREQ
            self.write(self.sc.send(Pingresp()))
        else:  # AUTH: enhanced authentication is not offered
            raise _BadAuthMethodError("enhanced authentication (AUTH) is not offered")

    def _begin_connect(self, connect: Connect) -> None:
        """Authenticate; accept at once when the answer needs no waiting.

        A slow answer (a password hash, the database) pauses reading and finishes in a
        task; packets pipelined behind the CONNECT wait in the state machine meanwhile.
        """
        info = ConnectInfo(
            client_id=connect.client_id,
            username=connect.username,
            password=connect.password,
            listener=self.listener.name,
            peer=self.peer,
            protocol_version=connect.protocol_version,
            tls_version=self.tls_version,
            cert_subject=self.cert_subject,
            cert_serial=self.cert_serial,
            cert_der=self.cert_der,
            allow_anonymous=self.listener.allow_anonymous,
        )
        try:
            if connect.properties.authentication_method is not None:  # MQTT-4.12.0-1
                raise _BadAuthMethodError("enhanced authentication is not offered")
            result = self.broker.authenticate(info)
            if isinstance(result, Identity):
                self._accept(connect, result)  # _pump goes on with what follows
                return
        except FleetwardError as e:
            self._refuse_connect(e.mqtt_reason, e.detail)
            return
        finally:
            self.cert_der = None  # decided: the DER is not needed any more
        if self.transport is not None:
            self.transport.pause_reading()
        self._auth_task = self._loop.create_task(self._finish_connect(connect, result))

    async def _finish_connect(self, connect: Connect, pending: Awaitable[Identity]) -> None:
        try:
            identity = await pending
            if self._closing:  # gone while we decided: take over nothing
                return
            self._accept(connect, identity)
        except FleetwardError as e:
            self._refuse_connect(e.mqtt_reason, e.detail)
            return
        finally:
            self._auth_task = None  # a finished task is ~700 bytes; idle clients keep none
        if self.transport is not None:
            self.transport.resume_reading()
        self._pump()

    def _accept(self, connect: Connect, identity: Identity) -> None:
        connect.password = None  # checked: a secret is not kept for the connection's life
        session, present, props = self.broker.attach(self, connect, identity)
        self.session = session
        self.write(self.sc.send(Connack(session_present=present, properties=props)))
        self._arm_keepalive()
        self.broker.resume(session)

    def _refuse_connect(self, reason: int, detail: str) -> None:
        if self._closing:
            return
        with contextlib.suppress(LocalProtocolError):
            self.write(self.sc.send(Connack(reason_code=reason)))
        self.will_wanted = False
        self.close(None, f"refused: {detail}")

    def _protocol_error(self, error: MqttError) -> None:
        log.info("closing %s (%s): %s", self.peer, error.code, error.detail)
        self.write(self.sc.fail(error))
        self.close(None, f"protocol_error: {error.code}", code=error.mqtt_reason)

    # -- outbound --------------------------------------------------------------------------

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

    # -- timers ----------------------------------------------------------------------------

    def deadline_passed(self) -> None:
        """The CONNECT grace period or the keepalive deadline is due (broker/deadlines.py)."""
        if self._closing:
            return
        if self.session is None:
            if self._auth_task is None:  # still no CONNECT: drop it
                self.will_wanted = False
                self.close(None, "connect_timeout")
            return
        if self.sc.keep_alive_expired(self._loop.time()):
            self.close(ReasonCode.KEEP_ALIVE_TIMEOUT, "keepalive")
        else:
            self._arm_keepalive()

    def _arm_keepalive(self) -> None:
        deadline = self.sc.keep_alive_deadline
        if deadline is None:
            DeadlineWheel.disarm(self)
        else:
            self.broker.deadlines.arm(self, deadline)
