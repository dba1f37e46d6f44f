"""Real MQTT clients for the broker tests: paho, mosquitto_pub/sub, and a raw socket.

paho runs its network loop in a thread and feeds queues, so a test reads what the
broker sent with a deadline instead of sleeping. Automatic reconnection is off: when
the broker ends a connection, the test sees it end. The raw socket client exists for
what a well-behaved library will not do; it lives in :mod:`._raw`.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from fleetward.events import HubEvent

from ...support.broker import LiveBroker

HOST = "127.0.0.1"
TIMEOUT = 5.0
ALICE = ("alice", "alice-pw")
BOB = ("bob", "bob-pw")

E = TypeVar("E")


def wait_until(predicate: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.01)


def events(lb: LiveBroker, kind: type[E], **fields: object) -> list[E]:
    """The hub events of ``kind`` recorded so far whose attributes equal ``fields``."""
    found: list[HubEvent] = list(lb.events)
    return [
        e  # type: ignore[misc]
        for e in found
        if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())
    ]


def wait_event(lb: LiveBroker, kind: type[E], timeout: float = TIMEOUT, **fields: object) -> E:
    """The first hub event of ``kind`` matching ``fields``, waiting for it if needed."""
    found: list[E] = wait_until(lambda: events(lb, kind, **fields), timeout, f"{kind} {fields}")
    return found[0]


def has_subscription(lb: LiveBroker, client_id: str, topic_filter: str) -> bool:
    """Whether the broker holds ``topic_filter`` for ``client_id`` (read on its loop)."""

    def check() -> bool:
        session = lb.broker.sessions.get(client_id)
        return session is not None and topic_filter in session.subscriptions

    return lb.call(check)


def is_connected(lb: LiveBroker, client_id: str) -> bool:
    """Whether ``client_id`` has a session with a live connection."""

    def check() -> bool:
        session = lb.broker.sessions.get(client_id)
        return session is not None and session.conn is not None

    return lb.call(check)


# -- paho ----------------------------------------------------------------------------------


@dataclass
class Connack:
    """What paho reported for the CONNACK."""

    session_present: bool
    reason: int
    properties: Properties | None


class Paho:
    """A paho-mqtt 2.x client with its callbacks turned into queues.

    ``user`` selects the TLS listener with that user name and password; otherwise the
    client goes to the anonymous plain listener (``tls=True`` forces TLS anyway).
    """

    def __init__(
        self,
        lb: LiveBroker,
        *,
        v5: bool = True,
        client_id: str = "",
        user: tuple[str, str] | None = None,
        tls: bool = False,
        clean_session: bool = True,
        inflight: int = 20,
    ) -> None:
        self.lb = lb
        self.v5 = v5
        self.port_override: int | None = None
        self.tls = tls or user is not None
        extra: dict[str, Any] = {} if v5 else {"clean_session": clean_session}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            reconnect_on_failure=False,
            **extra,
        )
        self.client.max_inflight_messages_set(inflight)
        if self.tls:
            self.client.tls_set_context(lb.tls_context())
        if user is not None:
            self.client.username_pw_set(*user)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connacks: queue.Queue[Connack] = queue.Queue()
        self.disconnects: queue.Queue[int] = queue.Queue()
        self._lock = threading.Condition()
        self._subacks: dict[int, list[int]] = {}
        self._unsubacks: dict[int, list[int]] = {}
        self._pubacks: dict[int, int] = {}
        c = self.client
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = lambda _c, _u, m: self.messages.put(m)
        c.on_subscribe = self._on_subscribe
        c.on_unsubscribe = self._on_unsubscribe
        c.on_publish = self._on_publish

    # callbacks (paho's thread)
    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: ReasonCode, props: Any) -> None:
        self.connacks.put(Connack(bool(flags.session_present), rc.value, props))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self.disconnects.put(rc.value)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        with self._lock:
            self._subacks[mid] = [c.value for c in codes]
            self._lock.notify_all()

    def _on_unsubscribe(self, _c: Any, _u: Any, mid: int, codes: Any, _p: Any) -> None:
        with self._lock:
            self._unsubacks[mid] = [c.value for c in codes]
            self._lock.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._lock:
            self._pubacks[mid] = rc.value
            self._lock.notify_all()

    @property
    def port(self) -> int:
        """The listener this client uses."""
        if self.port_override is not None:
            return self.port_override
        return self.lb.tls_port if self.tls else self.lb.plain_port

    def connect(
        self,
        *,
        keepalive: int = 30,
        clean_start: bool = True,
        properties: Properties | None = None,
        will: tuple[str, bytes, int, bool, Properties | None] | None = None,
    ) -> Connack:
        """Connect, start the network thread and return the CONNACK."""
        if will is not None:
            topic, payload, qos, retain, will_props = will
            self.client.will_set(topic, payload, qos, retain, will_props)
        extra: dict[str, Any] = {"clean_start": clean_start} if self.v5 else {}
        self.client.connect(HOST, self.port, keepalive, properties=properties, **extra)
        self.client.loop_start()
        return self.connacks.get(timeout=TIMEOUT)

    def connected(self, **kw: Any) -> Paho:
        """Connect and insist on success."""
        ack = self.connect(**kw)
        assert ack.reason == 0, f"CONNACK refused: 0x{ack.reason:02X}"
        return self

    def subscribe(
        self,
        topic: str | Sequence[tuple[str, int | SubscribeOptions]],
        qos: int = 1,
        *,
        options: SubscribeOptions | None = None,
        properties: Properties | None = None,
    ) -> list[int]:
        """SUBSCRIBE and return the SUBACK codes."""
        if isinstance(topic, str):
            arg: Any = topic
            kw: dict[str, Any] = {"options": options} if options else {"qos": qos}
        else:
            arg, kw = list(topic), {}
        result, mid = self.client.subscribe(arg, properties=properties, **kw)
        assert result == mqtt.MQTT_ERR_SUCCESS
        with self._lock:
            ok = self._lock.wait_for(lambda: mid in self._subacks, TIMEOUT)
            assert ok, "no SUBACK"
            return self._subacks.pop(mid)

    def unsubscribe(self, topic: str) -> list[int]:
        """UNSUBSCRIBE and return the UNSUBACK codes (paho reports 0 for each in 3.1.1)."""
        result, mid = self.client.unsubscribe(topic)
        assert result == mqtt.MQTT_ERR_SUCCESS
        with self._lock:
            ok = self._lock.wait_for(lambda: mid in self._unsubacks, TIMEOUT)
            assert ok, "no UNSUBACK"
            return self._unsubacks.pop(mid)

    def publish(
        self,
        topic: str,
        payload: bytes | str = b"",
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
        *,
        wait: bool = True,
    ) -> int | None:
        """PUBLISH; for QoS > 0 wait for the flow to complete and return its reason code."""
        info = self.client.publish(topic, payload, qos, retain, properties)
        if qos == 0 or not wait:
            return None
        with self._lock:
            ok = self._lock.wait_for(lambda: info.mid in self._pubacks, TIMEOUT)
            assert ok, f"no acknowledgement for {topic}"
            return self._pubacks.pop(info.mid)

    def get(self, timeout: float = TIMEOUT) -> mqtt.MQTTMessage:
        """The next message received."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout}s") from None

    def take(self, count: int, timeout: float = TIMEOUT) -> list[mqtt.MQTTMessage]:
        """The next ``count`` messages (fails if they do not all arrive in time)."""
        deadline = time.monotonic() + timeout
        return [self.get(max(0.01, deadline - time.monotonic())) for _ in range(count)]

    def assert_silent(self, within: float = 0.3) -> None:
        """Fail if a message arrives within ``within`` seconds."""
        try:
            m = self.messages.get(timeout=within)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {m.topic}: {m.payload!r}")

    def wait_disconnect(self, timeout: float = TIMEOUT) -> int:
        """The reason code paho reports when the broker ends the connection."""
        try:
            return self.disconnects.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the broker did not disconnect the client") from None

    def disconnect(self, reason: int | None = None, properties: Properties | None = None) -> None:
        """A normal DISCONNECT (MQTT 5 reason ``reason``), then stop the thread."""
        rc = ReasonCode(mqtt.PacketTypes.DISCONNECT, identifier=reason) if reason else None
        self.client.disconnect(rc, properties)
        self.client.loop_stop()

    def kill(self) -> None:
        """Vanish without DISCONNECT: shut the socket down under paho, then stop its thread."""
        sock = self.client.socket()
        assert sock is not None
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # type: ignore[arg-type]
        self.client.loop_stop()

    def close(self) -> None:
        """Best-effort cleanup for finally blocks."""
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()


