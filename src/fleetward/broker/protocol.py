"""One client connection: the thin asyncio shell around :class:`ServerConnection`.

Bytes arrive in :meth:`data_received`, are decoded in bulk, and each packet is handled
synchronously (runs of PUBLISH or PUBACK as one batch, see ``fastpath``) except CONNECT,
whose authentication may await (``handshake``). Writes are gathered and flushed once per
event-loop turn (``outbound``). When the transport's write buffer passes its high-water
mark, QoS 0 messages for this client are dropped and counted, QoS 1/2 wait in the
session's bounded queue; a queue that overflows ends the session with Quota Exceeded.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, cast

from fleetward.broker.deadlines import DeadlineWheel, HasDeadline
from fleetward.broker.fastpath import on_pubacks, on_publishes
from fleetward.broker.handshake import BadAuthMethodError, HandshakeMixin
from fleetward.broker.session import Session
from fleetward.mqtt import (
    Connect,
    Disconnect,
    LocalProtocolError,
    MqttError,
    Packet,
    Pingresp,
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


class MqttProtocol(HandshakeMixin):
    """An MQTT client connection on any listener."""

    __slots__ = ("peer_address",)  # the rest: HandshakeMixin and OutboundMixin

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
            raise BadAuthMethodError("enhanced authentication (AUTH) is not offered")

    def _protocol_error(self, error: MqttError) -> None:
        log.info("closing %s (%s): %s", self.peer, error.code, error.detail)
        self.write(self.sc.fail(error))
        self.close(None, f"protocol_error: {error.code}", code=error.mqtt_reason)

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
