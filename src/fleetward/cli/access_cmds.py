"""``fleetward device enroll|revoke|token``, ``grant``, ``token``, ``deny``, ``allow``,
``maker`` and ``gateway``: device identity and access rules from the hub's console.

The console is the local operator (audit actor ``console``). Changes go to the
database and the change feed; a running hub applies them to live sessions within
about a second. Secrets (an enrolment code, a token) are printed once and never stored.
The audit log is flushed when the command ends (:func:`hub_of` closes the hub).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from fleetward.access.devices import CODE_TTL
from fleetward.access.issuer import IssuedToken
from fleetward.access.lists import ListKind
from fleetward.cli.context import hub_of
from fleetward.cli.output import emit
from fleetward.cli.registry_cmds import device_app
from fleetward.errors import InvalidInputError
from fleetward.registry import Scope

__all__ = ["allow_app", "deny_app", "gateway_app", "grant_app", "maker_app", "token_app"]

ACTOR = "console"
MAX_PEM = 16 * 1024

grant_app = typer.Typer(
    help="Grants: widen a device's door to other devices.", no_args_is_help=True
)
token_app = typer.Typer(help="Tokens for apps; revoke any token.", no_args_is_help=True)
deny_app = typer.Typer(help="Deny list: refuse devices, clients, networks.", no_args_is_help=True)
allow_app = typer.Typer(help="Allow list: admit only what it names.", no_args_is_help=True)
maker_app = typer.Typer(help="Maker CAs trusted for bootstrap certificates.", no_args_is_help=True)
gateway_app = typer.Typer(help="Gateways and the devices they act for.", no_args_is_help=True)

Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Tenant = Annotated[str, typer.Option("--tenant", "-t", help="Tenant id.")]
Ttl = Annotated[
    int | None, typer.Option("--ttl", min=1, max=90 * 24 * 3600, help="Lifetime in seconds.")
]
Publish = Annotated[
    list[str] | None, typer.Option("--publish", "-p", help="A topic filter; repeat for more.")
]
Subscribe = Annotated[
    list[str] | None, typer.Option("--subscribe", "-s", help="A topic filter; repeat for more.")
]

ScopeOpt = Annotated[
    str | None, typer.Option("--tenant", "-t", help="A tenant's list (default: hub-wide).")
]
_KINDS: dict[str, ListKind] = {"device": "device", "client": "client", "cidr": "cidr"}

_TOKEN_COLS = ("jti", "kind", "sub", "tenant_id", "expires_at")
_GRANT_COLS = ("id", "device_id", "publish", "subscribe", "expires_at", "revoked_at")
_LIST_COLS = ("id", "tenant_id", "mode", "kind", "value", "expires_at", "reason")
_MAKER_COLS = ("id", "name", "fingerprint", "subject", "not_after", "revoked_at")


def _ttl(seconds: int | None) -> dt.timedelta | None:
    return None if seconds is None else dt.timedelta(seconds=seconds)


def _token_record(issued: IssuedToken) -> dict[str, Any]:
    c = issued.claims
    return {
        "token": issued.token,
        "jti": c.jti,
        "kind": c.kind,
        "sub": c.sub,
        "tenant_id": c.tenant,
        "publish": list(c.acl.publish),
        "subscribe": list(c.acl.subscribe),
        "expires_at": c.exp,
    }


def _emit_token(issued: IssuedToken, as_json: bool) -> None:
    record = _token_record(issued)
    if as_json:
        emit([record], (), as_json=True)
        return
    emit([record], _TOKEN_COLS, as_json=False)
    typer.echo(f"token (shown once): {issued.token}")


# -- devices -------------------------------------------------------------------------------


@device_app.command("enroll")
def device_enroll(
    ctx: typer.Context,
    device_id: str,
    tenant: Tenant,
    code: Annotated[
        str | None, typer.Option("--code", help="Your own code (it must be strong).")
    ] = None,
    ttl: Ttl = None,
    as_json: Json = False,
) -> None:
    """Make a one-time enrolment code for a pending device; it is printed once."""
    made = (
        hub_of(ctx)
        .access()
        .devices.create_enrollment_code(
            Scope(tenant),
            device_id,
            ACTOR,
            code=code,
            ttl=CODE_TTL if ttl is None else dt.timedelta(seconds=ttl),
        )
    )
    if as_json:
        emit([made], (), as_json=True)
        return
    emit([made], ("credential_id", "device_id", "expires_at"), as_json=False)
    typer.echo(f"enrollment code (shown once): {made.code}")


@device_app.command("revoke")
def device_revoke(ctx: typer.Context, device_id: str, tenant: Tenant) -> None:
    """Revoke a device for good: every credential, every live session."""
    hub_of(ctx).access().devices.revoke_device(Scope(tenant), device_id, ACTOR)
    typer.echo(f"revoked device {device_id}")


@device_app.command("token")
def device_token(
    ctx: typer.Context, device_id: str, tenant: Tenant, ttl: Ttl = None, as_json: Json = False
) -> None:
    """Mint a short-lived token for an active device; it is printed once."""
    devices = hub_of(ctx).access().devices
    _emit_token(devices.issue_device_token(Scope(tenant), device_id, ACTOR, _ttl(ttl)), as_json)


@device_app.command("credentials")
def device_credentials(
    ctx: typer.Context, device_id: str, tenant: Tenant, as_json: Json = False
) -> None:
    """List a device's credentials (never a secret or hash)."""
    rows = hub_of(ctx).access().devices.credentials(Scope(tenant), device_id)
    cols = ("id", "kind", "fingerprint", "expires_at", "revoked_at")
    emit(rows, cols, as_json=as_json, title="Credentials")