def props(kind: int, **values: Any) -> Properties:
    """paho Properties for packet type ``kind`` with ``values`` set."""
    p = Properties(kind)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def connect_props(**values: Any) -> Properties:
    """CONNECT properties."""
    return props(mqtt.PacketTypes.CONNECT, **values)


def publish_props(**values: Any) -> Properties:
    """PUBLISH properties."""
    return props(mqtt.PacketTypes.PUBLISH, **values)


# -- mosquitto command-line clients ----------------------------------------------------------


def mosquitto_args(
    lb: LiveBroker, *, v5: bool = True, user: tuple[str, str] | None = None
) -> list[str]:
    """Connection options for mosquitto_pub/sub: plain listener, or TLS with ``user``."""
    args = ["-h", HOST, "-V", "mqttv5" if v5 else "mqttv311"]
    if user is None:
        return [*args, "-p", str(lb.plain_port)]
    return [
        *args,
        "-p",
        str(lb.tls_port),
        "--cafile",
        str(lb.ca_file),
        "-u",
        user[0],
        "-P",
        user[1],
    ]


def mosquitto_pub(lb: LiveBroker, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run mosquitto_pub to completion."""
    return subprocess.run(
        ["mosquitto_pub", *mosquitto_args(lb, **kw), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        check=False,
    )


class MosquittoSub:
    """A mosquitto_sub process whose subscription is in place when the constructor returns."""

    def __init__(
        self,
        lb: LiveBroker,
        client_id: str,
        topic: str,
        *args: str,
        wait: bool = True,
        **kw: Any,
    ) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto_sub", *mosquitto_args(lb, **kw), "-i", client_id, "-t", topic, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if wait:
            wait_until(lambda: has_subscription(lb, client_id, topic), what="mosquitto_sub")

    def output(self, timeout: float = TIMEOUT * 2) -> tuple[int, str, str]:
        """Wait for the process to end; its exit code, stdout and stderr."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        """SIGKILL: the socket closes without a DISCONNECT."""
        self.proc.kill()
        self.proc.communicate(timeout=TIMEOUT)
