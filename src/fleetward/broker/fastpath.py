"""A read's worth of PUBLISH packets from one client, routed in one pass.

:meth:`Router.on_publish` handles one packet with every feature; a socket read usually
holds hundreds of PUBLISH packets, mostly to one topic, with nothing to rewrite. Here
those runs share their per-topic work (authorization answer, subscriber plan, encoded
headers), QoS 0 copies go to each connection's batched writer as ``(header, payload)``
without a :class:`Message` or :class:`Delivery`, and the run's PUBACKs leave as one
buffer. Everything else (QoS 2, RETAIN, properties, ``$`` topics, shared or overlapping
subscriptions, QoS 1 copies) takes the full path, packet by packet, in order.

Nothing is skipped: every PUBLISH is authorized (the cached answer is dropped when the
authorizer's generation moves), metered, tapped and announced exactly as on the full
path, and a PUBACK still leaves only after the journal commit of the next flush.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetward.broker.session import Message, Session, SubOptions
from fleetward.events import PublishAccepted
from fleetward.mqtt import EMPTY_PROPERTIES, MQTT_5_0, Puback, Publish, ReasonCode

if TYPE_CHECKING:
    from fleetward.broker.protocol import MqttProtocol
    from fleetward.broker.router import Router

__all__ = ["on_pubacks", "on_publishes"]

_Plan = tuple[Session, SubOptions]
_Target = tuple[Session, SubOptions, "MqttProtocol | None", bytes | None]


def _plan(router: Router, sender: Session, topic: str, qos: int) -> list[_Plan] | None:
    """The subscriptions a message reaches as plain QoS 0 copies, or ``None`` for the full path.

    ``None`` when any recipient needs more than that: a shared group, several matching
    subscriptions (one copy, highest QoS, all identifiers), a Subscription Identifier,
    or QoS 1/2 on both sides.
    """
    match = router.trie.match(topic)
    if match.groups:
        return None
    plan: list[_Plan] = []
    for session, subs in match.direct:
        if len(subs) != 1:
            return None
        opts = subs[0]
        if opts.subscription_id is not None or (qos and opts.qos):
            return None
        if not (opts.no_local and session is sender):  # MQTT-3.8.3-3
            plan.append((session, opts))
    return plan


def _targets(plan: list[_Plan], topic: str, payload: bytes) -> list[_Target]:
    """Each subscription with the connection it goes to and that connection's header.

    The header is ``None`` where the connection needs the full path (no connection,
    topic aliases, a size limit): :meth:`Router._deliver_qos0` decides those.
    """
    out: list[_Target] = []
    for session, opts in plan:
        conn = session.conn
        head = None
        if conn is not None:  # RETAIN is 0 here, so Retain As Published changes nothing
            head = conn.sc.qos0_head(topic, payload, False, EMPTY_PROPERTIES)
        out.append((session, opts, conn, head))
    return out


def on_publishes(  # noqa: PLR0912, PLR0915 - one loop on purpose: a call per packet costs more
    router: Router, conn: MqttProtocol, session: Session, packets: list[Publish]
) -> None:
    """Handle ``packets`` (consecutive PUBLISH from ``conn``) as :meth:`Router.on_publish`."""
    sc = conn.sc
    identity = session.identity
    meter = identity.meter
    tap = router.tap
    events = router._events
    announce = events.wants(PublishAccepted)
    authorizer = router._authorizer
    stats = router.stats
    v5 = sc.version == MQTT_5_0
    acks: list[int] = []
    topic: str | None = None  # what the cached decisions below are for
    qos = size = generation = -1
    full = allowed = False
    plan: list[_Plan] | None = None
    targets: list[_Target] = []
    received = sent = 0
    try:
        for packet in packets:
            if conn._closing:
                break  # as the packet-by-packet loop: nothing more is handled
            payload = packet.payload
            if (
                packet.topic is not topic
                or packet.qos != qos
                or len(payload) != size
                or authorizer.generation != generation
            ):
                topic, qos, size = packet.topic, packet.qos, len(payload)
                generation = authorizer.generation
                full = qos == 2 or topic[:1] == "$"
                if not full:
                    allowed = router._may_publish(session, topic)
                    plan = _plan(router, session, topic, qos)
                    targets = _targets(plan, topic, payload) if plan else []
            if full or packet.retain or packet.properties is not EMPTY_PROPERTIES:
                if acks:
                    conn.write(sc.send_pubacks(acks))
                    acks = []
                router.on_publish(conn, session, packet)
                topic = None  # a service or a refusal may have changed anything
                continue
            received += 1
            refusal = 0 if allowed else ReasonCode.NOT_AUTHORIZED
            if not refusal and meter is not None:
                refusal = meter(size)
            if refusal:
                if acks:
                    conn.write(sc.send_pubacks(acks))
                    acks = []
                router._refuse(conn, session, packet, refusal)
                continue
            if plan is None:
                msg = Message(topic, payload, qos, False, origin=session.client_id)
                matched = router.publish(msg, session)
            else:
                matched = len(targets)
                msg = None
                for target, opts, tconn, head in targets:
                    if head is not None and target.conn is tconn and not tconn.congested:  # type: ignore[union-attr]
                        if tconn.send_parts(head, payload):  # type: ignore[union-attr]
                            sent += 1
                        continue
                    if msg is None:  # gone, congested or special: as the full path does it
                        msg = Message(topic, payload, qos, False, origin=session.client_id)
                    router._deliver_qos0(target, msg, opts, session)
            if qos == 1:
                if matched or not v5:
                    acks.append(packet.packet_id)
                else:
                    if acks:
                        conn.write(sc.send_pubacks(acks))
                        acks = []
                    conn.write(
                        sc.send(Puback(packet.packet_id, ReasonCode.NO_MATCHING_SUBSCRIBERS))
                    )
            if tap is not None:
                tap(identity, topic, payload)
            if announce:
                events.publish(
                    PublishAccepted(
                        router._wall(),
                        session.client_id,
                        identity.name,
                        identity.tenant_id,
                        topic,
                        qos,
                        False,
                        size,
                    )
                )
    finally:  # what was handled is counted and acknowledged, even if a packet raised
        stats.received += received
        stats.sent += sent
        if acks:
            conn.write(sc.send_pubacks(acks))


def on_pubacks(router: Router, session: Session, acks: list[Puback]) -> None:
    """QoS 1 deliveries done, then one drain for the lot (what one drain each would send)."""
    inflight, journal = session.inflight, router._journal
    for ack in acks:
        done = inflight.pop(ack.packet_id, None)
        if done is not None:
            journal.delivery_done(session, done)
    router.drain(session)
