"""A first end-to-end check of the broker with paho-mqtt over TLS and plain TCP."""

from __future__ import annotations

import queue

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ...support.broker import LiveBroker


def _client(version: int = mqtt.MQTTv5, client_id: str = "") -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)


def test_tls_user_round_trip_and_policy(mqtt_broker: LiveBroker) -> None:
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    c = _client()
    c.tls_set_context(mqtt_broker.tls_context())
    c.username_pw_set("alice", "alice-pw")
    c.on_message = lambda _c, _u, m: got.put((m.topic, m.payload))
    c.connect("127.0.0.1", mqtt_broker.tls_port, keepalive=30)
    c.loop_start()
    try:
        result, _mid = c.subscribe("devices/alice/#", qos=1)
        assert result == mqtt.MQTT_ERR_SUCCESS
        info = c.publish("devices/alice/telemetry/t", b"21.5", qos=1)
        info.wait_for_publish(5)
        assert got.get(timeout=5) == ("devices/alice/telemetry/t", b"21.5")
    finally:
        c.loop_stop()
        c.disconnect()


def test_wrong_password_is_refused(mqtt_broker: LiveBroker) -> None:
    c = _client()
    c.tls_set_context(mqtt_broker.tls_context())
    c.username_pw_set("alice", "wrong")
    codes: queue.Queue[object] = queue.Queue()
    c.on_connect = lambda _c, _u, _f, rc, _p: codes.put(rc)
    c.connect("127.0.0.1", mqtt_broker.tls_port)
    c.loop_start()
    try:
        rc = codes.get(timeout=5)
        assert getattr(rc, "value", rc) == 0x86
    finally:
        c.loop_stop()
