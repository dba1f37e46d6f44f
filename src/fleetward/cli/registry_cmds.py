"""``fleetward tenant|owner|device|apikey …``: manage the registry as the local operator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from fleetward.access import Principal
from fleetward.cli.context import hub_of
from fleetward.cli.output import emit
from fleetward.errors import InvalidInputError
from fleetward.registry import DeviceKind, DeviceStatus, EntityStatus, Page, Role, Scope

__all__ = ["apikey_app", "device_app", "owner_app", "tenant_app"]

T = TypeVar("T")
tenant_app = typer.Typer(help="Tenants: isolated organisations.", no_args_is_help=True)
owner_app = typer.Typer(help="Owners: the people who own devices.", no_args_is_help=True)
device_app = typer.Typer(help="Devices: each asset and its own door.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for the REST API.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Tenant = Annotated[str, typer.Option("--tenant", "-t", help="Tenant id.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Limit = Annotated[int, typer.Option("--limit", min=1, max=100_000, help="At most this many.")]

_TENANT_COLS = ("id", "name", "status", "created_at")
_OWNER_COLS = ("id", "name", "email", "status", "created_at")
_DEVICE_COLS = ("id", "name", "owner_id", "kind", "site", "tags", "status")
_KEY_COLS = ("id", "name", "role", "tenant_id", "owner_id", "scopes", "expires_at", "revoked_at")


def _collect(fetch: Callable[[str | None], Page[T]], limit: int) -> list[T]:
    out: list[T] = []
    cursor: str | None = None
    while len(out) < limit:
        page = fetch(cursor)
        out.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return out[:limit]


def _confirm(what: str, yes: bool) -> None:
    if not yes and not typer.confirm(f"Delete {what} and everything it holds?"):
        raise typer.Abort


# -- tenants -----------------------------------------------------------------------------


@tenant_app.command("add")
def tenant_add(ctx: typer.Context, name: str, as_json: Json = False) -> str:
    """Create a tenant."""
    tenant = hub_of(ctx).registry.create_tenant(_name(name))
    emit([tenant], _TENANT_COLS, as_json=as_json)
    return tenant.id  # the audit trail's target


@tenant_app.command("list")
def tenant_list(ctx: typer.Context, as_json: Json = False, limit: Limit = 1000) -> None:
    """List tenants."""
    reg = hub_of(ctx).registry
    rows = _collect(lambda c: reg.list_tenants(limit=200, cursor=c), limit)
    emit(rows, _TENANT_COLS, as_json=as_json, title="Tenants")


@tenant_app.command("show")
def tenant_show(ctx: typer.Context, tenant_id: str, as_json: Json = False) -> None:
    """Show one tenant."""
    emit([hub_of(ctx).registry.get_tenant(tenant_id)], _TENANT_COLS, as_json=as_json)


@tenant_app.command("suspend")
def tenant_suspend(ctx: typer.Context, tenant_id: str, as_json: Json = False) -> None:
    """Suspend a tenant: every key of its owners stops working."""
    t = hub_of(ctx).registry.update_tenant(tenant_id, status=EntityStatus.SUSPENDED)
    _resync(ctx, tenant_id, "tenant.updated")
    emit([t], _TENANT_COLS, as_json=as_json)


@tenant_app.command("resume")
def tenant_resume(ctx: typer.Context, tenant_id: str, as_json: Json = False) -> None:
    """Resume a suspended tenant."""
    t = hub_of(ctx).registry.update_tenant(tenant_id, status=EntityStatus.ACTIVE)
    _resync(ctx, tenant_id, "tenant.updated")
    emit([t], _TENANT_COLS, as_json=as_json)


@tenant_app.command("delete")
def tenant_delete(ctx: typer.Context, tenant_id: str, yes: Yes = False) -> None:
    """Delete a tenant with all its owners, devices and keys."""
    reg = hub_of(ctx).registry
    reg.get_tenant(tenant_id)
    _confirm(f"tenant {tenant_id}", yes)
    reg.delete_tenant(tenant_id)
    _resync(ctx, tenant_id, "tenant.deleted")
    typer.echo(f"deleted tenant {tenant_id}")


# -- owners ------------------------------------------------------------------------------


@owner_app.command("add")
def owner_add(
    ctx: typer.Context,
    name: str,
    tenant: Tenant,
    email: Annotated[str | None, typer.Option(help="Contact address.")] = None,
    as_json: Json = False,
) -> str:
    """Add an owner to a tenant."""
    owner = hub_of(ctx).registry.create_owner(Scope(tenant), _name(name), email)
    emit([owner], _OWNER_COLS, as_json=as_json)
    return owner.id


@owner_app.command("list")
def owner_list(
    ctx: typer.Context, tenant: Tenant, as_json: Json = False, limit: Limit = 1000
) -> None:
    """List a tenant's owners."""
    reg = hub_of(ctx).registry
    rows = _collect(lambda c: reg.list_owners(Scope(tenant), limit=200, cursor=c), limit)
    emit(rows, _OWNER_COLS, as_json=as_json, title="Owners")


