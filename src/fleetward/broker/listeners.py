"""Broker listeners: MQTT over TLS (default) and plain TCP (only when asked for).

Plain TCP uses the lean transport of :mod:`fleetward.broker.tcp` (cheaper accepts, less
memory per idle client); TLS and WebSocket use asyncio's and the websockets library's.

A listener that admits anonymous clients must be on a loopback address unless the
operator forces it, and is announced loudly in the log, so an open broker cannot
appear on a network by accident.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
import sys
from dataclasses import dataclass
from typing import Protocol

from fleetward.broker.core import Broker
from fleetward.broker.protocol import MqttProtocol
from fleetward.broker.tcp import start_tcp_server
from fleetward.errors import ConfigError

__all__ = ["ListenerInfo", "Listening", "start_listener"]

_TLS_KINDS = frozenset({"tls", "wss"})
_BACKLOG = 4096  # a burst of reconnecting devices waits in the kernel, not refused


class Listening(Protocol):
    """A bound listener (an asyncio or a websockets server)."""

    def close(self) -> None:
        """Stop accepting connections."""
        ...

    async def wait_closed(self) -> None:
        """Wait until closed."""
        ...


log = logging.getLogger("fleetward.broker")


@dataclass(frozen=True, slots=True)
class ListenerInfo:
    """What a connection needs to know about the listener it arrived on."""

    name: str
    kind: str
    host: str
    port: int
    allow_anonymous: bool = False
    force_anonymous_on_public_address: bool = False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def start_listener(
    broker: Broker, info: ListenerInfo, tls: ssl.SSLContext | None
) -> Listening:
    """Bind one listener; raises :class:`ConfigError` for an unsafe or unusable one."""
    if info.kind in _TLS_KINDS and tls is None:
        raise ConfigError(f"mqtt.listeners.{info.name}: a TLS listener needs a certificate")
    if info.allow_anonymous:
        if not _is_loopback(info.host) and not info.force_anonymous_on_public_address:
            raise ConfigError(
                f"mqtt.listeners.{info.name}: anonymous access on non-loopback address "
                f"{info.host} refused (set force_anonymous_on_public_address to insist)"
            )
        log.warning(
            "listener %s on %s:%d admits ANONYMOUS clients under an open policy",
            info.name,
            info.host,
            info.port,
        )
    try:
        server = await _bind(broker, info, tls)
    except OSError as e:
        raise ConfigError(
            f"mqtt.listeners.{info.name}: cannot listen on {info.host}:{info.port}: {e.strerror}"
        ) from e
    log.info("MQTT listener %s (%s) on %s:%d", info.name, info.kind, info.host, info.port)
    return server


async def _bind(broker: Broker, info: ListenerInfo, tls: ssl.SSLContext | None) -> Listening:
    """The server for ``info``'s kind: WebSocket, the lean plain-TCP transport, or asyncio's."""
    if info.kind in ("ws", "wss"):
        from fleetward.broker.websocket import start_websocket_listener

        return await start_websocket_listener(broker, info, tls if info.kind == "wss" else None)
    if info.kind == "tcp" and sys.platform != "win32":  # a loop with add_reader
        return await start_tcp_server(
            lambda: MqttProtocol(broker, info), info.host, info.port, backlog=_BACKLOG
        )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: MqttProtocol(broker, info),
        host=info.host,
        port=info.port,
        ssl=tls if info.kind == "tls" else None,
        backlog=_BACKLOG,
        reuse_address=True,
        ssl_handshake_timeout=10.0 if info.kind == "tls" else None,
    )
    for sock in server.sockets:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server
