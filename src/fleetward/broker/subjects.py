"""Which sessions speak for a subject, and which tokens expire next: enforcement's index.

A revocation names one subject (a device id or a token id); scanning every session to
find its few would make the cut's cost grow with the fleet (ADR 0007). The broker keeps
this index current wherever a session's identity is set or the session ends, so a
session is always found under its *current* identity: a session resumed with a new
token is no longer found under the old one, and a persistent session without a
connection is found until it ends.

Token expiry works the same way: a heap of ``(expires_at, session)`` lets the sweep look
only at sessions whose token may have expired. Entries are dropped lazily (a session
that ended or changed identity leaves a stale entry behind), and the heap is rebuilt
when stale entries outnumber live ones, so reconnect storms cannot grow it unbounded.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable

from fleetward.broker.session import Session

__all__ = ["SubjectIndex"]


class SubjectIndex:
    """Subject → sessions, and a heap of token expiries. Loop-thread only."""

    __slots__ = ("_by_subject", "_expiries", "_order", "_timed")

    def __init__(self) -> None:
        # one session alone is held as is (most subjects have one; a dict each would cost
        # ~200 bytes per session), several as client id → session
        self._by_subject: dict[str, Session | dict[str, Session]] = {}
        self._expiries: list[tuple[float, int, Session]] = []
        self._order = itertools.count()
        self._timed = 0  # indexed sessions whose identity expires: the heap's live entries

    @staticmethod
    def _keys(session: Session) -> Iterable[str]:
        identity = session.identity
        return (identity.name, *identity.token_ids)

    def add(self, session: Session) -> None:
        """Index ``session`` under its current identity (call after setting it).

        The broker calls :meth:`remove` before it changes a session's identity, so each
        session is indexed under one identity at a time.
        """
        if self._indexed(session):
            return
        client_id = session.client_id
        by_subject = self._by_subject
        for key in self._keys(session):
            held = by_subject.get(key)
            if held is None or (isinstance(held, Session) and held.client_id == client_id):
                by_subject[key] = session
            elif isinstance(held, Session):
                by_subject[key] = {held.client_id: held, client_id: session}
            else:
                held[client_id] = session
        expires_at = session.identity.expires_at
        if expires_at is not None:
            self._timed += 1
            heapq.heappush(self._expiries, (expires_at, next(self._order), session))
            if len(self._expiries) > 2 * self._timed + 1024:
                self._compact()

    def remove(self, session: Session) -> None:
        """Forget ``session`` under its current identity (before changing it, or at its end)."""
        if not self._indexed(session):
            return
        if session.identity.expires_at is not None:
            self._timed -= 1
        client_id = session.client_id
        by_subject = self._by_subject
        for key in self._keys(session):
            held = by_subject.get(key)
            if held is session:
                del by_subject[key]
            elif isinstance(held, dict) and held.get(client_id) is session:
                del held[client_id]
                if len(held) == 1:
                    (by_subject[key],) = held.values()

    def of(self, subject: str) -> list[Session]:
        """The sessions whose identity is ``subject`` or carries it as a token id."""
        held = self._by_subject.get(subject)
        if held is None:
            return []
        return [held] if isinstance(held, Session) else list(held.values())

    def expiring(self, now: float) -> list[Session]:
        """Indexed sessions whose token's ``expires_at`` is at or before ``now``.

        Each is returned once; the caller decides (the hub's own check) whether to cut.
        """
        due: dict[int, Session] = {}
        heap = self._expiries
        while heap and heap[0][0] <= now:
            expires_at, _, session = heapq.heappop(heap)
            if session.identity.expires_at == expires_at and self._indexed(session):
                due[id(session)] = session  # re-indexed with the same token: one entry each
        return list(due.values())

    def recheck(self, session: Session) -> None:
        """Look at ``session`` again at the next :meth:`expiring` (its end was not due)."""
        expires_at = session.identity.expires_at
        if expires_at is not None and self._indexed(session):
            heapq.heappush(self._expiries, (expires_at, next(self._order), session))

    def __len__(self) -> int:
        """How many subjects are indexed."""
        return len(self._by_subject)

    def _indexed(self, session: Session) -> bool:
        held = self._by_subject.get(session.identity.name)
        if isinstance(held, dict):
            return held.get(session.client_id) is session
        return held is session

    def _compact(self) -> None:
        """Keep one entry per indexed session whose current identity expires."""
        kept: dict[int, tuple[float, int, Session]] = {}
        for entry in self._expiries:
            expires_at, _, session = entry
            if session.identity.expires_at == expires_at and self._indexed(session):
                kept[id(session)] = entry
        self._expiries = list(kept.values())
        heapq.heapify(self._expiries)
