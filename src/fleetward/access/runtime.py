"""What every access use case shares: storage, the live state, audit and enforcement.

A change is applied in one order, always: the database, then the live state, then the
broker's cached answers (:meth:`HubAccess.changed`), then, for a change that takes a
right away, the live sessions (:attr:`AccessRuntime.enforce`, which returns only once
the broker has cut or trimmed every affected session). The change also goes to the
change feed, so another process's hub (or this hub, after a CLI change) follows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from fleetward.access.follow import apply_changes
from fleetward.access.hub_access import AuditHook, HubAccess
from fleetward.access.live import load_state
from fleetward.access.store import AccessStore
from fleetward.clock import Clock
from fleetward.errors import FleetwardError

__all__ = ["AccessRuntime", "Scalar"]

log = logging.getLogger("fleetward.access")

Scalar = str | int | float | bool | None

FOLLOW_BATCH = 64
"""More change-feed entries than this at one poll: reload everything instead."""


def _no_sessions(_subject: str | None = None) -> None:
    """No broker in this process (the CLI): the running hub follows the change feed."""


@dataclass(slots=True)
class AccessRuntime:
    """Shared plumbing of the access services."""

    store: AccessStore
    hub: HubAccess
    clock: Clock
    audit_hook: AuditHook
    enforce: Callable[[str | None], None] = _no_sessions
    """Apply the state to live sessions: all, or only those of one subject (a device id
    or a token id), which keeps a revocation's cost independent of the fleet's size."""
    _seen: int = field(default=0)

    def audit(
        self,
        actor: str,
        action: str,
        *,
        target: str | None = None,
        tenant_id: str | None = None,
        outcome: str = "ok",
        details: Mapping[str, Scalar] | None = None,
    ) -> None:
        """Record one act in the audit log."""
        self.audit_hook(
            actor=actor,
            action=action,
            target=target,
            tenant_id=tenant_id,
            outcome=outcome,
            details=dict(details or {}),
        )

    @contextmanager
    def recording(
        self, actor: str, action: str, *, target: str, tenant_id: str | None
    ) -> Iterator[None]:
        """Around the writes that follow a cut: a failure is audited (the cut stands) and raised.

        The sessions are already gone when storage refuses, so the audit log must say so:
        ``outcome="unsaved"`` tells an operator the act took effect in this process only.
        """
        try:
            yield
        except FleetwardError as e:
            self.audit(
                actor,
                action,
                target=target,
                tenant_id=tenant_id,
                outcome="unsaved",
                details={"error": e.code},
            )
            raise

    def applied(
        self,
        tenant_id: str | None,
        what: str,
        target: str | None,
        *,
        tighten: bool,
        subject: str | None = None,
    ) -> None:
        """After the database and the live state changed: caches, sessions, change feed."""
        self.hub.changed()
        if tighten:
            self.enforce(subject)
        self.noted(self.store.note_change(tenant_id, what, target, self.clock.now()))

    def noted(self, seq: int) -> None:
        """This process wrote change-feed entry ``seq`` (its state already holds it)."""
        if seq == self._seen + 1:
            self._seen = seq  # ours, and nobody else's came in between

    def cut(self, subject: str) -> None:
        """The live state already took a right away: drop cached answers, apply to sessions."""
        self.hub.changed()
        self.enforce(subject)

    def follow(self) -> bool:
        """Apply another process's access changes; whether there were any.

        Entries about one device or token are applied to it alone and only its sessions
        are re-checked (:mod:`fleetward.access.follow`); anything else, or a backlog of
        more than :data:`FOLLOW_BATCH` entries, reloads the whole state.
        """
        last = self.store.last_change()
        if last <= self._seen:
            return False
        try:
            changes = self.store.changes_since(self._seen, FOLLOW_BATCH + 1)
            subjects = None
            if len(changes) <= FOLLOW_BATCH:
                subjects = apply_changes(self.store, self.hub.state, changes)
            if subjects is None:
                self.hub.state = load_state(self.store, self.clock.now())
        except FleetwardError:
            log.exception("cannot reload the access state; keeping the current one")
            return False
        self._seen = max(last, changes[-1][0] if changes else 0)
        self.hub.changed()
        if subjects is None:
            self.enforce(None)
        else:
            for subject in sorted(subjects):
                self.enforce(subject)
        return True

    def ensure_device(self, device_id: str) -> None:
        """Load a device created since the state was built (before changing its policy)."""
        if self.hub.state.device(device_id) is None:
            row = self.store.device_row(device_id)
            if row is not None:
                self.hub.state.put_row(row)

    def mark_seen(self) -> None:
        """Everything in the change feed so far is already in the live state (at start)."""
        self._seen = self.store.last_change()
