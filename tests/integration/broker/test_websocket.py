"""MQTT over secure WebSocket (MQTT 5 §6) with real clients: paho's websocket transport
and a bare ``websockets`` client that splits packets across frames."""

from __future__ import annotations

import asyncio
import json
import queue
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from fleetward.crypto import client_context
from fleetward.mqtt import (
    Connack,
    Connect,
    Decoder,
    Publish,
    Suback,
    Subscribe,
    Subscription,
    encode,
)

from ...support.broker import LiveBroker, live_broker
from ...support.net import free_port


@pytest.fixture
def wss_broker(tmp_path: Path) -> Iterator[tuple[LiveBroker, int]]:
    port = free_port()
    listeners = [
        {"name": "plain", "kind": "tcp", "port": free_port(), "allow_anonymous": True},
        {"name": "tls", "kind": "tls", "port": free_port()},
        {"name": "wss", "kind": "wss", "port": port, "allow_anonymous": True},
    ]
    with live_broker(tmp_path / "b", FLEETWARD_MQTT__LISTENERS=json.dumps(listeners)) as b:
        yield b, port


def test_paho_over_wss_round_trip_both_versions(wss_broker: tuple[LiveBroker, int]) -> None:
    broker, port = wss_broker
    for version in (mqtt.MQTTv311, mqtt.MQTTv5):
        got: queue.Queue[tuple[str, bytes]] = queue.Queue()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, transport="websockets", protocol=version)
        c.tls_set_context(broker.tls_context())
        c.on_message = lambda _c, _u, m, q=got: q.put((m.topic, m.payload))
        subscribed: queue.Queue[bool] = queue.Queue()
        c.on_subscribe = lambda *_a, q=subscribed: q.put(True)
        c.connect("127.0.0.1", port, keepalive=30)
        c.loop_start()
        try:
            c.subscribe("ws/#", qos=1)
            assert subscribed.get(timeout=5)
            c.publish("ws/t", b"over wss", qos=1).wait_for_publish(5)
            assert got.get(timeout=5) == ("ws/t", b"over wss")
        finally:
            c.loop_stop()
            c.disconnect()


def test_packets_split_and_joined_across_frames(wss_broker: tuple[LiveBroker, int]) -> None:
    """MQTT-6.0.0-2/3: a packet may span frames and a frame may hold several packets."""
    broker, port = wss_broker

    async def run() -> list[object]:
        ctx = client_context(broker.ca_file)
        async with connect(f"wss://127.0.0.1:{port}", ssl=ctx, subprotocols=["mqtt"]) as ws:
            assert ws.subprotocol == "mqtt"
            wire = encode(Connect("ws-raw", protocol_version=5, keep_alive=30), 5)
            for i in range(0, len(wire), 3):  # CONNECT in 3-byte frames
                await ws.send(wire[i : i + 3])
            both = encode(Subscribe(1, [Subscription("raw/#", 0)]), 5) + encode(
                Publish("raw/x", b"joined"), 5
            )
            await ws.send(both)  # SUBSCRIBE and PUBLISH in one frame
            decoder = Decoder(1 << 16, version=5)
            seen: list[object] = []
            while len(seen) < 3:
                seen += decoder.feed(await asyncio.wait_for(ws.recv(), 5))
            return seen

    connack, suback, publish = asyncio.run(run())
    assert isinstance(connack, Connack)
    assert connack.reason_code == 0
    assert isinstance(suback, Suback)
    assert isinstance(publish, Publish)
    assert (publish.topic, publish.payload) == ("raw/x", b"joined")


def test_text_frames_and_missing_subprotocol_are_refused(
    wss_broker: tuple[LiveBroker, int],
) -> None:
    """MQTT-6.0.0-1: only binary frames; MQTT-6.0.0-4: the client offers "mqtt"."""
    broker, port = wss_broker
    ctx = client_context(broker.ca_file)

    async def text_frame() -> int | None:
        async with connect(f"wss://127.0.0.1:{port}", ssl=ctx, subprotocols=["mqtt"]) as ws:
            await ws.send("not binary")
            await asyncio.wait_for(ws.wait_closed(), 5)
            return ws.close_code

    assert asyncio.run(text_frame()) == 1003

    async def no_subprotocol() -> None:
        async with connect(f"wss://127.0.0.1:{port}", ssl=ctx):
            pass

    with pytest.raises(InvalidStatus):
        asyncio.run(no_subprotocol())
