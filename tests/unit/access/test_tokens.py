"""Access tokens: mint/verify round trip, the attack catalogue, time boundaries, rotation.

Malicious tokens are built by hand (base64url + JSON, RFC 7515 §7.1) and, unless the
attack is about the signature, *validly signed* by a trusted key, so each refusal is
shown to come from the rule under test and not from a failed signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.access.acl import Acl
from fleetward.access.issuer import IssuedToken, TokenIssuer
from fleetward.access.jws import verify_compact
from fleetward.access.tokens import (
    MAX_CHAIN_DEPTH,
    MAX_TOKEN_SIZE,
    TokenClaims,
    attenuate,
    mint,
    verify,
)
from fleetward.clock import ManualClock
from fleetward.crypto import KeyRing, SigningKey, VerifyKey
from fleetward.errors import AuthenticationError, ConfigError, ForbiddenError, InvalidInputError

UTC = dt.UTC
NOW = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
SECOND = dt.timedelta(seconds=1)
LEEWAY = dt.timedelta(seconds=30)
ISS = "https://hub.example"
AUD = "fleetward:mqtt"

# PKCS#8 prefix for an Ed25519 seed (RFC 8410 §7), so keys are fixed, not random.
_PKCS8_ED25519 = bytes.fromhex("302e020100300506032b657004220420")


def _key(seed: bytes) -> SigningKey:
    der = _PKCS8_ED25519 + seed
    body = base64.encodebytes(der).decode()
    return SigningKey.from_pem(
        f"-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n".encode()
    )


KEY = _key(bytes(range(32)))
OTHER = _key(bytes(range(1, 33)))
KEYS: dict[str, VerifyKey] = {KEY.kid: KEY.public, OTHER.kid: OTHER.public}
HEADER = {"alg": "EdDSA", "kid": KEY.kid, "typ": "JWT"}
ACL = Acl(publish=("devices/d1/telemetry/#",), subscribe=("devices/d1/commands/#",))


def _claims(**changes: object) -> TokenClaims:
    base: dict[str, object] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "d1",
        "tenant": "t1",
        "jti": "jti-root",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + dt.timedelta(minutes=10),
        "acl": ACL,
        "kind": "device",
    }
    base.update(changes)
    return TokenClaims(**base)  # type: ignore[arg-type]


def _payload(**changes: object) -> dict[str, object]:
    payload = _claims().to_json()
    payload.update(changes)
    return payload


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _seg(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
    return _b64(raw)


def _forge(
    header: object = HEADER,
    payload: object = None,
    *,
    key: SigningKey = KEY,
    signature: bytes | None = None,
) -> str:
    """A token with any header and payload, signed by ``key`` unless ``signature`` is given."""
    signing_input = f"{_seg(header)}.{_seg(_payload() if payload is None else payload)}"
    sig = key.sign(signing_input.encode()) if signature is None else signature
    return f"{signing_input}.{_b64(sig)}"


def _verify(token: str, **kwargs: object) -> TokenClaims:
    options: dict[str, object] = {"now": NOW, "issuer": ISS, "audience": AUD}
    options.update(kwargs)
    return verify(token, KEYS, **options)  # type: ignore[arg-type]


def _refused(token: str, code: str, **kwargs: object) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        _verify(token, **kwargs)
    assert info.value.code == code, info.value
    return info.value


# -- happy path ----------------------------------------------------------------------------


def test_mint_then_verify_round_trips() -> None:
    claims = _claims()
    token = mint(claims, KEY)
    assert _verify(token) == claims
    assert token == mint(claims, KEY)  # Ed25519 and sorted JSON are deterministic


def test_header_is_exactly_alg_kid_typ() -> None:
    header_b64 = mint(_claims(), KEY).split(".")[0]
    header = base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4))
    assert header == f'{{"alg":"EdDSA","kid":"{KEY.kid}","typ":"JWT"}}'.encode()


def test_claims_are_numeric_dates_and_the_documented_names() -> None:
    payload = _claims().to_json()
    assert payload["exp"] == int((NOW + dt.timedelta(minutes=10)).timestamp())
    assert set(payload) == {
        "iss", "aud", "sub", "tenant", "jti", "iat", "nbf", "exp", "acl", "kind", "chain",
    }  # fmt: skip
    assert payload["acl"] == {
        "publish": ["devices/d1/telemetry/#"],
        "subscribe": ["devices/d1/commands/#"],
    }


def test_rfc8037_test_vector_signature_and_our_stricter_header_rule() -> None:
    # RFC 8037 Appendix A.1/A.4: the RFC 8032 test key 1 and its JWS over a fixed payload.
    rfc_key = _key(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    assert _b64(rfc_key.public.raw) == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    jws = (
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
        "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
    )
    signing_input, _, signature = jws.rpartition(".")
    assert _b64(rfc_key.sign(signing_input.encode())) == signature
    # The vector's header is {"alg":"EdDSA"} alone: no kid, no typ, so a token it is not.
    with pytest.raises(AuthenticationError) as info:
        verify_compact(jws, {rfc_key.kid: rfc_key.public}, max_size=MAX_TOKEN_SIZE)
    assert info.value.code == "token.header"


# -- algorithm attacks (RFC 8725 §2.1, §3.1) -----------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "", None])
def test_alg_none_is_refused(alg: str | None) -> None:
    header: dict[str, object] = {"kid": KEY.kid, "typ": "JWT"}
    if alg is not None:
        header["alg"] = alg
    _refused(_forge(header, signature=b""), "token.algorithm")
    _refused(_forge(header), "token.algorithm")  # even with a real signature appended


@pytest.mark.parametrize(
    "secret",
    [
        KEY.public.raw,
        _b64(KEY.public.raw).encode(),
        json.dumps(KEY.public.jwk()).encode(),
    ],
    ids=["raw", "jwk-x", "jwk-json"],
)
def test_hs256_signed_with_the_public_key_is_refused(secret: bytes) -> None:
    header = {"alg": "HS256", "kid": KEY.kid, "typ": "JWT"}
    signing_input = f"{_seg(header)}.{_seg(_payload())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    _refused(f"{signing_input}.{_b64(mac)}", "token.algorithm")


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "HS512", "Ed25519", "eddsa", "EdDSA "])
def test_every_other_algorithm_is_refused(alg: str) -> None:
    _refused(_forge({**HEADER, "alg": alg}), "token.algorithm")


# -- header attacks (RFC 7515 §4.1, RFC 8725 §3.10) -----------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("crit", ["exp"]),
        ("jku", "http://127.0.0.1:9/keys.json"),
        (
            "jwk",
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        ),
        ("x5u", "http://127.0.0.1:9/cert.pem"),
        ("x5c", ["MIIB"]),
        ("x5t", "abc"),
        ("cty", "JWT"),
        ("b64", False),
        ("zip", "DEF"),
        ("extra", 1),
    ],
)
def test_any_header_beyond_alg_kid_typ_is_refused_and_nothing_is_fetched(
    name: str, value: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the verifier touched the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    _refused(_forge({**HEADER, name: value}), "token.header")


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "EdDSA", "kid": "x"},  # no typ
        {"alg": "EdDSA", "typ": "JWT"},  # no kid
        {"alg": "EdDSA", "kid": 7, "typ": "JWT"},
        {"alg": "EdDSA", "kid": None, "typ": "JWT"},
        {"alg": "EdDSA", "kid": "x", "typ": "at+jwt"},
        {"alg": "EdDSA", "kid": "x", "typ": "jwt"},
    ],
)
def test_incomplete_or_mistyped_header_is_refused(header: dict[str, object]) -> None:
    _refused(_forge(header), "token.header")


def test_a_key_embedded_in_the_header_is_never_trusted() -> None:
    attacker = _key(bytes(32))
    header = {**HEADER, "kid": attacker.kid, "jwk": attacker.public.jwk()}
    _refused(_forge(header, key=attacker), "token.header")


def test_unknown_kid_is_refused() -> None:
    stranger = _key(bytes(32))
    _refused(_forge({**HEADER, "kid": stranger.kid}, key=stranger), "token.unknown_key")


def test_a_key_set_whose_ids_disagree_with_its_keys_is_refused() -> None:
    # The map says "mine" is KEY's id but holds OTHER: the key's own id must agree.
    bad_set = {KEY.kid: OTHER.public}
    with pytest.raises(AuthenticationError) as info:
        verify(mint(_claims(), KEY), bad_set, now=NOW, issuer=ISS, audience=AUD)
    assert info.value.code == "token.unknown_key"


# -- signature and tampering ----------------------------------------------------------------


def test_tampered_claims_are_refused() -> None:
    header_b64, _, signature = mint(_claims(), KEY).split(".")
    wider = _payload(acl={"publish": ["#"], "subscribe": ["#"]})
    _refused(f"{header_b64}.{_seg(wider)}.{signature}", "token.signature")
    other_tenant = _payload(tenant="t2")
    _refused(f"{header_b64}.{_seg(other_tenant)}.{signature}", "token.signature")


def test_a_signature_by_another_trusted_key_under_this_kid_is_refused() -> None:
    _refused(_forge(HEADER, key=OTHER), "token.signature")


@pytest.mark.parametrize("size", [0, 32, 63, 65, 128])
def test_signature_of_wrong_length_is_refused(size: int) -> None:
    _refused(_forge(signature=bytes(size)), "token.signature")


def test_signature_is_checked_before_any_claim() -> None:
    # Expired, wrong audience and wrong issuer, but the signature is what fails first.
    stale = _payload(aud="elsewhere", iss="evil", exp=1, iat=0, nbf=0)
    _refused(_forge(HEADER, stale, signature=bytes(64)), "token.signature")
    # A payload that is not even JSON is never decoded when the signature is bad.
    _refused(_forge(HEADER, b"\xff not json", signature=bytes(64)), "token.signature")


# -- claims ---------------------------------------------------------------------------------


def test_expired_and_not_yet_valid_are_refused() -> None:
    token = mint(_claims(), KEY)
    _refused(token, "token.expired", now=NOW + dt.timedelta(hours=1))
    _refused(token, "token.not_yet_valid", now=NOW - dt.timedelta(hours=1))


def test_wrong_audience_and_issuer_are_refused() -> None:
    token = mint(_claims(), KEY)
    _refused(token, "token.audience", audience="fleetward:api")
    _refused(token, "token.issuer", issuer="https://evil.example")


def test_token_of_tenant_a_is_refused_for_tenant_b() -> None:
    token = mint(_claims(tenant="tenant-a"), KEY)
    assert _verify(token, tenant="tenant-a").tenant == "tenant-a"
    _refused(token, "token.tenant", tenant="tenant-b")


def test_revoked_jti_is_refused_by_set_or_callable() -> None:
    token = mint(_claims(jti="j-1"), KEY)
    _refused(token, "token.revoked", revoked={"j-1"})
    _refused(token, "token.revoked", revoked=lambda jti: jti == "j-1")
    assert _verify(token, revoked={"j-2"}).jti == "j-1"


def test_revoking_any_ancestor_refuses_the_grant() -> None:
    root = _claims(jti="root")
    child = attenuate(root, acl=ACL, ttl=dt.timedelta(minutes=5), now=NOW, jti="child")
    grandchild = attenuate(child, acl=Acl(), ttl=dt.timedelta(minutes=1), now=NOW, jti="gc")
    token = mint(grandchild, KEY)
    assert _verify(token).chain == ("root", "child")
    _refused(token, "token.revoked", revoked={"root"})
    _refused(token, "token.revoked", revoked={"child"})


def test_lifetime_over_the_maximum_is_refused() -> None:
    token = mint(_claims(exp=NOW + dt.timedelta(hours=2)), KEY)
    _refused(token, "token.lifetime")
    assert _verify(token, max_lifetime=dt.timedelta(hours=2)).exp == NOW + dt.timedelta(hours=2)


@pytest.mark.parametrize(
    "payload",
    [
        {k: v for k, v in _payload().items() if k != "exp"},
        {k: v for k, v in _payload().items() if k != "tenant"},
        _payload(admin=True),
        _payload(exp=float(_payload()["exp"])),  # type: ignore[arg-type]
        _payload(exp=True),
        _payload(exp=str(_payload()["exp"])),
        _payload(exp=10**20),
        _payload(iat=-1),
        _payload(aud=[AUD]),  # an array audience is legal JWT, never ours
        _payload(sub=""),
        _payload(sub="d1\n"),
        _payload(tenant=None),
        _payload(kind="admin"),
        _payload(chain=["x"]),  # a device token with a parent
        _payload(chain="x"),
        _payload(nbf=_payload()["exp"]),  # nbf must be before exp
        _payload(acl={"publish": ["a/#/b"], "subscribe": []}),
        _payload(acl={"publish": ["#"]}),
        _payload(acl={"publish": "#", "subscribe": []}),
        _payload(acl={"publish": ["$share/g/a"], "subscribe": []}),
    ],
)
def test_invalid_claims_are_refused_even_when_signed(payload: dict[str, object]) -> None:
    _refused(_forge(HEADER, payload), "token.claims")


# -- malformed input ------------------------------------------------------------------------


def _good() -> str:
    return mint(_claims(), KEY)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        _good() + ".",
        "." + _good(),
        _good().replace(".", "..", 1),
        "+" + _good()[1:],  # '+' and '/' are base64, not base64url (RFC 4648 §5)
        "/" + _good()[1:],
        _good() + "=",
        _good().split(".")[0] + "==." + ".".join(_good().split(".")[1:]),
        "é" + _good(),
        _good()[:-1] + "\x00",
        _seg(b"not json") + "." + _good().split(".", 1)[1],
        _seg([1, 2]) + "." + _good().split(".", 1)[1],
        _seg(b"\xff\xfe") + "." + _good().split(".", 1)[1],
        _seg(b'{"alg":NaN}') + "." + _good().split(".", 1)[1],
        _seg(b"[" * 300) + "." + _good().split(".", 1)[1],
        _seg({**HEADER, "kid": "k" * 600}) + "." + _good().split(".", 1)[1],  # header bound
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    _refused(token, "token.malformed")


def test_non_canonical_base64_is_refused() -> None:
    # The last character of a 64-byte signature carries 4 unused bits; flipping one of
    # them decodes to the same bytes with a lax decoder, and must still be refused.
    token = _good()
    last = token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) ^ 1]
    assert base64.urlsafe_b64decode(token.split(".")[2] + "==") == base64.urlsafe_b64decode(
        token.split(".")[2][:-1] + twin + "=="
    )
    _refused(token[:-1] + twin, "token.malformed")


def test_malformed_payload_under_a_valid_signature_is_refused() -> None:
    _refused(_forge(HEADER, b"not json"), "token.malformed")
    _refused(_forge(HEADER, b"[" * 2800 + b"]" * 2800), "token.malformed")  # deep nesting
    # A 5,000-digit integer trips CPython's int-string limit (malformed) or, where that
    # limit is lifted, the NumericDate range (claims); either way it never becomes a date.
    with pytest.raises(AuthenticationError) as info:
        _verify(_forge(HEADER, b'{"exp":' + b"9" * 5000 + b"}"))
    assert info.value.code in {"token.malformed", "token.claims"}
    _refused(_forge(HEADER, b"[1,2]"), "token.malformed")
    _refused(_forge(HEADER, b"\xc3\x28"), "token.malformed")  # invalid UTF-8


def test_duplicate_json_keys_are_refused() -> None:
    dup_header = f'{{"alg":"EdDSA","kid":"{KEY.kid}","typ":"JWT","alg":"none"}}'.encode()
    _refused(_forge(dup_header), "token.malformed")
    body = json.dumps(_payload(), separators=(",", ":"))
    dup_payload = (body[:-1] + ',"aud":"fleetward:api"}').encode()
    _refused(_forge(HEADER, dup_payload), "token.malformed")
    nested = (body[:-1] + ',"x":{"a":1,"a":2}}').encode()
    _refused(_forge(HEADER, nested), "token.malformed")


def test_oversized_token_is_refused_before_decoding() -> None:
    _refused("A" * (MAX_TOKEN_SIZE + 1), "token.oversized")
    _refused("A" * MAX_TOKEN_SIZE, "token.malformed")  # the bound itself is allowed
    token = _good()
    _refused(token, "token.oversized", max_size=len(token) - 1)
    big = "x" * 6000
    _refused(_forge(HEADER, _payload(pad=big)), "token.oversized")


def test_mint_refuses_to_make_a_token_no_verifier_accepts() -> None:
    pattern = "a/" + "b" * 250
    wide = Acl.of(
        publish=(f"{pattern}{i}" for i in range(32)),
        subscribe=(f"{pattern}{i}" for i in range(32)),
    )
    with pytest.raises(InvalidInputError) as info:
        mint(_claims(acl=wide), KEY)
    assert info.value.code == "token.oversized"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({}, "token.issuer"),
        ({"issuer": "iss-SECRET-2"}, "token.audience"),
        ({"issuer": "iss-SECRET-2", "audience": "aud-SECRET-1"}, "token.tenant"),
    ],
)
def test_refusal_detail_never_echoes_token_values(kwargs: dict[str, str], code: str) -> None:
    secretive = _claims(aud="aud-SECRET-1", iss="iss-SECRET-2", tenant="tenant-SECRET-3")
    error = _refused(mint(secretive, KEY), code, tenant="t9", **kwargs)
    assert "SECRET" not in error.detail
    assert "SECRET" not in repr(error)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_single_character_change_is_refused(data: st.DataObject) -> None:
    token = _good()
    index = data.draw(st.integers(0, len(token) - 1))
    char = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[index]))
    with pytest.raises(AuthenticationError):
        _verify(token[:index] + char + token[index + 1 :])


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300)
    | st.from_regex(r"[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,90}")
)
def test_arbitrary_input_only_ever_raises_authentication_error(token: str) -> None:
    with pytest.raises(AuthenticationError):
        _verify(token)


# -- time boundaries (RFC 7519 §4.1.4, §4.1.5) ----------------------------------------------


def test_exp_boundary_with_leeway() -> None:
    claims = _claims()
    token = mint(claims, KEY)
    tick = dt.timedelta(microseconds=1)
    assert _verify(token, now=claims.exp + LEEWAY - tick) == claims
    _refused(token, "token.expired", now=claims.exp + LEEWAY)
    assert _verify(token, now=claims.exp - tick, leeway=dt.timedelta(0)) == claims
    _refused(token, "token.expired", now=claims.exp, leeway=dt.timedelta(0))


def test_nbf_boundary_with_leeway() -> None:
    claims = _claims(nbf=NOW + dt.timedelta(minutes=1))
    token = mint(claims, KEY)
    tick = dt.timedelta(microseconds=1)
    assert _verify(token, now=claims.nbf - LEEWAY) == claims
    _refused(token, "token.not_yet_valid", now=claims.nbf - LEEWAY - tick)
    assert _verify(token, now=claims.nbf, leeway=dt.timedelta(0)) == claims
    _refused(token, "token.not_yet_valid", now=claims.nbf - tick, leeway=dt.timedelta(0))


def test_now_in_another_timezone_is_the_same_instant() -> None:
    token = mint(_claims(), KEY)
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert _verify(token, now=(NOW + dt.timedelta(minutes=5)).astimezone(tokyo)).jti == "jti-root"


@pytest.mark.parametrize("leeway", [dt.timedelta(seconds=-1), dt.timedelta(minutes=6)])
def test_leeway_out_of_bounds_is_a_programming_error(leeway: dt.timedelta) -> None:
    with pytest.raises(ValueError, match="leeway"):
        _verify(_good(), leeway=leeway)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        _verify(_good(), now=NOW.replace(tzinfo=None))


# -- claim invariants -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"iat": NOW.replace(tzinfo=None)},
        {"exp": NOW + dt.timedelta(minutes=10, microseconds=5)},
        {"iat": NOW + SECOND},  # iat after nbf
        {"exp": NOW},  # exp not after nbf
        {"kind": "root"},
        {"chain": ("p",)},  # only grants have parents
        {"kind": "grant", "chain": tuple(f"p{i}" for i in range(MAX_CHAIN_DEPTH + 1))},
        {"kind": "grant", "chain": ("jti-root",)},  # a cycle
        {"kind": "grant", "chain": ("p", "p")},
        {"jti": "j" * 65},
        {"sub": "x" * 257},
        {"iss": ""},
        {"acl": {"publish": []}},
    ],
)
def test_claims_invariants(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError) as info:
        _claims(**changes)
    assert info.value.code == "token.claims_invalid"


def test_parent_is_the_last_ancestor() -> None:
    assert _claims().parent is None
    assert _claims(kind="grant", chain=("a", "b")).parent == "b"


# -- attenuation ----------------------------------------------------------------------------


def test_attenuate_narrows_and_links_to_the_parent() -> None:
    parent = _claims(acl=Acl(publish=("devices/d1/#",), subscribe=("devices/+/state/#",)))
    narrow = Acl(publish=("devices/d1/telemetry/t",), subscribe=("devices/d2/state/reported",))
    at = NOW + dt.timedelta(seconds=3, microseconds=700)
    child = attenuate(parent, acl=narrow, ttl=dt.timedelta(minutes=2), now=at, sub="app-7")
    assert child.parent == parent.jti
    assert child.chain == (parent.jti,)
    assert (child.tenant, child.iss, child.aud, child.sub) == ("t1", ISS, AUD, "app-7")
    assert child.kind == "grant"
    assert child.iat == child.nbf == NOW + 3 * SECOND
    assert child.exp == NOW + 3 * SECOND + dt.timedelta(minutes=2)
    assert child.jti != parent.jti
    assert parent.acl.covers(child.acl)
    assert _verify(mint(child, KEY), now=at) == child


def test_attenuate_to_the_whole_parent_is_allowed() -> None:
    parent = _claims()
    child = attenuate(parent, acl=parent.acl, ttl=parent.exp - NOW, now=NOW)
    assert child.exp == parent.exp
    assert child.acl == parent.acl


@pytest.mark.parametrize(
    "acl",
    [
        Acl(publish=("devices/d1/#",)),  # wider than devices/d1/telemetry/#
        Acl(publish=("devices/+/telemetry/#",)),
        Acl(subscribe=("#",)),
        Acl(subscribe=("devices/d1/commands/+", "devices/d2/commands/x")),
        Acl(publish=("devices/d1/commands/x",)),  # a subscribe right is not a publish right
    ],
)
def test_attenuate_refuses_a_wider_acl(acl: Acl) -> None:
    with pytest.raises(ForbiddenError) as info:
        attenuate(_claims(), acl=acl, ttl=SECOND, now=NOW)
    assert info.value.code == "token.escalation"


def test_attenuate_refuses_to_outlive_or_predate_the_parent() -> None:
    parent = _claims(nbf=NOW + dt.timedelta(minutes=1))
    with pytest.raises(ForbiddenError) as info:
        attenuate(
            parent, acl=Acl(), ttl=dt.timedelta(minutes=11), now=NOW + dt.timedelta(minutes=1)
        )
    assert info.value.code == "token.escalation"
    with pytest.raises(ForbiddenError) as info:
        attenuate(parent, acl=Acl(), ttl=SECOND, now=NOW)  # before the parent is valid
    assert info.value.code == "token.escalation"
    with pytest.raises(ForbiddenError) as info:
        attenuate(parent, acl=Acl(), ttl=SECOND, now=parent.exp)  # an expired parent
    assert info.value.code == "token.escalation"


def test_attenuate_refuses_a_too_deep_chain_and_a_tiny_ttl() -> None:
    claims = _claims()
    for i in range(MAX_CHAIN_DEPTH):
        claims = attenuate(claims, acl=Acl(), ttl=SECOND, now=NOW, jti=f"g{i}")
    with pytest.raises(ForbiddenError) as forbidden:
        attenuate(claims, acl=Acl(), ttl=SECOND, now=NOW)
    assert forbidden.value.code == "token.depth"
    with pytest.raises(InvalidInputError) as invalid:
        attenuate(_claims(), acl=Acl(), ttl=dt.timedelta(milliseconds=999), now=NOW)
    assert invalid.value.code == "token.ttl"


# -- the issuer: key ring, rotation with overlap --------------------------------------------


def _ring(tmp_path: Path, clock: ManualClock) -> KeyRing:
    return KeyRing.open(tmp_path / "keys", now=clock.now(), overlap=dt.timedelta(hours=2))


def _issuer(tmp_path: Path, clock: ManualClock, **kwargs: object) -> TokenIssuer:
    ring = _ring(tmp_path, clock)
    return TokenIssuer(ring, clock, issuer=ISS, audience=AUD, **kwargs)  # type: ignore[arg-type]


def _kid(token: str) -> str:
    header = token.split(".", maxsplit=1)[0]
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    assert isinstance(kid, str)
    return kid


def test_issuer_issues_and_verifies(tmp_path: Path) -> None:
    clock = ManualClock(NOW + dt.timedelta(microseconds=123))
    issuer = _issuer(tmp_path, clock, new_jti=lambda: "fixed-jti")
    issued = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="device")
    assert isinstance(issued, IssuedToken)
    assert issued.claims.iat == NOW
    assert issued.claims.exp == NOW + dt.timedelta(minutes=10)
    assert issuer.verify(issued.token) == issued.claims
    with pytest.raises(AuthenticationError) as info:
        issuer.verify(issued.token, tenant="t2")
    assert info.value.code == "token.tenant"
    clock.advance(dt.timedelta(minutes=10) + LEEWAY)
    with pytest.raises(AuthenticationError) as info:
        issuer.verify(issued.token)
    assert info.value.code == "token.expired"


def test_issuer_refuses_a_ttl_beyond_its_maximum(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, ManualClock(NOW))
    with pytest.raises(InvalidInputError) as info:
        issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="app", ttl=dt.timedelta(hours=2))
    assert info.value.code == "token.ttl"


def test_rotation_keeps_the_old_key_verifying_during_the_overlap(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    ring = _ring(tmp_path, clock)
    issuer = TokenIssuer(ring, clock, issuer=ISS, audience=AUD)
    old = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="device", ttl=dt.timedelta(hours=1))
    clock.advance(dt.timedelta(minutes=30))
    rotated_at = clock.now()
    new_kid = issuer.rotate()
    assert new_kid != _kid(old.token)
    new = issuer.issue(sub="d1", tenant="t1", acl=ACL, kind="device")
    assert _kid(new.token) == new_kid
    assert issuer.verify(old.token) == old.claims  # the retired key, within the overlap
    assert issuer.verify(new.token) == new.claims
    assert {k["kid"] for k in issuer.jwks()["keys"]} == {_kid(old.token), new_kid}
    # The pure verifier with the ring's keys: the old key answers until the overlap ends.
    end = rotated_at + ring.overlap
    long_life = {"issuer": ISS, "audience": AUD, "max_lifetime": dt.timedelta(hours=1)}
    before = ring.verify_keys(now=end - SECOND)
    assert verify(old.token, before, now=old.claims.nbf, **long_life) == old.claims  # type: ignore[arg-type]
    after = ring.verify_keys(now=end)
    with pytest.raises(AuthenticationError) as info:
        verify(old.token, after, now=old.claims.nbf, **long_life)  # type: ignore[arg-type]
    assert info.value.code == "token.unknown_key"
    clock.advance(dt.timedelta(hours=2))
    with pytest.raises(AuthenticationError) as info:
        issuer.verify(old.token)
    assert info.value.code == "token.unknown_key"
    assert [k["kid"] for k in issuer.jwks()["keys"]] == [new_kid]


def test_jwks_pins_the_algorithm(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, ManualClock(NOW))
    (jwk,) = issuer.jwks()["keys"]
    assert (jwk["alg"], jwk["kty"], jwk["crv"]) == ("EdDSA", "OKP", "Ed25519")
    assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}


def test_issuer_refuses_an_overlap_shorter_than_a_token_life(tmp_path: Path) -> None:
    ring = KeyRing.open(tmp_path / "keys", now=NOW, overlap=dt.timedelta(minutes=30))
    with pytest.raises(ConfigError):
        TokenIssuer(ring, ManualClock(NOW), issuer=ISS, audience=AUD)
    with pytest.raises(ConfigError):
        TokenIssuer(
            ring, ManualClock(NOW), issuer=ISS, audience=AUD,
            max_lifetime=dt.timedelta(minutes=5), default_ttl=dt.timedelta(minutes=10),
        )  # fmt: skip


def test_issuer_attenuates_only_a_valid_parent(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    revoked: set[str] = set()
    issuer = _issuer(tmp_path, clock, revoked=revoked.__contains__)
    root = issuer.issue(
        sub="owner-1", tenant="t1", acl=ACL, kind="app", ttl=dt.timedelta(minutes=5)
    )
    clock.advance(dt.timedelta(minutes=1))
    narrow = Acl(publish=("devices/d1/telemetry/temp",))
    grant = issuer.attenuate(root.token, acl=narrow, sub="app-9")
    # Default ttl (10 min) is capped by the parent's remaining 4 minutes.
    assert grant.claims.exp == root.claims.exp
    assert grant.claims.parent == root.claims.jti
    assert issuer.verify(grant.token).sub == "app-9"
    with pytest.raises(ForbiddenError):
        issuer.attenuate(root.token, acl=narrow, ttl=dt.timedelta(minutes=10))
    with pytest.raises(ForbiddenError):
        issuer.attenuate(grant.token, acl=ACL)  # wider than the grant
    with pytest.raises(AuthenticationError) as info:
        issuer.attenuate(root.token, acl=narrow, tenant="t2")
    assert info.value.code == "token.tenant"
    revoked.add(root.claims.jti)
    for token in (root.token, grant.token):
        with pytest.raises(AuthenticationError) as info:
            issuer.verify(token)
        assert info.value.code == "token.revoked"
