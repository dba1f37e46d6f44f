"""The stream suite across the real hub: keyed and compact messages cross the broker
(plain-TCP listener behind a capture proxy), are recorded in history still sealed, open in
the app, and a second app connection that joins mid-stream opens from the next keyed
message on. Nothing the hub received, sent, stored or logged contains the plaintext.

Like ``tests/integration/history/test_blind_hub.py`` (suite 1), with a control message
sent unsealed through the same path to prove the capture sees plaintext when there is some.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetward.e2e import E2EError, Opener, Sealer, StreamPolicy
from fleetward.e2e.stream import KIND_COMPACT, KIND_KEYED

from ...support.blind import AllRecords, assert_blind
from ...support.broker import live_broker
from ...support.capture import recording_proxy
from ...support.e2e import TrustedSenders
from ..broker._clients import wait_until
from ..history._world import HISTORY_ENV, ViaProxy, app_token, sealed_meter

MARKER = b"STREAM-BLIND-MARKER-7f3a19"
CONTROL = b"STREAM-UNSEALED-CONTROL-44e0c1"


def test_stream_suite_crosses_the_hub_blind_and_late_joiners_catch_up(
    tmp_path: Path, all_logs: AllRecords
) -> None:
    data_dir = tmp_path / "data"
    with live_broker(data_dir, **HISTORY_ENV) as lb:
        hub = lb.hub
        now = hub.clock.now()
        t, o, dev, device_key, app_key = sealed_meter(lb)
        sealer = Sealer(device_key, first_seq=1, policy=StreamPolicy(keyed_every=3))
        topic = f"devices/{dev.device_id}/telemetry/sealed/energy"
        envelopes = [
            sealer.seal(MARKER + b"#%d" % i, topic=topic, recipients=[app_key.record], now=now)
            for i in range(6)
        ]
        assert [e[2] for e in envelopes] == [KIND_KEYED, KIND_COMPACT, KIND_COMPACT] * 2
        token = app_token(lb, t, o, dev.device_id)
        with recording_proxy(lb.plain_port) as (port, capture):
            app = ViaProxy(lb, port, "app-1", ("app-1", token))
            late = ViaProxy(lb, port, "app-1-late", ("app-1", token))
            device = ViaProxy(lb, port, "meter-1", (dev.device_id, dev.token))
            try:
                app.connected()
                assert app.subscribe(f"devices/{dev.device_id}/telemetry/#", qos=1) == [1]
                device.connected()
                for env in envelopes[:2]:
                    assert device.publish(topic, env, qos=1) == 0
                first = app.take(2)
                late.connected()  # joins after the keyed message and one compact one
                assert late.subscribe(f"devices/{dev.device_id}/telemetry/#", qos=0) == [0]
                for env in envelopes[2:]:
                    assert device.publish(topic, env, qos=1) == 0
                device.publish(f"devices/{dev.device_id}/telemetry/control", CONTROL, qos=1)
                received = first + app.take(5)
                late_received = late.take(5)
            finally:
                device.close()
                late.close()
                app.close()
            wire = capture.all_bytes()
        senders = TrustedSenders(device_key.record)
        opener = Opener([app_key], senders)
        opened = [opener.open(m.payload, topic=m.topic, now=now).payload for m in received[:6]]
        assert opened == [MARKER + b"#%d" % i for i in range(6)]
        late_opener = Opener([app_key], senders)
        sealed_late = [m for m in late_received if m.topic == topic]
        assert [m.payload for m in sealed_late] == envelopes[2:]
        with pytest.raises(E2EError):  # compact, before any keyed message of the stream
            late_opener.open(sealed_late[0].payload, topic=topic, now=now)
        assert [
            late_opener.open(m.payload, topic=topic, now=now).payload for m in sealed_late[1:]
        ] == [MARKER + b"#%d" % i for i in range(3, 6)]
        history = hub.data.history()
        rows = wait_until(
            lambda: (
                (r := history.query(t, dev.device_id, stream="sealed/energy")) and len(r) == 6 and r
            )
        )
        assert [r.payload for r in rows] == envelopes
        assert all(r.sealed for r in rows)
    assert_blind(
        marker=MARKER,
        control=CONTROL,
        envelopes=envelopes,
        wire=wire,
        data_dir=data_dir,
        logs=all_logs,
    )
