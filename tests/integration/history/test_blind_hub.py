"""The hub stays blind: sealed telemetry crosses the real broker, is recorded in history,
and reaches the app that opens it, yet nothing the hub process received, sent, stored or
logged contains the plaintext.

The capture proxy sits in front of the broker's plain-TCP listener (with TLS the proxy
would only see ciphertext, which proves nothing about the hub): it records exactly the
MQTT bytes the hub process read and wrote. A control message sent unsealed through the
same path must show up in the capture, so the capture is known to work.
"""

from __future__ import annotations

from pathlib import Path

from fleetward.e2e import ReplayGuard, open_envelope, seal_envelope

from ...support.blind import AllRecords, assert_blind
from ...support.broker import live_broker
from ...support.capture import recording_proxy
from ...support.e2e import TrustedSenders
from ..broker._clients import wait_until
from ._world import HISTORY_ENV, ViaProxy, app_token, sealed_meter

MARKER = b"BLIND-HUB-MARKER-51c7e0"
CONTROL = b"UNSEALED-CONTROL-9d2b44"


def test_sealed_telemetry_crosses_the_hub_without_the_hub_seeing_it(
    tmp_path: Path, all_logs: AllRecords
) -> None:
    data_dir = tmp_path / "data"
    with live_broker(data_dir, **HISTORY_ENV) as lb:
        hub = lb.hub
        t, o, dev, device_key, app_key = sealed_meter(lb)
        topic = f"devices/{dev.device_id}/telemetry/sealed/energy"
        with recording_proxy(lb.plain_port) as (port, capture):
            app = ViaProxy(lb, port, "app-1", ("app-1", app_token(lb, t, o, dev.device_id)))
            device = ViaProxy(lb, port, "meter-1", (dev.device_id, dev.token))
            try:
                app.connected()
                assert app.subscribe(f"devices/{dev.device_id}/telemetry/#", qos=1) == [1]
                device.connected()
                envelopes = [
                    seal_envelope(
                        MARKER + b"#%d" % i,
                        topic=topic,
                        sender=device_key,
                        recipients=[app_key.record],
                        seq=i,
                    )
                    for i in range(1, 4)
                ]
                for env in envelopes:
                    assert device.publish(topic, env, qos=1) == 0
                device.publish(f"devices/{dev.device_id}/telemetry/control", CONTROL, qos=1)
                received = app.take(4)
            finally:
                device.close()
                app.close()
            wire = capture.all_bytes()
        # the app opens what the device sealed: the marker was really sent
        guard, senders = ReplayGuard(), TrustedSenders(device_key.record)
        opened = [
            open_envelope(
                m.payload,
                topic=m.topic,
                own_keys={app_key.key_id: app_key},
                senders=senders,
                replay=guard,
                now=hub.clock.now(),
            ).payload
            for m in received
            if m.topic == topic
        ]
        assert opened == [MARKER + b"#1", MARKER + b"#2", MARKER + b"#3"]
        # history holds them, still sealed
        history = hub.data.history()
        rows = wait_until(lambda: history.query(t, dev.device_id, stream="sealed/energy"))
        assert [r.payload for r in rows] == envelopes
        assert all(r.sealed for r in rows)
    # the broker and hub are stopped: every file is flushed and closed
    assert_blind(
        marker=MARKER,
        control=CONTROL,
        envelopes=envelopes,
        wire=wire,
        data_dir=data_dir,
        logs=all_logs,
    )
