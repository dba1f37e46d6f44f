"""The CONNECT/DISCONNECT path stays cheap without losing what it must keep.

A clean session never touches the broker's database; a persistent one is stored and,
when it ends, deleted (with what was owed to it).
"""

from __future__ import annotations

import sqlite3

from fleetward.events import ClientDisconnected

from ...support.broker import LiveBroker
from ._clients import Paho, connect_props, wait_event, wait_until


def _trace(lb: LiveBroker) -> list[str]:
    """Every SQL statement the broker's store runs from now on."""
    store = lb.broker.journal.store
    assert store is not None
    statements: list[str] = []
    db: sqlite3.Connection = store._db  # the real SQLite connection, traced
    lb.call(lambda: db.set_trace_callback(statements.append))
    return statements


def _session_rows(lb: LiveBroker, client_id: str) -> int:
    store = lb.broker.journal.store
    assert store is not None
    db: sqlite3.Connection = store._db
    row = lb.call(
        lambda: db.execute("SELECT COUNT(*) FROM sessions WHERE client_id = ?", (client_id,))
    ).fetchone()
    return int(row[0])


def test_a_clean_session_costs_no_sql(mqtt_broker: LiveBroker) -> None:
    statements = _trace(mqtt_broker)
    for v5 in (False, True):
        c = Paho(mqtt_broker, v5=v5, client_id=f"clean-{v5}").connected()
        c.disconnect()
        wait_event(mqtt_broker, ClientDisconnected, client_id=f"clean-{v5}")
    mqtt_broker.call(mqtt_broker.broker.journal.commit)
    assert [s for s in statements if "sessions" in s or "messages" in s] == []


def test_a_persistent_session_is_stored_and_deleted_when_it_ends(
    mqtt_broker: LiveBroker,
) -> None:
    c = Paho(mqtt_broker, client_id="keeper").connected(
        clean_start=False, properties=connect_props(SessionExpiryInterval=600)
    )
    c.subscribe("keep/#", qos=1)
    c.disconnect()
    wait_event(mqtt_broker, ClientDisconnected, client_id="keeper")
    mqtt_broker.call(mqtt_broker.broker.journal.commit)
    assert _session_rows(mqtt_broker, "keeper") == 1
    # a clean start ends the stored session: its row goes
    again = Paho(mqtt_broker, client_id="keeper").connected(clean_start=True)
    mqtt_broker.call(mqtt_broker.broker.journal.commit)
    wait_until(lambda: _session_rows(mqtt_broker, "keeper") == 0, what="the row deleted")
    again.disconnect()
