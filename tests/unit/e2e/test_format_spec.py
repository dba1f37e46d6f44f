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
from fleetward.e2e import seal_envelope

from ._world import TOPIC, make_world

SUITE = hpke.SUITE_X25519_SHA256_AES256GCM
INFO = b"fleetward-e2e/v1"


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
