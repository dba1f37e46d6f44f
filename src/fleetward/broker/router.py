"""Routing: PUBLISH in, authorize, match, deliver; retained messages.

The hot path is synchronous and allocation-light: one trie lookup (cached per topic),
one cached authorization answer per (session, topic), one :class:`Delivery` per
recipient, and the encoded bytes go to each connection's batched writer. SUBSCRIBE and
UNSUBSCRIBE are handled by the base class in ``subscribing.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from fleetward.access.mqtt_hooks import Authorizer, Identity
from fleetward.broker.journal import Journal
from fleetward.broker.protocol import MqttProtocol
from fleetward.broker.session import Delivery, Message, Session, SubOptions
from fleetward.broker.subscribing import SubscribeMixin
from fleetward.broker.subscriptions import SubscriptionTrie
from fleetward.events import EventBus, PublishAccepted
from fleetward.mqtt import MQTT_5_0, Puback, Publish, Pubrec, Pubrel, ReasonCode

__all__ = ["PublishTap", "Router", "RouterStats", "ServiceHandler"]

ServiceHandler = Callable[[Identity, str, str, bytes], None]
"""``handler(identity, client_id, topic, payload)`` for a PUBLISH to a hub service topic."""

PublishTap = Callable[[Identity, str, bytes], None]
"""``tap(identity, topic, payload)`` for every routed client PUBLISH (telemetry history)."""

_AUTHZ_CACHE_MAX = 1024


@dataclass(slots=True)
class RouterStats:
    """Counters published under ``$fleet/broker/…`` and exported as metrics."""

    received: int = 0
    sent: int = 0
    dropped: int = 0
    refused: int = 0


class Router(SubscribeMixin):
    """Subscriptions, retained messages and delivery for every session."""

    __slots__ = (
        "_authorizer",
        "_events",
        "_journal",
        "_max_queued",
        "_now",
        "_rr",
        "_wall",
        "retained",
        "services",
        "stats",
        "tap",
    )

    def __init__(
        self,
        authorizer: Authorizer,
        events: EventBus,
        journal: Journal,
        *,
        max_queued: int,
        max_levels: int,
        wall: Callable[[], dt.datetime],
    ) -> None:
        self._authorizer = authorizer
        self._events = events
        self._journal = journal
        self._max_queued = max_queued
        self._max_levels = max_levels
        self._wall = wall
        self._now = asyncio.get_running_loop().time
        self._rr: dict[str, itertools.count[int]] = {}
        self.trie: SubscriptionTrie[Session, SubOptions] = SubscriptionTrie()
        self.retained: dict[str, Message] = {}
        self.services: dict[str, ServiceHandler] = {}
        """Hub services clients may publish to, by their first two ``$`` topic levels."""
        self.stats = RouterStats()
        self.tap: PublishTap | None = None
        """Sees each accepted client PUBLISH with its payload; ``None`` (the default) keeps
        the hot path to one attribute test. It must be quick: it runs on the loop."""

    # -- publish ---------------------------------------------------------------------------

    def on_publish(self, conn: MqttProtocol, session: Session, packet: Publish) -> None:
        """Handle a client's PUBLISH: authorize, route, acknowledge (MQTT 5 §4.3)."""
        qos, pid, sc = packet.qos, packet.packet_id, conn.sc
        if qos == 2 and session.qos2_received(pid):  # a re-sent QoS 2: ack, never re-route
            conn.write(sc.send(Pubrec(pid)))
            return
        self.stats.received += 1
        topic = packet.topic
        if topic[:1] == "$":  # $-topics belong to the hub (MQTT-4.7.2-1), bar its services
            self._on_service_publish(conn, session, packet)
            return
        refusal = 0 if self._may_publish(session, topic) else ReasonCode.NOT_AUTHORIZED
        meter = session.identity.meter
        if not refusal and meter is not None:
            refusal = meter(len(packet.payload))
        if refusal:
            self._refuse(conn, session, packet, refusal)
            return
        props = packet.properties
        expires_at = None
        if props.message_expiry_interval is not None:
            expires_at = self._now() + props.message_expiry_interval
        msg = Message(
            packet.topic,
            packet.payload,
            qos,
            packet.retain,
            props,
            origin=session.client_id,
            expires_at=expires_at,
        )
        matched = self.publish(msg, session)
        reason = 0 if matched or sc.version != MQTT_5_0 else ReasonCode.NO_MATCHING_SUBSCRIBERS
        if qos == 1:
            conn.write(sc.send(Puback(pid, reason)))
        elif qos == 2:
            session.qos2_remember(pid)
            self._journal.incoming_qos2(session, pid, True)
            conn.write(sc.send(Pubrec(pid, reason)))
        tap = self.tap
        if tap is not None:
            tap(session.identity, topic, packet.payload)
        if self._events.wants(PublishAccepted):
            identity = session.identity
            self._events.publish(
                PublishAccepted(
                    self._wall(),
                    session.client_id,
                    identity.name,
                    identity.tenant_id,
                    packet.topic,
                    qos,
                    packet.retain,
                    len(packet.payload),
                )
            )

    def _refuse(self, conn: MqttProtocol, session: Session, packet: Publish, code: int) -> None:
        """Refuse a PUBLISH: MQTT 5 hears ``code``; 3.1.1 cannot refuse, so it is dropped."""
        self.stats.refused += 1
        qos, pid, sc = packet.qos, packet.packet_id, conn.sc
        reason = code if sc.version == MQTT_5_0 else 0
        if qos == 1:
            conn.write(sc.send(Puback(pid, reason)))
        elif qos == 2:
            if not reason:  # 3.1.1 cannot refuse: complete the flow, drop the message
                session.qos2_remember(pid)
                self._journal.incoming_qos2(session, pid, True)
            conn.write(sc.send(Pubrec(pid, reason)))

    def _on_service_publish(self, conn: MqttProtocol, session: Session, packet: Publish) -> None:
        """A PUBLISH to a ``$`` topic: only to a hub service, and only where authorized."""
        topic = packet.topic
        service = self.services.get(topic[: topic.find("/", topic.find("/") + 1)])
        if service is None or not self._authorizer.may_publish(
            session.identity, session.client_id, topic
        ):
            self._refuse(conn, session, packet, ReasonCode.NOT_AUTHORIZED)
            return
        service(session.identity, session.client_id, topic, packet.payload)
        qos, pid, sc = packet.qos, packet.packet_id, conn.sc
        if qos == 1:
            conn.write(sc.send(Puback(pid, 0)))
        elif qos == 2:
            session.qos2_remember(pid)
            self._journal.incoming_qos2(session, pid, True)
            conn.write(sc.send(Pubrec(pid, 0)))

    def publish(self, msg: Message, sender: Session | None) -> int:
        """Route ``msg`` to every matching subscription; returns how many got it."""
        if msg.retain:
            # the hub's own statistics are regenerated after every start: not journaled
            durable = not msg.topic.startswith("$fleet/broker/")
            if msg.payload:
                self.retained[msg.topic] = msg
                if durable:
                    self._journal.retained(msg.topic, msg)
            elif self.retained.pop(msg.topic, None) is not None and durable:  # MQTT-3.3.1-10/11
                self._journal.retained(msg.topic, None)
        match = self.trie.match(msg.topic)
        count = 0
        for session, subs in match.direct:
            if self._deliver_to(session, msg, subs, sender):
                count += 1
        for group, members in match.groups:
            online = [m for m in members if m[0].conn is not None] or list(members)
            turn = next(self._rr.setdefault(group, itertools.count()))  # one turn per group
            session, opts = online[turn % len(online)]
            if self._deliver_to(session, msg, (opts,), sender):
                count += 1
        return count

    def _deliver_to(
        self, session: Session, msg: Message, subs: tuple[SubOptions, ...], sender: Session | None
    ) -> bool:
        if len(subs) == 1 and msg.expires_at is None:
            opts = subs[0]
            if opts.subscription_id is None and not (msg.qos and opts.qos):
                return self._deliver_qos0(session, msg, opts, sender)
        qos = -1
        rap = False
        sub_ids: list[int] = []
        for opts in subs:
            if opts.no_local and sender is session:  # MQTT-3.8.3-3
                continue
            qos = max(qos, opts.qos)
            rap = rap or opts.retain_as_published
            if opts.subscription_id is not None:
                sub_ids.append(opts.subscription_id)
        if qos < 0:
            return False
        # MQTT-3.3.1-12/13: the retain flag is kept only with Retain As Published
        self.enqueue(session, Delivery(msg, min(qos, msg.qos), msg.retain and rap, tuple(sub_ids)))
        return True

    def _deliver_qos0(
        self, session: Session, msg: Message, opts: SubOptions, sender: Session | None
    ) -> bool:
        """One subscription, QoS 0, nothing per-client to add: no Delivery object at all."""
        if opts.no_local and sender is session:  # MQTT-3.8.3-3
            return False
        conn = session.conn
        if conn is None or conn.congested:
            self.stats.dropped += 1
            session.dropped += 1
        elif conn.send_qos0(msg, msg.retain and opts.retain_as_published):  # MQTT-3.3.1-12/13
            self.stats.sent += 1
        return True

    def enqueue(self, session: Session, delivery: Delivery) -> None:
        """Send now if possible, else queue (QoS 1/2) or drop and count (QoS 0)."""
        conn = session.conn
        if delivery.qos == 0:
            if conn is None or conn.congested:
                self.stats.dropped += 1
                session.dropped += 1
            elif conn.send_publish(delivery):
                self.stats.sent += 1
            return
        if conn is not None and not session.queue and not session.resend and conn.can_send():
            self._journal.delivery_added(session, delivery)
            self._send_now(session, conn, delivery)
            return
        if session.queued() >= self._max_queued:
            self.stats.dropped += 1
            session.dropped += 1
            if conn is not None:  # tell an online client why, then end it
                conn.close(ReasonCode.QUOTA_EXCEEDED, "queue_full")
            return
        self._journal.delivery_added(session, delivery)
        session.hold(delivery)

    def _send_now(self, session: Session, conn: MqttProtocol, delivery: Delivery) -> None:
        pid = session.next_packet_id()
        delivery.packet_id = pid
        session.inflight[pid] = delivery
        if conn.send_publish(delivery):
            self.stats.sent += 1
            self._journal.delivery_in_flight(session, delivery)
        else:
            del session.inflight[pid]
            self._journal.delivery_done(session, delivery)

    def drain(self, session: Session) -> None:
        """Re-send held messages, then move queued ones into flight, while there is quota."""
        conn = session.conn
        if conn is None:
            return
        resend = session.resend
        while resend and conn.can_resend():
            delivery = session.inflight.get(resend.popleft())
            if delivery is not None:
                conn.send_publish(delivery, dup=True)  # MQTT-4.4.0-1: the same packet id
        if resend:
            return  # nothing new may overtake what is waiting to be re-sent (MQTT-4.6.0-5)
        session.resend = None
        now = self._now()
        queue = session.queue
        while queue and conn.can_send():
            delivery = queue.popleft()
            if delivery.message.expired(now):  # MQTT-3.3.2-5
                self._journal.delivery_done(session, delivery)
            else:
                self._send_now(session, conn, delivery)
        if queue is not None and not queue:
            session.queue = None  # an idle session gives its queue back

    def resend(self, session: Session) -> None:
        """After a resumed session's CONNACK: unacknowledged messages again, then the queue."""
        conn = session.conn
        if conn is None or not (session.inflight or session.queue):
            session.resend = None
            return  # a new session (every clean one) has nothing to send again
        resend: deque[int] = deque()
        for pid, delivery in session.inflight.items():
            if delivery.released:
                conn.write(conn.sc.send(Pubrel(pid)))
            else:  # MQTT-4.4.0-1: in order, with the original ids, as quota allows
                resend.append(pid)
        session.resend = resend or None
        self.drain(session)

    def _may_publish(self, session: Session, topic: str) -> bool:
        generation = self._authorizer.generation
        cache = session.authz_cache
        if cache is None or session.authz_generation != generation:
            cache = session.authz_cache = {}  # created on the first PUBLISH: idle ones have none
            session.authz_generation = generation
        allowed = cache.get(topic)
        if allowed is None:
            allowed = self._authorizer.may_publish(session.identity, session.client_id, topic)
            if len(cache) >= _AUTHZ_CACHE_MAX:
                cache.clear()
            cache[topic] = allowed
        return allowed
