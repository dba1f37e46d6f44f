"""The audit checkpoint keys: a key ring in ``<data_dir>/keys/audit`` and a public archive.

Checkpoints must verify for as long as the log is kept, but a :class:`KeyRing` forgets
a retired key once its overlap has passed. So every public key the ring has signed with
is also remembered in ``trusted.json`` beside it (key id derived from the key bytes,
never trusted from the file), and verification trusts the ring's keys plus that archive.

The threat this defends against is tampering with the *database* (a stolen or restored
backup, a rogue DBA, SQL injection): the private key lives only in the data directory.
Whoever can write the data directory can sign anything, as they can with every other
key the hub holds.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from pathlib import Path

from fleetward.crypto.signing import KeyRing, VerifyKey
from fleetward.errors import ConfigError

__all__ = ["AUDIT_KEY_OVERLAP", "audit_keys_dir", "audit_verify_keys", "open_audit_keyring"]

AUDIT_KEY_OVERLAP = dt.timedelta(days=365)
_ARCHIVE = "trusted.json"


def audit_keys_dir(data_dir: Path) -> Path:
    """Where the audit key ring lives inside the data directory."""
    return data_dir / "keys" / "audit"


def open_audit_keyring(
    data_dir: Path, now: dt.datetime, *, overlap: dt.timedelta = AUDIT_KEY_OVERLAP
) -> KeyRing:
    """The checkpoint signing ring (created with one key on first use), archived.

    Raises :class:`ConfigError` when the directory or a key file cannot be used.
    """
    directory = audit_keys_dir(data_dir)
    try:
        ring = KeyRing.open(directory, now=now, overlap=overlap)
        known = _read_archive(directory)
        current = ring.verify_keys(now=now)
        if not current.keys() <= known.keys():
            _write_archive(directory, {**known, **current})
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"audit keys: cannot open {directory}: {e}") from e
    return ring


def audit_verify_keys(data_dir: Path, now: dt.datetime) -> dict[str, VerifyKey]:
    """Every key trusted to have signed checkpoints; creates nothing.

    Raises :class:`ConfigError` when the key files are unreadable.
    """
    directory = audit_keys_dir(data_dir)
    try:
        keys = _read_archive(directory)
        if (directory / "ring.json").exists():
            ring = KeyRing.open(directory, now=now, overlap=AUDIT_KEY_OVERLAP)
            keys.update(ring.verify_keys(now=now))
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"audit keys: cannot read {directory}: {e}") from e
    return keys


def _read_archive(directory: Path) -> dict[str, VerifyKey]:
    path = directory / _ARCHIVE
    if not path.exists():
        return {}
    raw = json.loads(path.read_text())
    if not isinstance(raw, list):
        raise TypeError(f"{_ARCHIVE} is not a list")
    keys: dict[str, VerifyKey] = {}
    for item in raw:
        try:
            key = VerifyKey.from_raw(base64.urlsafe_b64decode(_padded(str(item))))
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"{_ARCHIVE} holds a malformed key") from e
        keys[key.kid] = key
    return keys


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def _write_archive(directory: Path, keys: dict[str, VerifyKey]) -> None:
    encoded = sorted(base64.urlsafe_b64encode(k.raw).rstrip(b"=").decode() for k in keys.values())
    tmp = directory / f"{_ARCHIVE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(encoded, f)
    os.replace(tmp, directory / _ARCHIVE)
