"""The E2E key directory: the hub vouches for public keys; clients check what they fetch.

Devices and apps publish their public keys to the hub; the hub never sees a private E2E
key. Each directory entry (owner, key, validity, retirement) is signed by the hub's
Ed25519 key ring (:mod:`fleetward.crypto.signing`), so a client that pinned the hub's
verify keys can trust an entry however it got it (REST, MQTT, a cache).

* :class:`KeyDirectory` is the hub's pure model: publish, rotate with an overlap (the
  previous keys stay valid ``overlap`` longer, so messages in flight still open), retire
  every key of an owner when it is revoked, re-sign for freshness.
* :class:`TrustedKeys` is the client's verified view. It refuses forged entries, entries
  of another tenant, entries older than ``max_age`` and rollbacks (an older statement
  about a key it already holds, which could otherwise un-retire it). It implements the
  envelope's :class:`~fleetward.e2e.envelope.SenderKeys` port.

The signed byte layout is in ``docs/e2e-format.md`` (section "Key directory").
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from fleetward.crypto.signing import SigningKey, VerifyKey
from fleetward.e2e.errors import DirectoryError
from fleetward.e2e.keys import KEY_ID_LEN, PUBLIC_KEY_LEN, KeyOwner, OwnerKind, PublicKeyRecord
from fleetward.errors import ConflictError, FleetwardError, NotFoundError

__all__ = ["DirectoryEntry", "KeyDirectory", "SignedEntry", "TrustedKeys", "verify_entry"]

MAGIC: Final = b"FWE2EDIR"
ENTRY_VERSION: Final = 1
KEY_SUITE: Final = 0x01  # X25519 public key for envelope suites 1, 2 and 3
SIGNATURE_LEN: Final = 64
MAX_ENTRY_BYTES: Final = 1024
_EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_TIME: Final = 253_402_300_799  # 9999-12-31T23:59:59Z


def _seconds(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("directory times must be timezone-aware")
    return value.astimezone(dt.UTC).replace(microsecond=0)


def _str(value: str) -> bytes:
    raw = value.encode()
    return bytes([len(raw)]) + raw


def _time(value: dt.datetime) -> bytes:
    return struct.pack(">q", int(value.timestamp()))


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One public key's directory statement. Times are whole seconds, UTC."""

    record: PublicKeyRecord
    issued_at: dt.datetime
    not_before: dt.datetime
    not_after: dt.datetime
    retired_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        for name in ("issued_at", "not_before", "not_after", "retired_at"):
            value = getattr(self, name)
            if value is not None:
                value = _seconds(value)
                if not _EPOCH <= value <= _EPOCH + dt.timedelta(seconds=_MAX_TIME):
                    raise ValueError(f"{name} out of range")
                object.__setattr__(self, name, value)
        if self.not_after <= self.not_before:
            raise ValueError("not_after must be after not_before")

    def valid_at(self, now: dt.datetime) -> bool:
        """Usable at ``now``: inside its validity and not yet retired."""
        if not self.not_before <= now < self.not_after:
            return False
        return self.retired_at is None or now < self.retired_at

    def signed_bytes(self, signer_kid: str) -> bytes:
        """The exact bytes the hub signs (``docs/e2e-format.md``)."""
        owner = self.record.owner
        retired = b"\x00" if self.retired_at is None else b"\x01" + _time(self.retired_at)
        return b"".join(
            [
                MAGIC,
                bytes([ENTRY_VERSION, KEY_SUITE]),
                _str(owner.tenant_id),
                bytes([owner.kind]),
                _str(owner.owner_id),
                self.record.key_id,
                self.record.public_key,
                _time(self.issued_at),
                _time(self.not_before),
                _time(self.not_after),
                retired,
                _str(signer_kid),
            ]
        )


@dataclass(frozen=True, slots=True)
class SignedEntry:
    """An entry with the hub's signature; :meth:`to_bytes` is what clients fetch."""

    entry: DirectoryEntry
    signer_kid: str
    signature: bytes

    @classmethod
    def sign(cls, entry: DirectoryEntry, key: SigningKey) -> SignedEntry:
        """Sign ``entry`` with the hub's active key."""
        return cls(entry, key.kid, key.sign(entry.signed_bytes(key.kid)))

    def to_bytes(self) -> bytes:
        """``signed_bytes || signature`` (64 bytes, Ed25519)."""
        return self.entry.signed_bytes(self.signer_kid) + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedEntry:
        """Parse without verifying; raises :class:`DirectoryError` if malformed."""
        try:
            return _parse(data)
        except (IndexError, ValueError, UnicodeDecodeError, struct.error, FleetwardError) as e:
            raise DirectoryError("malformed directory entry") from e


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def text(self) -> str:
        return self.take(self.byte()).decode()

    def time(self) -> dt.datetime:
        (seconds,) = struct.unpack(">q", self.take(8))
        if not 0 <= seconds <= _MAX_TIME:
            raise ValueError("time out of range")
        return _EPOCH + dt.timedelta(seconds=seconds)


