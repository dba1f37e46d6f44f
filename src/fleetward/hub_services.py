"""The hub's own services on the data plane, and the tasks that keep access current.

* ``$fleet/enroll/{id}/csr``: an enrolling device's CSR; the answer (certificate, hub
  CA, first token, or an error code) is published to ``$fleet/enroll/{id}/result``.
* ``$fleet/token/{id}/req``: a device connected with its certificate asks for a fresh
  token, answered on ``$fleet/token/{id}/resp``.
* ``$fleet/keys/{id}/put``: a device publishes its E2E public key (32 raw bytes); the
  signed directory entries and the hub's verify keys are answered on
  ``$fleet/keys/{id}/result``.
* Enforcement: access changes made on API worker threads reach the broker's sessions on
  the broker's loop, and the caller waits until they have (so a revoke returns only when
  nothing more will be delivered).
* Background: the audit log is flushed every second, and the access change feed is
  followed every second (changes the CLI made while the hub runs).

Slow work (SQL, argon2, signing) runs on worker threads; only the publish of the answer
runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from fleetward.access.assembly import AccessServices
from fleetward.access.hub_access import enroll_topic, keys_topic, token_topic
from fleetward.access.mqtt_hooks import Identity
from fleetward.audit import AuditLog
from fleetward.broker import Broker
from fleetward.e2e import KeyOwner, OwnerKind
from fleetward.errors import FleetwardError, NotFoundError
from fleetward.keydir import KeyDirectoryService, entries_json
from fleetward.registry import RegistryService, Scope

__all__ = ["HubServices"]

log = logging.getLogger("fleetward.hub")

_FOLLOW_INTERVAL = 1.0
_AUDIT_INTERVAL = 1.0
_EXPIRY_SWEEP = 2.0


class HubServices:
    """Binds the access services to one running broker."""

    def __init__(
        self,
        broker: Broker,
        access: AccessServices,
        audit: AuditLog,
        keys: tuple[KeyDirectoryService, RegistryService] | None = None,
    ) -> None:
        self._broker = broker
        self._keys = keys
        self._access = access
        self._audit = audit
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Register the service topics, the enforcement bridge and the background tasks."""
        services = self._broker.router.services
        services["$fleet/enroll"] = self._on_enroll
        services["$fleet/token"] = self._on_token
        if self._keys is not None:
            services["$fleet/keys"] = self._on_keys
        self._access.runtime.enforce = self.enforce
        self._apply()  # sessions restored from disk meet today's rules
        self._spawn(self._audit.run(_AUDIT_INTERVAL), "audit-flush")
        self._spawn(self._follow(), "access-follow")
        self._spawn(self._sweep_expired(), "token-expiry")

    async def stop(self) -> None:
        """Cancel the background tasks; enforcement falls back to the change feed."""
        self._access.runtime.enforce = _nothing
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, coro: object, name: str) -> None:
        task: asyncio.Task[None] = self._loop.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- enforcement ------------------------------------------------------------------------

    def _apply(self, subject: str | None = None) -> None:
        hub = self._access.hub
        cut, dropped = self._broker.enforce(hub.still_allowed, hub.may_subscribe, subject)
        if cut or dropped:
            log.info("access change: %d sessions cut, %d subscriptions dropped", cut, dropped)

    def enforce(self, subject: str | None = None) -> None:
        """Apply the current access state to live sessions; returns when it is done."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._apply(subject)
            return

        async def apply() -> None:
            self._apply(subject)

        asyncio.run_coroutine_threadsafe(apply(), self._loop).result(timeout=30)

    async def _sweep_expired(self) -> None:
        """End sessions whose token has expired (a token bounds its session's life)."""
        hub = self._access.hub
        while True:
            await asyncio.sleep(_EXPIRY_SWEEP)
            cut = self._broker.expire(hub.expired)  # only sessions whose token is due
            if cut:
                log.info("%d sessions ended: their token expired", cut)

    async def _follow(self) -> None:
        runtime = self._access.runtime
        while True:
            await asyncio.sleep(_FOLLOW_INTERVAL)
            try:
                await asyncio.to_thread(runtime.follow)  # enforces through the loop
            except FleetwardError:
                log.exception("cannot follow the access change feed")

    # -- service topics ---------------------------------------------------------------------

    def _on_enroll(self, identity: Identity, _client_id: str, topic: str, payload: bytes) -> None:
        if topic == enroll_topic(identity.name, "csr"):
            self._answer(
                enroll_topic(identity.name, "result"),
                lambda: self._access.devices.enroll(identity, payload),
            )

    def _on_token(self, identity: Identity, _client_id: str, topic: str, _payload: bytes) -> None:
        if topic == token_topic(identity.name, "req"):
            self._answer(
                token_topic(identity.name, "resp"),
                lambda: self._access.devices.refresh(identity),
            )

    def _on_keys(self, identity: Identity, _client_id: str, topic: str, payload: bytes) -> None:
        if self._keys is None or topic != keys_topic(identity.name, "put"):
            return
        directory, registry = self._keys
        tenant_id = identity.tenant_id or ""

        def publish() -> bytes:
            device = registry.get_device(Scope(tenant_id), identity.name)
            holder = KeyOwner(tenant_id, OwnerKind.DEVICE, device.id)
            changed = directory.publish(holder, device.owner_id, payload)
            hub_keys = {kid: key.jwk() for kid, key in directory.verify_keys().items()}
            entries = entries_json(s.to_bytes() for s in changed)
            return json.dumps({"entries": entries, "hub_keys": hub_keys}).encode()

        def guarded() -> bytes:
            if identity.kind != "device" or not tenant_id:
                raise NotFoundError("not a device", code="e2e.not_a_device")
            return publish()

        self._answer(keys_topic(identity.name, "result"), guarded)

    def _answer(self, topic: str, work: Callable[[], bytes]) -> None:
        async def run() -> None:
            try:
                answer = await asyncio.to_thread(work)
            except FleetwardError as e:
                answer = json.dumps({"error": e.code, "detail": e.detail}).encode()
            self._broker.publish(topic, answer, qos=1)

        self._spawn(run(), f"answer {topic}")


def _nothing(_subject: str | None = None) -> None:
    """Enforcement once the broker has stopped: the next start applies the state."""
