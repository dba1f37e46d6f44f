"""Durability: a ``fleetward serve`` process killed with SIGKILL under QoS 1 load.

Once the broker has sent a PUBACK, the message must reach its persistent subscriber
after a restart (MQTT-4.3.2, and the hub's own promise); persistent sessions and
retained messages survive both a crash and a clean restart.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ...support.hub import CHEAP_ARGON2
from ...support.net import free_port


@contextmanager
def _hub_process(data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    listeners = [{"name": "plain", "kind": "tcp", "port": port, "allow_anonymous": True}]
    env = {
        **os.environ,
        **CHEAP_ARGON2,
        "FLEETWARD_DATA_DIR": str(data_dir),
        "FLEETWARD_API__PORT": str(free_port()),
        "FLEETWARD_MQTT__LISTENERS": json.dumps(listeners),
        "FLEETWARD_LOG__LEVEL": "warning",
    }
    exe = Path(sys.executable).with_name("fleetward")
    proc = subprocess.Popen(
        [str(exe), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_listening(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the hub exited at start"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the hub did not start listening")


def _client(client_id: str, *, clean: bool) -> mqtt.Client:
    return mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=clean,
    )


def _subscribe_persistent(port: int, client_id: str, topic_filter: str) -> None:
    sub = _client(client_id, clean=False)
    done: queue.Queue[bool] = queue.Queue()
    sub.on_subscribe = lambda *_a: done.put(True)
    sub.connect("127.0.0.1", port, keepalive=60)
    sub.loop_start()
    sub.subscribe(topic_filter, qos=1)
    assert done.get(timeout=10)
    sub.disconnect()
    sub.loop_stop()


def _collect(port: int, client_id: str, quiet: float = 2.0) -> list[bytes]:
    got: list[bytes] = []
    last = [time.monotonic()]
    lock = threading.Lock()

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        with lock:
            got.append(m.payload)
            last[0] = time.monotonic()

    sub = _client(client_id, clean=False)
    sub.on_message = on_message
    present: queue.Queue[bool] = queue.Queue()
    sub.on_connect = lambda _c, _u, flags, _rc, _p: present.put(flags.session_present)
    sub.connect("127.0.0.1", port, keepalive=60)
    sub.loop_start()
    try:
        assert present.get(timeout=10), "the persistent session did not survive"
        while time.monotonic() - last[0] < quiet:
            time.sleep(0.1)
    finally:
        sub.disconnect()
        sub.loop_stop()
    return got


def test_acknowledged_qos1_messages_survive_sigkill(tmp_path: Path) -> None:
    port = free_port()
    acked_mids: list[int] = []  # appended by paho's thread only
    mids: dict[int, bytes] = {}
    with _hub_process(tmp_path / "data", port) as proc:
        _subscribe_persistent(port, "durable-sub", "load/#")
        pub = _client("loader", clean=True)
        pub.max_inflight_messages_set(200)
        pub.on_publish = lambda _c, _u, mid, _rc, _p: acked_mids.append(mid)
        pub.connect("127.0.0.1", port, keepalive=60)
        pub.loop_start()
        try:
            for i in range(5000):
                info = pub.publish(f"load/{i % 7}", f"m{i:05d}".encode(), qos=1)
                mids[info.mid] = f"m{i:05d}".encode()
                if len(acked_mids) >= 600:
                    break  # kill while messages are still in flight
            deadline = time.monotonic() + 20
            while len(acked_mids) < 600 and time.monotonic() < deadline:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)  # no chance to flush anything
            proc.wait(10)
        finally:
            pub.loop_stop()
    promised = {mids[m] for m in list(acked_mids)}
    assert len(promised) >= 600
    with _hub_process(tmp_path / "data", port):
        received = _collect(port, "durable-sub")
    missing = promised - set(received)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:5]}"


def test_sessions_queues_and_retained_survive_a_clean_restart(tmp_path: Path) -> None:
    port = free_port()
    with _hub_process(tmp_path / "data", port) as proc:
        _subscribe_persistent(port, "keeper", "keep/#")
        pub = _client("pub", clean=True)
        pub.connect("127.0.0.1", port)
        pub.loop_start()
        for i in range(20):
            pub.publish(f"keep/{i}", f"q{i}".encode(), qos=1).wait_for_publish(5)
        pub.publish("state/door", b"open", qos=1, retain=True).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) in (0, -signal.SIGTERM)
    with _hub_process(tmp_path / "data", port):
        received = _collect(port, "keeper", quiet=1.0)
        assert received == [f"q{i}".encode() for i in range(20)]  # all, in order
        retained: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        c = _client("reader", clean=True)
        c.on_message = lambda _c, _u, m: retained.put((m.topic, m.payload, m.retain))
        c.connect("127.0.0.1", port)
        c.loop_start()
        c.subscribe("state/#", qos=1)
        assert retained.get(timeout=5) == ("state/door", b"open", True)
        c.disconnect()
        c.loop_stop()
