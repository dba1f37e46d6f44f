"""The broker on uvloop under a flood: forwarding keeps flowing while publishers push.

libuv reads a busy socket up to 32 times (256 KiB each) before the loop runs its
callbacks; without yielding after each read, a few fast publishers held the batched
writes back for as long as they kept sending (docs/benchmarks.md, the uvloop stall).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ...support.broker import LiveBroker, live_broker
from ._raw import raw_client, read_packet, subscribe_packet

FLOOD_SECONDS = 5.0

# Publishers in their own process (not behind this process's GIL): CONNECT, then QoS 0
# PUBLISH packets as fast as the socket takes them, until the time is up.
_FLOODER = """
import socket, sys, time
port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for i in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    cid = f"flood-{i}".encode()
    body = b"\\x00\\x04MQTT\\x04\\x02\\x00\\x3c" + len(cid).to_bytes(2, "big") + cid
    s.sendall(bytes((0x10, len(body))) + body)
    assert s.recv(4)[:2] == b"\\x20\\x02"
    s.setblocking(False)
    socks.append(s)
body = b"\\x00\\x07flood/x" + b"p" * 64
blob = (bytes((0x30, len(body))) + body) * 4000
until = time.monotonic() + seconds
while time.monotonic() < until:
    for s in socks:
        try:
            s.send(blob)
        except BlockingIOError:
            pass
    time.sleep(0.0005)
"""


@pytest.fixture
def uvloop_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveBroker]:
    pytest.importorskip("uvloop")
    monkeypatch.setenv("FLEETWARD_TEST_LOOP", "uvloop")
    with live_broker(tmp_path / "broker") as b:
        assert type(b.loop).__module__.startswith("uvloop")
        yield b


def test_forwarding_flows_while_publishers_flood(uvloop_broker: LiveBroker) -> None:
    """No gap of two seconds or more in what the subscriber receives during the flood."""
    sub = raw_client(uvloop_broker.plain_port, "flood-sub", keepalive=60)
    sub.sendall(subscribe_packet(1, "flood/#", 0))
    assert read_packet(sub)[0] == 0x90
    flooder = subprocess.Popen(
        [sys.executable, "-c", _FLOODER, str(uvloop_broker.plain_port), "8", str(FLOOD_SECONDS)]
    )
    try:
        sub.settimeout(0.2)
        start = last = time.monotonic()
        gaps = []
        while time.monotonic() < start + FLOOD_SECONDS - 0.5:
            try:
                if sub.recv(1 << 20):
                    now = time.monotonic()
                    gaps.append(now - last)
                    last = now
            except TimeoutError:
                pass
        gaps.append(time.monotonic() - last)
        assert max(gaps[1:]) < 2.0, f"forwarding stalled for {max(gaps[1:]):.1f}s"
    finally:
        flooder.wait(FLOOD_SECONDS + 10)
        sub.close()
