"""The broker: sessions and their lifecycle (attach, take-over, wills, expiry, kick).

Connections are :class:`~fleetward.broker.protocol.MqttProtocol` objects; routing lives
in :class:`~fleetward.broker.router.Router`; revocation (kick, enforce, expire) in
:class:`~fleetward.broker.enforcement.EnforcementMixin`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass

from fleetward.access.mqtt_hooks import Authenticator, Authorizer, ConnectInfo, Identity
from fleetward.broker.deadlines import DeadlineWheel
from fleetward.broker.enforcement import EnforcementMixin
from fleetward.broker.journal import Journal
from fleetward.broker.persistence import BrokerStore
from fleetward.broker.protocol import MqttProtocol
from fleetward.broker.router import Router
from fleetward.broker.session import Message, Session
from fleetward.broker.subjects import SubjectIndex
from fleetward.clock import Clock
from fleetward.errors import FleetwardError, ForbiddenError
from fleetward.events import AuthRefused, ClientConnected, ClientDisconnected, EventBus
from fleetward.mqtt import (
    EMPTY_PROPERTIES,
    MQTT_5_0,
    ClientIdentifierNotValidError,
    Connect,
    Properties,
    Publish,
    ReasonCode,
    Subscribe,
    Unsubscribe,
    topic_name_problem,
)

__all__ = ["Broker", "BrokerLimits"]

_NEVER = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    """Bounds the broker enforces and announces (from :class:`MqttSettings`)."""

    max_packet_size: int = 256 * 1024
    max_topic_levels: int = 32
    receive_maximum: int = 1024
    max_inflight: int = 64
    max_queued_messages: int = 1000
    max_session_expiry: int = 7 * 24 * 3600
    max_keep_alive: int = 600
    topic_alias_maximum: int = 64
    write_buffer_high_water: int = 1 << 20
    connect_timeout: float = 10.0


class Broker(EnforcementMixin):
    """Every session and connection of the embedded broker."""

    def __init__(
        self,
        limits: BrokerLimits,
        authenticator: Authenticator,
        authorizer: Authorizer,
        events: EventBus,
        clock: Clock,
        store: BrokerStore | None = None,
    ) -> None:
        self.limits = limits
        self.events = events
        self.clock = clock
        self._authenticator = authenticator
        self._authorizer = authorizer
        self.sessions: dict[str, Session] = {}
        self.subjects = SubjectIndex()
        """The sessions of each identity and token id, for enforcement (kept current here)."""
        self.connections: set[MqttProtocol] = set()
        self.journal = Journal(store, asyncio.get_running_loop().time)
        self.router = Router(
            authorizer,
            events,
            self.journal,
            max_queued=limits.max_queued_messages,
            max_levels=limits.max_topic_levels,
            wall=clock.now,
        )
        self._loop = asyncio.get_running_loop()
        self.deadlines = DeadlineWheel(self._loop)
        self.yield_reads = type(self._loop).__module__.startswith("uvloop")
        """Whether a connection yields to the loop after each read (see MqttProtocol)."""

    # -- the protocol's entry points -------------------------------------------------------

    def authenticate(self, info: ConnectInfo) -> Identity | Awaitable[Identity]:
        """Ask the authenticator; refusals become :class:`AuthRefused` events."""
        try:
            result = self._authenticator.authenticate(info)
        except FleetwardError as e:
            self._refused(info.client_id, info.username, info.listener, info.peer, e)
            raise
        if isinstance(result, Identity):
            return result
        return self._await_identity(info, result)

    async def _await_identity(self, info: ConnectInfo, pending: Awaitable[Identity]) -> Identity:
        try:
            return await pending
        except FleetwardError as e:
            self._refused(info.client_id, info.username, info.listener, info.peer, e)
            raise

    def _refused(
        self, client_id: str, username: str | None, listener: str, peer: str, e: FleetwardError
    ) -> None:
        self.events.publish(
            AuthRefused(
                self.clock.now(), client_id, username, listener, peer, e.mqtt_reason, e.code
            )
        )

    def attach(
        self, conn: MqttProtocol, connect: Connect, identity: Identity
    ) -> tuple[Session, bool, Properties]:
        """Bind an authenticated CONNECT to a new or resumed session (MQTT 5 §3.1.2.4).

        A refusal (client id held by another identity, will topic not allowed, empty
        client id without clean session) raises and becomes an :class:`AuthRefused` event.
        """
        try:
            return self._attach(conn, connect, identity)
        except FleetwardError as e:
            self._refused(connect.client_id, connect.username, conn.listener.name, conn.peer, e)
            raise

    def _attach(
        self, conn: MqttProtocol, connect: Connect, identity: Identity
    ) -> tuple[Session, bool, Properties]:
        v5 = connect.protocol_version == MQTT_5_0
        client_id, assigned = connect.client_id, None
        if not client_id:
            if not v5 and not connect.clean_start:  # MQTT-3.1.3-8 (3.1.1)
                raise ClientIdentifierNotValidError("an empty client id needs a clean session")
            client_id = assigned = "fw-" + secrets.token_hex(10)
        if connect.will is not None:
            problem = topic_name_problem(
                connect.will.topic, max_levels=self.limits.max_topic_levels
            )
            if (
                problem
                or connect.will.topic.startswith("$")  # only the hub writes $-topics
                or not self._authorizer.may_publish(identity, client_id, connect.will.topic)
            ):
                raise ForbiddenError("the will topic is not allowed", code="mqtt.will_refused")
        existing = self.sessions.get(client_id)
        if existing is not None and (existing.identity.name, existing.identity.tenant_id) != (
            identity.name,
            identity.tenant_id,
        ):
            raise ForbiddenError(
                "client id in use by another identity", code="mqtt.client_id_taken"
            )
        if existing is not None and existing.conn is not None:
            old = existing.conn
            old.will_wanted = old.will_wanted and (
                connect.clean_start or _will_delay(existing) == 0
            )
            # MQTT-3.1.4-3: close first, so the release reports why the connection ended
            old.close(ReasonCode.SESSION_TAKEN_OVER, "taken_over")
            self._release(old, existing)
            # a session with expiry 0 ended with its connection: there is none to resume
            existing = self.sessions.get(client_id)
        if existing is not None and connect.clean_start:
            self._end_session(existing)
            existing = None
        if existing is None:
            session, present = Session(client_id, identity), False
            self.sessions[client_id] = session
        else:
            session, present = existing, True
            session.cancel_timers()  # MQTT-3.1.3-9: a resumed session never sends the will
        self.subjects.remove(session)  # a resumed session may come back as someone new
        session.identity = identity
        self.subjects.add(session)
        session.conn = conn
        session.will = connect.will
        requested = (
            connect.properties.session_expiry_interval
            if v5
            else (0 if connect.clean_start else _NEVER)
        )
        session.expiry_interval = min(requested or 0, self.limits.max_session_expiry)
        conn.session = session
        self.journal.session_saved(session, connected=True)
        props = (
            self._connack_properties(connect, assigned, requested or 0) if v5 else EMPTY_PROPERTIES
        )
        self.events.publish(
            ClientConnected(
                self.clock.now(),
                client_id,
                identity.name,
                identity.tenant_id,
                conn.listener.name,
                connect.protocol_version,
                conn.peer,
                conn.tls_version,
                conn.cert_serial,
                connect.clean_start,
                connect.keep_alive,
            )
        )
        return session, present, props

    def _connack_properties(
        self, connect: Connect, assigned: str | None, requested: int
    ) -> Properties:
        lim = self.limits
        keep_alive = connect.keep_alive
        server_keep_alive = None
        if keep_alive == 0 or keep_alive > lim.max_keep_alive:
            server_keep_alive = lim.max_keep_alive  # MQTT-3.2.2-21: the client must use it
        return Properties(
            receive_maximum=lim.receive_maximum,
            topic_alias_maximum=lim.topic_alias_maximum,
            maximum_packet_size=lim.max_packet_size,
            assigned_client_identifier=assigned,
            server_keep_alive=server_keep_alive,
            session_expiry_interval=(
                lim.max_session_expiry if requested > lim.max_session_expiry else None
            ),
            retain_available=True,
            wildcard_subscription_available=True,
            subscription_identifier_available=True,
            shared_subscription_available=True,
        )

    def resume(self, session: Session) -> None:
        """After CONNACK: re-send what was in flight, then the queue."""
        self.router.resend(session)

    def drain(self, session: Session) -> None:
        """The client acknowledged something or its buffer drained: send more."""
        self.router.drain(session)

    def on_publish(self, conn: MqttProtocol, session: Session, packet: Publish) -> None:
        """A client's PUBLISH."""
        self.router.on_publish(conn, session, packet)

    def on_subscribe(self, conn: MqttProtocol, session: Session, packet: Subscribe) -> None:
        """A client's SUBSCRIBE."""
        self.router.on_subscribe(conn, session, packet)
        self.journal.session_saved(session, connected=True)

    def on_unsubscribe(self, conn: MqttProtocol, session: Session, packet: Unsubscribe) -> None:
        """A client's UNSUBSCRIBE."""
        self.router.on_unsubscribe(conn, session, packet)
        self.journal.session_saved(session, connected=True)

    def detach(self, conn: MqttProtocol) -> None:
        """The connection is gone: will, session expiry, event."""
        session = conn.session
        if session is None or session.conn is not conn:
            return  # never attached, or taken over (handled in attach)
        self._release(conn, session)

    def _release(self, conn: MqttProtocol, session: Session) -> None:
        session.conn = None
        will_pending = bool(conn.will_wanted and session.will is not None)
        if will_pending:
            delay = min(_will_delay(session), session.expiry_interval)
            if delay == 0:
                self._publish_will(session)
            else:
                session.will_handle = self._loop.call_later(delay, self._publish_will, session)
        else:
            session.will = None
        if session.expiry_interval == 0:
            self._end_session(session)
        else:
            self.journal.session_saved(session, connected=False)
            if session.expiry_interval != _NEVER:
                session.expiry_handle = self._loop.call_later(
                    session.expiry_interval, self._end_session, session
                )
        identity = session.identity
        self.events.publish(
            ClientDisconnected(
                self.clock.now(),
                session.client_id,
                identity.name,
                identity.tenant_id,
                conn.listener.name,
                conn.close_reason,
                conn.close_code,
                will_pending,
            )
        )

    def _publish_will(self, session: Session) -> None:
        will, session.will, session.will_handle = session.will, None, None
        if will is None:
            return
        props = will.properties._replace(will_delay_interval=None)
        expires_at = None
        if props.message_expiry_interval is not None:
            expires_at = self._loop.time() + props.message_expiry_interval
        msg = Message(
            will.topic,
            will.payload,
            will.qos,
            will.retain,
            props,
            origin=session.client_id,
            expires_at=expires_at,
        )
        self.router.publish(msg, None)

    def _end_session(self, session: Session) -> None:
        if session.will_handle is not None:  # MQTT-3.1.3-9: session end sends a delayed will
            session.will_handle.cancel()
            self._publish_will(session)
        session.cancel_timers()
        self.router.forget(session)
        session.queue = None
        session.inflight.clear()
        self.journal.session_ended(session)
        self.subjects.remove(session)
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]

    # -- operator ---------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> int:
        """Publish as the hub itself (e.g. ``$fleet/…`` topics); returns recipients."""
        return self.router.publish(Message(topic, payload, qos, retain), None)

    def restore(self) -> int:
        """Load persistent sessions and retained messages saved by an earlier run."""
        sessions, retained = self.journal.restore()
        for session, remaining in sessions:
            self.sessions[session.client_id] = session
            self.subjects.add(session)
            for opts in session.subscriptions.values():
                self.router.trie.add(opts.topic_filter, session, opts, group=opts.group)
            if remaining is not None:
                session.expiry_handle = self._loop.call_later(remaining, self._end_session, session)
        for msg in retained:
            self.router.retained[msg.topic] = msg
        return len(sessions)

    def shutdown(self) -> None:
        """Tell every client the server is going away and close them (wills are kept)."""
        for conn in list(self.connections):
            conn.will_wanted = False
            conn.close(ReasonCode.SERVER_SHUTTING_DOWN, "server_shutdown")
        self.deadlines.close()
        self.journal.commit()


def _will_delay(session: Session) -> int:
    will = session.will
    if will is None:
        return 0
    return will.properties.will_delay_interval or 0
