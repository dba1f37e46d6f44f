"""The versioned at-rest blob: what a column holding encrypted data contains.

Layout (version 1), all in one ``bytes`` value::

    offset  size  field
    0       1     version (0x01)
    1       16    dek_id: which data key sealed it
    17      12    GCM nonce
    29      n+16  AES-256-GCM ciphertext and tag

The GCM associated data covers the header (version and key id), the owner's tenant and
id and the caller's own associated data (say, the table, column and row id), each
length-prefixed, so a blob copied onto another row, owner or tenant does not open. The
version byte lets a later format (another AEAD, key commitment) coexist with this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fleetward.crypto import AeadError, open_sealed, seal
from fleetward.crypto.aead import OVERHEAD, RandomBytes, seal_many
from fleetward.vault.ports import OwnerRef, UndecryptableError

__all__ = [
    "DEK_ID_BYTES",
    "HEADER_BYTES",
    "VERSION",
    "blob_dek_id",
    "dek_context",
    "open_blob",
    "seal_blob",
    "seal_blobs",
]

VERSION = 0x01
DEK_ID_BYTES = 16
HEADER_BYTES = 1 + DEK_ID_BYTES
_BLOB_LABEL = b"fleetward/vault-blob\x00"
_DEK_LABEL = b"fleetward/vault-dek\x00"


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: bytes
    dek_id: str
    sealed: bytes


def seal_blob(
    key: bytes, dek_id: str, owner: OwnerRef, plaintext: bytes, aad: bytes, random: RandomBytes
) -> bytes:
    """A version-1 blob of ``plaintext`` sealed under the owner's data key ``key``."""
    header = bytes([VERSION]) + bytes.fromhex(dek_id)
    if len(header) != HEADER_BYTES:
        raise ValueError("a data key id is 16 bytes")
    return header + seal(key, plaintext, _aad(header, owner, aad), random=random)


def seal_blobs(
    key: bytes,
    dek_id: str,
    owner: OwnerRef,
    items: Sequence[tuple[bytes, bytes]],
    random: RandomBytes,
) -> list[bytes]:
    """:func:`seal_blob` of each ``(plaintext, aad)``, sharing the header and cipher."""
    header = bytes([VERSION]) + bytes.fromhex(dek_id)
    if len(header) != HEADER_BYTES:
        raise ValueError("a data key id is 16 bytes")
    fixed = _BLOB_LABEL + header + _lp(owner.tenant_id.encode()) + _lp(owner.owner_id.encode())
    sealed = seal_many(key, [(p, fixed + _lp(aad)) for p, aad in items], random=random)
    return [header + s for s in sealed]


def blob_dek_id(blob: bytes) -> str:
    """The data key id a blob names; raises :class:`UndecryptableError` if it is no blob."""
    return _parse(blob).dek_id


def open_blob(key: bytes, owner: OwnerRef, blob: bytes, aad: bytes) -> bytes:
    """The plaintext of ``blob``; raises :class:`UndecryptableError` on any failure."""
    parsed = _parse(blob)
    try:
        return open_sealed(key, parsed.sealed, _aad(parsed.header, owner, aad))
    except AeadError:
        raise UndecryptableError("cannot decrypt") from None


def dek_context(dek_id: str, owner: OwnerRef) -> bytes:
    """What a wrapped data key is bound to: its id, tenant and owner."""
    return (
        _DEK_LABEL
        + _lp(dek_id.encode())
        + _lp(owner.tenant_id.encode())
        + _lp(owner.owner_id.encode())
    )


def _parse(blob: bytes) -> _Parsed:
    if len(blob) < HEADER_BYTES + OVERHEAD or blob[0] != VERSION:
        raise UndecryptableError("cannot decrypt")
    header = blob[:HEADER_BYTES]
    return _Parsed(header, header[1:].hex(), blob[HEADER_BYTES:])


def _aad(header: bytes, owner: OwnerRef, aad: bytes) -> bytes:
    return (
        _BLOB_LABEL
        + header
        + _lp(owner.tenant_id.encode())
        + _lp(owner.owner_id.encode())
        + _lp(aad)
    )


def _lp(field: bytes) -> bytes:
    return len(field).to_bytes(4, "big") + field