@owner_app.command("show")
def owner_show(ctx: typer.Context, owner_id: str, tenant: Tenant, as_json: Json = False) -> None:
    """Show one owner."""
    emit([hub_of(ctx).registry.get_owner(Scope(tenant), owner_id)], _OWNER_COLS, as_json=as_json)


@owner_app.command("suspend")
def owner_suspend(ctx: typer.Context, owner_id: str, tenant: Tenant, as_json: Json = False) -> None:
    """Suspend an owner: their keys stop working."""
    o = hub_of(ctx).registry.update_owner(Scope(tenant), owner_id, status=EntityStatus.SUSPENDED)
    _resync(ctx, tenant, "owner.updated")
    emit([o], _OWNER_COLS, as_json=as_json)


@owner_app.command("resume")
def owner_resume(ctx: typer.Context, owner_id: str, tenant: Tenant, as_json: Json = False) -> None:
    """Resume a suspended owner."""
    o = hub_of(ctx).registry.update_owner(Scope(tenant), owner_id, status=EntityStatus.ACTIVE)
    _resync(ctx, tenant, "owner.updated")
    emit([o], _OWNER_COLS, as_json=as_json)


@owner_app.command("delete")
def owner_delete(ctx: typer.Context, owner_id: str, tenant: Tenant, yes: Yes = False) -> None:
    """Delete an owner with their devices and keys."""
    reg = hub_of(ctx).registry
    reg.get_owner(Scope(tenant), owner_id)
    _confirm(f"owner {owner_id}", yes)
    reg.delete_owner(Scope(tenant), owner_id)
    _resync(ctx, tenant, "owner.deleted")
    typer.echo(f"deleted owner {owner_id}")


# -- devices -----------------------------------------------------------------------------


@device_app.command("add")
def device_add(
    ctx: typer.Context,
    name: str,
    tenant: Tenant,
    owner: Annotated[str, typer.Option("--owner", "-o", help="Owner id.")],
    site: Annotated[str | None, typer.Option(help="Site label (for outage correlation).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag; repeat for more.")] = None,
    gateway: Annotated[bool, typer.Option(help="Register a gateway.")] = False,
    as_json: Json = False,
) -> str:
    """Register a device (pending until it enrols)."""
    device = hub_of(ctx).registry.create_device(
        Scope(tenant),
        owner_id=owner,
        name=_name(name),
        kind=DeviceKind.GATEWAY if gateway else DeviceKind.DEVICE,
        site=_label("site", site) if site else None,
        tags=[_label("tag", t) for t in tag or ()],
    )
    emit([device], _DEVICE_COLS, as_json=as_json)
    return device.id


@device_app.command("list")
def device_list(
    ctx: typer.Context,
    tenant: Tenant,
    owner: Annotated[str | None, typer.Option("--owner", "-o")] = None,
    site: Annotated[str | None, typer.Option()] = None,
    status: Annotated[DeviceStatus | None, typer.Option()] = None,
    as_json: Json = False,
    limit: Limit = 1000,
) -> None:
    """List a tenant's devices."""
    reg = hub_of(ctx).registry

    def fetch(cursor: str | None) -> Page[Any]:
        return reg.list_devices(
            Scope(tenant), limit=200, cursor=cursor, owner_id=owner, site=site, status=status
        )

    emit(_collect(fetch, limit), _DEVICE_COLS, as_json=as_json, title="Devices")


@device_app.command("show")
def device_show(ctx: typer.Context, device_id: str, tenant: Tenant, as_json: Json = False) -> None:
    """Show one device."""
    d = hub_of(ctx).registry.get_device(Scope(tenant), device_id)
    emit([d], (*_DEVICE_COLS, "created_at", "updated_at"), as_json=as_json)


@device_app.command("suspend")
def device_suspend(
    ctx: typer.Context, device_id: str, tenant: Tenant, as_json: Json = False
) -> None:
    """Suspend a device."""
    d = hub_of(ctx).registry.update_device(Scope(tenant), device_id, status=DeviceStatus.SUSPENDED)
    _resync(ctx, tenant, "device.updated")
    emit([d], _DEVICE_COLS, as_json=as_json)