def _parse(data: bytes) -> SignedEntry:
    if len(data) > MAX_ENTRY_BYTES:
        raise ValueError("too large")
    r = _Reader(data)
    if r.take(len(MAGIC)) != MAGIC or r.byte() != ENTRY_VERSION or r.byte() != KEY_SUITE:
        raise ValueError("not a version 1 entry")
    tenant_id, kind, owner_id = r.text(), OwnerKind(r.byte()), r.text()
    key_id, public_key = r.take(KEY_ID_LEN), r.take(PUBLIC_KEY_LEN)
    issued_at, not_before, not_after = r.time(), r.time(), r.time()
    flag = r.byte()
    if flag not in (0, 1):
        raise ValueError("bad retired flag")
    retired_at = r.time() if flag else None
    signer_kid = r.text()
    signature = r.take(SIGNATURE_LEN)
    if r.pos != len(data):
        raise ValueError("trailing bytes")
    record = PublicKeyRecord(KeyOwner(tenant_id, kind, owner_id), public_key, key_id)
    entry = DirectoryEntry(record, issued_at, not_before, not_after, retired_at)
    return SignedEntry(entry, signer_kid, signature)


class KeyDirectory:
    """The hub's directory model (pure; a repository stores what it returns).

    Every method that changes an entry returns the newly signed entries to store and
    serve. ``lifetime`` is how long a published key stays valid; ``overlap`` how long the
    previous keys of an owner stay valid after a new one is published.
    """

    __slots__ = ("_by_kid", "lifetime", "overlap")

    def __init__(self, *, lifetime: dt.timedelta, overlap: dt.timedelta) -> None:
        if lifetime <= overlap or overlap < dt.timedelta(0):
            raise ValueError("need 0 <= overlap < lifetime")
        self.lifetime, self.overlap = lifetime, overlap
        self._by_kid: dict[bytes, SignedEntry] = {}

    def load(self, entries: Iterable[SignedEntry]) -> None:
        """Hold entries a repository stored earlier (they were signed when made)."""
        for signed in entries:
            self._by_kid[signed.entry.record.key_id] = signed

    def entry(self, key_id: bytes) -> SignedEntry | None:
        """The current signed entry for ``key_id``."""
        return self._by_kid.get(key_id)

    def entries_for(self, owner: KeyOwner) -> list[SignedEntry]:
        """Every entry of ``owner``, oldest first."""
        found = [s for s in self._by_kid.values() if s.entry.record.owner == owner]
        return sorted(found, key=lambda s: s.entry.not_before)

    def publish(
        self, record: PublicKeyRecord, *, now: dt.datetime, signer: SigningKey
    ) -> list[SignedEntry]:
        """Add ``record`` (a public key only) and cut the owner's older keys to the overlap.

        Raises :class:`~fleetward.errors.ConflictError` (``e2e.key_exists``) if the key is
        already in the directory, for this owner or any other: one key, one owner.
        """
        if record.key_id in self._by_kid:
            raise ConflictError("this key is already published", code="e2e.key_exists")
        now = _seconds(now)
        changed: list[SignedEntry] = []
        cutoff = now + self.overlap
        for old in self.entries_for(record.owner):
            e = old.entry
            if e.retired_at is None and e.not_after > cutoff:
                changed.append(self._put(replace(e, issued_at=now, not_after=cutoff), signer))
        new = DirectoryEntry(record, now, now, now + self.lifetime)
        changed.append(self._put(new, signer))
        return changed

    def retire_owner(
        self, owner: KeyOwner, *, now: dt.datetime, signer: SigningKey
    ) -> list[SignedEntry]:
        """Retire every key of ``owner`` at ``now`` (device revoked, app removed)."""
        now = _seconds(now)
        return [
            self._put(replace(s.entry, issued_at=now, retired_at=now), signer)
            for s in self.entries_for(owner)
            if s.entry.retired_at is None
        ]

    def retire_key(self, key_id: bytes, *, now: dt.datetime, signer: SigningKey) -> SignedEntry:
        """Retire one key (the owner reports it lost)."""
        current = self._by_kid.get(key_id)
        if current is None:
            raise NotFoundError("no such key", code="e2e.key_not_found")
        if current.entry.retired_at is not None:
            return current
        now = _seconds(now)
        return self._put(replace(current.entry, issued_at=now, retired_at=now), signer)

    def refresh(self, *, now: dt.datetime, signer: SigningKey) -> list[SignedEntry]:
        """Re-sign every live entry with ``issued_at = now``, so clients' ``max_age`` holds."""
        now = _seconds(now)
        return [
            self._put(replace(s.entry, issued_at=now), signer)
            for s in list(self._by_kid.values())
            if s.entry.not_after > now
        ]

    def _put(self, entry: DirectoryEntry, signer: SigningKey) -> SignedEntry:
        signed = SignedEntry.sign(entry, signer)
        self._by_kid[entry.record.key_id] = signed
        return signed


