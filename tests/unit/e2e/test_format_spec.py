"""``docs/e2e-format.md`` is enough to interoperate: envelopes decoded from the spec alone.

These decoders use only the byte layout of the document, RFC 9180 single-shot open and
pyca's AES-GCM; none of ``fleetward.e2e``'s parsing. If the code and the document drift
apart, this fails.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fleetward.crypto import hpke
from fleetward.e2e import Sealer, StreamPolicy, seal_envelope

from ._world import NOW, TOPIC, make_world

SUITE = hpke.SUITE_X25519_SHA256_AES256GCM
INFO = b"fleetward-e2e/v1"
STREAM_INFO = b"fleetward-e2e/v1 stream"


def _topic_lp(topic: str) -> bytes:
    raw = topic.encode()
    return struct.pack(">H", len(raw)) + raw


def test_key_id_rule() -> None:
    world = make_world()
    pk = world.device.record.public_key
    assert world.device.key_id == hashlib.sha256(b"fleetward-e2e/v1 key id\x00" + pk).digest()[:8]


def test_suite_1_from_the_spec() -> None:
    world = make_world()
    data = seal_envelope(
        b"spec", topic=TOPIC, sender=world.device, recipients=[world.app.record], seq=42
    )
    version, suite = data[0], data[1]
    sender_kid, recipient_kid = data[2:10], data[10:18]
    (seq,) = struct.unpack(">Q", data[18:26])
    enc, ct = data[26:58], data[58:]
    assert (version, suite, seq) == (1, 1, 42)
    assert (sender_kid, recipient_kid) == (world.device.key_id, world.app.key_id)
    pt = hpke.open_auth(
        SUITE,
        enc,
        world.app.hpke_key(),
        INFO,
        data[:58] + _topic_lp(TOPIC),
        ct,
        world.device.record.public_key,
    )
    assert pt == b"spec"


def test_suite_2_from_the_spec() -> None:
    world = make_world()
    recipients = [world.app, world.other_app]
    data = seal_envelope(
        b"spec multi",
        topic=TOPIC,
        sender=world.device,
        recipients=[r.record for r in recipients],
        seq=7,
    )
    assert data[0:2] == b"\x01\x02"
    assert data[2:10] == world.device.key_id
    assert struct.unpack(">Q", data[10:18]) == (7,)
    count = data[18]
    assert count == 2
    stanzas = [data[19 + 88 * i : 19 + 88 * (i + 1)] for i in range(count)]
    body = data[19 + 88 * count :]
    fixed = data[:19] + b"".join(s[:40] for s in stanzas)
    for me, stanza in zip(recipients, stanzas, strict=True):
        assert stanza[:8] == me.key_id
        cek = hpke.open_auth(
            SUITE,
            stanza[8:40],
            me.hpke_key(),
            INFO,
            fixed + _topic_lp(TOPIC) + hashlib.sha256(body).digest(),
            stanza[40:88],
            world.device.record.public_key,
        )
        assert AESGCM(cek).decrypt(bytes(12), body, fixed + _topic_lp(TOPIC)) == b"spec multi"


def test_directory_entry_from_the_spec() -> None:
    world = make_world()
    signed = world.directory.entry(world.device.key_id)
    assert signed is not None
    data = signed.to_bytes()
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        out = data[pos : pos + n]
        pos += n
        return out

    assert take(8) == b"FWE2EDIR"
    assert take(2) == b"\x01\x01"
    assert take(take(1)[0]) == b"t1"
    assert take(1) == b"\x01"  # device
    assert take(take(1)[0]) == b"d1"
    assert take(8) == world.device.key_id
    assert take(32) == world.device.record.public_key
    issued, not_before, not_after = struct.unpack(">qqq", take(24))
    assert issued == not_before == int(signed.entry.not_before.timestamp())
    assert not_after - not_before == 30 * 86400
    assert take(1) == b"\x00"
    assert take(take(1)[0]).decode() == world.hub.kid
    signature = take(64)
    assert pos == len(data)
    assert world.hub.public.verify(signature, data[:-64])


def test_suite_3_stream_from_the_spec() -> None:
    """Keyed and compact messages, opened with SetupAuthR and AES-GCM at nonce
    ``base_nonce XOR seq`` (recomputed here from the exported key schedule values)."""
    world = make_world()
    sealer = Sealer(world.device, first_seq=9, policy=StreamPolicy(keyed_every=2))
    msgs = [
        sealer.seal(b"p%d" % i, topic=TOPIC, recipients=[world.app.record], now=NOW)
        for i in range(3)
    ]
    keyed, compact = msgs[0], msgs[1]
    assert keyed[0:3] == b"\x01\x03\x01"
    (seq,) = struct.unpack(">Q", keyed[3:11])
    assert seq == 9
    assert (keyed[11:19], keyed[19:27]) == (world.device.key_id, world.app.key_id)
    enc = keyed[27:59]
    sid = hashlib.sha256(
        b"fleetward-e2e/v1 stream id\x00" + world.device.key_id + world.app.key_id + enc
    ).digest()[:8]
    assert compact[0:3] == b"\x01\x03\x00"
    assert struct.unpack(">Q", compact[3:11]) == (10,)
    assert compact[11:19] == sid
    assert len(compact) == 19 + 2 + 16
    assert msgs[2][0:3] == b"\x01\x03\x01"  # keyed_every=2
    ctx = hpke.setup_auth_recipient(
        SUITE, enc, world.app.hpke_key(), STREAM_INFO, world.device.record.public_key
    )
    key, base_nonce = ctx._aead, ctx._base_nonce  # AES-256-GCM key schedule of §5.1
    for data, hlen, n in ((keyed, 59, 9), (compact, 19, 10)):
        nonce = (base_nonce ^ n).to_bytes(12, "big")
        assert key.decrypt(nonce, data[hlen:], data[:hlen] + _topic_lp(TOPIC)) == b"p%d" % (n - 9)