@device_app.command("resume")
def device_resume(
    ctx: typer.Context, device_id: str, tenant: Tenant, as_json: Json = False
) -> None:
    """Resume a suspended device."""
    d = hub_of(ctx).registry.update_device(Scope(tenant), device_id, status=DeviceStatus.ACTIVE)
    _resync(ctx, tenant, "device.updated")
    emit([d], _DEVICE_COLS, as_json=as_json)


@device_app.command("delete")
def device_delete(ctx: typer.Context, device_id: str, tenant: Tenant, yes: Yes = False) -> None:
    """Delete a device and its credentials."""
    reg = hub_of(ctx).registry
    reg.get_device(Scope(tenant), device_id)
    _confirm(f"device {device_id}", yes)
    reg.delete_device(Scope(tenant), device_id)
    _resync(ctx, tenant, "device.deleted")
    typer.echo(f"deleted device {device_id}")


# -- API keys ----------------------------------------------------------------------------


@apikey_app.command("create")
def apikey_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    operator: Annotated[bool, typer.Option("--operator", help="An operator key.")] = False,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None,
    owner: Annotated[str | None, typer.Option("--owner", "-o")] = None,
    scope: Annotated[list[str] | None, typer.Option(help="A permission; repeat for more.")] = None,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Lifetime in days.")] = 90,
    as_json: Json = False,
) -> str:
    """Mint an API key; its token is printed once."""
    if operator == (tenant is not None or owner is not None):
        raise InvalidInputError("give either --operator, or --tenant and --owner")
    key, token = hub_of(ctx).api_keys.create(
        Principal.local_operator(),
        name=_name(name),
        role=Role.OPERATOR if operator else Role.OWNER,
        tenant_id=tenant,
        owner_id=owner,
        scopes=scope,
        ttl=dt.timedelta(days=days),
    )
    if as_json:
        emit([{"id": key.id, "token": token, "expires_at": key.expires_at}], (), as_json=True)
        return key.id
    emit([key], _KEY_COLS, as_json=False)
    typer.echo(f"token (shown once): {token}")
    return key.id


@apikey_app.command("list")
def apikey_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None,
    as_json: Json = False,
    limit: Limit = 1000,
) -> None:
    """List operator keys, or a tenant's keys."""
    keys = hub_of(ctx).api_keys
    me = Principal.local_operator()
    rows = _collect(lambda c: keys.list(me, tenant_id=tenant, limit=200, cursor=c), limit)
    emit(rows, _KEY_COLS, as_json=as_json, title="API keys")


@apikey_app.command("grant")
def apikey_grant(
    ctx: typer.Context,
    key_id: str,
    scope: Annotated[list[str], typer.Option(help="A permission to add; repeat for more.")],
    as_json: Json = False,
) -> None:
    """Add permissions to a key (a deliberate widening, kept in the audit log).

    Upgrades only widen keys that held every permission of their day; use this for
    the rest, e.g. ``--scope access:read --scope audit:read``.
    """
    hub = hub_of(ctx)
    audit = hub.audit_log()  # opened first: no widening that could not be recorded
    key = hub.api_keys.grant(Principal.local_operator(), key_id, scope)
    audit.record(
        actor="console",
        action="apikey.granted",
        target=key.id,
        tenant_id=key.tenant_id,
        details={"added": ",".join(sorted(set(scope))), "scopes": ",".join(sorted(key.scopes))},
    )
    emit([key], _KEY_COLS, as_json=as_json)


@apikey_app.command("revoke")
def apikey_revoke(ctx: typer.Context, key_id: str) -> None:
    """Revoke a key at once."""
    hub_of(ctx).api_keys.revoke(Principal.local_operator(), key_id)
    typer.echo(f"revoked API key {key_id}")


def _resync(ctx: typer.Context, tenant_id: str, what: str) -> None:
    """Note a status change or deletion so a running hub applies it to live sessions."""
    hub_of(ctx).access().devices.resync(tenant_id, "console", what)


def _name(value: str) -> str:
    cleaned = value.strip()
    if not 1 <= len(cleaned) <= 128 or any(ord(c) < 0x20 for c in cleaned):
        raise InvalidInputError(f"name {value!r}: 1 to 128 printable characters")
    return cleaned


def _label(what: str, value: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value):
        raise InvalidInputError(f"{what} {value!r}: 1 to 64 of A-Z a-z 0-9 _ . : -")
    return value
