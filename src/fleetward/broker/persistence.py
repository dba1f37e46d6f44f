"""Durable broker state: persistent sessions, their QoS 1/2 messages, retained messages.

SQLite in WAL mode, in the data directory, owned by the broker alone. Changes are
collected during one event-loop turn and committed together at the start of the next
callback batch, *before* the connections flush their writes (the commit is scheduled
first), so a PUBACK or PUBREC never reaches a socket before the message it acknowledges
is in the write-ahead log. A committed WAL frame survives ``kill -9`` (it is in the
kernel's page cache); ``synchronous=FULL`` (``mqtt.durable_fsync``) also survives power
loss at the cost of an fsync per batch.

Only sessions that outlive their connection (session expiry > 0) are stored; a clean
session costs nothing here.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetward.mqtt import Properties

__all__ = ["BrokerStore", "StoredMessage", "StoredSession"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    tenant_id TEXT,
    expiry_interval INTEGER NOT NULL,
    disconnected_at REAL,
    subscriptions TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    client_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    properties TEXT,
    expires_at REAL,
    packet_id INTEGER NOT NULL DEFAULT 0,
    released INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, seq)
);
CREATE TABLE IF NOT EXISTS incoming_qos2 (
    client_id TEXT NOT NULL,
    packet_id INTEGER NOT NULL,
    PRIMARY KEY (client_id, packet_id)
);
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    properties TEXT,
    expires_at REAL
);
"""


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A persistent session as it was last committed."""

    client_id: str
    identity: str
    tenant_id: str | None
    expiry_interval: int
    disconnected_at: float | None
    subscriptions: list[dict[str, Any]]
    incoming_qos2: list[int]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A QoS 1/2 message owed to a persistent session, or a retained message."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties
    expires_at: float | None
    packet_id: int
    released: bool


def encode_properties(props: Properties) -> str | None:
    """Properties as JSON (bytes as hex), or ``None`` when empty."""
    present = {k: v for k, v in props._asdict().items() if v is not None and v != ()}
    if not present:
        return None
    return json.dumps({k: (v.hex() if isinstance(v, bytes) else v) for k, v in present.items()})


def decode_properties(text: str | None) -> Properties:
    """The inverse of :func:`encode_properties`."""
    if not text:
        return Properties()
    raw: dict[str, Any] = json.loads(text)
    if "correlation_data" in raw:
        raw["correlation_data"] = bytes.fromhex(raw["correlation_data"])
    if "user_properties" in raw:
        raw["user_properties"] = tuple(tuple(p) for p in raw["user_properties"])
    if "subscription_identifiers" in raw:
        raw["subscription_identifiers"] = tuple(raw["subscription_identifiers"])
    return Properties(**raw)


class BrokerStore:
    """Batched writes to the broker's SQLite file; reads only at start-up."""

    def __init__(self, path: Path, *, fsync: bool = False, wall: Callable[[], float] = time.time):
        self.path = path
        self._wall = wall
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        self._ops: list[tuple[str, tuple[Any, ...]]] = []
        self._scheduled = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()
        self._seq = int(row[0])

    # -- batching --------------------------------------------------------------------------

    def _op(self, sql: str, args: tuple[Any, ...]) -> None:
        if self._closed:
            # connections still ending after shutdown: on restart every session is
            # restored as disconnected anyway, so nothing of value is lost
            return
        self._ops.append((sql, args))
        if not self._scheduled:
            self._scheduled = True
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self.commit)

    def commit(self) -> None:
        """Write every pending change in one transaction."""
        self._scheduled = False
        if not self._ops or self._closed:
            return
        ops, self._ops = self._ops, []
        db = self._db
        db.execute("BEGIN")
        try:
            for sql, args in ops:
                db.execute(sql, args)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def next_seq(self) -> int:
        """A new message sequence number (keeps per-session order across restarts)."""
        self._seq += 1
        return self._seq

    # -- sessions --------------------------------------------------------------------------

    def save_session(
        self,
        client_id: str,
        identity: str,
        tenant_id: str | None,
        expiry_interval: int,
        subscriptions: list[dict[str, Any]],
        *,
        connected: bool,
    ) -> None:
        """Insert or replace a session row."""
        self._op(
            "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
            (
                client_id,
                identity,
                tenant_id,
                expiry_interval,
                None if connected else self._wall(),
                json.dumps(subscriptions),
            ),
        )

    def delete_session(self, client_id: str) -> None:
        """Forget a session and everything owed to it."""
        self._op("DELETE FROM sessions WHERE client_id = ?", (client_id,))
        self._op("DELETE FROM messages WHERE client_id = ?", (client_id,))
        self._op("DELETE FROM incoming_qos2 WHERE client_id = ?", (client_id,))

    # -- messages owed to sessions ---------------------------------------------------------

    def add_message(self, client_id: str, seq: int, msg: StoredMessage) -> None:
        """Record a QoS 1/2 message for a persistent session."""
        self._op(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                client_id,
                seq,
                msg.topic,
                msg.payload,
                msg.qos,
                int(msg.retain),
                encode_properties(msg.properties),
                msg.expires_at,
                msg.packet_id,
                int(msg.released),
            ),
        )

    def set_in_flight(self, client_id: str, seq: int, packet_id: int, released: bool) -> None:
        """Remember the packet id (and PUBREC) of a message in flight."""
        self._op(
            "UPDATE messages SET packet_id = ?, released = ? WHERE client_id = ? AND seq = ?",
            (packet_id, int(released), client_id, seq),
        )

    def remove_message(self, client_id: str, seq: int) -> None:
        """The message was acknowledged (or expired)."""
        self._op("DELETE FROM messages WHERE client_id = ? AND seq = ?", (client_id, seq))

    def set_incoming_qos2(self, client_id: str, packet_id: int, present: bool) -> None:
        """Track a received QoS 2 packet id until its PUBREL."""
        if present:
            self._op("INSERT OR IGNORE INTO incoming_qos2 VALUES (?, ?)", (client_id, packet_id))
        else:
            self._op(
                "DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?",
                (client_id, packet_id),
            )

    # -- retained --------------------------------------------------------------------------

    def set_retained(self, msg: StoredMessage | None, topic: str) -> None:
        """Store (or with ``None``, clear) the retained message of ``topic``."""
        if msg is None:
            self._op("DELETE FROM retained WHERE topic = ?", (topic,))
            return
        self._op(
            "INSERT OR REPLACE INTO retained VALUES (?, ?, ?, ?, ?)",
            (topic, msg.payload, msg.qos, encode_properties(msg.properties), msg.expires_at),
        )

    # -- recovery --------------------------------------------------------------------------

    def load_sessions(self) -> list[StoredSession]:
        """Every stored session that has not expired by now (expired ones are removed)."""
        now = self._wall()
        out: list[StoredSession] = []
        for row in self._db.execute("SELECT * FROM sessions").fetchall():
            client_id, identity, tenant, expiry, gone_at, subs = row
            if gone_at is not None and expiry != 0xFFFFFFFF and gone_at + expiry <= now:
                self._db.execute("DELETE FROM sessions WHERE client_id = ?", (client_id,))
                self._db.execute("DELETE FROM messages WHERE client_id = ?", (client_id,))
                continue
            pids = [
                r[0]
                for r in self._db.execute(
                    "SELECT packet_id FROM incoming_qos2 WHERE client_id = ?", (client_id,)
                )
            ]
            out.append(
                StoredSession(client_id, identity, tenant, expiry, gone_at, json.loads(subs), pids)
            )
        return out

    def load_messages(self, client_id: str) -> list[StoredMessage]:
        """The messages owed to one session, oldest first."""
        rows = self._db.execute(
            "SELECT seq, topic, payload, qos, retain, properties, expires_at, packet_id, released"
            " FROM messages WHERE client_id = ? ORDER BY seq",
            (client_id,),
        ).fetchall()
        return [
            StoredMessage(s, t, bytes(p), q, bool(r), decode_properties(pr), e, pid, bool(rel))
            for s, t, p, q, r, pr, e, pid, rel in rows
        ]

    def load_retained(self) -> list[StoredMessage]:
        """Every retained message."""
        rows = self._db.execute("SELECT topic, payload, qos, properties, expires_at FROM retained")
        return [
            StoredMessage(0, t, bytes(p), q, True, decode_properties(pr), e, 0, False)
            for t, p, q, pr, e in rows.fetchall()
        ]

    def close(self) -> None:
        """Commit what is pending and close the file."""
        self.commit()
        self._closed = True
        self._db.close()
