"""Revocation and enforcement: cut the sessions whose rights are gone, at once.

:meth:`EnforcementMixin.kick` cuts the live connections an operator selects (optionally
ending their sessions), :meth:`EnforcementMixin.enforce` applies an access change (it
finds a subject's sessions through :class:`~fleetward.broker.subjects.SubjectIndex`),
:meth:`EnforcementMixin.expire` ends sessions whose token ran out, and
:meth:`EnforcementMixin.drop_subscriptions` removes subscriptions no longer allowed.
The session lifecycle they rely on lives in :class:`~fleetward.broker.core.Broker`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fleetward.access.mqtt_hooks import Identity
from fleetward.broker.journal import Journal
from fleetward.broker.router import Router
from fleetward.broker.session import Session
from fleetward.broker.subjects import SubjectIndex
from fleetward.clock import Clock
from fleetward.mqtt import ReasonCode

if TYPE_CHECKING:
    from fleetward.broker.protocol import MqttProtocol

__all__ = ["EnforcementMixin"]


class EnforcementMixin:
    """The broker's revocation entry points (its state is set up by ``Broker``)."""

    sessions: dict[str, Session]
    subjects: SubjectIndex
    router: Router
    journal: Journal
    clock: Clock

    if TYPE_CHECKING:

        def _release(self, conn: MqttProtocol, session: Session) -> None:
            """Detach ``conn`` from ``session`` (see Broker)."""

        def _end_session(self, session: Session) -> None:
            """End ``session`` for good (see Broker)."""

    def kick(
        self,
        match: Callable[[Session], bool],
        *,
        reason_code: int = ReasonCode.ADMINISTRATIVE_ACTION,
        end_sessions: bool = True,
    ) -> int:
        """Disconnect every session ``match`` selects, at once; returns how many."""
        count = 0
        for session in list(self.sessions.values()):
            if not match(session):
                continue
            count += 1
            conn = session.conn
            if conn is not None:
                conn.will_wanted = False
                conn.close(reason_code, "kicked")
                self._release(conn, session)
            if end_sessions:
                session.will = None
                self._end_session(session)
        return count

    def enforce(
        self,
        why: Callable[[Identity], str | None],
        may_subscribe: Callable[[Identity, str, str], bool],
        subject: str | None = None,
    ) -> tuple[int, int]:
        """Apply an access change to every live session, at once; (cut, dropped).

        A session whose identity lost its right (``why`` names the reason) is cut: what
        was queued for it but not yet written is discarded, an MQTT 5 client hears 0x87
        Not authorized, and its session ends (no will, nothing kept for it). Every
        other session loses the subscriptions ``may_subscribe`` no longer allows. When
        this returns, nothing more is written to a cut session. ``subject`` (a device or
        token id) limits the work to the sessions of that identity or token.
        """

        # the index finds the subject's sessions without looking at anyone else's
        targets = list(self.sessions.values()) if subject is None else self.subjects.of(subject)
        cut = dropped = 0
        for session in targets:
            identity = session.identity
            reason = why(identity)
            if reason is not None:
                cut += 1
                self._cut(session, reason)
                continue
            for topic_filter, opts in list(session.subscriptions.items()):
                if not may_subscribe(
                    identity, session.client_id, opts.topic_filter
                ) and self.router.unsubscribe(session, topic_filter):
                    dropped += 1
                    self.journal.session_saved(session, connected=session.conn is not None)
        return cut, dropped

    def expire(self, why: Callable[[Identity], str | None]) -> int:
        """End the sessions whose token has expired by now; returns how many.

        Only sessions whose identity's ``expires_at`` has passed are looked at (the
        index keeps them in order); ``why`` has the last word, as in :meth:`enforce`.
        """
        cut = 0
        for session in self.subjects.expiring(self.clock.now().timestamp()):
            reason = why(session.identity)
            if reason is None:
                self.subjects.recheck(session)
                continue
            cut += 1
            self._cut(session, reason)
        return cut

    def _cut(self, session: Session, reason: str) -> None:
        """Close ``session``'s connection at once (0x87, queue discarded) and end it."""
        conn = session.conn
        if conn is not None:
            conn.will_wanted = False
            conn.close(ReasonCode.NOT_AUTHORIZED, reason, discard=True)
            self._release(conn, session)
        session.will = None
        self._end_session(session)

    def drop_subscriptions(self, match: Callable[[Session, str], bool]) -> int:
        """Remove every subscription ``match(session, filter)`` selects; returns how many."""
        dropped = 0
        for session in list(self.sessions.values()):
            for topic_filter in list(session.subscriptions):
                if match(session, topic_filter) and self.router.unsubscribe(session, topic_filter):
                    dropped += 1
                    self.journal.session_saved(session, connected=session.conn is not None)
        return dropped
