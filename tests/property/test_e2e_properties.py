"""Properties of the E2E envelope, the replay window and the directory entry format.

Round trips for any payload, topic, sequence number and recipient set; any flipped bit
or other topic is refused with the one opaque error; the replay window agrees with a
plain set-based oracle (RFC 4303 §3.4.3 semantics); arbitrary bytes never parse as a
directory entry except through :class:`DirectoryError`.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.crypto import hpke
from fleetward.crypto.signing import SigningKey
from fleetward.e2e import (
    DirectoryError,
    E2EError,
    E2EKeyPair,
    KeyDirectory,
    KeyOwner,
    OwnerKind,
    ReplayGuard,
    ReplayWindow,
    SignedEntry,
    TrustedKeys,
    open_envelope,
    seal_envelope,
)
from fleetward.e2e.replay import MAX_SEQ

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HUB = SigningKey.generate()
DEVICE = E2EKeyPair.generate(KeyOwner("t1", OwnerKind.DEVICE, "d1"))
APPS = [E2EKeyPair.generate(KeyOwner("t1", OwnerKind.APP, f"a{i}")) for i in range(3)]
_directory = KeyDirectory(lifetime=30 * DAY, overlap=DAY)
TRUSTED = TrustedKeys({HUB.kid: HUB.public}, tenant_id="t1", max_age=DAY)
for _pair in (DEVICE, *APPS):
    for _signed in _directory.publish(_pair.record, now=NOW, signer=HUB):
        TRUSTED.add(_signed.to_bytes(), now=NOW)

levels = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="+#/\x00"),
    max_size=8,
)
topics = st.lists(levels, min_size=1, max_size=5).map("/".join).filter(lambda t: t != "")
payloads = st.binary(max_size=2048)
seqs = st.integers(min_value=0, max_value=MAX_SEQ)
recipient_sets = st.lists(st.sampled_from(APPS), min_size=1, max_size=3, unique_by=id)


def _open(data: bytes, me: E2EKeyPair, topic: str) -> bytes:
    opened = open_envelope(
        data,
        topic=topic,
        own_keys={me.key_id: me},
        senders=TRUSTED,
        replay=ReplayGuard(),
        now=NOW,
    )
    assert opened.sender.key_id == DEVICE.key_id
    return opened.payload


@settings(max_examples=60, deadline=None)
@given(payload=payloads, topic=topics, seq=seqs, recipients=recipient_sets)
def test_round_trip(payload: bytes, topic: str, seq: int, recipients: list[E2EKeyPair]) -> None:
    data = seal_envelope(
        payload, topic=topic, sender=DEVICE, recipients=[r.record for r in recipients], seq=seq
    )
    for me in recipients:
        assert _open(data, me, topic) == payload
    for outsider in APPS:
        if outsider not in recipients:
            with pytest.raises(E2EError):
                _open(data, outsider, topic)


@settings(max_examples=60, deadline=None)
@given(payload=payloads, topic=topics, seq=seqs, data=st.data())
def test_any_flipped_bit_is_refused(
    payload: bytes, topic: str, seq: int, data: st.DataObject
) -> None:
    sealed = seal_envelope(
        payload, topic=topic, sender=DEVICE, recipients=[APPS[0].record], seq=seq
    )
    i = data.draw(st.integers(0, len(sealed) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = sealed[:i] + bytes([sealed[i] ^ (1 << bit)]) + sealed[i + 1 :]
    with pytest.raises(E2EError):
        _open(tampered, APPS[0], topic)


@settings(max_examples=40, deadline=None)
@given(payload=payloads, topic=topics, other=topics)
def test_other_topic_is_refused(payload: bytes, topic: str, other: str) -> None:
    sealed = seal_envelope(payload, topic=topic, sender=DEVICE, recipients=[APPS[0].record], seq=1)
    if other != topic:
        with pytest.raises(E2EError):
            _open(sealed, APPS[0], other)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 128), seqs=st.lists(st.integers(0, 400), max_size=200))
def test_replay_window_matches_oracle(size: int, seqs: list[int]) -> None:
    window, seen, highest = ReplayWindow(size), set[int](), -1
    for seq in seqs:
        expected = seq not in seen and seq > highest - size
        assert window.accept(seq) is expected
        if expected:
            seen.add(seq)
            highest = max(highest, seq)


@settings(max_examples=50, deadline=None)
@given(info=st.binary(max_size=64), aad=st.binary(max_size=256), pt=st.binary(max_size=1024))
def test_hpke_auth_round_trip(info: bytes, aad: bytes, pt: bytes) -> None:
    sk_s, sk_r = DEVICE.hpke_key(), APPS[0].hpke_key()
    suite = hpke.SUITE_X25519_SHA256_AES256GCM
    enc, ct = hpke.seal_auth(suite, sk_r.public, info, aad, pt, sk_s)
    assert len(ct) == len(pt) + 16
    assert hpke.open_auth(suite, enc, sk_r, info, aad, ct, sk_s.public) == pt


@settings(max_examples=300, deadline=None)
@given(cut=st.integers(0, 200), tail=st.binary(max_size=300))
def test_fuzzed_entries_parse_exactly_or_fail_cleanly(cut: int, tail: bytes) -> None:
    """A valid prefix with an arbitrary tail: either a clean refusal or an exact parse."""
    signed = _directory.entry(DEVICE.key_id)
    assert signed is not None
    blob = signed.to_bytes()[:cut] + tail
    try:
        parsed = SignedEntry.from_bytes(blob)
    except DirectoryError:
        return
    assert parsed.to_bytes() == blob


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_entry_mutations_are_refused(data: st.DataObject) -> None:
    signed = _directory.entry(DEVICE.key_id)
    assert signed is not None
    raw = signed.to_bytes()
    i = data.draw(st.integers(0, len(raw) - 1))
    mutated = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1 :]
    fresh = TrustedKeys({HUB.kid: HUB.public}, tenant_id="t1", max_age=DAY)
    with pytest.raises(DirectoryError):
        fresh.add(mutated, now=NOW)
