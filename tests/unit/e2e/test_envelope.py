"""Sealing and opening envelopes: round trips, and every refusal is the one opaque error."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from fleetward.e2e import (
    E2EError,
    E2EKeyPair,
    OpenedEnvelope,
    OwnerKind,
    ReplayGuard,
    open_envelope,
    seal_envelope,
)
from fleetward.e2e.envelope import HEADER_LEN, SUITE_MULTI, SUITE_SINGLE, VERSION
from fleetward.errors import InvalidInputError

from ._world import DAY, NOW, TOPIC, World, guard, make_world, owner


@pytest.fixture
def world() -> World:
    return make_world()


def _open(
    world: World,
    data: bytes,
    *,
    me: E2EKeyPair | None = None,
    topic: str = TOPIC,
    replay: ReplayGuard | None = None,
    now: dt.datetime = NOW,
) -> OpenedEnvelope:
    me = me or world.app
    return open_envelope(
        data,
        topic=topic,
        own_keys={me.key_id: me},
        senders=world.trusted(),
        replay=replay if replay is not None else guard(),
        now=now,
    )


def _refused(world: World, data: bytes, **kw: object) -> None:
    with pytest.raises(E2EError) as info:
        _open(world, data, **kw)  # type: ignore[arg-type]
    assert info.value.code == "e2e.open_failed"
    assert info.value.detail == "cannot open envelope"


def test_single_recipient_round_trip_and_layout(world: World) -> None:
    data = seal_envelope(
        b"21.5C", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=7
    )
    assert len(data) == HEADER_LEN + 5 + 16
    assert data[0] == VERSION
    assert data[1] == SUITE_SINGLE
    assert data[2:10] == world.device.key_id
    assert data[10:18] == world.app.key_id
    assert int.from_bytes(data[18:26], "big") == 7
    opened = _open(world, data)
    assert opened.payload == b"21.5C"
    assert opened.sender.owner == owner(OwnerKind.DEVICE, "d1")
    assert (opened.seq, opened.topic) == (7, TOPIC)


def test_multi_recipient_round_trip(world: World) -> None:
    data = seal_envelope(
        b"open the valve",
        topic="devices/d1/commands/valve",
        sender=world.app,
        recipients=[world.device.record, world.other_app.record],
        seq=1,
    )
    assert data[1] == SUITE_MULTI
    for me in (world.device, world.other_app):
        opened = _open(world, data, me=me, topic="devices/d1/commands/valve")
        assert opened.payload == b"open the valve"
        assert opened.sender.key_id == world.app.key_id
    _refused(world, data, me=world.app, topic="devices/d1/commands/valve")  # not a recipient


def test_tampering_any_byte_is_refused(world: World) -> None:
    data = seal_envelope(
        b"x" * 40, topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=3
    )
    for i in range(len(data)):
        _refused(world, data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])
    for cut in (0, 1, 10, HEADER_LEN, len(data) - 1):
        _refused(world, data[:cut])
    _refused(world, data + b"\x00")


def test_multi_tampering_is_refused_by_every_recipient_it_concerns(world: World) -> None:
    """Every byte but another recipient's wrapped key is authenticated to each recipient;
    a changed wrapped key is refused by the recipient it belongs to."""
    recipients = [world.app.record, world.other_app.record]
    data = seal_envelope(b"x" * 40, topic=TOPIC, sender=world.device, recipients=recipients, seq=3)
    stanza = 8 + 32 + 48
    wraps = [range(19 + k * stanza + 40, 19 + (k + 1) * stanza) for k in range(2)]
    for i in range(len(data)):
        tampered = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        for k, me in enumerate((world.app, world.other_app)):
            other_wrap = wraps[1 - k]
            if i in other_wrap:
                assert _open(world, tampered, me=me).payload == b"x" * 40
            else:
                _refused(world, tampered, me=me)
    _refused(world, data[:-1])


def test_wrong_recipient_is_refused(world: World) -> None:
    data = seal_envelope(
        b"hi", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=1
    )
    _refused(world, data, me=world.other_app)
    # relabel the header for the other app: the key schedule no longer matches
    relabelled = data[:10] + world.other_app.key_id + data[18:]
    _refused(world, relabelled, me=world.other_app)


def test_wrong_topic_is_refused(world: World) -> None:
    data = seal_envelope(
        b"hi", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=1
    )
    for topic in ("devices/d1/telemetry/hum", "devices/d2/telemetry/temp", TOPIC + "/", "#"):
        _refused(world, data, topic=topic)


def test_replayed_sequence_is_refused(world: World) -> None:
    replay = guard()
    first = seal_envelope(
        b"a", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=10
    )
    assert _open(world, first, replay=replay).payload == b"a"
    _refused(world, first, replay=replay)  # the very same bytes
    again = seal_envelope(
        b"b", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=10
    )
    _refused(world, again, replay=replay)  # a fresh envelope reusing the number
    later = seal_envelope(
        b"c", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=200
    )
    assert _open(world, later, replay=replay).payload == b"c"
    old = seal_envelope(
        b"d", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=11
    )
    _refused(world, old, replay=replay)  # below the window now


def test_forged_envelope_does_not_advance_the_window(world: World) -> None:
    replay = guard()
    data = seal_envelope(
        b"a", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=5
    )
    forged = data[:-1] + bytes([data[-1] ^ 1])
    _refused(world, forged, replay=replay)
    assert len(replay) == 0
    assert _open(world, data, replay=replay).payload == b"a"


def test_impersonation_is_refused(world: World) -> None:
    """A key pair that claims the device's key id in the header cannot pass auth mode."""
    mallory = E2EKeyPair.generate(owner(OwnerKind.DEVICE, "d1"))
    data = seal_envelope(b"evil", topic=TOPIC, sender=mallory, recipients=[world.app.record], seq=1)
    _refused(world, data)  # unknown sender key id
    spoofed = data[:2] + world.device.key_id + data[10:]
    _refused(world, spoofed)  # known id, wrong static key


