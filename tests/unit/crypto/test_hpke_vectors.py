"""Known-answer tests for :mod:`fleetward.crypto.hpke`, typed in as data.

Sources (every value below comes from one of them, never from this implementation):

* RFC 9180 Appendix A.1.1 (base mode) and A.1.3 (auth mode), DHKEM(X25519, HKDF-SHA256),
  HKDF-SHA256, AES-128-GCM: key pairs, key schedule, encryptions and exports as printed in
  the RFC (the same values are in Go's ``src/crypto/internal/hpke/testdata/
  rfc9180-vectors.json``, which we read to cross-check the transcription).
* The CFRG test-vectors.json published with RFC 9180 (cfrg/draft-irtf-cfrg-hpke, commit
  5f503c5), entry mode 0, kem_id 0x0020, kdf_id 0x0001, aead_id 0x0002 (AES-256-GCM, the
  suite the envelope uses; the RFC text prints no X25519 vector for it). Its ikmE/ikmR and
  enc also appear in Go's ``src/crypto/hpke/testdata/rfc9180.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fleetward.crypto import hpke
from fleetward.crypto.hpke import (
    MODE_AUTH,
    MODE_BASE,
    SUITE_X25519_SHA256_AES128GCM,
    SUITE_X25519_SHA256_AES256GCM,
    HpkePrivateKey,
    HpkeSuite,
)

INFO = "4f6465206f6e2061204772656369616e2055726e"  # "Ode on a Grecian Urn"
PT = "4265617574792069732074727574682c20747275746820626561757479"  # "Beauty is truth, ..."


@dataclass(frozen=True)
class Vector:
    name: str
    suite: HpkeSuite
    mode: int
    ikm_e: str
    sk_em: str
    pk_em: str
    ikm_r: str
    sk_rm: str
    pk_rm: str
    shared_secret: str
    key: str
    base_nonce: str
    exporter_secret: str
    encryptions: list[tuple[int, str, str, str]]  # (seq, aad, nonce, ct)
    exports: list[tuple[str, int, str]]  # (exporter_context, L, value)
    key_schedule_context: str = ""
    secret: str = ""
    ikm_s: str = ""
    sk_sm: str = ""
    pk_sm: str = ""
    extra: dict[str, str] = field(default_factory=dict)


A_1_1 = Vector(
    name="RFC 9180 A.1.1 base, AES-128-GCM",
    suite=SUITE_X25519_SHA256_AES128GCM,
    mode=MODE_BASE,
    ikm_e="7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
    pk_em="37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
    sk_em="52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
    ikm_r="6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
    pk_rm="3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
    sk_rm="4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
    shared_secret="fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc",
    key_schedule_context=(
        "00725611c9d98c07c03f60095cd32d400d8347d45ed67097bbad50fc56da742d07"
        "cb6cffde367bb0565ba28bb02c90744a20f5ef37f30523526106f637abb05449"
    ),
    secret="12fff91991e93b48de37e7daddb52981084bd8aa64289c3788471d9a9712f397",
    key="4531685d41d65f03dc48f6b8302c05b0",
    base_nonce="56d890e5accaaf011cff4b7d",
    exporter_secret="45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8",
    encryptions=[
        (
            0,
            "436f756e742d30",
            "56d890e5accaaf011cff4b7d",
            "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a",
        ),
        (
            1,
            "436f756e742d31",
            "56d890e5accaaf011cff4b7c",
            "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84",
        ),
        (
            2,
            "436f756e742d32",
            "56d890e5accaaf011cff4b7f",
            "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180",
        ),
        (
            4,
            "436f756e742d34",
            "56d890e5accaaf011cff4b79",
            "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d",
        ),
        (
            255,
            "436f756e742d323535",
            "56d890e5accaaf011cff4b82",
            "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a",
        ),
        (
            256,
            "436f756e742d323536",
            "56d890e5accaaf011cff4a7d",
            "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2",
        ),
    ],
    exports=[
        ("", 32, "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"),
        ("00", 32, "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"),
        (
            "54657374436f6e74657874",
            32,
            "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931",
        ),
    ],
)

A_1_3 = Vector(
    name="RFC 9180 A.1.3 auth, AES-128-GCM",
    suite=SUITE_X25519_SHA256_AES128GCM,
    mode=MODE_AUTH,
    ikm_e="6e6d8f200ea2fb20c30b003a8b4f433d2f4ed4c2658d5bc8ce2fef718059c9f7",
    pk_em="23fb952571a14a25e3d678140cd0e5eb47a0961bb18afcf85896e5453c312e76",
    sk_em="ff4442ef24fbc3c1ff86375b0be1e77e88a0de1e79b30896d73411c5ff4c3518",
    ikm_r="f1d4a30a4cef8d6d4e3b016e6fd3799ea057db4f345472ed302a67ce1c20cdec",
    pk_rm="1632d5c2f71c2b38d0a8fcc359355200caa8b1ffdf28618080466c909cb69b2e",
    sk_rm="fdea67cf831f1ca98d8e27b1f6abeb5b7745e9d35348b80fa407ff6958f9137e",
    ikm_s="94b020ce91d73fca4649006c7e7329a67b40c55e9e93cc907d282bbbff386f58",
    pk_sm="8b0c70873dc5aecb7f9ee4e62406a397b350e57012be45cf53b7105ae731790b",
    sk_sm="dc4a146313cce60a278a5323d321f051c5707e9c45ba21a3479fecdf76fc69dd",
    shared_secret="2d6db4cf719dc7293fcbf3fa64690708e44e2bebc81f84608677958c0d4448a7",
    key_schedule_context=(
        "02725611c9d98c07c03f60095cd32d400d8347d45ed67097bbad50fc56da742d07"
        "cb6cffde367bb0565ba28bb02c90744a20f5ef37f30523526106f637abb05449"
    ),
    secret="56c62333d9d9f7767f5b083fdfce0aa7e57e301b74029bb0cffa7331385f1dda",
    key="b062cb2c4dd4bca0ad7c7a12bbc341e6",
    base_nonce="a1bc314c1942ade7051ffed0",
    exporter_secret="ee1a093e6e1c393c162ea98fdf20560c75909653550540a2700511b65c88c6f1",
    encryptions=[
        (
            0,
            "436f756e742d30",
            "a1bc314c1942ade7051ffed0",
            "5fd92cc9d46dbf8943e72a07e42f363ed5f721212cd90bcfd072bfd9f44e06b80fd17824947496e21b680c141b",
        ),
        (
            1,
            "436f756e742d31",
            "a1bc314c1942ade7051ffed1",
            "d3736bb256c19bfa93d79e8f80b7971262cb7c887e35c26370cfed62254369a1b52e3d505b79dd699f002bc8ed",
        ),
        (
            2,
            "436f756e742d32",
            "a1bc314c1942ade7051ffed2",
            "122175cfd5678e04894e4ff8789e85dd381df48dcaf970d52057df2c9acc3b121313a2bfeaa986050f82d93645",
        ),
        (
            4,
            "436f756e742d34",
            "a1bc314c1942ade7051ffed4",
            "dae12318660cf963c7bcbef0f39d64de3bf178cf9e585e756654043cc5059873bc8af190b72afc43d1e0135ada",
        ),
        (
            255,
            "436f756e742d323535",
            "a1bc314c1942ade7051ffe2f",
            "55d53d85fe4d9e1e97903101eab0b4865ef20cef28765a47f840ff99625b7d69dee927df1defa66a036fc58ff2",
        ),
        (
            256,
            "436f756e742d323536",
            "a1bc314c1942ade7051fffd0",
            "42fa248a0e67ccca688f2b1d13ba4ba84755acf764bd797c8f7ba3b9b1dc3330326f8d172fef6003c79ec72319",
        ),
    ],
    exports=[
        ("", 32, "28c70088017d70c896a8420f04702c5a321d9cbf0279fba899b59e51bac72c85"),
        ("00", 32, "25dfc004b0892be1888c3914977aa9c9bbaf2c7471708a49e1195af48a6f29ce"),
        (
            "54657374436f6e74657874",
            32,
            "5a0131813abc9a522cad678eb6bafaabc43389934adb8097d23c5ff68059eb64",
        ),
    ],
)

# CFRG test-vectors.json (commit 5f503c5): mode 0, kem 0x0020, kdf 0x0001, aead 0x0002.
CFRG_AES256 = Vector(
    name="CFRG base, AES-256-GCM",
    suite=SUITE_X25519_SHA256_AES256GCM,
    mode=MODE_BASE,
    ikm_e="2cd7c601cefb3d42a62b04b7a9041494c06c7843818e0ce28a8f704ae7ab20f9",
    pk_em="6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256",
    sk_em="179d4b53b6365c45b600c4163b61d95cbc2f4d9e36f1695558dce265ab8bab11",
    ikm_r="dac33b0e9db1b59dbbea58d59a14e7b5896e9bdf98fad6891e99d1686492b9ee",
    pk_rm="430f4b9859665145a6b1ba274024487bd66f03a2dd577d7753c68d7d7d00c00c",
    sk_rm="497b4502664cfea5d5af0b39934dac72242a74f8480451e1aee7d6a53320333d",
    shared_secret="3101c54c3a4f87439eaac080699ed9bbcc726ffe44e860c0424ccb7e3e2ead7b",
    key="f50b0609186798729ed0564b36ef2ef8044f1f9d05636874d1f46c819c7a669f",
    base_nonce="151d9929e2449747889bc923",
    exporter_secret="",
    encryptions=[
        (
            0,
            "436f756e742d30",
            "151d9929e2449747889bc923",
            "e5d84cd531cfb583096e7cfa9641bd3079cf3a91cda813c52deb5f512be9931980a41de125a925cdad859d5b7a",
        ),
    ],
    exports=[
        ("", 32, "ded6cffafaea6b812cbf3e241e88332adbc077aca81512914213810ee291770a"),
        ("00", 32, "04d3cb6cc116b28ffd22ad5bc276c60d31fec71ceb87ae24db811c64b7507339"),
        (
            "54657374436f6e74657874",
            32,
            "7c5ded445732c14fe09727d29b4251c0fd38455fe8440571e687f0886aac94d2",
        ),
    ],
)

VECTORS = [A_1_1, A_1_3, CFRG_AES256]
IDS = [v.name for v in VECTORS]
h = bytes.fromhex


def _sender_key(v: Vector) -> HpkePrivateKey | None:
    return HpkePrivateKey.from_bytes(h(v.sk_sm)) if v.sk_sm else None


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_derive_key_pair(v: Vector) -> None:
    """DeriveKeyPair (§7.1.3) gives the published skEm/pkEm, skRm/pkRm (and skSm/pkSm)."""
    pairs = [(v.ikm_e, v.sk_em, v.pk_em), (v.ikm_r, v.sk_rm, v.pk_rm)]
    if v.ikm_s:
        pairs.append((v.ikm_s, v.sk_sm, v.pk_sm))
    for ikm, sk, pk in pairs:
        key = HpkePrivateKey.derive(h(ikm))
        assert key.to_bytes().hex() == sk
        assert key.public.hex() == pk


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_encap_and_key_schedule(v: Vector) -> None:
    sk_e = HpkePrivateKey.from_bytes(h(v.sk_em))
    shared, enc = hpke._encap(h(v.pk_rm), sk_e, _sender_key(v))
    assert enc.hex() == v.pk_em
    assert shared.hex() == v.shared_secret
    sk_r = HpkePrivateKey.from_bytes(h(v.sk_rm))
    assert hpke._decap(enc, sk_r, h(v.pk_sm) if v.pk_sm else None).hex() == v.shared_secret
    schedule = hpke._key_schedule(v.suite, v.mode, shared, h(INFO))
    assert schedule.key.hex() == v.key
    assert schedule.base_nonce.hex() == v.base_nonce
    if v.key_schedule_context:
        assert schedule.key_schedule_context.hex() == v.key_schedule_context
        assert schedule.secret.hex() == v.secret
    if v.exporter_secret:
        assert schedule.exporter_secret.hex() == v.exporter_secret


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_sender_context_reproduces_the_encryptions(v: Vector) -> None:
    """Through the private seam: the injected ephemeral key gives the published ciphertexts."""
    sk_e = HpkePrivateKey.from_bytes(h(v.sk_em))
    enc, ctx = hpke._setup_sender(v.suite, h(v.pk_rm), h(INFO), sk_s=_sender_key(v), ephemeral=sk_e)
    assert enc.hex() == v.pk_em
    for seq, aad, nonce, ct in v.encryptions:
        ctx._seq = seq  # the vectors skip sequence numbers; §5.2 nonce = base_nonce XOR seq
        assert ctx._nonce().hex() == nonce
        assert ctx.seal(h(aad), h(PT)).hex() == ct
    for context, length, value in v.exports:
        assert ctx.export(h(context), length).hex() == value


@pytest.mark.parametrize("v", VECTORS, ids=IDS)
def test_recipient_context_opens_the_encryptions(v: Vector) -> None:
    sk_r = HpkePrivateKey.from_bytes(h(v.sk_rm))
    if v.mode == MODE_AUTH:
        ctx = hpke.setup_auth_recipient(v.suite, h(v.pk_em), sk_r, h(INFO), h(v.pk_sm))
    else:
        ctx = hpke.setup_base_recipient(v.suite, h(v.pk_em), sk_r, h(INFO))
    for seq, aad, _nonce, ct in v.encryptions:
        ctx._seq = seq
        assert ctx.open(h(aad), h(ct)) == h(PT)
        assert ctx.seq == seq + 1
    for context, length, value in v.exports:
        assert ctx.export(h(context), length).hex() == value


def test_auth_vector_refuses_another_sender() -> None:
    """A.1.3's first ciphertext does not open when the recipient expects another pkS."""
    sk_r = HpkePrivateKey.from_bytes(h(A_1_3.sk_rm))
    seq, aad, _nonce, ct = A_1_3.encryptions[0]
    assert seq == 0
    other = HpkePrivateKey.generate().public
    with pytest.raises(hpke.HpkeError) as info:
        hpke.open_auth(A_1_3.suite, h(A_1_3.pk_em), sk_r, h(INFO), h(aad), h(ct), other)
    assert info.value.code == "crypto.hpke_open_failed"
    # and the right sender opens it
    opened = hpke.open_auth(
        A_1_3.suite, h(A_1_3.pk_em), sk_r, h(INFO), h(aad), h(ct), h(A_1_3.pk_sm)
    )
    assert opened == h(PT)
