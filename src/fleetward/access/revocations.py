"""The writes that follow a revocation's cut, each in one transaction.

A revocation first cuts the live state and the sessions (``DeviceAccess``), then records
what it did. Recording used to be one transaction per layer (registry status, credentials,
change feed, key directory), each with its own commit; here it is one, so the revoke call
returns sooner and a failure leaves the database as it was, never half-revoked. A failure
raises :class:`~fleetward.errors.StorageError` (or the transition's
:class:`~fleetward.errors.ConflictError`); the cut stands either way (fail closed).

Layers above ``access`` (the key directory) join the transaction through
:data:`RevokeHook`: they get the open connection and must not commit it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from fleetward.access.records import DeviceRow, device_select, read_device
from fleetward.access.tables import access_changes, revoked_tokens
from fleetward.errors import ConflictError, NotFoundError, StorageError
from fleetward.registry.models import DeviceStatus, check_device_transition
from fleetward.registry.sql.tables import device_credentials, devices

__all__ = ["RevokeHook", "Revoked", "device_revoked", "note", "token_revoked"]

RevokeHook = Callable[[Connection, str, str], None]
"""``hook(conn, tenant_id, device_id)``: more writes for a revoked device, in ``conn``."""

Revoked = tuple[DeviceRow, int]
"""The device's row as now stored, and the change feed's sequence number."""


@contextmanager
def _tx(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.begin() as conn:
            yield conn
    except IntegrityError as e:
        raise ConflictError(
            "the change conflicts with existing data", code="storage.integrity"
        ) from e
    except SQLAlchemyError as e:
        raise StorageError("cannot record the revocation", code="storage.unavailable") from e


def note(
    conn: Connection, tenant_id: str | None, what: str, target: str | None, now: dt.datetime
) -> int:
    """Append to the change feed in ``conn``; returns the entry's sequence number."""
    result = conn.execute(
        insert(access_changes).values(tenant_id=tenant_id, what=what, target=target, at=now)
    )
    key = result.inserted_primary_key
    return int(key[0]) if key else 0


def device_revoked(
    engine: Engine,
    tenant_id: str,
    device_id: str,
    now: dt.datetime,
    hooks: Sequence[RevokeHook] = (),
) -> Revoked:
    """Store a device revoked: status, every live credential, the change feed, ``hooks``.

    The transition is checked again inside the transaction, against the row it updates.
    Raises :class:`NotFoundError` when the device is gone, :class:`ConflictError` for an
    illegal transition, :class:`StorageError` when the database fails.
    """
    c = device_credentials.c
    with _tx(engine) as conn:
        found = (
            conn.execute(
                device_select().where(devices.c.id == device_id, devices.c.tenant_id == tenant_id)
            )
            .mappings()
            .first()
        )
        if found is None:
            raise NotFoundError(f"no device {device_id}", code="device.not_found")
        row = read_device(found)
        check_device_transition(DeviceStatus(row.status), DeviceStatus.REVOKED)
        conn.execute(
            update(devices)
            .where(devices.c.tenant_id == tenant_id, devices.c.id == device_id)
            .values(status=DeviceStatus.REVOKED.value, updated_at=now)
        )
        conn.execute(
            update(device_credentials)
            .where(c.tenant_id == tenant_id, c.device_id == device_id, c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        seq = note(conn, tenant_id, "device.revoked", device_id, now)
        for hook in hooks:
            hook(conn, tenant_id, device_id)
    return replace(row, status=DeviceStatus.REVOKED.value), seq


def token_revoked(
    engine: Engine,
    jti: str,
    tenant_id: str,
    by: str,
    now: dt.datetime,
    expires_at: dt.datetime,
) -> tuple[bool, int]:
    """Record ``jti`` revoked until ``expires_at`` and note it in the change feed.

    Returns whether it was new, and the change feed's sequence number.
    """
    with _tx(engine) as conn:
        known = conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti))
        fresh = known.first() is None
        if fresh:
            conn.execute(
                insert(revoked_tokens).values(
                    jti=jti,
                    tenant_id=tenant_id,
                    revoked_by=by,
                    revoked_at=now,
                    expires_at=expires_at,
                )
            )
        seq = note(conn, tenant_id, "token.revoked", jti, now)
    return fresh, seq