def test_retired_and_expired_sender_keys_are_refused(world: World) -> None:
    data = seal_envelope(
        b"hi", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=1
    )
    _refused(world, data, now=NOW + 31 * DAY)  # past not_after
    _refused(world, data, now=NOW - DAY)  # before not_before
    world.directory.retire_owner(world.device.owner, now=NOW, signer=world.hub)
    _refused(world, data, now=NOW + DAY)


def test_refusal_reason_is_logged_at_debug_only(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    data = seal_envelope(
        b"secret payload", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=1
    )
    with caplog.at_level(logging.DEBUG, logger="fleetward.e2e"):
        _refused(world, data, topic="devices/d1/other")
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG
    assert "authentication failed" in record.getMessage()
    assert "secret payload" not in record.getMessage()
    assert world.device.key_id.hex() in record.getMessage()


def test_seal_refuses_bad_arguments(world: World) -> None:
    cases = [
        ({"topic": "devices/+/x"}, "e2e.topic_invalid"),
        ({"topic": ""}, "e2e.topic_invalid"),
        ({"seq": -1}, "e2e.sequence_invalid"),
        ({"seq": 1 << 64}, "e2e.sequence_invalid"),
        ({"recipients": []}, "e2e.recipients_invalid"),
        ({"recipients": [world.app.record] * 2}, "e2e.recipients_invalid"),
        ({"payload": b"x" * ((1 << 20) + 1)}, "e2e.payload_too_large"),
    ]
    for override, code in cases:
        kwargs: dict[str, object] = {
            "payload": b"p",
            "topic": TOPIC,
            "sender": world.device,
            "recipients": [world.app.record],
            "seq": 1,
        }
        kwargs.update(override)
        payload = kwargs.pop("payload")
        with pytest.raises(InvalidInputError) as info:
            seal_envelope(payload, **kwargs)  # type: ignore[arg-type]
        assert info.value.code == code


def test_rotation_overlap_keeps_old_envelopes_openable(world: World) -> None:
    """A message sealed to the app's old key still opens while the old key is kept."""
    old_app = world.app
    data = seal_envelope(
        b"in flight", topic=TOPIC, sender=world.device, recipients=[old_app.record], seq=1
    )
    new_app = E2EKeyPair.generate(old_app.owner)
    changed = world.directory.publish(new_app.record, now=NOW + DAY, signer=world.hub)
    assert [s.entry.record.key_id for s in changed] == [old_app.key_id, new_app.key_id]
    opened = open_envelope(
        data,
        topic=TOPIC,
        own_keys={k.key_id: k for k in (old_app, new_app)},
        senders=world.trusted(now=NOW + DAY),
        replay=guard(),
        now=NOW + DAY,
    )
    assert opened.payload == b"in flight"