# -- grants and tokens ---------------------------------------------------------------------


@grant_app.command("add")
def grant_add(
    ctx: typer.Context,
    device_id: str,
    tenant: Tenant,
    publish: Publish = None,
    subscribe: Subscribe = None,
    as_json: Json = False,
) -> None:
    """Let a device publish or subscribe to topics of other devices of its tenant."""
    rules = hub_of(ctx).access().rules
    grant = rules.add_grant(
        Scope(tenant),
        device_id,
        ACTOR,
        publish=tuple(publish or ()),
        subscribe=tuple(subscribe or ()),
    )
    record = {"device_id": device_id, "revoked_at": None, **_plain_grant(grant)}
    emit([record], _GRANT_COLS, as_json=as_json)


def _plain_grant(grant: Any) -> dict[str, Any]:
    return {
        "id": grant.id,
        "publish": list(grant.publish),
        "subscribe": list(grant.subscribe),
        "expires_at": grant.expires_at,
    }


@grant_app.command("list")
def grant_list(ctx: typer.Context, device_id: str, tenant: Tenant, as_json: Json = False) -> None:
    """A device's grants, revoked ones included."""
    rows = hub_of(ctx).access().rules.grants(Scope(tenant), device_id)
    records = [
        {"device_id": r.device_id, "revoked_at": r.revoked_at, **_plain_grant(r.grant)}
        for r in rows
    ]
    emit(records, _GRANT_COLS, as_json=as_json, title="Grants")


@grant_app.command("revoke")
def grant_revoke(ctx: typer.Context, grant_id: str, tenant: Tenant) -> None:
    """Revoke a grant; subscriptions it allowed are dropped."""
    hub_of(ctx).access().rules.revoke_grant(Scope(tenant), grant_id, ACTOR)
    typer.echo(f"revoked grant {grant_id}")


@token_app.command("mint")
def token_mint(
    ctx: typer.Context,
    tenant: Tenant,
    sub: Annotated[str, typer.Option("--sub", help="Who the token is for (an app's name).")],
    publish: Publish = None,
    subscribe: Subscribe = None,
    ttl: Ttl = None,
    as_json: Json = False,
) -> None:
    """Mint an app token over a tenant's devices; it is printed once."""
    issued = (
        hub_of(ctx)
        .access()
        .rules.mint_app_token(
            Scope(tenant),
            sub,
            ACTOR,
            publish=tuple(publish or ()),
            subscribe=tuple(subscribe or ()),
            ttl=_ttl(ttl),
        )
    )
    _emit_token(issued, as_json)


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, jti: str, tenant: Tenant) -> None:
    """Revoke a token (and every token attenuated from it) by its ``jti``."""
    hub = hub_of(ctx)
    hub.registry.get_tenant(tenant)
    fresh = hub.access().devices.revoke_token(tenant, jti, ACTOR)
    typer.echo(f"revoked token {jti}" if fresh else f"token {jti} was already revoked")


# -- deny and allow lists ------------------------------------------------------------------


