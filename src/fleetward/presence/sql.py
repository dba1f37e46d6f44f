"""The alert history on SQL (SQLAlchemy 2 Core), on the registry's engine.

Every read and every operator action takes the tenant (and, for an owner's key, the
owner) as a required argument; another tenant's alert is simply not found. Raises of a
condition that is still open or acknowledged fold into the existing row (``count`` + 1,
``last_seen`` moves) in one transaction, so a flapping device is one alert, not many.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import SQLAlchemyError

from fleetward.clock import utc
from fleetward.errors import NotFoundError, StorageError
from fleetward.presence.alerts import AlertSignal
from fleetward.presence.payloads import details_json
from fleetward.presence.records import AlertRecord, AlertState, check_alert_transition
from fleetward.presence.tables import presence_alerts
from fleetward.registry import Page
from fleetward.registry.ids import new_id

__all__ = ["SqlAlertStore"]

_A = presence_alerts.c
_LIVE = (AlertState.OPEN.value, AlertState.ACKNOWLEDGED.value)
_MAX_RESOLUTION = 128


def _opt(value: dt.datetime | None) -> dt.datetime | None:
    return utc(value) if value is not None else None


def _record(r: RowMapping) -> AlertRecord:
    details = r["details"] if isinstance(r["details"], dict) else {}
    return AlertRecord(
        id=r["id"],
        tenant_id=r["tenant_id"],
        owner_id=r["owner_id"],
        device_id=r["device_id"],
        site=r["site"],
        kind=r["kind"],
        subject=r["subject"],
        state=AlertState(r["state"]),
        first_seen=utc(r["first_seen"]),
        last_seen=utc(r["last_seen"]),
        count=r["count"],
        details=details,
        acknowledged_at=_opt(r["acknowledged_at"]),
        acknowledged_by=r["acknowledged_by"],
        resolved_at=_opt(r["resolved_at"]),
        resolution=r["resolution"],
    )


class SqlAlertStore:
    """Stores alert signals and serves the history with acknowledge and resolve."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- from the monitor ------------------------------------------------------------------

    def apply(self, signal: AlertSignal) -> tuple[str, AlertRecord] | None:
        """Store one signal: ``("raised"|"folded"|"resolved", record)``, or ``None`` for a
        resolve of something already closed (by an operator, say)."""
        key = signal.key
        try:
            with self._engine.begin() as conn:
                live = self._live(conn, key.tenant_id, key.kind.value, key.subject)
                if signal.action == "resolve":
                    if live is None:
                        return None
                    reason = str(signal.details.get("resolution", "cleared"))
                    return "resolved", self._close(conn, live, signal.at, None, reason)
                details = details_json(signal.details)
                if live is not None:
                    conn.execute(
                        update(presence_alerts)
                        .where(_A.id == live.id)
                        .values(count=_A.count + 1, last_seen=signal.at, details=details)
                    )
                    return "folded", self._get(conn, live.id)
                alert_id = new_id()
                conn.execute(
                    insert(presence_alerts).values(
                        id=alert_id,
                        tenant_id=key.tenant_id,
                        owner_id=signal.owner_id,
                        device_id=signal.device_id,
                        site=signal.site,
                        kind=key.kind.value,
                        subject=key.subject[:128],
                        state=AlertState.OPEN.value,
                        first_seen=signal.at,
                        last_seen=signal.at,
                        count=1,
                        details=details,
                    )
                )
                return "raised", self._get(conn, alert_id)
        except SQLAlchemyError as e:
            raise StorageError("cannot store the alert", code="alert.storage") from e

    # -- for the edges ---------------------------------------------------------------------

    def list(
        self,
        tenant_id: str,
        *,
        owner_id: str | None = None,
        state: AlertState | None = None,
        device_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AlertRecord]:
        """One page of a tenant's alerts, oldest first, filtered."""
        query = select(presence_alerts).where(_A.tenant_id == tenant_id)
        if owner_id is not None:
            query = query.where(_A.owner_id == owner_id)
        if state is not None:
            query = query.where(_A.state == state.value)
        if device_id is not None:
            query = query.where(_A.device_id == device_id)
        if cursor is not None:
            query = query.where(_A.id > cursor)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query.order_by(_A.id).limit(limit + 1)).mappings().all()
        except SQLAlchemyError as e:
            raise StorageError("cannot read alerts", code="alert.storage") from e
        items = [_record(r) for r in rows[:limit]]
        return Page(items=items, next_cursor=rows[limit - 1]["id"] if len(rows) > limit else None)

    def delete_owner(self, tenant_id: str, owner_id: str, device_ids: Sequence[str]) -> int:
        """Erase an owner's alerts (by owner or by one of their devices); returns how many."""
        about = or_(_A.owner_id == owner_id, _A.device_id.in_(list(device_ids)))
        try:
            with self._engine.begin() as conn:
                result = conn.execute(
                    delete(presence_alerts).where(_A.tenant_id == tenant_id, about)
                )
        except SQLAlchemyError as e:
            raise StorageError("cannot erase alerts", code="alert.storage") from e
        return int(result.rowcount or 0)

    def get(self, tenant_id: str, alert_id: str, *, owner_id: str | None = None) -> AlertRecord:
        """One alert of this tenant (and owner); :class:`NotFoundError` otherwise."""
        try:
            with self._engine.connect() as conn:
                return self._scoped(conn, tenant_id, alert_id, owner_id)
        except SQLAlchemyError as e:
            raise StorageError("cannot read alerts", code="alert.storage") from e

    def acknowledge(
        self, tenant_id: str, alert_id: str, *, by: str, now: dt.datetime, owner_id: str | None
    ) -> AlertRecord:
        """Mark an open alert acknowledged; a closed one is a conflict."""
        try:
            with self._engine.begin() as conn:
                record = self._scoped(conn, tenant_id, alert_id, owner_id)
                check_alert_transition(record.state, AlertState.ACKNOWLEDGED)
                conn.execute(
                    update(presence_alerts)
                    .where(_A.id == alert_id)
                    .values(
                        state=AlertState.ACKNOWLEDGED.value,
                        acknowledged_at=now,
                        acknowledged_by=by[:64],
                    )
                )
                return self._get(conn, alert_id)
        except SQLAlchemyError as e:
            raise StorageError("cannot update the alert", code="alert.storage") from e

    def resolve(
        self,
        tenant_id: str,
        alert_id: str,
        *,
        by: str,
        now: dt.datetime,
        owner_id: str | None,
        note: str = "resolved by hand",
    ) -> AlertRecord:
        """Close an open or acknowledged alert by hand."""
        try:
            with self._engine.begin() as conn:
                record = self._scoped(conn, tenant_id, alert_id, owner_id)
                check_alert_transition(record.state, AlertState.RESOLVED)
                return self._close(conn, record, now, by, note)
        except SQLAlchemyError as e:
            raise StorageError("cannot update the alert", code="alert.storage") from e

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _live(
        conn: Connection, tenant_id: str | None, kind: str, subject: str
    ) -> AlertRecord | None:
        tenant = _A.tenant_id.is_(None) if tenant_id is None else _A.tenant_id == tenant_id
        row = (
            conn.execute(
                select(presence_alerts)
                .where(tenant, _A.kind == kind, _A.subject == subject[:128])
                .where(_A.state.in_(_LIVE))
                .order_by(_A.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        return _record(row) if row else None

    @staticmethod
    def _get(conn: Connection, alert_id: str) -> AlertRecord:
        row = conn.execute(select(presence_alerts).where(_A.id == alert_id)).mappings().one()
        return _record(row)

    @staticmethod
    def _scoped(
        conn: Connection, tenant_id: str, alert_id: str, owner_id: str | None
    ) -> AlertRecord:
        query = select(presence_alerts).where(_A.tenant_id == tenant_id, _A.id == alert_id)
        if owner_id is not None:
            query = query.where(_A.owner_id == owner_id)
        row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"no alert {alert_id}", code="alert.not_found")
        return _record(row)

    def _close(
        self,
        conn: Connection,
        record: AlertRecord,
        now: dt.datetime,
        by: str | None,
        reason: str,
    ) -> AlertRecord:
        values: Mapping[str, Any] = {
            "state": AlertState.RESOLVED.value,
            "resolved_at": now,
            "resolution": reason[:_MAX_RESOLUTION] if by is None else f"{reason} ({by})"[:128],
        }
        conn.execute(update(presence_alerts).where(_A.id == record.id).values(**values))
        return self._get(conn, record.id)
