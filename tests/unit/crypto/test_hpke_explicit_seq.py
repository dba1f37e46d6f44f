"""``seal_at``/``open_at``: the RFC 9180 §5.2 context at an explicit sequence number.

Checked against the published encryptions of RFC 9180 A.1.1, A.1.3 and the CFRG AES-256-GCM
vector (sequence numbers 0, 1, 2, 4, 255, 256, in and out of order), so the stream suite's
ciphertext is exactly ``ContextS.Seal`` at that sequence number.
"""

from __future__ import annotations

import pytest

from fleetward.crypto import hpke
from fleetward.crypto.hpke import MODE_AUTH, HpkeError, HpkePrivateKey

from .test_hpke_vectors import IDS, INFO, PT, VECTORS, Vector, h


def _sender(v: Vector) -> hpke.SenderContext:
    sk_s = HpkePrivateKey.from_bytes(h(v.sk_sm)) if v.sk_sm else None
    ephemeral = HpkePrivateKey.from_bytes(h(v.sk_em))
    _enc, ctx = hpke._setup_sender(v.suite, h(v.pk_rm), h(INFO), sk_s=sk_s, ephemeral=ephemeral)
    return ctx


def _recipient(v: Vector) -> hpke.RecipientContext:
    sk_r = HpkePrivateKey.from_bytes(h(v.sk_rm))
    if v.mode == MODE_AUTH:
        return hpke.setup_auth_recipient(v.suite, h(v.pk_em), sk_r, h(INFO), h(v.pk_sm))
    return hpke.setup_base_recipient(v.suite, h(v.pk_em), sk_r, h(INFO))


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_seal_at_gives_the_published_ciphertexts_in_any_order(v: Vector) -> None:
    ctx = _sender(v)
    for seq, aad, _nonce, ct in reversed(v.encryptions):
        assert ctx.seal_at(seq, h(aad), h(PT)).hex() == ct
    assert ctx.seq == 0  # the sequential counter is untouched


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_open_at_opens_the_published_ciphertexts_in_any_order(v: Vector) -> None:
    ctx = _recipient(v)
    for seq, aad, _nonce, ct in reversed(v.encryptions):
        assert ctx.open_at(seq, h(aad), h(ct)) == h(PT)
    assert ctx.seq == 0


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_open_at_refuses_another_sequence_number(v: Vector) -> None:
    ctx = _recipient(v)
    seq, aad, _nonce, ct = v.encryptions[-1]
    with pytest.raises(HpkeError):
        ctx.open_at(seq + 1, h(aad), h(ct))


def test_explicit_seq_must_not_wrap() -> None:
    v = VECTORS[1]
    limit = (1 << 96) - 1  # §5.2: the sequence number must stay below 2^(8*Nn) - 1
    with pytest.raises(HpkeError):
        _sender(v).seal_at(limit, b"", b"x")
    with pytest.raises(HpkeError):
        _sender(v).seal_at(-1, b"", b"x")
    with pytest.raises(HpkeError):
        _recipient(v).open_at(limit, b"", bytes(17))
