"""MQTT over WebSocket (subprotocol ``mqtt``, MQTT 5 §6), on top of ``websockets``.

Each WebSocket connection gets an ordinary :class:`MqttProtocol`; a small transport
adapter turns the protocol's writes into binary frames and the frames' bytes into
``data_received`` calls, so the MQTT code path is the same as for TCP and TLS. MQTT
packets may span frames and a frame may hold several packets (MQTT-6.0.0-2/3); the
decoder copes with both. Text frames are refused (MQTT-6.0.0-1).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from fleetward.broker.protocol import MqttProtocol

if TYPE_CHECKING:
    from fleetward.broker.core import Broker
    from fleetward.broker.listeners import ListenerInfo

__all__ = ["start_websocket_listener"]

log = logging.getLogger("fleetward.broker")
_MQTT = Subprotocol("mqtt")


class _WsTransport(asyncio.Transport):
    """The asyncio transport face of one WebSocket, as MqttProtocol expects it."""

    def __init__(self, ws: ServerConnection, protocol: MqttProtocol, high_water: int) -> None:
        super().__init__()
        self._ws = ws
        self._protocol = protocol
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._high = high_water
        self._paused = False
        self._closing = False
        self._sender: asyncio.Task[None] | None = None
        self.reading = asyncio.Event()
        self.reading.set()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self._ws.remote_address
        if name == "ssl_object":
            return self._ws.transport.get_extra_info("ssl_object")
        return self._ws.transport.get_extra_info(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is not None:
            self._high = high

    def get_write_buffer_size(self) -> int:
        return self._buffered

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            return
        self._buffer.append(bytes(data))
        self._buffered += len(data)
        if not self._paused and self._buffered > self._high:
            self._paused = True
            self._protocol.pause_writing()
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        try:
            while self._buffer:
                chunk, self._buffer = b"".join(self._buffer), []
                self._buffered -= len(chunk)
                await self._ws.send(chunk)  # one binary frame per batch
                if self._paused and self._buffered <= self._high // 4:
                    self._paused = False
                    self._protocol.resume_writing()
        except ConnectionClosed:
            self._buffer.clear()
        finally:
            self._sender = None
            if self._closing:
                await self._ws.close()

    def pause_reading(self) -> None:
        self.reading.clear()

    def resume_reading(self) -> None:
        self.reading.set()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._sender is None:
            asyncio.get_running_loop().create_task(self._ws.close())

    def abort(self) -> None:
        self._closing = True
        self._ws.transport.abort()


async def _handle(broker: Broker, info: ListenerInfo, ws: ServerConnection) -> None:
    protocol = MqttProtocol(broker, info)
    transport = _WsTransport(ws, protocol, broker.limits.write_buffer_high_water)
    protocol.connection_made(transport)
    error: Exception | None = None
    try:
        async for frame in ws:
            if isinstance(frame, str):  # MQTT-6.0.0-1: only binary frames carry MQTT
                await ws.close(1003, "MQTT needs binary frames")
                break
            await transport.reading.wait()
            protocol.data_received(frame)
    except ConnectionClosed as e:
        error = e
    finally:
        protocol.connection_lost(error)


async def start_websocket_listener(
    broker: Broker, info: ListenerInfo, tls: ssl.SSLContext | None
) -> Server:
    """Serve MQTT over WebSocket (``wss`` with ``tls``) on ``info.host:info.port``."""
    return await serve(
        lambda ws: _handle(broker, info, ws),
        info.host,
        info.port,
        ssl=tls,
        subprotocols=[_MQTT],
        compression=None,
        max_size=broker.limits.max_packet_size + 8,
        ping_interval=None,  # MQTT keep alive does this job
        server_header=None,
    )
