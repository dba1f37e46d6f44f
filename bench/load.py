"""A lean MQTT 3.1.1 load generator on asyncio (uvloop when present).

Packets are encoded once with Fleetward's codec and written in large blobs; QoS 0
subscribers count bytes (every delivered packet has the same size), QoS 1 subscribers
parse just enough to acknowledge. That keeps the generator cheap enough that the
broker, not the generator, is what a run measures (mostly: see the notes it prints).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence

from fleetward.mqtt import Connect, Disconnect, Publish, Subscribe, Subscription, encode

V311 = 4
PAYLOAD = b"x" * 64


def publish_bytes(topic: str, qos: int = 0, packet_id: int = 0) -> bytes:
    """One encoded PUBLISH with the 64-byte payload."""
    return encode(Publish(topic, PAYLOAD, qos=qos, packet_id=packet_id), V311)


class Client(asyncio.Protocol):
    """CONNECT on connection; then hands bytes to ``on_data``."""

    def __init__(self, client_id: str, keep_alive: int = 600) -> None:
        self.client_id = client_id
        self.keep_alive = keep_alive
        self.transport: asyncio.Transport | None = None
        self.connacked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.subacked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received = 0
        self.paused = False
        self._pending = b""
        self._stage = 0  # 0 CONNACK, 1 SUBACK, 2 payload
        self.on_ready: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(encode(Connect(self.client_id, keep_alive=self.keep_alive), V311))  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._stage < 2:
            data = self._pending + data
            need = 4 if self._stage == 0 else 5
            if len(data) < need:
                self._pending = data
                return
            self._pending = b""
            head, data = data[:need], data[need:]
            if self._stage == 0:
                if head[3] != 0:
                    self.connacked.set_exception(ConnectionError(f"CONNACK refused {head[3]}"))
                    return
                self._stage = 1
                self.connacked.set_result(None)
            else:
                self._stage = 2
                self.subacked.set_result(None)
        if data:
            self.payload(data)

    def payload(self, data: bytes) -> None:
        """Bytes after the handshake (override)."""
        self.received += len(data)

    def subscribe(self, topic_filter: str, qos: int) -> None:
        """Send SUBSCRIBE; ``subacked`` resolves on SUBACK."""
        assert self.transport is not None
        self.transport.write(encode(Subscribe(1, [Subscription(topic_filter, qos)]), V311))

    def skip_suback(self) -> None:
        """For clients that never subscribe."""
        self._stage = 2

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.on_ready is not None:
            self.on_ready()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def close(self) -> None:
        """DISCONNECT and close."""
        if self.transport is not None:
            self.transport.write(encode(Disconnect(), V311))
            self.transport.close()


class Qos1Subscriber(Client):
    """Acknowledges every QoS 1 PUBLISH (all of size ``size``, topic length ``tlen``).

    ``on_count`` runs after each batch: closed-loop publishers use it to refill.
    """

    def __init__(self, client_id: str, size: int, tlen: int) -> None:
        super().__init__(client_id)
        self.size, self.tlen, self.count = size, tlen, 0
        self._buf = b""
        self.on_count: Callable[[], None] | None = None

    def payload(self, data: bytes) -> None:
        buf = self._buf + data
        size, off = self.size, 4 + self.tlen
        n = len(buf) // size
        if n and self.transport is not None:
            acks = [b"\x40\x02" + buf[i * size + off : i * size + off + 2] for i in range(n)]
            self.transport.write(b"".join(acks))
        self.count += n
        self._buf = buf[n * size :]
        if n and self.on_count is not None:
            self.on_count()


class Qos0Publisher(Client):
    """Writes a blob of identical QoS 0 PUBLISH packets whenever the socket takes it."""

    def __init__(self, client_id: str, topic: str) -> None:
        super().__init__(client_id)
        self.blob = publish_bytes(topic) * 500
        self.running = False
        self._scheduled = False
        self.on_ready = self.pump

    def pump(self) -> None:
        """Write a burst, then yield to the loop so readers in this process keep up."""
        if self._scheduled or not self.running or self.transport is None:
            return
        for _ in range(4):
            if self.paused or self.transport is None:
                return
            self.transport.write(self.blob)
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._again)

    def _again(self) -> None:
        self._scheduled = False
        self.pump()


class Qos1Publisher(Client):
    """Keeps ``window`` QoS 1 messages in flight, refilling as PUBACKs arrive.

    With ``in_system`` (a callable giving messages published but not yet delivered, across
    all publishers) and ``budget``, it is closed-loop: it never lets more than ``budget``
    messages be on their way end to end, as a pipeline with flow control would.
    """

    def __init__(
        self,
        client_id: str,
        topic: str,
        window: int = 256,
        in_system: Callable[[], int] | None = None,
        budget: int = 0,
    ) -> None:
        super().__init__(client_id)
        self.packets = [publish_bytes(topic, 1, pid) for pid in range(1, 65536)]
        self.window, self.sent, self.acked, self.running = window, 0, 0, False
        self.in_system, self.budget = in_system, budget
        self._ack_bytes = 0

    def payload(self, data: bytes) -> None:
        self._ack_bytes += len(data)
        self.acked = self._ack_bytes // 4
        self.pump()

    def pump(self) -> None:
        """Send up to the window."""
        if not self.running or self.transport is None:
            return
        room = self.window - (self.sent - self.acked)
        if self.in_system is not None:
            room = min(room, self.budget - self.in_system())
        if room <= 0:
            return
        start = self.sent % 65535
        chunk = self.packets[start : start + room]
        self.transport.write(b"".join(chunk))
        self.sent += len(chunk)


async def open_client(
    factory: Callable[[], Client], port: int, tls: ssl.SSLContext | None = None
) -> Client:
    """Connect, wait for CONNACK."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(
        factory, "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
    )
    await asyncio.wait_for(proto.connacked, 20)
    return proto


async def blob_fan_in(
    port: int, blobs: Sequence[bytes], packet_size: float, *, duration: float, warmup: float
) -> float:
    """Delivered msg/s: one QoS 0 publisher per blob (written in a loop) → 1 subscriber.

    Publisher ``i`` sends on ``bench/in/{i}``; the subscriber takes ``bench/in/#`` and
    counts bytes, so ``packet_size`` (the mean size of one delivered PUBLISH) turns bytes
    into messages. Measured over ``duration`` seconds after ``warmup``.
    """
    sub = await open_client(lambda: Client("fan-in-sub"), port)
    sub.subscribe("bench/in/#", 0)
    await asyncio.wait_for(sub.subacked, 10)
    pubs: list[Qos0Publisher] = []
    for i, blob in enumerate(blobs):
        p = await open_client(lambda i=i: Qos0Publisher(f"fan-in-pub-{i}", f"bench/in/{i}"), port)
        assert isinstance(p, Qos0Publisher)
        p.blob = blob
        p.skip_suback()
        pubs.append(p)
    for p in pubs:
        p.running = True
        p.pump()
    try:
        await asyncio.sleep(warmup)
        start, t0 = sub.received, time.perf_counter()
        await asyncio.sleep(duration)
        return (sub.received - start) / packet_size / (time.perf_counter() - t0)
    finally:
        for p in pubs:
            p.running = False
            p.close()
        sub.close()