def _list_commands(app: typer.Typer, mode: Literal["deny", "allow"]) -> None:
    """``add``, ``list`` and ``remove`` for one list (hub-wide unless ``--tenant``)."""

    @app.command("add")
    def add(
        ctx: typer.Context,
        kind: Annotated[str, typer.Argument(help="device, client or cidr")],
        value: str,
        tenant: ScopeOpt = None,
        reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
        as_json: Json = False,
    ) -> None:
        list_kind = _KINDS.get(kind)
        if list_kind is None:
            raise InvalidInputError(f"kind {kind!r}: one of device, client, cidr")
        hub = hub_of(ctx)
        if tenant is not None:
            hub.registry.get_tenant(tenant)
        row = hub.access().rules.add_list_entry(
            tenant, ACTOR, mode=mode, kind=list_kind, value=value, reason=reason
        )
        emit([_list_record(row)], _LIST_COLS, as_json=as_json)

    @app.command("list")
    def list_(ctx: typer.Context, tenant: ScopeOpt = None, as_json: Json = False) -> None:
        rows = [r for r in hub_of(ctx).access().rules.list_entries(tenant) if r.entry.mode == mode]
        emit([_list_record(r) for r in rows], _LIST_COLS, as_json=as_json, title=f"{mode} list")

    @app.command("remove")
    def remove(ctx: typer.Context, entry_id: str, tenant: ScopeOpt = None) -> None:
        hub_of(ctx).access().rules.delete_list_entry(tenant, entry_id, ACTOR)
        typer.echo(f"removed {mode} entry {entry_id}")

    add.__doc__ = f"Add a {mode} entry: a device id, an MQTT client id or a network."
    list_.__doc__ = f"Show the {mode} entries (hub-wide, or one tenant's)."
    remove.__doc__ = f"Remove a {mode} entry."


def _list_record(row: Any) -> dict[str, Any]:
    e = row.entry
    return {
        "id": row.id,
        "tenant_id": e.scope,
        "mode": e.mode,
        "kind": e.kind,
        "value": e.value,
        "expires_at": e.expires_at,
        "reason": e.reason,
    }


_list_commands(deny_app, "deny")
_list_commands(allow_app, "allow")


# -- maker CAs and gateways ----------------------------------------------------------------


@maker_app.command("add")
def maker_add(
    ctx: typer.Context,
    pem_file: Annotated[Path, typer.Argument(help="The maker's CA certificate (PEM).")],
    tenant: Tenant,
    name: Annotated[str, typer.Option("--name", help="The maker's name.")],
    as_json: Json = False,
) -> None:
    """Trust a maker CA for a tenant's bootstrap certificates."""
    try:
        with pem_file.open("rb") as f:
            pem = f.read(MAX_PEM + 1)
    except OSError as e:
        raise InvalidInputError(f"cannot read {pem_file}: {e.strerror}") from e
    row = hub_of(ctx).access().rules.register_maker(tenant, name, pem, ACTOR)
    emit([row], _MAKER_COLS, as_json=as_json)


@maker_app.command("list")
def maker_list(ctx: typer.Context, tenant: Tenant, as_json: Json = False) -> None:
    """A tenant's maker CAs, revoked ones included."""
    hub = hub_of(ctx)
    hub.registry.get_tenant(tenant)
    emit(hub.access().rules.makers(tenant), _MAKER_COLS, as_json=as_json, title="Maker CAs")


@maker_app.command("revoke")
def maker_revoke(ctx: typer.Context, maker_id: str, tenant: Tenant) -> None:
    """Stop trusting a maker CA."""
    hub_of(ctx).access().rules.revoke_maker(tenant, maker_id, ACTOR)
    typer.echo(f"revoked maker CA {maker_id}")


@gateway_app.command("add-child")
def gateway_add_child(ctx: typer.Context, gateway_id: str, child_id: str, tenant: Tenant) -> None:
    """Let a gateway act for a device."""
    hub_of(ctx).access().rules.add_child(Scope(tenant), gateway_id, child_id, ACTOR)
    typer.echo(f"gateway {gateway_id} now acts for {child_id}")


@gateway_app.command("remove-child")
def gateway_remove_child(
    ctx: typer.Context, gateway_id: str, child_id: str, tenant: Tenant
) -> None:
    """Stop a gateway acting for a device."""
    hub_of(ctx).access().rules.remove_child(Scope(tenant), gateway_id, child_id, ACTOR)
    typer.echo(f"gateway {gateway_id} no longer acts for {child_id}")


@gateway_app.command("children")
def gateway_children(
    ctx: typer.Context, gateway_id: str, tenant: Tenant, as_json: Json = False
) -> None:
    """The devices a gateway acts for."""
    children = hub_of(ctx).access().rules.children(Scope(tenant), gateway_id)
    emit([{"child_id": c} for c in children], ("child_id",), as_json=as_json, title="Children")
