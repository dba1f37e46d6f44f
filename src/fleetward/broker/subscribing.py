"""SUBSCRIBE and UNSUBSCRIBE: validate, authorize, store, answer, send retained messages.

Kept apart from ``router.py`` so each module holds one job: this base class owns the
subscription trie and the topic-depth limit, and :class:`~fleetward.broker.router.Router`
(which sets everything up) owns delivery. Nothing here is on the PUBLISH hot path.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING

from fleetward.broker.session import Delivery, Message, Session, SubOptions
from fleetward.broker.subscriptions import SubscriptionTrie
from fleetward.events import SubscribeRefused
from fleetward.mqtt import (
    MQTT_5_0,
    ReasonCode,
    RemoteProtocolError,
    Suback,
    Subscribe,
    Subscription,
    Unsuback,
    Unsubscribe,
    matches,
    parse_shared_subscription,
    topic_filter_problem,
)

if TYPE_CHECKING:
    from fleetward.access.mqtt_hooks import Authorizer
    from fleetward.broker.protocol import MqttProtocol
    from fleetward.broker.router import RouterStats
    from fleetward.events import EventBus

__all__ = ["SubscribeMixin"]


class SubscribeMixin:
    """Subscription handling of :class:`~fleetward.broker.router.Router` (set up there)."""

    __slots__ = ("_max_levels", "trie")

    trie: SubscriptionTrie[Session, SubOptions]
    _max_levels: int

    if TYPE_CHECKING:
        _authorizer: Authorizer
        _events: EventBus
        _now: Callable[[], float]
        _rr: dict[str, itertools.count[int]]
        _wall: Callable[[], dt.datetime]
        retained: dict[str, Message]
        stats: RouterStats

        def enqueue(self, session: Session, delivery: Delivery) -> None:
            """Send or queue one delivery (see Router)."""

    def on_subscribe(self, conn: MqttProtocol, session: Session, packet: Subscribe) -> None:
        """Handle SUBSCRIBE: validate, authorize, store, SUBACK, then retained messages."""
        v5 = conn.sc.version == MQTT_5_0
        sub_ids = packet.properties.subscription_identifiers
        sub_id = sub_ids[0] if sub_ids else None
        codes: list[int] = []
        retained: list[Delivery] = []
        for sub in packet.subscriptions:
            code, new = self._subscribe_one(session, sub.topic_filter, sub, sub_id, v5)
            codes.append(code)
            if code > 2 or sub.retain_handling == 2 or (sub.retain_handling == 1 and not new):
                continue
            if sub.topic_filter.startswith("$share/"):
                continue  # 5.0 §4.8.2: no retained messages for a new shared subscription
            opts = session.subscriptions[sub.topic_filter]
            retained += self._retained_for(opts)
        conn.write(conn.sc.send(Suback(packet.packet_id, codes)))
        for delivery in retained:
            self.enqueue(session, delivery)

    def _subscribe_one(
        self, session: Session, topic_filter: str, sub: Subscription, sub_id: int | None, v5: bool
    ) -> tuple[int, bool]:
        if topic_filter_problem(topic_filter, max_levels=self._max_levels, shared=v5):
            return (ReasonCode.TOPIC_FILTER_INVALID if v5 else 0x80), False
        shared = parse_shared_subscription(topic_filter) if v5 else None
        if shared is not None and sub.no_local:
            raise RemoteProtocolError("No Local on a shared subscription (MQTT-3.8.3-4)")
        inner = shared.topic_filter if shared else topic_filter
        if not self._authorizer.may_subscribe(session.identity, session.client_id, inner):
            self.stats.refused += 1
            if self._events.wants(SubscribeRefused):
                self._events.publish(
                    SubscribeRefused(
                        self._wall(),
                        session.client_id,
                        session.identity.name,
                        session.identity.tenant_id,
                        topic_filter,
                        ReasonCode.NOT_AUTHORIZED,
                    )
                )
            return (ReasonCode.NOT_AUTHORIZED if v5 else 0x80), False
        opts = SubOptions(
            topic_filter=inner,
            qos=sub.qos,
            no_local=sub.no_local,
            retain_as_published=sub.retain_as_published,
            retain_handling=sub.retain_handling,
            subscription_id=sub_id,
            # the whole "$share/{name}/{filter}" names the group: one share name with two
            # filters is two independent shared subscriptions (5.0 §4.8.2)
            group=topic_filter if shared else None,
        )
        new = topic_filter not in session.subscriptions
        session.subscriptions[topic_filter] = opts
        self.trie.add(inner, session, opts, group=opts.group)
        return sub.qos, new

    def _retained_for(self, opts: SubOptions) -> list[Delivery]:
        now = self._now()
        ids = (opts.subscription_id,) if opts.subscription_id is not None else ()
        out = []
        for topic, msg in list(self.retained.items()):
            if msg.expired(now):
                del self.retained[topic]
            elif matches(opts.topic_filter, topic):
                out.append(Delivery(msg, min(msg.qos, opts.qos), True, ids))  # MQTT-3.3.1-9
        return out

    def on_unsubscribe(self, conn: MqttProtocol, session: Session, packet: Unsubscribe) -> None:
        """Handle UNSUBSCRIBE (MQTT-3.10.4-1..6)."""
        codes = [
            0 if self.unsubscribe(session, f) else ReasonCode.NO_SUBSCRIPTION_EXISTED
            for f in packet.topic_filters
        ]
        conn.write(conn.sc.send(Unsuback(packet.packet_id, codes)))

    def unsubscribe(self, session: Session, topic_filter: str) -> bool:
        """Remove one subscription of ``session``; False if it had none."""
        opts = session.subscriptions.pop(topic_filter, None)
        if opts is None:
            return False
        self.trie.remove(opts.topic_filter, session, group=opts.group)
        if opts.group is not None:
            self._rr.pop(opts.group, None)  # the rotation restarts; the table stays bounded
        return True

    def forget(self, session: Session) -> None:
        """Remove every subscription of an ended session."""
        for topic_filter in list(session.subscriptions):
            self.unsubscribe(session, topic_filter)
