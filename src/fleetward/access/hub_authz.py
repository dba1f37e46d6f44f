"""What a connected identity may do: the :class:`Authorizer` half of :class:`HubAccess`.

Answers are pure lookups in the live state (the broker caches them per connection and
topic until the generation changes). A refused PUBLISH is audited here; a refused
SUBSCRIBE is audited from the broker's ``SubscribeRefused`` event. :meth:`still_allowed`
is what enforcement asks of every live session after a change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fleetward.access.live import AccessState
from fleetward.access.mqtt_hooks import Identity, filter_covers
from fleetward.access.policy import may_publish, may_subscribe
from fleetward.access.static_policy import StaticPolicy
from fleetward.clock import Clock
from fleetward.errors import FleetwardError
from fleetward.service_topics import enroll_topic, keys_topic, token_topic

__all__ = [
    "DEVICE",
    "ENROLLING",
    "AuditHook",
    "Authorization",
    "enroll_topic",
    "keys_topic",
    "token_topic",
]

log = logging.getLogger("fleetward.access")

AuditHook = Callable[..., None]
"""``audit(actor=…, action=…, target=…, tenant_id=…, outcome=…, details=…)``."""

ENROLLING = "enrolling"
DEVICE = "device"
TOKEN_KINDS = frozenset({"app", "grant"})


class Authorization:
    """Mixin: the authorization answers over ``state`` (set by :class:`HubAccess`)."""

    __slots__ = ()
    state: AccessState
    _clock: Clock
    _static: StaticPolicy
    _audit: AuditHook

    def may_publish(self, identity: Identity, client_id: str, topic: str) -> bool:
        """Whether ``identity`` may publish to ``topic`` (answers are cached by the broker)."""
        kind = identity.kind
        if kind == DEVICE:
            device = self.state.device(identity.name)
            if device is None or not device.usable:
                return False
            if topic == token_topic(identity.name, "req"):
                allowed = identity.credential == "certificate"
                reason = "token refresh needs the device certificate"
            elif topic == keys_topic(identity.name, "put"):
                allowed, reason = True, ""  # its own E2E public key, nobody else's
            else:
                decision = may_publish(device.policy, topic, now=self._clock.now())
                allowed, reason = decision.allowed, decision.reason
        elif kind == ENROLLING:
            allowed = topic == enroll_topic(identity.name, "csr")
            reason = "an enrolling device may only send its CSR"
        elif kind in TOKEN_KINDS:
            allowed = not topic.startswith("$") and any(
                filter_covers(p, topic) for p in identity.publish
            )
            reason = "outside the token's ACL"
        else:
            return self._static.may_publish(identity, client_id, topic)
        if not allowed:
            self._refused("publish", identity, client_id, topic, reason)
        return allowed

    def may_subscribe(self, identity: Identity, client_id: str, topic_filter: str) -> bool:
        """Whether ``identity`` may subscribe to ``topic_filter``."""
        kind = identity.kind
        if kind == DEVICE:
            device = self.state.device(identity.name)
            if device is None or not device.usable:
                return False
            if filter_covers(token_topic(identity.name, "resp"), topic_filter):
                return identity.credential == "certificate"
            return (
                filter_covers(keys_topic(identity.name, "result"), topic_filter)
                or may_subscribe(device.policy, topic_filter, now=self._clock.now()).allowed
            )
        if kind == ENROLLING:
            return filter_covers(enroll_topic(identity.name, "result"), topic_filter)
        if kind in TOKEN_KINDS:
            return any(filter_covers(p, topic_filter) for p in identity.subscribe)
        return self._static.may_subscribe(identity, client_id, topic_filter)

    def still_allowed(self, identity: Identity) -> str | None:
        """Why a live session of ``identity`` must end now, or None if it may go on."""
        if identity.token_ids and any(t in self.state.revoked_tokens for t in identity.token_ids):
            return "token.revoked"
        if self.expired(identity):
            return "token.expired"
        kind = identity.kind
        why: str | None = None
        if kind in (DEVICE, ENROLLING):
            why = self._device_gone(identity)
        elif kind in TOKEN_KINDS and self.state.tenants.get(identity.tenant_id or "") not in (
            None,
            "active",
        ):
            why = "tenant.suspended"
        if why is not None:
            return why
        decision = self.state.lists.check(
            tenant_id=identity.tenant_id,
            device_id=identity.name if kind in (DEVICE, ENROLLING) else None,
            client_id=None,
            peer_ip=None,
            now=self._clock.now(),
        )
        return None if decision.allowed else "access.listed"

    def expired(self, identity: Identity) -> str | None:
        """``token.expired`` once the token a session was opened with has expired."""
        ends = identity.expires_at
        if ends is not None and self._clock.now().timestamp() >= ends:
            return "token.expired"
        return None

    def _device_gone(self, identity: Identity) -> str | None:
        device = self.state.device(identity.name)
        if device is None:
            return "device.deleted"
        if identity.kind == ENROLLING:
            return None if device.row.status == "pending" else "enrollment.finished"
        if not device.usable:
            return "device.not_active"
        fp = identity.cert_fingerprint
        if fp is not None and self.state.certificates.get(fp) != identity.name:
            return "cert.revoked"
        return None

    def _refused(
        self, what: str, identity: Identity, client_id: str, topic: str, reason: str
    ) -> None:
        try:
            self._audit(
                actor=f"mqtt:{identity.name}"[:200],
                action=f"mqtt.{what}_refused",
                target=topic[:200],
                tenant_id=identity.tenant_id,
                outcome="refused",
                details={"client_id": client_id[:64], "reason": reason[:200]},
            )
        except FleetwardError:
            log.warning("audit log unavailable: a %s refusal was not recorded", what)
