"""Ed25519 signing keys: the one signature recipe the hub uses for its own statements.

Access tokens (EdDSA JWTs), audit checkpoints and key-directory entries are all signed
with Ed25519 (RFC 8032): deterministic, no nonce to get wrong, one algorithm only, so
there is nothing to negotiate and no algorithm confusion to exploit. A key's id is a
short hash of its public key (RFC 7638 style thumbprint), so a verifier can name the key
without trusting anything the signer says.

Private keys live in PEM files (mode 0600, in a 0700 directory); a :class:`KeyRing`
keeps several so that signing keys rotate with an overlap: the newest signs, the
retired ones still verify until they expire.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["KeyRing", "SigningKey", "VerifyKey"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class VerifyKey:
    """An Ed25519 public key with its id; verification never raises."""

    kid: str
    raw: bytes  # the 32-byte public key

    @classmethod
    def from_raw(cls, raw: bytes) -> VerifyKey:
        """Wrap 32 raw public-key bytes; the id is derived, never supplied."""
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return cls(kid=_thumbprint(raw), raw=raw)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's signature over ``message``."""
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK (RFC 8037 OKP), for publishing a key set."""
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(self.raw), "kid": self.kid}


class SigningKey:
    """An Ed25519 private key. Its bytes never leave this module except to its own file."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = VerifyKey.from_raw(raw)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key from the OS CSPRNG."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        """Load a PKCS#8 PEM private key; anything but Ed25519 is refused."""
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError("not an Ed25519 private key")
        return cls(key)

    @property
    def kid(self) -> str:
        """The key id (thumbprint of the public key)."""
        return self.public.kid

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature over ``message``."""
        return self._key.sign(message)

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (the file's mode and directory protect it)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _thumbprint(raw: bytes) -> str:
    # RFC 7638: SHA-256 over the canonical JSON of the required JWK members, base64url.
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())[:16]


@dataclass(frozen=True, slots=True)
class _Entry:
    key: SigningKey
    created_at: dt.datetime


class KeyRing:
    """Signing keys in one directory, newest first; rotation keeps old keys for ``overlap``.

    Each key is ``<kid>.pem`` beside a ``ring.json`` index of creation times. The active
    key is the newest; :meth:`verify_keys` returns every key not yet past its overlap,
    so tokens and checkpoints signed just before a rotation still verify.
    """

    __slots__ = ("_dir", "_entries", "overlap")

    def __init__(self, directory: Path, *, overlap: dt.timedelta) -> None:
        self._dir = directory
        self.overlap = overlap
        self._entries: list[_Entry] = []

    @classmethod
    def open(cls, directory: Path, *, now: dt.datetime, overlap: dt.timedelta) -> KeyRing:
        """Load the ring from ``directory``, creating it with one key when empty."""
        ring = cls(directory, overlap=overlap)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        index_path = directory / "ring.json"
        if index_path.exists():
            index = json.loads(index_path.read_text())
            for kid, created in index.items():
                key = SigningKey.from_pem((directory / f"{kid}.pem").read_bytes())
                if key.kid != kid:
                    raise ValueError(f"key file {kid}.pem does not hold key {kid}")
                ring._entries.append(_Entry(key, dt.datetime.fromisoformat(created)))
            ring._entries.sort(key=lambda e: e.created_at, reverse=True)
        if not ring._entries:
            ring.rotate(now=now)
        return ring

    @property
    def active(self) -> SigningKey:
        """The key that signs now."""
        return self._entries[0].key

    def rotate(self, *, now: dt.datetime) -> SigningKey:
        """Make a new active key; keys older than the overlap behind it are dropped."""
        key = SigningKey.generate()
        path = self._dir / f"{key.kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.to_pem())
        self._entries.insert(0, _Entry(key, now))
        self._prune(now)
        self._write_index()
        return key

    def verify_keys(self, *, now: dt.datetime) -> dict[str, VerifyKey]:
        """Public keys that still verify: the active one and those retired within the overlap."""
        out: dict[str, VerifyKey] = {}
        for i, entry in enumerate(self._entries):
            if i == 0 or self._entries[i - 1].created_at + self.overlap > now:
                out[entry.key.kid] = entry.key.public
        return out

    def _prune(self, now: dt.datetime) -> None:
        keep = [self._entries[0]]
        for prev, entry in zip(self._entries, self._entries[1:], strict=False):
            if prev.created_at + self.overlap > now:
                keep.append(entry)
            else:
                (self._dir / f"{entry.key.kid}.pem").unlink(missing_ok=True)
        self._entries = keep

    def _write_index(self) -> None:
        tmp = self._dir / "ring.json.tmp"
        tmp.write_text(json.dumps({e.key.kid: e.created_at.isoformat() for e in self._entries}))
        os.replace(tmp, self._dir / "ring.json")
