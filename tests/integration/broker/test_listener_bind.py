"""A listener whose port is taken fails with a config error naming it, for every kind."""

from __future__ import annotations

import asyncio
import socket
import ssl
from types import SimpleNamespace
from typing import cast

import pytest

from fleetward.broker.core import Broker
from fleetward.broker.listeners import ListenerInfo, start_listener
from fleetward.errors import ConfigError


@pytest.mark.parametrize("kind", ["tcp", "tls", "ws"])
def test_a_taken_port_is_a_config_error_naming_the_listener(kind: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        info = ListenerInfo(name=f"busy-{kind}", kind=kind, host="127.0.0.1", port=port)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) if kind == "tls" else None
        # bound but never served: only the WebSocket server reads the packet bound
        broker = cast(Broker, SimpleNamespace(limits=SimpleNamespace(max_packet_size=1024)))

        async def bind() -> None:
            await start_listener(broker, info, tls)

        with pytest.raises(ConfigError, match=rf"mqtt\.listeners\.busy-{kind}: cannot listen"):
            asyncio.run(bind())
