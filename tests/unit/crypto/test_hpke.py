"""The HPKE API beyond the vectors: interop with pyca's own HPKE, refusals, limits."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from fleetward.crypto import hpke
from fleetward.crypto.hpke import SUITE_X25519_SHA256_AES256GCM as SUITE
from fleetward.crypto.hpke import HpkeError, HpkePrivateKey

PYCA = pyca_hpke.Suite(pyca_hpke.KEM.X25519, pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_256_GCM)
INFO = b"fleetward test"


def test_our_base_seal_opens_with_pyca() -> None:
    """cryptography's RFC 9180 base mode (enc || ct, empty AAD) opens what we seal."""
    sk = X25519PrivateKey.generate()
    pk = sk.public_key().public_bytes_raw()
    enc, ct = hpke.seal_base(SUITE, pk, INFO, b"", b"hello device")
    assert PYCA.decrypt(enc + ct, sk, INFO) == b"hello device"


def test_pyca_base_seal_opens_with_us() -> None:
    ours = HpkePrivateKey.generate()
    pk = X25519PublicKey.from_public_bytes(ours.public)
    sealed = PYCA.encrypt(b"hello app", pk, INFO)
    enc, ct = sealed[:32], sealed[32:]
    assert hpke.open_base(SUITE, enc, ours, INFO, b"", ct) == b"hello app"


def test_auth_round_trip_and_refusals() -> None:
    sender, recipient, other = (HpkePrivateKey.generate() for _ in range(3))
    enc, ct = hpke.seal_auth(SUITE, recipient.public, INFO, b"aad", b"payload", sender)
    assert hpke.open_auth(SUITE, enc, recipient, INFO, b"aad", ct, sender.public) == b"payload"
    attempts = [
        (enc, other, INFO, b"aad", ct, sender.public),  # wrong recipient
        (enc, recipient, INFO, b"aad", ct, other.public),  # wrong sender
        (enc, recipient, b"other info", b"aad", ct, sender.public),
        (enc, recipient, INFO, b"AAD", ct, sender.public),
        (enc, recipient, INFO, b"aad", ct[:-1] + bytes([ct[-1] ^ 1]), sender.public),
        (bytes([enc[0] ^ 1]) + enc[1:], recipient, INFO, b"aad", ct, sender.public),
        (enc[:31], recipient, INFO, b"aad", ct, sender.public),
        (enc, recipient, INFO, b"aad", ct[:10], sender.public),
    ]
    for args in attempts:
        with pytest.raises(HpkeError) as info:
            hpke.open_auth(SUITE, *args)
        assert info.value.code == "crypto.hpke_open_failed"


def test_auth_is_not_base() -> None:
    """A base-mode ciphertext never opens as auth mode (the mode is in the key schedule)."""
    sender, recipient = HpkePrivateKey.generate(), HpkePrivateKey.generate()
    enc, ct = hpke.seal_base(SUITE, recipient.public, INFO, b"", b"x")
    with pytest.raises(HpkeError):
        hpke.open_auth(SUITE, enc, recipient, INFO, b"", ct, sender.public)


def test_context_streams_in_order_and_failure_does_not_advance() -> None:
    recipient = HpkePrivateKey.generate()
    enc, sender_ctx = hpke.setup_base_sender(SUITE, recipient.public, INFO)
    cts = [sender_ctx.seal(b"", f"m{i}".encode()) for i in range(3)]
    ctx = hpke.setup_base_recipient(SUITE, enc, recipient, INFO)
    with pytest.raises(HpkeError):
        ctx.open(b"", cts[1])  # out of order: the nonce for seq 0 is used
    assert ctx.seq == 0
    assert [ctx.open(b"", ct) for ct in cts] == [b"m0", b"m1", b"m2"]
    assert sender_ctx.export(b"ctx", 48) == ctx.export(b"ctx", 48)


def test_message_limit() -> None:
    recipient = HpkePrivateKey.generate()
    _enc, ctx = hpke.setup_base_sender(SUITE, recipient.public, INFO)
    ctx._seq = (1 << 96) - 1
    with pytest.raises(HpkeError) as info:
        ctx.seal(b"", b"x")
    assert info.value.code == "crypto.hpke_message_limit"


def test_low_order_public_key_is_refused() -> None:
    """RFC 9180 §7.1.4: an all-zero DH output (here from the zero point) is an error."""
    with pytest.raises(HpkeError) as info:
        hpke.seal_base(SUITE, bytes(32), INFO, b"", b"x")
    assert info.value.code == "crypto.hpke_invalid_key"


def test_key_serialisation_and_bad_lengths() -> None:
    key = HpkePrivateKey.generate()
    again = HpkePrivateKey.from_bytes(key.to_bytes())
    assert again.public == key.public
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(HpkeError):
            HpkePrivateKey.from_bytes(bad)
    with pytest.raises(HpkeError):
        HpkePrivateKey.derive(bytes(16))
    with pytest.raises(HpkeError):
        hpke.seal_base(SUITE, bytes(31), INFO, b"", b"x")
    with pytest.raises(ValueError, match="unsupported AEAD"):
        hpke.HpkeSuite(0x0003)


def test_export_length_bound() -> None:
    recipient = HpkePrivateKey.generate()
    _enc, ctx = hpke.setup_base_sender(SUITE, recipient.public, INFO)
    assert len(ctx.export(b"", 255 * 32)) == 255 * 32
    with pytest.raises(HpkeError):
        ctx.export(b"", 255 * 32 + 1)


def test_static_dh_cache_is_bounded_and_transparent() -> None:
    """Auth mode keeps static-static DH results; the cache stays bounded and changes nothing."""
    sender = HpkePrivateKey.generate()
    peers = [HpkePrivateKey.generate() for _ in range(hpke._STATIC_CACHE + 4)]
    for peer in peers:
        enc, ct = hpke.seal_auth(SUITE, peer.public, INFO, b"", b"m", sender)
        assert hpke.open_auth(SUITE, enc, peer, INFO, b"", ct, sender.public) == b"m"
    assert len(sender._static) == hpke._STATIC_CACHE
    assert peers[0].public not in sender._static  # the oldest went first
    enc, ct = hpke.seal_auth(SUITE, peers[0].public, INFO, b"", b"again", sender)
    assert hpke.open_auth(SUITE, enc, peers[0], INFO, b"", ct, sender.public) == b"again"
    with pytest.raises(HpkeError):
        hpke.seal_auth(SUITE, bytes(32), INFO, b"", b"m", sender)
