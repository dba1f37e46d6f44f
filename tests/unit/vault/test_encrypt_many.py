"""``Vault.encrypt_many``: the batched path seals exactly what ``encrypt`` would."""

from __future__ import annotations

import pytest

from fleetward.clock import ManualClock
from fleetward.errors import InvalidInputError
from fleetward.vault import (
    MemoryDataKeys,
    OwnerShreddedError,
    UndecryptableError,
    Vault,
)

from ._world import ALICE, BOB, new_kek


def test_each_blob_opens_with_its_own_aad_and_nonces_differ(vault: Vault) -> None:
    items = [(b"same", b"row-1"), (b"same", b"row-2"), (b"other", b"row-3")]
    blobs = vault.encrypt_many(ALICE, items)
    assert len(set(blobs)) == 3  # a fresh nonce per item
    assert [vault.decrypt(ALICE, b, aad) for b, (_p, aad) in zip(blobs, items, strict=True)] == [
        b"same",
        b"same",
        b"other",
    ]
    with pytest.raises(UndecryptableError):
        vault.decrypt(ALICE, blobs[0], b"row-2")  # bound to its row
    with pytest.raises(UndecryptableError):
        vault.decrypt(BOB, blobs[0], b"row-1")  # and to its owner
    # interchangeable with the single-item path
    single = vault.encrypt(ALICE, b"same", b"row-1")
    assert single[:17] == blobs[0][:17]  # same version and data key id


def test_refusals_match_encrypt(storage: MemoryDataKeys, clock: ManualClock) -> None:
    vault = Vault(storage, new_kek(), clock, max_plaintext=8)
    with pytest.raises(InvalidInputError):
        vault.encrypt_many(ALICE, [(b"ok", b""), (b"much too large", b"")])
    vault.encrypt_many(ALICE, [(b"ok", b"")])
    vault.shred(ALICE)
    with pytest.raises(OwnerShreddedError):
        vault.encrypt_many(ALICE, [(b"ok", b"")])
