"""The stream suite (3) through :class:`Sealer` and :class:`Opener`: round trips, the keyed
and compact forms, late joiners, rekeying, cache bounds, and every refusal is the one
opaque error."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.crypto import hpke
from fleetward.e2e import (
    E2EError,
    Opener,
    Sealer,
    StreamCache,
    StreamPolicy,
    open_envelope,
    seq_seed,
)
from fleetward.e2e.stream import (
    KEYED_HEADER_LEN,
    KIND_COMPACT,
    KIND_KEYED,
    STREAM_HEADER_LEN,
    STREAM_INFO,
    SUITE_STREAM,
    stream_id,
)
from fleetward.errors import InvalidInputError

from ._world import NOW, TOPIC, World, guard, make_world

SEC = dt.timedelta(seconds=1)


@pytest.fixture
def world() -> World:
    return make_world()


def _sealer(world: World, **policy: object) -> Sealer:
    return Sealer(world.device, first_seq=100, policy=StreamPolicy(**policy))  # type: ignore[arg-type]


def _opener(world: World, **cache: object) -> Opener:
    return Opener([world.app], world.trusted(), streams=StreamCache(**cache), replay=guard())  # type: ignore[arg-type]


def _seal(sealer: Sealer, world: World, payload: bytes = b"21.5C", **kw: object) -> bytes:
    now = kw.pop("now", NOW)
    topic = kw.pop("topic", TOPIC)
    return sealer.seal(payload, topic=topic, recipients=[world.app.record], now=now)  # type: ignore[arg-type]


def _refused(opener: Opener, data: bytes, *, topic: str = TOPIC, now: dt.datetime = NOW) -> None:
    with pytest.raises(E2EError) as info:
        opener.open(data, topic=topic, now=now)
    assert info.value.code == "e2e.open_failed"
    assert info.value.detail == "cannot open envelope"


def test_keyed_then_compact_layout_and_round_trip(world: World) -> None:
    sealer, opener = _sealer(world), _opener(world)
    first, second = _seal(sealer, world, b"a" * 64), _seal(sealer, world, b"b" * 64)
    assert first[:3] == bytes([1, SUITE_STREAM, KIND_KEYED])
    assert len(first) == KEYED_HEADER_LEN + 64 + 16 == 139
    assert first[11:19] == world.device.key_id
    assert first[19:27] == world.app.key_id
    assert second[:3] == bytes([1, SUITE_STREAM, KIND_COMPACT])
    assert len(second) == STREAM_HEADER_LEN + 64 + 16 == 99
    assert second[11:19] == stream_id(world.device.key_id, world.app.key_id, first[27:59])
    assert [int.from_bytes(m[3:11], "big") for m in (first, second)] == [100, 101]
    a, b = opener.open(first, topic=TOPIC, now=NOW), opener.open(second, topic=TOPIC, now=NOW)
    assert (a.payload, a.seq, a.sender) == (b"a" * 64, 100, world.device.record)
    assert (b.payload, b.seq, b.topic) == (b"b" * 64, 101, TOPIC)
    assert sealer.next_seq == 102


def test_stream_message_is_hpke_context_seal_at_its_seq(world: World) -> None:
    """Opened with the plain sequential HPKE API (``ContextR.Open`` after ``seq`` opens)."""
    sealer = _sealer(world)
    msgs = [_seal(sealer, world, b"m%d" % i) for i in range(3)]
    enc = msgs[0][27:KEYED_HEADER_LEN]
    ctx = hpke.setup_auth_recipient(
        hpke.SUITE_X25519_SHA256_AES256GCM,
        enc,
        world.app.hpke_key(),
        STREAM_INFO,
        world.device.record.public_key,
    )
    topic_lp = len(TOPIC).to_bytes(2, "big") + TOPIC.encode()
    for i, m in enumerate(msgs):
        hlen = KEYED_HEADER_LEN if i == 0 else STREAM_HEADER_LEN
        ctx._seq = int.from_bytes(m[3:11], "big")
        assert ctx.open(m[:hlen] + topic_lp, m[hlen:]) == b"m%d" % i


def test_keyed_every_n_messages_and_every_interval(world: World) -> None:
    sealer = _sealer(world, keyed_every=4, keyed_interval=10 * SEC)
    kinds = [_seal(sealer, world)[2] for _ in range(9)]
    assert kinds == [KIND_KEYED, 0, 0, 0, KIND_KEYED, 0, 0, 0, KIND_KEYED]
    assert _seal(sealer, world, now=NOW + 9 * SEC)[2] == KIND_COMPACT
    assert _seal(sealer, world, now=NOW + 10 * SEC)[2] == KIND_KEYED
    every = _sealer(world, keyed_every=1)
    assert {_seal(every, world)[2] for _ in range(3)} == {KIND_KEYED}


def test_a_late_joiner_opens_from_the_next_keyed_message(world: World) -> None:
    sealer = _sealer(world, keyed_every=3)
    msgs = [_seal(sealer, world, b"%d" % i) for i in range(6)]  # keyed at 0 and 3
    late = _opener(world)
    _refused(late, msgs[1])  # compact, never saw the stream
    _refused(late, msgs[2])
    assert [late.open(m, topic=TOPIC, now=NOW).payload for m in msgs[3:]] == [b"3", b"4", b"5"]
    # the compact ones it missed open now too (within the replay window, never seen)
    assert late.open(msgs[1], topic=TOPIC, now=NOW).payload == b"1"


def test_out_of_order_within_the_window_and_replays(world: World) -> None:
    sealer, opener = _sealer(world), _opener(world)
    msgs = [_seal(sealer, world, b"%d" % i) for i in range(70)]
    opener.open(msgs[0], topic=TOPIC, now=NOW)
    for i in (5, 3, 4):
        assert opener.open(msgs[i], topic=TOPIC, now=NOW).payload == b"%d" % i
    for i in (0, 3):  # a keyed and a compact replay
        _refused(opener, msgs[i])
    opener.open(msgs[69], topic=TOPIC, now=NOW)  # seq 169: the window is 106..169
    _refused(opener, msgs[1])  # never opened, but below the window
    assert opener.open(msgs[6], topic=TOPIC, now=NOW).payload == b"6"


def test_tampered_wrong_topic_wrong_recipient(world: World) -> None:
    sealer, opener = _sealer(world), _opener(world)
    keyed, compact = _seal(sealer, world), _seal(sealer, world)
    opener.open(keyed, topic=TOPIC, now=NOW)
    for m in (compact,):
        for i in (2, 5, 12, len(m) - 1):  # kind, seq, stream id, tag
            bad = bytearray(m)
            bad[i] ^= 0x01
            _refused(opener, bytes(bad))
        _refused(opener, m, topic="devices/d1/telemetry/other")
        _refused(opener, m[:-1])
    fresh = _opener(world)
    bad = bytearray(keyed)
    bad[40] ^= 0x80  # enc
    _refused(fresh, bytes(bad))
    other = Opener([world.other_app], world.trusted())
    _refused(other, keyed)
    _refused(other, compact)
    assert opener.open(compact, topic=TOPIC, now=NOW).payload == b"21.5C"  # still fine


def test_rekey_after_count_and_time_keeps_one_seq_space(world: World) -> None:
    sealer, opener = _sealer(world, rekey_after=3, rekey_interval=60 * SEC), _opener(world)
    msgs = [_seal(sealer, world) for _ in range(7)]
    encs = [m[27:KEYED_HEADER_LEN] for m in msgs if m[2] == KIND_KEYED]
    assert [m[2] for m in msgs] == [1, 0, 0, 1, 0, 0, 1]
    assert len(set(encs)) == 3  # a new context (enc, key) every 3 messages
    assert [int.from_bytes(m[3:11], "big") for m in msgs] == list(range(100, 107))
    for m in msgs:
        opener.open(m, topic=TOPIC, now=NOW)
    later = _seal(sealer, world, now=NOW + 60 * SEC)
    assert later[2] == KIND_KEYED
    assert later[27:KEYED_HEADER_LEN] not in encs
    assert opener.open(later, topic=TOPIC, now=NOW + 60 * SEC).seq == 107


def test_cache_is_bounded_lru_and_expires(world: World) -> None:
    sealer, other = _sealer(world), Sealer(world.other_app, first_seq=1)
    opener = Opener([world.app], world.trusted(), streams=StreamCache(max_streams=1))
    first = _seal(sealer, world)
    opener.open(first, topic=TOPIC, now=NOW)
    opener.open(
        other.seal(b"o", topic=TOPIC, recipients=[world.app.record], now=NOW), topic=TOPIC, now=NOW
    )
    assert len(opener.streams) == 1
    _refused(opener, _seal(sealer, world))  # compact of the evicted stream
    short = Opener([world.app], world.trusted(), streams=StreamCache(lifetime=10 * SEC))
    s2 = _sealer(world)
    short.open(_seal(s2, world), topic=TOPIC, now=NOW)
    assert short.open(_seal(s2, world), topic=TOPIC, now=NOW + 9 * SEC).payload == b"21.5C"
    _refused(short, _seal(s2, world), now=NOW + 10 * SEC)
    assert len(short.streams) == 0


def test_without_a_cache_keyed_opens_and_compact_is_refused(world: World) -> None:
    sealer = _sealer(world)
    keyed, compact = _seal(sealer, world), _seal(sealer, world)
    kw = {"own_keys": {world.app.key_id: world.app}, "senders": world.trusted(), "now": NOW}
    assert open_envelope(keyed, topic=TOPIC, replay=guard(), **kw).payload == b"21.5C"  # type: ignore[arg-type]
    with pytest.raises(E2EError):
        open_envelope(compact, topic=TOPIC, replay=guard(), **kw)  # type: ignore[arg-type]


def test_retired_sender_and_dropped_own_key_stop_cached_streams(world: World) -> None:
    sealer, opener = _sealer(world), _opener(world)
    opener.open(_seal(sealer, world), topic=TOPIC, now=NOW)
    [retired] = world.directory.retire_owner(world.device.owner, now=NOW + SEC, signer=world.hub)
    opener.senders.add(retired.to_bytes(), now=NOW + SEC)  # type: ignore[attr-defined]
    _refused(opener, _seal(sealer, world), now=NOW + 2 * SEC)
    sealer2, opener2 = _sealer(world), _opener(world)
    opener2.open(_seal(sealer2, world), topic=TOPIC, now=NOW)
    opener2.remove_key(world.app.key_id)
    _refused(opener2, _seal(sealer2, world))
    opener2.streams.forget_sender(world.device.key_id)
    assert len(opener2.streams) == 0


def test_a_stream_id_collision_never_uses_the_other_context(world: World) -> None:
    a, b = _sealer(world), Sealer(world.device, first_seq=1000)
    opener = _opener(world)
    ka, kb = _seal(a, world), _seal(b, world, b"from b")
    opener.open(ka, topic=TOPIC, now=NOW)
    sid_a = stream_id(world.device.key_id, world.app.key_id, ka[27:KEYED_HEADER_LEN])
    sid_b = stream_id(world.device.key_id, world.app.key_id, kb[27:KEYED_HEADER_LEN])
    opener.streams._streams[sid_b] = opener.streams._streams[sid_a]  # b's id names a's context
    assert opener.open(kb, topic=TOPIC, now=NOW).payload == b"from b"
    assert opener.streams._streams[sid_b].enc == kb[27:KEYED_HEADER_LEN]


def test_opener_still_opens_suites_1_and_2(world: World) -> None:
    single = Sealer(world.device, first_seq=5, stream=False)
    opener = _opener(world)
    data = single.seal(b"s1", topic=TOPIC, recipients=[world.app.record], now=NOW)
    assert data[1] == 1
    assert opener.open(data, topic=TOPIC, now=NOW).payload == b"s1"
    multi = _sealer(world).seal(
        b"s2", topic=TOPIC, recipients=[world.app.record, world.other_app.record], now=NOW
    )
    assert multi[1] == 2
    assert opener.open(multi, topic=TOPIC, now=NOW).payload == b"s2"


def test_bad_arguments(world: World) -> None:
    with pytest.raises(ValueError, match="keyed_every"):
        StreamPolicy(keyed_every=0)
    with pytest.raises(ValueError, match="rekey_after"):
        StreamPolicy(rekey_after=(1 << 32) + 1)
    with pytest.raises(ValueError, match="intervals"):
        StreamPolicy(keyed_interval=dt.timedelta(0))
    with pytest.raises(ValueError, match="positive"):
        StreamCache(max_streams=0)
    with pytest.raises(InvalidInputError):
        Sealer(world.device, first_seq=-1)
    last = Sealer(world.device, first_seq=(1 << 64) - 1)
    _seal(last, world)
    with pytest.raises(InvalidInputError):
        _seal(last, world)
    with pytest.raises(InvalidInputError):
        _seal(_sealer(world), world, topic="devices/+/x")
    assert seq_seed(NOW) == int(NOW.timestamp()) << 20


def test_sender_keeps_at_most_max_streams(world: World) -> None:
    sealer = _sealer(world, max_streams=1)
    app, other = world.app.record, world.other_app.record
    first = sealer.seal(b"x", topic=TOPIC, recipients=[app], now=NOW)
    sealer.seal(b"x", topic=TOPIC, recipients=[other], now=NOW)
    again = sealer.seal(b"x", topic=TOPIC, recipients=[app], now=NOW)
    assert again[2] == KIND_KEYED
    assert again[27:KEYED_HEADER_LEN] != first[27:KEYED_HEADER_LEN]
