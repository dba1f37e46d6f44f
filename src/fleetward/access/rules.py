"""Access rules an owner or the operator sets: grants, app tokens, lists, makers, gateways.

Every pattern that widens a door must stay inside the caller's own world: its first
levels name one device literally (``devices/{id}/…`` or ``$fleet/presence/{id}``), and
that device must be visible to the caller (its tenant; its own devices for an owner).
Device ids are hub-wide unique, so a literal id can never reach into another tenant,
and a wildcard in the id level is refused outright: ``devices/+/…`` would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from fleetward.access.acl import Acl
from fleetward.access.issuer import IssuedToken, TokenIssuer
from fleetward.access.lists import AccessList, AccessListEntry, ListKind, ListMode
from fleetward.access.policy import DeviceLimits, Grant
from fleetward.access.runtime import AccessRuntime
from fleetward.access.store import GrantRow, ListRow, MakerRow
from fleetward.crypto import load_maker_ca
from fleetward.errors import ConflictError, InvalidInputError, NotFoundError
from fleetward.registry import DeviceKind, RegistryService, Scope
from fleetward.registry.ids import new_id

__all__ = ["AccessRules"]


def _pattern_device(pattern: str) -> str | None:
    """The device a pattern is confined to, or None if it is not confined to one."""
    levels = pattern.split("/")
    if len(levels) >= 2 and levels[0] == "devices":
        device = levels[1]
    elif len(levels) == 3 and levels[:2] == ["$fleet", "presence"]:
        device = levels[2]
    else:
        return None
    return None if device in ("", "+", "#") else device


class AccessRules:
    """Grants, app tokens, deny/allow lists, maker CAs, gateway children and limits."""

    __slots__ = ("_issuer", "_registry", "_rt", "_trust_maker")

    def __init__(
        self,
        runtime: AccessRuntime,
        registry: RegistryService,
        issuer: TokenIssuer,
        trust_maker: Callable[[bytes], None] | None = None,
    ) -> None:
        self._rt = runtime
        self._registry = registry
        self._issuer = issuer
        self._trust_maker = trust_maker

    def _confined(self, scope: Scope, publish: Iterable[str], subscribe: Iterable[str]) -> None:
        """Refuse any pattern not confined to one device the caller can see, and any
        publish pattern on a ``$`` topic (the hub alone writes those)."""
        publish = tuple(publish)
        for pattern in (*publish, *subscribe):
            device_id = _pattern_device(pattern)
            if device_id is None:
                raise InvalidInputError(
                    "each pattern must start with devices/{device_id}/ or be "
                    "$fleet/presence/{device_id}",
                    code="access.pattern_scope",
                )
            self._registry.get_device(scope, device_id)  # NotFound outside the scope
        if any(p.startswith("$") for p in publish):
            raise InvalidInputError("$-topics are written by the hub only", code="access.bad_grant")

    # -- grants -----------------------------------------------------------------------------

    def add_grant(
        self,
        scope: Scope,
        device_id: str,
        actor: str,
        *,
        publish: tuple[str, ...] = (),
        subscribe: tuple[str, ...] = (),
        expires_at: dt.datetime | None = None,
    ) -> Grant:
        """Widen ``device_id``'s door (device-to-device control); audited."""
        rt = self._rt
        device = self._registry.get_device(scope, device_id)
        if not publish and not subscribe:
            raise InvalidInputError("a grant needs at least one pattern", code="access.bad_grant")
        self._confined(scope, publish, subscribe)
        grant = Grant(new_id(), device.tenant_id, publish, subscribe, expires_at, actor)
        rt.store.add_grant(device.id, grant, rt.clock.now())
        self._refresh_grants(device.id)
        rt.applied(device.tenant_id, "grant.added", grant.id, tighten=False)
        rt.audit(
            actor,
            "grant.added",
            target=device.id,
            tenant_id=device.tenant_id,
            details={
                "grant_id": grant.id,
                "publish": " ".join(publish)[:200],
                "subscribe": " ".join(subscribe)[:200],
            },
        )
        return grant

    def grants(self, scope: Scope, device_id: str) -> list[GrantRow]:
        """The grants of one device visible to the caller."""
        self._registry.get_device(scope, device_id)
        return self._rt.store.grants(tenant_id=scope.tenant_id, device_id=device_id)

    def revoke_grant(self, scope: Scope, grant_id: str, actor: str) -> None:
        """Revoke a grant; subscriptions it allowed are dropped at once."""
        rt = self._rt
        rows = [g for g in rt.store.grants(tenant_id=scope.tenant_id) if g.grant.id == grant_id]
        if not rows:
            raise NotFoundError(f"no grant {grant_id}", code="grant.not_found")
        self._registry.get_device(scope, rows[0].device_id)  # an owner: only its own devices
        device_id = rt.store.revoke_grant(scope.tenant_id, grant_id, rt.clock.now())
        if device_id is None:
            raise ConflictError("the grant is already revoked", code="grant.revoked")
        self._refresh_grants(device_id)
        rt.applied(scope.tenant_id, "grant.revoked", grant_id, tighten=True, subject=device_id)
        rt.audit(
            actor,
            "grant.revoked",
            target=device_id,
            tenant_id=scope.tenant_id,
            details={"grant_id": grant_id},
        )

    def _refresh_grants(self, device_id: str) -> None:
        self._rt.ensure_device(device_id)
        now = self._rt.clock.now()
        live = tuple(
            g.grant
            for g in self._rt.store.grants(device_id=device_id)
            if g.revoked_at is None and (g.grant.expires_at is None or g.grant.expires_at > now)
        )
        self._rt.hub.state.set_policy(device_id, grants=live)

    # -- app tokens -------------------------------------------------------------------------

    def mint_app_token(
        self,
        scope: Scope,
        sub: str,
        actor: str,
        *,
        publish: tuple[str, ...] = (),
        subscribe: tuple[str, ...] = (),
        ttl: dt.timedelta | None = None,
    ) -> IssuedToken:
        """A token for an app (a dashboard, a phone) over the caller's own devices."""
        self._confined(scope, publish, subscribe)
        issued = self._issuer.issue(
            sub=sub,
            tenant=scope.tenant_id,
            acl=Acl.of(publish=publish, subscribe=subscribe),
            kind="app",
            ttl=ttl,
        )
        self._rt.audit(
            actor,
            "token.minted",
            target=sub[:200],
            tenant_id=scope.tenant_id,
            details={"jti": issued.claims.jti, "kind": "app"},
        )
        return issued

    def attenuate(
        self,
        parent: str,
        actor: str,
        *,
        publish: tuple[str, ...] = (),
        subscribe: tuple[str, ...] = (),
        ttl: dt.timedelta | None = None,
        sub: str | None = None,
    ) -> IssuedToken:
        """A narrower token from ``parent`` (never wider: ``token.escalation``)."""
        issued = self._issuer.attenuate(
            parent, acl=Acl.of(publish=publish, subscribe=subscribe), ttl=ttl, sub=sub
        )
        c = issued.claims
        self._rt.audit(
            actor,
            "token.attenuated",
            target=c.sub[:200],
            tenant_id=c.tenant,
            details={"jti": c.jti, "parent": c.parent},
        )
        return issued

    # -- deny and allow lists ---------------------------------------------------------------

    def add_list_entry(
        self,
        tenant_id: str | None,
        actor: str,
        *,
        mode: ListMode,
        kind: ListKind,
        value: str,
        expires_at: dt.datetime | None = None,
        reason: str = "",
    ) -> ListRow:
        """Add a deny or allow entry (``tenant_id`` None: hub-wide); applied at once."""
        rt = self._rt
        entry = AccessListEntry(kind, value, mode, tenant_id, expires_at, reason[:200])
        row = ListRow(new_id(), entry, actor, rt.clock.now())
        rt.store.add_list_entry(row.id, entry, actor, row.created_at)
        self._rebuild_lists()
        rt.applied(tenant_id, f"list.{mode}", row.id, tighten=True)
        rt.audit(
            actor,
            f"list.{mode}_added",
            target=value[:200],
            tenant_id=tenant_id,
            details={"kind": kind, "entry_id": row.id, "reason": reason[:200]},
        )
        return row

    def delete_list_entry(self, tenant_id: str | None, entry_id: str, actor: str) -> None:
        """Remove a list entry (an allow list losing its last entry lifts its gate)."""
        rt = self._rt
        if not rt.store.delete_list_entry(tenant_id, entry_id):
            raise NotFoundError(f"no list entry {entry_id}", code="list.not_found")
        self._rebuild_lists()
        rt.applied(tenant_id, "list.deleted", entry_id, tighten=True)
        rt.audit(actor, "list.entry_deleted", target=entry_id, tenant_id=tenant_id)

    def list_entries(self, tenant_id: str | None) -> list[ListRow]:
        """The entries of one scope."""
        return self._rt.store.list_entries(tenant_id)

    def _rebuild_lists(self) -> None:
        self._rt.hub.state.lists = AccessList(
            r.entry for r in self._rt.store.list_entries(every=True)
        )

    # -- maker CAs --------------------------------------------------------------------------

    def register_maker(self, tenant_id: str, name: str, pem: bytes, actor: str) -> MakerRow:
        """Trust a maker CA for this tenant's bootstrap certificates."""
        rt = self._rt
        self._registry.get_tenant(tenant_id)
        now = rt.clock.now()
        info = load_maker_ca(pem, now=now)  # raises maker_ca.*
        row = MakerRow(
            new_id(),
            tenant_id,
            name[:128],
            info.fingerprint,
            info.subject[:512],
            info.pem.decode(),
            now,
            info.not_after,
            None,
        )
        rt.store.add_maker(row)
        self._reload_makers()
        if self._trust_maker is not None:
            self._trust_maker(info.pem)
        rt.applied(tenant_id, "maker.registered", row.id, tighten=False)
        rt.audit(
            actor,
            "maker.registered",
            target=row.id,
            tenant_id=tenant_id,
            details={"fingerprint": info.fingerprint, "name": name[:128]},
        )
        return row

    def makers(self, tenant_id: str) -> list[MakerRow]:
        """The tenant's maker CAs."""
        return self._rt.store.makers(tenant_id)

    def revoke_maker(self, tenant_id: str, maker_id: str, actor: str) -> None:
        """Stop trusting a maker CA (devices it vouched for and already enrolled stay)."""
        rt = self._rt
        if not rt.store.revoke_maker(tenant_id, maker_id, rt.clock.now()):
            raise NotFoundError(f"no live maker CA {maker_id}", code="maker.not_found")
        self._reload_makers()
        rt.applied(tenant_id, "maker.revoked", maker_id, tighten=True)
        rt.audit(actor, "maker.revoked", target=maker_id, tenant_id=tenant_id)

    def _reload_makers(self) -> None:
        makers: dict[str, list[bytes]] = {}
        for m in self._rt.store.makers():
            if m.revoked_at is None:
                makers.setdefault(m.tenant_id, []).append(m.pem.encode())
        self._rt.hub.state.makers = {t: tuple(p) for t, p in makers.items()}

    # -- gateways and limits ----------------------------------------------------------------

    def add_child(self, scope: Scope, gateway_id: str, child_id: str, actor: str) -> None:
        """Let a gateway act for ``child_id`` (publish into its tree, report its presence)."""
        rt = self._rt
        gateway = self._registry.get_device(scope, gateway_id)
        child = self._registry.get_device(scope, child_id)
        if gateway.kind is not DeviceKind.GATEWAY:
            raise InvalidInputError("only a gateway has children", code="gateway.not_gateway")
        if child.kind is DeviceKind.GATEWAY or child.id == gateway.id:
            raise InvalidInputError("a gateway cannot be a child", code="gateway.bad_child")
        rt.store.add_child(scope.tenant_id, gateway.id, child.id, rt.clock.now())
        self._refresh_children(scope.tenant_id, gateway.id)
        rt.applied(scope.tenant_id, "gateway.child_added", gateway.id, tighten=False)
        rt.audit(
            actor,
            "gateway.child_added",
            target=gateway.id,
            tenant_id=scope.tenant_id,
            details={"child_id": child.id},
        )

    def remove_child(self, scope: Scope, gateway_id: str, child_id: str, actor: str) -> None:
        """Stop a gateway acting for ``child_id``; its subscriptions for it are dropped."""
        rt = self._rt
        self._registry.get_device(scope, gateway_id)
        if not rt.store.remove_child(scope.tenant_id, gateway_id, child_id):
            raise NotFoundError(f"no child {child_id}", code="gateway.no_child")
        self._refresh_children(scope.tenant_id, gateway_id)
        rt.applied(
            scope.tenant_id, "gateway.child_removed", gateway_id, tighten=True, subject=gateway_id
        )
        rt.audit(
            actor,
            "gateway.child_removed",
            target=gateway_id,
            tenant_id=scope.tenant_id,
            details={"child_id": child_id},
        )

    def children(self, scope: Scope, gateway_id: str) -> list[str]:
        """The children of a gateway."""
        self._registry.get_device(scope, gateway_id)
        return sorted(self._rt.store.children(scope.tenant_id).get(gateway_id, ()))

    def _refresh_children(self, tenant_id: str, gateway_id: str) -> None:
        self._rt.ensure_device(gateway_id)
        children = self._rt.store.children(tenant_id).get(gateway_id, set())
        self._rt.hub.state.set_policy(gateway_id, children=frozenset(children))

    def set_limits(self, scope: Scope, device_id: str, limits: DeviceLimits, actor: str) -> None:
        """Replace one device's limits (rate, payload size, listeners, networks)."""
        rt = self._rt
        device = self._registry.get_device(scope, device_id)
        rt.store.set_limits(device.tenant_id, device.id, limits, rt.clock.now())
        rt.ensure_device(device.id)
        rt.hub.state.set_policy(device.id, limits=limits)
        rt.applied(device.tenant_id, "device.limits", device.id, tighten=True, subject=device.id)
        rt.audit(
            actor,
            "device.limits_set",
            target=device.id,
            tenant_id=device.tenant_id,
            details={
                "max_payload": limits.max_payload,
                "publish_rate": str(limits.publish_rate),
                "publish_burst": limits.publish_burst,
            },
        )

    def limits(self, scope: Scope, device_id: str) -> DeviceLimits:
        """One device's limits (the defaults unless set)."""
        self._registry.get_device(scope, device_id)
        state = self._rt.hub.state.device(device_id)
        return state.policy.limits if state is not None else DeviceLimits()
