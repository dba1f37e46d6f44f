"""Vault blobs: every plaintext and associated data round-trips; any other aad or owner fails."""

from __future__ import annotations

import base64
import datetime as dt
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.clock import ManualClock
from fleetward.vault import EnvKeyProvider, MemoryDataKeys, OwnerRef, UndecryptableError, Vault

_VAULT = Vault(
    MemoryDataKeys(),
    EnvKeyProvider.from_base64(base64.b64encode(os.urandom(32)).decode(), source="test"),
    ManualClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC)),
)
_ids = st.text(min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(
    tenant=_ids,
    owner=_ids,
    plaintext=st.binary(max_size=2048),
    aad=st.binary(max_size=64),
    other_aad=st.binary(max_size=64),
)
def test_round_trip_and_binding(
    tenant: str, owner: str, plaintext: bytes, aad: bytes, other_aad: bytes
) -> None:
    ref = OwnerRef(tenant, owner)
    blob = _VAULT.encrypt(ref, plaintext, aad)
    assert _VAULT.decrypt(ref, blob, aad) == plaintext
    if other_aad != aad:
        try:
            _VAULT.decrypt(ref, blob, other_aad)
        except UndecryptableError:
            pass
        else:
            raise AssertionError("decrypted with other associated data")
    try:
        _VAULT.decrypt(OwnerRef(tenant + "x", owner), blob, aad)
    except UndecryptableError:
        pass
    else:
        raise AssertionError("decrypted for another tenant")
