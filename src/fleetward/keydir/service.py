"""The hub's E2E key directory: signed public-key entries in SQL, served to clients.

Devices publish their public key on ``$fleet/keys/{device_id}/put``; apps through
``POST /v1/tenants/{t}/e2e-keys``. Each change goes through the pure
:class:`~fleetward.e2e.KeyDirectory` (rotation with an overlap, retirement) and the
re-signed entries are stored in one transaction. Revoking a device retires its keys.
Clients verify entries with the hub's verify keys (:meth:`verify_keys`); they never
have to trust the transport or this database.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from fleetward.clock import Clock
from fleetward.crypto.signing import KeyRing, VerifyKey
from fleetward.e2e import KeyDirectory, KeyOwner, OwnerKind, PublicKeyRecord, SignedEntry
from fleetward.errors import ConfigError, ConflictError, StorageError
from fleetward.keydir.tables import e2e_keys

__all__ = ["KeyDirectoryService", "entries_json", "open_directory_ring"]

_K = e2e_keys.c
_RING_OVERLAP = dt.timedelta(days=30)


def open_directory_ring(data_dir: Path, now: dt.datetime) -> KeyRing:
    """The hub's directory signing ring under ``data_dir/keys/e2e-directory``.

    Raises :class:`ConfigError` when the directory or a key file cannot be used.
    """
    directory = data_dir / "keys" / "e2e-directory"
    try:
        return KeyRing.open(directory, now=now, overlap=_RING_OVERLAP)
    except (OSError, ValueError, TypeError) as e:
        raise ConfigError(f"e2e directory keys: cannot open {directory}: {e}") from e


class KeyDirectoryService:
    """Publish, retire and list signed E2E public-key entries."""

    __slots__ = ("_clock", "_engine", "_lifetime", "_overlap", "_ring")

    def __init__(
        self,
        engine: Engine,
        ring: KeyRing,
        clock: Clock,
        *,
        lifetime: dt.timedelta = dt.timedelta(days=365),
        overlap: dt.timedelta = dt.timedelta(days=7),
    ) -> None:
        self._engine = engine
        self._ring = ring
        self._clock = clock
        self._lifetime = lifetime
        self._overlap = overlap

    def verify_keys(self) -> dict[str, VerifyKey]:
        """The hub keys that sign entries now (clients pin these)."""
        return self._ring.verify_keys(now=self._clock.now())

    def publish(self, holder: KeyOwner, owner_id: str, public_key: bytes) -> list[SignedEntry]:
        """Publish ``public_key`` for ``holder`` (a device or an app of ``owner_id``).

        The holder's older keys stay valid for the overlap. Raises
        :class:`~fleetward.errors.InvalidInputError` for a malformed key and
        :class:`ConflictError` (``e2e.key_exists``) for a key already published.
        """
        record = PublicKeyRecord.of(holder, public_key)
        try:
            with self._engine.begin() as conn:
                taken = conn.execute(select(_K.key_id).where(_K.key_id == record.key_id.hex()))
                if taken.first() is not None:  # one key, one holder, in any tenant
                    raise ConflictError("this key is already published", code="e2e.key_exists")
                model = self._model(conn, holder)
                changed = model.publish(record, now=self._clock.now(), signer=self._ring.active)
                self._store(conn, owner_id, changed)
        except IntegrityError as e:  # the same key under another holder
            raise ConflictError("this key is already published", code="e2e.key_exists") from e
        except SQLAlchemyError as e:
            raise StorageError("cannot store the key", code="e2e.storage") from e
        return changed

    def retire_holder(self, holder: KeyOwner) -> list[SignedEntry]:
        """Retire every key of ``holder`` now (its device was revoked)."""
        try:
            with self._engine.begin() as conn:
                model = self._model(conn, holder)
                changed = model.retire_owner(
                    holder, now=self._clock.now(), signer=self._ring.active
                )
                self._store(conn, "", changed)  # updates only: the rows exist
        except SQLAlchemyError as e:
            raise StorageError("cannot retire keys", code="e2e.storage") from e
        return changed

    def retire_device(self, tenant_id: str, device_id: str) -> None:
        """Retire a revoked device's keys in a transaction of their own."""
        self.retire_holder(KeyOwner(tenant_id, OwnerKind.DEVICE, device_id))

    def retire_device_in(self, conn: Connection, tenant_id: str, device_id: str) -> None:
        """The ``DeviceAccess.on_revoked`` hook: retire in the revocation's transaction.

        Database errors propagate to the revocation, which rolls back and raises.
        """
        holder = KeyOwner(tenant_id, OwnerKind.DEVICE, device_id)
        changed = self._model(conn, holder).retire_owner(
            holder, now=self._clock.now(), signer=self._ring.active
        )
        self._store(conn, "", changed)  # updates only: the rows exist

    def entries(self, tenant_id: str, *, owner_id: str | None = None) -> list[bytes]:
        """Signed entries of a tenant (or of one owner's devices and apps), as fetched."""
        query = select(_K.entry).where(_K.tenant_id == tenant_id)
        if owner_id is not None:
            query = query.where(_K.owner_id == owner_id)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query.order_by(_K.not_before, _K.key_id)).all()
        except SQLAlchemyError as e:
            raise StorageError("cannot read keys", code="e2e.storage") from e
        return [bytes(r[0]) for r in rows]

    def delete_owner(self, tenant_id: str, owner_id: str) -> int:
        """Forget an erased owner's public keys; returns how many."""
        try:
            with self._engine.begin() as conn:
                result = conn.execute(
                    delete(e2e_keys).where(_K.tenant_id == tenant_id, _K.owner_id == owner_id)
                )
        except SQLAlchemyError as e:
            raise StorageError("cannot erase keys", code="e2e.storage") from e
        return int(result.rowcount or 0)

    def _model(self, conn: Connection, holder: KeyOwner) -> KeyDirectory:
        rows = conn.execute(
            select(_K.entry).where(
                _K.tenant_id == holder.tenant_id,
                _K.holder_kind == int(holder.kind),
                _K.holder_id == holder.owner_id,
            )
        ).all()
        model = KeyDirectory(lifetime=self._lifetime, overlap=self._overlap)
        model.load(SignedEntry.from_bytes(bytes(r[0])) for r in rows)
        return model

    def _store(self, conn: Connection, owner_id: str, changed: Sequence[SignedEntry]) -> None:
        for signed in changed:
            e = signed.entry
            kid = e.record.key_id.hex()
            values = {"entry": signed.to_bytes(), "retired_at": e.retired_at}
            owner = e.record.owner
            mine = (
                (_K.key_id == kid)
                & (_K.tenant_id == owner.tenant_id)
                & (_K.holder_kind == int(owner.kind))
                & (_K.holder_id == owner.owner_id)
            )  # never another holder's row, whatever the model returned
            done = conn.execute(update(e2e_keys).where(mine).values(**values))
            if done.rowcount:
                continue
            conn.execute(
                insert(e2e_keys).values(
                    key_id=kid,
                    tenant_id=owner.tenant_id,
                    owner_id=owner_id,
                    holder_kind=int(owner.kind),
                    holder_id=owner.owner_id,
                    not_before=e.not_before,
                    **values,
                )
            )


def entries_json(entries: Iterable[bytes]) -> list[str]:
    """Entries as base64 strings (for JSON bodies)."""
    return [base64.b64encode(e).decode() for e in entries]
