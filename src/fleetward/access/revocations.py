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
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from fleetward.access.tables import access_changes, revoked_tokens
from fleetward.errors import ConflictError, NotFoundError
from fleetward.registry.models import DeviceStatus, check_device_transition
from fleetward.registry.sql.tables import device_credentials, devices
from fleetward.registry.sql.tx import transaction

__all__ = ["RevokeHook", "device_revoked", "note", "token_revoked"]

RevokeHook = Callable[[Connection, str, str], None]
"""``hook(conn, tenant_id, device_id)``: more writes for a revoked device, in ``conn``."""


def _tx(engine: Engine) -> AbstractContextManager[Connection]:
    return transaction(engine, unavailable=SQLAlchemyError, detail="cannot record the revocation")


def _revocable() -> frozenset[str]:
    """Statuses a device may be revoked from: the update checks the transition itself."""
    out = set()
    for status in DeviceStatus:
        try:
            check_device_transition(status, DeviceStatus.REVOKED)
        except ConflictError:
            continue
        out.add(status.value)
    return frozenset(out)


# Built once: constructing a statement costs more than running it on SQLite.
_C = device_credentials.c
_MARK_DEVICE = (
    update(devices)
    .where(
        devices.c.tenant_id == bindparam("t"),
        devices.c.id == bindparam("d"),
        devices.c.status.in_(sorted(_revocable())),
    )
    .values(status=DeviceStatus.REVOKED.value, updated_at=bindparam("now"))
)
_MARK_CREDENTIALS = (
    update(device_credentials)
    .where(_C.tenant_id == bindparam("t"), _C.device_id == bindparam("d"), _C.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_STATUS = select(devices.c.status).where(
    devices.c.tenant_id == bindparam("t"), devices.c.id == bindparam("d")
)
_NOTE = insert(access_changes).values(
    tenant_id=bindparam("t"),
    what=bindparam("what"),
    target=bindparam("target"),
    at=bindparam("now"),
)

_TOKEN_KNOWN = select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == bindparam("jti"))
_TOKEN_REVOKED = insert(revoked_tokens).values(
    jti=bindparam("jti"),
    tenant_id=bindparam("t"),
    revoked_by=bindparam("by"),
    revoked_at=bindparam("now"),
    expires_at=bindparam("until"),
)


def note(
    conn: Connection, tenant_id: str | None, what: str, target: str | None, now: dt.datetime
) -> int:
    """Append to the change feed in ``conn``; returns the entry's sequence number."""
    result = conn.execute(_NOTE, {"t": tenant_id, "what": what, "target": target, "now": now})
    key = result.inserted_primary_key
    return int(key[0]) if key else 0


def device_revoked(
    engine: Engine,
    tenant_id: str,
    device_id: str,
    now: dt.datetime,
    hooks: Sequence[RevokeHook] = (),
) -> int:
    """Store a device revoked: status, every live credential, the change feed, ``hooks``.

    The transition is checked again inside the transaction, by the update itself.
    Returns the change feed's sequence number. Raises :class:`NotFoundError` when the
    device is gone, :class:`ConflictError` for an illegal transition,
    :class:`StorageError` when the database fails.
    """
    params = {"t": tenant_id, "d": device_id, "now": now}
    with _tx(engine) as conn:
        if not conn.execute(_MARK_DEVICE, params).rowcount:
            status = conn.execute(_STATUS, params).scalar()
            if status is None:
                raise NotFoundError(f"no device {device_id}", code="device.not_found")
            check_device_transition(DeviceStatus(status), DeviceStatus.REVOKED)
        conn.execute(_MARK_CREDENTIALS, params)
        seq = note(conn, tenant_id, "device.revoked", device_id, now)
        for hook in hooks:
            hook(conn, tenant_id, device_id)
    return seq


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
    params = {"jti": jti, "t": tenant_id, "by": by, "now": now, "until": expires_at}
    with _tx(engine) as conn:
        fresh = conn.execute(_TOKEN_KNOWN, params).first() is None
        if fresh:
            conn.execute(_TOKEN_REVOKED, params)
        seq = note(conn, tenant_id, "token.revoked", jti, now)
    return fresh, seq
