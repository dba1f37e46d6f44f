"""The CONNECT handshake of a client connection: authenticate, attach, CONNACK.

Authentication may await (a password hash, the database): reading is paused until it
is decided, and packets pipelined behind the CONNECT wait in the state machine
(MQTT-3.1.4-6). :class:`~fleetward.broker.protocol.MqttProtocol` sets the state up; this base class
holds the handshake's behaviour and slots.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TYPE_CHECKING, cast

from fleetward.access.mqtt_hooks import ConnectInfo, Identity
from fleetward.broker.outbound import OutboundMixin
from fleetward.errors import FleetwardError
from fleetward.mqtt import Connack, Connect, LocalProtocolError, ReasonCode, RemoteProtocolError

if TYPE_CHECKING:
    from fleetward.broker.listeners import ListenerInfo
    from fleetward.broker.protocol import MqttProtocol

__all__ = ["BadAuthMethodError", "HandshakeMixin"]


class BadAuthMethodError(RemoteProtocolError):
    """The client asked for enhanced authentication (AUTH), which is not offered."""

    code = "mqtt.bad_authentication_method"
    mqtt_reason = ReasonCode.BAD_AUTHENTICATION_METHOD


class HandshakeMixin(OutboundMixin):
    """Deciding a CONNECT (set up by the subclass's ``__init__``)."""

    __slots__ = (
        "_auth_task",
        "cert_der",
        "cert_serial",
        "cert_subject",
        "listener",
        "tls_version",
        "will_wanted",
    )

    listener: ListenerInfo
    tls_version: str | None
    cert_der: bytes | None
    cert_subject: str | None
    cert_serial: str | None
    will_wanted: bool
    _auth_task: asyncio.Task[None] | None

    if TYPE_CHECKING:

        @property
        def peer(self) -> str:
            """The client's address (see MqttProtocol)."""

        def _pump(self) -> None:
            """Handle what the state machine holds (see MqttProtocol)."""

        def _arm_keepalive(self) -> None:
            """Arm the keepalive deadline (see MqttProtocol)."""

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
                raise BadAuthMethodError("enhanced authentication is not offered")
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
        session, present, props = self.broker.attach(cast("MqttProtocol", self), connect, identity)
        self.session = session
        self.write(self.sc.send_connack(present, props))
        self._arm_keepalive()
        self.broker.resume(session)

    def _refuse_connect(self, reason: int, detail: str) -> None:
        if self._closing:
            return
        with contextlib.suppress(LocalProtocolError):
            self.write(self.sc.send(Connack(reason_code=reason)))
        self.will_wanted = False
        self.close(None, f"refused: {detail}")
