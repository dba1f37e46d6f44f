"""Properties of the stream suite (3): any payloads and topics round-trip in any order
inside the replay window; each message opens exactly once; any flipped bit or other topic
is refused with the one opaque error; a fresh receiver opens exactly the messages from
the first keyed one it sees onwards (and the compact ones it holds a context for)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.crypto import hpke
from fleetward.e2e import E2EError, Opener, Sealer, StreamCache, StreamPolicy
from fleetward.e2e.stream import KEYED_HEADER_LEN, KIND_KEYED, STREAM_HEADER_LEN, STREAM_INFO

from .test_e2e_properties import APPS, DEVICE, NOW, TRUSTED, payloads, topics

APP = APPS[0]
SEC = dt.timedelta(seconds=1)


def _sealer(keyed_every: int = 4, first_seq: int = 1) -> Sealer:
    return Sealer(DEVICE, first_seq=first_seq, policy=StreamPolicy(keyed_every=keyed_every))


def _opener() -> Opener:
    return Opener([APP], TRUSTED, streams=StreamCache(max_streams=4))


def _seal(sealer: Sealer, payload: bytes, topic: str) -> bytes:
    return sealer.seal(payload, topic=topic, recipients=[APP.record], now=NOW)


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(st.tuples(payloads, topics), min_size=1, max_size=12),
    keyed_every=st.integers(1, 5),
    order=st.randoms(use_true_random=False),
)
def test_round_trip_in_any_order_once(
    items: list[tuple[bytes, str]], keyed_every: int, order: object
) -> None:
    sealer, opener = _sealer(keyed_every), _opener()
    msgs = [(_seal(sealer, p, t), p, t) for p, t in items]
    first, rest = msgs[0], msgs[1:]
    order.shuffle(rest)  # type: ignore[attr-defined]
    for data, payload, topic in [first, *rest]:  # the keyed first message opens the stream
        assert opener.open(data, topic=topic, now=NOW).payload == payload
    for data, _payload, topic in msgs:
        with pytest.raises(E2EError):
            opener.open(data, topic=topic, now=NOW)


@settings(max_examples=40, deadline=None)
@given(payload=payloads, topic=topics, index=st.integers(0, 1), bit=st.integers(0, 10**6))
def test_any_flipped_bit_or_other_topic_is_refused(
    payload: bytes, topic: str, index: int, bit: int
) -> None:
    sealer = _sealer()
    msgs = [_seal(sealer, payload, topic) for _ in range(2)]
    opener = _opener()
    if index == 1:
        opener.open(msgs[0], topic=topic, now=NOW)
    data = bytearray(msgs[index])
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    with pytest.raises(E2EError):
        opener.open(bytes(data), topic=topic, now=NOW)
    with pytest.raises(E2EError):
        opener.open(msgs[index], topic=topic + "/x", now=NOW)
    assert opener.open(msgs[index], topic=topic, now=NOW).payload == payload


@settings(max_examples=30, deadline=None)
@given(count=st.integers(1, 20), join=st.integers(0, 19), keyed_every=st.integers(1, 6))
def test_a_late_joiner_opens_from_the_first_keyed_message_it_sees(
    count: int, join: int, keyed_every: int
) -> None:
    sealer, late = _sealer(keyed_every), _opener()
    msgs = [_seal(sealer, b"%d" % i, "t") for i in range(count)]
    seen = msgs[min(join, count - 1) :]
    opened, have_stream = [], False
    for data in seen:
        have_stream = have_stream or data[2] == KIND_KEYED
        if have_stream:
            opened.append(late.open(data, topic="t", now=NOW).payload)
        else:
            with pytest.raises(E2EError):
                late.open(data, topic="t", now=NOW)
    keyed_at = next((i for i, d in enumerate(seen) if d[2] == KIND_KEYED), len(seen))
    assert opened == [b"%d" % (count - len(seen) + i) for i in range(keyed_at, len(seen))]


@settings(max_examples=25, deadline=None)
@given(payload=payloads, n=st.integers(1, 6), first_seq=st.integers(0, 2**64 - 10))
def test_each_message_is_context_seal_at_its_seq(payload: bytes, n: int, first_seq: int) -> None:
    """Every stream message equals RFC 9180 ``ContextS.Seal`` at the seq it carries."""
    sealer = _sealer(keyed_every=n + 1, first_seq=first_seq)
    msgs = [_seal(sealer, payload, "a/b") for _ in range(n)]
    ctx = hpke.setup_auth_recipient(
        hpke.SUITE_X25519_SHA256_AES256GCM,
        msgs[0][27:KEYED_HEADER_LEN],
        APP.hpke_key(),
        STREAM_INFO,
        DEVICE.record.public_key,
    )
    for i, m in enumerate(msgs):
        hlen = KEYED_HEADER_LEN if i == 0 else STREAM_HEADER_LEN
        ctx._seq = int.from_bytes(m[3:11], "big")
        assert ctx._seq == first_seq + i
        assert ctx.open(m[:hlen] + b"\x00\x03a/b", m[hlen:]) == payload
