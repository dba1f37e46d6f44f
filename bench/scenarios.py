"""The benchmark scenarios; each returns one number for one broker."""

from __future__ import annotations

import asyncio
import ssl
import time

from bench.brokers import Running
from bench.load import (
    V311,
    Client,
    Qos0Publisher,
    Qos1Publisher,
    Qos1Subscriber,
    open_client,
    publish_bytes,
)

WARMUP = 1.0


def _tls(broker: Running) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(broker.ca_file))


async def _measure(counter: list[Client], read: str, duration: float) -> float:
    def total() -> float:
        return float(sum(getattr(c, read) for c in counter))

    await asyncio.sleep(WARMUP)
    start, t0 = total(), time.perf_counter()
    await asyncio.sleep(duration)
    return (total() - start) / (time.perf_counter() - t0)


async def qos0_fan_in(broker: Running, duration: float, *, tls: bool = False) -> float:
    """8 publishers → 1 subscriber on bench/in/#, QoS 0, 64-byte payloads: delivered msg/s."""
    port = broker.tls_port if tls else broker.port
    ctx = _tls(broker) if tls else None
    assert port is not None
    topic = "bench/in/{}"
    size = len(publish_bytes(topic.format(0)))
    sub = await open_client(lambda: Client("sub-in"), port, ctx)
    sub.subscribe("bench/in/#", 0)
    await asyncio.wait_for(sub.subacked, 10)
    pubs = [
        await open_client(lambda i=i: Qos0Publisher(f"pub-in-{i}", topic.format(i)), port, ctx)
        for i in range(8)
    ]
    for p in pubs:
        p.skip_suback()
        assert isinstance(p, Qos0Publisher)
        p.running = True
        p.pump()
    try:
        return await _measure([sub], "received", duration) / size
    finally:
        for c in (*pubs, sub):
            if isinstance(c, Qos0Publisher):
                c.running = False
            c.close()


async def qos0_fan_out(broker: Running, duration: float) -> float:
    """1 publisher → 50 subscribers on bench/out, QoS 0: delivered msg/s in total."""
    size = len(publish_bytes("bench/out"))
    subs = []
    for i in range(50):
        s = await open_client(lambda i=i: Client(f"sub-out-{i}"), broker.port)
        s.subscribe("bench/out", 0)
        await asyncio.wait_for(s.subacked, 10)
        subs.append(s)
    pub = await open_client(lambda: Qos0Publisher("pub-out", "bench/out"), broker.port)
    assert isinstance(pub, Qos0Publisher)
    pub.skip_suback()
    pub.running = True
    pub.pump()
    try:
        return await _measure(subs, "received", duration) / size
    finally:
        pub.running = False
        for c in (pub, *subs):
            c.close()


async def qos1_fan_in(broker: Running, duration: float) -> float:
    """8 QoS 1 publishers → 1 QoS 1 subscriber, closed loop: delivered and acked msg/s.

    At most 512 messages are on their way end to end (published, not yet delivered), so
    the measure is the broker's sustained QoS 1 rate, not how it sheds an open-loop flood
    (Fleetward ends a session whose queue overflows; Mosquitto drops silently).
    """
    topic = "bench/q1/{}"
    size = len(publish_bytes(topic.format(0), 1, 1))
    sub = await open_client(
        lambda: Qos1Subscriber("sub-q1", size, len(topic.format(0))), broker.port
    )
    assert isinstance(sub, Qos1Subscriber)
    sub.subscribe("bench/q1/#", 1)
    await asyncio.wait_for(sub.subacked, 10)
    pubs: list[Qos1Publisher] = []

    def in_system() -> int:
        return sum(p.sent for p in pubs) - sub.count

    for i in range(8):
        p = await open_client(
            lambda i=i: Qos1Publisher(f"pub-q1-{i}", topic.format(i), 64, in_system, 512),
            broker.port,
        )
        assert isinstance(p, Qos1Publisher)
        pubs.append(p)

    def refill() -> None:
        for p in pubs:
            p.pump()

    sub.on_count = refill
    for p in pubs:
        p.skip_suback()
        p.running = True
        p.pump()
    try:
        return await _measure([sub], "count", duration)
    finally:
        for c in (*pubs, sub):
            c.close()


async def idle_connections(broker: Running, n: int) -> float:
    """Broker RSS growth per idle connection (KiB) for ``n`` connected clients."""
    await asyncio.sleep(0.5)
    before = broker.rss_kib()
    sem = asyncio.Semaphore(256)
    clients: list[Client] = []

    async def one(i: int) -> None:
        async with sem:
            c = await open_client(lambda: Client(f"idle-{i}", keep_alive=3600), broker.port)
            c.skip_suback()
            clients.append(c)

    await asyncio.gather(*(one(i) for i in range(n)))
    await asyncio.sleep(1.0)
    after = broker.rss_kib()
    for c in clients:
        c.close()
    await asyncio.sleep(0.5)
    return (after - before) / n


async def connect_rate(broker: Running, n: int) -> float:
    """CONNECT → CONNACK → DISCONNECT cycles per second, 100 at a time."""
    sem = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        async with sem:
            c = await open_client(lambda: Client(f"conn-{i}"), broker.port)
            c.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - t0)


__all__ = ["V311", "connect_rate", "idle_connections", "qos0_fan_in", "qos0_fan_out", "qos1_fan_in"]
