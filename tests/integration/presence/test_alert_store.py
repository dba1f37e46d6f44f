"""The alert history on SQLite and PostgreSQL: folding, lifecycle, tenant and owner scope."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.errors import ConflictError, NotFoundError
from fleetward.presence import AlertKey, AlertKind, AlertSignal, AlertState, SqlAlertStore
from fleetward.registry import Store

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _raise(tenant: str | None, subject: str, at: float, **details: int) -> AlertSignal:
    return AlertSignal(
        "raise",
        AlertKey(tenant, AlertKind.OFFLINE, subject),
        T0 + dt.timedelta(seconds=at),
        owner_id="o1",
        device_id=subject,
        site="s1",
        details=details,
    )


def _resolve(tenant: str | None, subject: str, at: float) -> AlertSignal:
    return AlertSignal(
        "resolve",
        AlertKey(tenant, AlertKind.OFFLINE, subject),
        T0 + dt.timedelta(seconds=at),
        details={"resolution": "returned"},
    )


def test_repeats_fold_and_a_resolve_closes(store: Store) -> None:
    alerts = SqlAlertStore(store.engine)
    first = alerts.apply(_raise("t1", "d1", 0, offline_seconds=300))
    again = alerts.apply(_raise("t1", "d1", 60, offline_seconds=360))
    assert first is not None
    assert again is not None
    assert (first[0], again[0]) == ("raised", "folded")
    record = again[1]
    assert record.id == first[1].id
    assert (record.count, record.last_seen, record.first_seen) == (
        2,
        T0 + dt.timedelta(seconds=60),
        T0,
    )
    assert record.details == {"offline_seconds": 360}
    closed = alerts.apply(_resolve("t1", "d1", 90))
    assert closed is not None
    assert closed[1].state is AlertState.RESOLVED
    assert closed[1].resolution == "returned"
    assert alerts.apply(_resolve("t1", "d1", 91)) is None  # nothing left to close
    reopened = alerts.apply(_raise("t1", "d1", 120))
    assert reopened is not None
    assert reopened[0] == "raised"
    assert reopened[1].id != first[1].id  # after a resolve, a new alert


def test_acknowledge_then_resolve_and_illegal_moves(store: Store) -> None:
    alerts = SqlAlertStore(store.engine)
    raised = alerts.apply(_raise("t1", "d1", 0))
    assert raised is not None
    alert_id = raised[1].id
    acked = alerts.acknowledge("t1", alert_id, by="key:abc", now=T0, owner_id=None)
    assert (acked.state, acked.acknowledged_by) == (AlertState.ACKNOWLEDGED, "key:abc")
    folded = alerts.apply(_raise("t1", "d1", 5))  # an acknowledged alert still folds
    assert folded is not None
    assert (folded[0], folded[1].state, folded[1].count) == ("folded", AlertState.ACKNOWLEDGED, 2)
    with pytest.raises(ConflictError) as e:
        alerts.acknowledge("t1", alert_id, by="key:abc", now=T0, owner_id=None)
    assert e.value.code == "alert.illegal_transition"
    done = alerts.resolve("t1", alert_id, by="key:abc", now=T0, owner_id="o1")
    assert done.state is AlertState.RESOLVED
    with pytest.raises(ConflictError):
        alerts.resolve("t1", alert_id, by="key:abc", now=T0, owner_id=None)


def test_another_tenant_or_owner_finds_nothing(store: Store) -> None:
    alerts = SqlAlertStore(store.engine)
    raised = alerts.apply(_raise("t1", "d1", 0))
    assert raised is not None
    alert_id = raised[1].id
    for tenant, owner in (("t2", None), ("t1", "someone-else")):
        with pytest.raises(NotFoundError):
            alerts.get(tenant, alert_id, owner_id=owner)
        with pytest.raises(NotFoundError):
            alerts.acknowledge(tenant, alert_id, by="k", now=T0, owner_id=owner)
    assert alerts.list("t2").items == []
    assert [a.id for a in alerts.list("t1", owner_id="o1").items] == [alert_id]
    assert alerts.list("t1", owner_id="o2").items == []


def test_list_pages_and_filters(store: Store) -> None:
    alerts = SqlAlertStore(store.engine)
    for i in range(5):
        alerts.apply(_raise("t1", f"d{i}", i))
    alerts.apply(_resolve("t1", "d0", 10))
    page = alerts.list("t1", limit=2)
    assert len(page.items) == 2
    assert page.next_cursor is not None
    rest = alerts.list("t1", limit=10, cursor=page.next_cursor)
    assert len(rest.items) == 3
    assert {a.device_id for a in alerts.list("t1", state=AlertState.OPEN).items} == {
        "d1",
        "d2",
        "d3",
        "d4",
    }
    assert [a.device_id for a in alerts.list("t1", device_id="d3").items] == ["d3"]


def test_alerts_without_tenant_fold_too(store: Store) -> None:
    alerts = SqlAlertStore(store.engine)
    a = alerts.apply(_raise(None, "config-user", 0))
    b = alerts.apply(_raise(None, "config-user", 1))
    assert a is not None
    assert b is not None
    assert b[0] == "folded"
