"""Back-pressure: a subscriber that stops reading cannot make the broker hoard memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetward.events import ClientDisconnected

from ...support.broker import LiveBroker, live_broker
from ._clients import (
    Paho,
    is_connected,
    wait_event,
)
from ._raw import (
    packet,
    raw_client,
    read_packet,
    subscribe_packet,
)

HIGH_WATER = 16384
MAX_QUEUED = 5


@pytest.fixture
def tight_broker(tmp_path: Path) -> Iterator[LiveBroker]:
    """A broker with a 5-message queue and the smallest write buffer allowed."""
    with live_broker(
        tmp_path / "broker",
        FLEETWARD_MQTT__MAX_QUEUED_MESSAGES=str(MAX_QUEUED),
        FLEETWARD_MQTT__WRITE_BUFFER_HIGH_WATER=str(HIGH_WATER),
    ) as b:
        yield b


class _Sampler:
    """Polls the slow session's footprint on the broker loop while a flood runs."""

    def __init__(self, lb: LiveBroker, client_id: str) -> None:
        self.lb = lb
        self.client_id = client_id
        self.max_buffer = 0
        self.max_queue = 0
        self.max_inflight = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[int, int, int]:
        session = self.lb.broker.sessions.get(self.client_id)
        if session is None or session.conn is None or session.conn.transport is None:
            return 0, 0, 0
        buffered = session.conn.transport.get_write_buffer_size()
        return buffered, session.queued(), len(session.inflight)

    def _run(self) -> None:
        while not self._stop.is_set():
            buffered, queued, inflight = self.lb.call(self._sample)
            self.max_buffer = max(self.max_buffer, buffered)
            self.max_queue = max(self.max_queue, queued)
            self.max_inflight = max(self.max_inflight, inflight)
            time.sleep(0.005)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_slow_qos1_subscriber_is_cut_with_quota_exceeded(tight_broker: LiveBroker) -> None:
    """A QoS 1 subscriber that never reads fills its window and queue, then is dropped.

    Its connection ends with 0x97 Quota exceeded (5.0 §3.14.2.1) although it never reads
    the DISCONNECT (the broker must not wait forever for its buffer to drain); its queue
    never exceeds the bound, its write buffer stays within one in-flight window, and a
    subscriber that keeps up gets every message in order (MQTT-4.6.0-5) meanwhile.
    """
    lb = tight_broker
    slow = raw_client(lb.plain_port, "slow-q1", keepalive=60, v5=True, rcvbuf=4096)
    slow.sendall(subscribe_packet(1, "flood/#", 1, v5=True))
    assert read_packet(slow)[0] == 0x90
    healthy = Paho(lb, v5=False).connected()
    healthy.subscribe("flood/#", qos=1)
    pub = Paho(lb).connected()
    payload = b"p" * 128_000  # big enough to fill the kernel's socket buffers
    got = []
    try:
        with _Sampler(lb, "slow-q1") as sampler:
            for batch in range(5):  # paced by the healthy subscriber, not by the slow one
                for i in range(20):
                    n = batch * 20 + i
                    pub.publish("flood/t", n.to_bytes(4, "big") + payload, qos=1, wait=False)
                got += healthy.take(20)
            event = wait_event(lb, ClientDisconnected, timeout=5, client_id="slow-q1")
        assert [int.from_bytes(m.payload[:4], "big") for m in got] == list(range(100))
        assert (event.reason, event.reason_code) == ("queue_full", 0x97)
        assert sampler.max_queue <= MAX_QUEUED
        assert sampler.max_inflight <= 64
        assert sampler.max_buffer <= HIGH_WATER + 64 * (len(payload) + 64)
        assert "slow-q1" not in lb.call(lambda: set(lb.broker.sessions))
        assert lb.call(lambda: lb.broker.router.stats.dropped) >= 1
        assert lb.call(lambda: len(lb.broker.connections)) == 2  # healthy and pub only
    finally:
        slow.close()
        healthy.close()
        pub.close()


def test_slow_qos0_subscriber_loses_messages_not_memory(tight_broker: LiveBroker) -> None:
    """QoS 0 messages for a subscriber whose buffer is full are dropped and counted.

    QoS 0 is at most once (MQTT-4.3.1-1): dropping is allowed, hoarding is not. The slow
    client stays connected and, once it reads again, gets a subset in publication order,
    while a subscriber that keeps up loses nothing.
    """
    lb = tight_broker
    slow = raw_client(lb.plain_port, "slow-q0", keepalive=60, rcvbuf=4096)
    slow.sendall(subscribe_packet(1, "flood0/#", 0))
    assert read_packet(slow)[0] == 0x90
    healthy = Paho(lb).connected()
    healthy.subscribe("flood0/#", qos=0)
    blaster = raw_client(lb.plain_port, "blaster", keepalive=60)
    body = b"q" * 4096
    chunk, chunks = 250, 12  # 12 MB in all: more than the kernel's socket buffers hold
    seen: list[int] = []
    try:
        with _Sampler(lb, "slow-q0") as sampler:
            for c in range(chunks):  # paced by the healthy subscriber
                blaster.sendall(
                    b"".join(
                        packet(0x30, b"\x00\x08flood0/t" + i.to_bytes(4, "big") + body)
                        for i in range(c * chunk, (c + 1) * chunk)
                    )
                )
                seen += [int.from_bytes(m.payload[:4], "big") for m in healthy.take(chunk)]
        count = chunk * chunks
        assert seen == list(range(count))  # the subscriber that keeps up lost nothing
        dropped = lb.call(lambda: lb.broker.sessions["slow-q0"].dropped)
        assert dropped > count // 2
        assert lb.call(lambda: lb.broker.router.stats.dropped) >= dropped
        assert sampler.max_buffer < HIGH_WATER + 256 * 1024  # one read's worth at most
        assert is_connected(lb, "slow-q0")
        slow.settimeout(2)
        received = []
        while len(received) < count - dropped:
            first, data = read_packet(slow)
            assert first == 0x30
            received.append(int.from_bytes(data[10:14], "big"))
        assert received == sorted(received)
    finally:
        slow.close()
        blaster.close()
        healthy.close()