def verify_entry(
    data: bytes,
    hub_keys: Mapping[str, VerifyKey],
    *,
    now: dt.datetime,
    max_age: dt.timedelta,
) -> DirectoryEntry:
    """Parse and verify one fetched entry; raises :class:`DirectoryError` (precise codes)."""
    signed = SignedEntry.from_bytes(data)
    key = hub_keys.get(signed.signer_kid)
    if key is None or not key.verify(signed.signature, data[:-SIGNATURE_LEN]):
        raise DirectoryError("directory entry signature does not verify", code="e2e.entry_forged")
    if not now - max_age <= signed.entry.issued_at <= now + dt.timedelta(minutes=5):
        raise DirectoryError("directory entry is stale", code="e2e.entry_stale")
    return signed.entry


class TrustedKeys:
    """A client's verified view of one tenant's directory (implements ``SenderKeys``)."""

    __slots__ = ("_by_kid", "_retired", "hub_keys", "max_age", "tenant_id")

    def __init__(
        self, hub_keys: Mapping[str, VerifyKey], *, tenant_id: str, max_age: dt.timedelta
    ) -> None:
        self.hub_keys, self.tenant_id, self.max_age = dict(hub_keys), tenant_id, max_age
        self._by_kid: dict[bytes, DirectoryEntry] = {}
        # Pruned retired keys, until their last pre-retirement statement is older than
        # max_age (it would otherwise be accepted again and un-retire the key).
        self._retired: dict[bytes, dt.datetime] = {}

    def add(self, data: bytes, *, now: dt.datetime) -> DirectoryEntry:
        """Verify and keep one fetched entry; the newest statement per key wins."""
        entry = verify_entry(data, self.hub_keys, now=now, max_age=self.max_age)
        if entry.record.owner.tenant_id != self.tenant_id:
            raise DirectoryError("entry of another tenant", code="e2e.entry_foreign")
        if entry.retired_at is None and entry.record.key_id in self._retired:
            raise DirectoryError("cannot un-retire a key", code="e2e.entry_rollback")
        held = self._by_kid.get(entry.record.key_id)
        if held is not None:
            if entry.issued_at < held.issued_at:
                raise DirectoryError("older than the entry held", code="e2e.entry_rollback")
            if held.retired_at is not None and entry.retired_at is None:
                raise DirectoryError("cannot un-retire a key", code="e2e.entry_rollback")
        self._by_kid[entry.record.key_id] = entry
        return entry

    def sender_key(self, key_id: bytes, *, now: dt.datetime) -> PublicKeyRecord | None:
        """The record for ``key_id`` if valid at ``now`` (the envelope's port)."""
        entry = self._by_kid.get(key_id)
        return entry.record if entry is not None and entry.valid_at(now) else None

    def current_for(self, owner: KeyOwner, *, now: dt.datetime) -> PublicKeyRecord | None:
        """The key to seal to ``owner`` now: its newest valid one."""
        valid = [e for e in self._by_kid.values() if e.record.owner == owner and e.valid_at(now)]
        return max(valid, key=lambda e: e.not_before).record if valid else None

    def prune(self, *, now: dt.datetime) -> list[bytes]:
        """Drop entries no longer valid; returns their key ids (to ``ReplayGuard.forget``)."""
        gone = [k for k, e in self._by_kid.items() if not e.valid_at(now) and e.not_before <= now]
        for kid in gone:
            entry = self._by_kid.pop(kid)
            if entry.retired_at is not None:
                self._retired[kid] = entry.issued_at + self.max_age
        for kid, until in list(self._retired.items()):
            if until < now:
                del self._retired[kid]
        return gone
