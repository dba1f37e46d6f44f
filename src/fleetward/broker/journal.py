"""The broker's durability port: what the router, connections and sessions record.

:class:`Journal` turns session and delivery events into :class:`BrokerStore` rows, only
for sessions that outlive their connection (expiry > 0) and only for QoS 1/2 messages;
with no store it does nothing, so an in-memory broker pays one attribute check per
event. A session that was never stored (a clean session, the common case) costs no SQL
on connect or disconnect either: the journal remembers which client ids have a row.
Time-outs are kept as wall-clock times on disk (the loop's monotonic clock does not
survive a restart) and converted back when state is restored.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from fleetward.access.mqtt_hooks import Identity
from fleetward.broker.persistence import BrokerStore, StoredMessage
from fleetward.broker.session import Delivery, Message, Session, SubOptions

__all__ = ["Journal"]


class Journal:
    """Records durable broker state in a :class:`BrokerStore`, if one is configured."""

    __slots__ = ("_loop_time", "_stored_ids", "_wall", "store")

    def __init__(
        self,
        store: BrokerStore | None,
        loop_time: Callable[[], float],
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._loop_time = loop_time
        self._wall = wall
        # client ids with a session row: only those need a DELETE when they end
        self._stored_ids: set[str] = set()

    def commit(self) -> None:
        """Make every recorded change durable now (called before any socket flush)."""
        if self.store is not None:
            self.store.commit()

    # -- deliveries ------------------------------------------------------------------------

    def delivery_added(self, session: Session, delivery: Delivery) -> None:
        """A QoS 1/2 message is now owed to ``session``."""
        store = self.store
        if store is None or delivery.qos == 0 or not session.expiry_interval:
            return
        delivery.seq = store.next_seq()
        store.add_message(session.client_id, delivery.seq, self._stored(delivery.message, delivery))

    def delivery_in_flight(self, session: Session, delivery: Delivery) -> None:
        """The message got a packet id, or its PUBREC arrived."""
        if self.store is not None and delivery.seq:
            self.store.set_in_flight(
                session.client_id, delivery.seq, delivery.packet_id, delivery.released
            )

    def delivery_done(self, session: Session, delivery: Delivery) -> None:
        """Acknowledged, refused or expired: nothing more is owed."""
        if self.store is not None and delivery.seq:
            self.store.remove_message(session.client_id, delivery.seq)

    def incoming_qos2(self, session: Session, packet_id: int, present: bool) -> None:
        """A received QoS 2 packet id awaits (or no longer awaits) its PUBREL."""
        if self.store is not None and session.expiry_interval:
            self.store.set_incoming_qos2(session.client_id, packet_id, present)

    # -- sessions and retained messages ----------------------------------------------------

    def session_saved(self, session: Session, *, connected: bool) -> None:
        """Record a persistent session (or forget one that no longer persists)."""
        store = self.store
        if store is None:
            return
        if not session.expiry_interval:
            self._forget(store, session.client_id)
            return
        subs = [{"key": k, **dataclasses.asdict(v)} for k, v in session.subscriptions.items()]
        identity = session.identity
        store.save_session(
            session.client_id,
            identity.name,
            identity.tenant_id,
            session.expiry_interval,
            subs,
            connected=connected,
        )
        self._stored_ids.add(session.client_id)

    def session_ended(self, session: Session) -> None:
        """The session is gone for good."""
        if self.store is not None:
            self._forget(self.store, session.client_id)

    def _forget(self, store: BrokerStore, client_id: str) -> None:
        """Delete the session's rows, if it ever had any (messages and QoS 2 ids are only
        journaled for a session with a row: see :meth:`delivery_added`)."""
        if client_id in self._stored_ids:
            self._stored_ids.discard(client_id)
            store.delete_session(client_id)

    def retained(self, topic: str, msg: Message | None) -> None:
        """A retained message was set or cleared."""
        if self.store is not None:
            self.store.set_retained(self._stored(msg, None) if msg is not None else None, topic)

    # -- restore ---------------------------------------------------------------------------

    def restore(self) -> tuple[list[tuple[Session, float | None]], list[Message]]:
        """Sessions (with their remaining expiry in seconds) and retained messages."""
        store = self.store
        if store is None:
            return [], []
        now = self._wall()
        sessions: list[tuple[Session, float | None]] = []
        for row in store.load_sessions():
            self._stored_ids.add(row.client_id)
            session = Session(row.client_id, Identity(row.identity, row.tenant_id))
            session.expiry_interval = row.expiry_interval
            for sub in row.subscriptions:
                key = sub.pop("key")
                session.subscriptions[key] = SubOptions(**sub)
            session.incoming_qos2 = set(row.incoming_qos2) or None
            for stored in store.load_messages(row.client_id):
                delivery = Delivery(self._message(stored), stored.qos, stored.retain, ())
                delivery.seq = stored.seq
                if stored.packet_id:
                    delivery.packet_id, delivery.released = stored.packet_id, stored.released
                    session.inflight[stored.packet_id] = delivery
                else:
                    session.hold(delivery)
            remaining = None
            if row.expiry_interval != 0xFFFFFFFF:
                gone = row.disconnected_at if row.disconnected_at is not None else now
                remaining = max(0.0, gone + row.expiry_interval - now)
            sessions.append((session, remaining))
        return sessions, [self._message(m) for m in store.load_retained()]

    def close(self) -> None:
        """Commit and close the store."""
        if self.store is not None:
            self.store.close()

    # -- conversions -----------------------------------------------------------------------

    def _stored(self, msg: Message, delivery: Delivery | None) -> StoredMessage:
        expires = None
        if msg.expires_at is not None:
            expires = msg.expires_at - self._loop_time() + self._wall()
        return StoredMessage(
            seq=delivery.seq if delivery else 0,
            topic=msg.topic,
            payload=msg.payload,
            qos=delivery.qos if delivery else msg.qos,
            retain=delivery.retain if delivery else True,
            properties=msg.properties,
            expires_at=expires,
            packet_id=delivery.packet_id if delivery else 0,
            released=delivery.released if delivery else False,
        )

    def _message(self, stored: StoredMessage) -> Message:
        expires_at = None
        if stored.expires_at is not None:
            expires_at = stored.expires_at - self._wall() + self._loop_time()
        kwargs: dict[str, Any] = {"expires_at": expires_at}
        return Message(
            stored.topic, stored.payload, stored.qos, stored.retain, stored.properties, **kwargs
        )
