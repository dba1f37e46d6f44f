"""What the access routes share: the audit actor, tenant scopes, the operator gate.

The access services take an ``actor`` string for the audit log; over REST it is
``apikey:{key_id}``, so every act is traced to the key that did it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from fleetward.access import Permission, Principal
from fleetward.api.context import ApiContext
from fleetward.errors import ForbiddenError, InvalidInputError, NotFoundError
from fleetward.registry import Scope

__all__ = [
    "actor",
    "operator_only",
    "owner_footprint",
    "patterns_in_scope",
    "tenant_scope",
    "ttl",
]


def actor(caller: Principal) -> str:
    """The audit actor for this caller."""
    return f"apikey:{caller.key_id}"


def tenant_scope(ctx: ApiContext, caller: Principal, tenant_id: str, need: Permission) -> Scope:
    """The caller's scope in an existing tenant (404 otherwise), after checking ``need``."""
    scope = caller.scope_for(tenant_id)
    caller.require(need)
    ctx.registry.get_tenant(tenant_id)  # an operator naming an unknown tenant: 404
    return scope


def operator_only(caller: Principal, what: str) -> None:
    """Lists, maker CAs and the hub-wide list are the operator's."""
    if not caller.is_operator:
        raise ForbiddenError(f"only the operator manages {what}", code="access.operator_only")


def ttl(seconds: int | None) -> dt.timedelta | None:
    """A request's ``ttl_seconds`` as a duration."""
    return None if seconds is None else dt.timedelta(seconds=seconds)


@contextmanager
def patterns_in_scope() -> Iterator[None]:
    """A pattern naming a device the caller cannot see is a bad body (422), not a 404.

    Use only after every id in the path has been resolved, so the only lookups left
    inside are the patterns' devices.
    """
    try:
        yield
    except NotFoundError as e:
        raise InvalidInputError(
            "each pattern must name one of your own devices", code="access.pattern_scope"
        ) from e


_PAGE = 1000


def owner_footprint(ctx: ApiContext, scope: Scope) -> tuple[set[str], set[str]]:
    """(targets, actors) that concern the owner of ``scope``: its devices and API keys."""
    devices: set[str] = set()
    cursor: str | None = None
    while True:
        page = ctx.registry.list_devices(scope, limit=_PAGE, cursor=cursor)
        devices.update(d.id for d in page.items)
        if (cursor := page.next_cursor) is None:
            break
    keys: set[str] = set()
    cursor = None
    with ctx.store.unit() as u:
        while True:
            kpage = u.api_keys.list(
                tenant_id=scope.tenant_id, owner_id=scope.owner_id, limit=_PAGE, cursor=cursor
            )
            keys.update(f"apikey:{k.id}" for k in kpage.items)
            if (cursor := kpage.next_cursor) is None:
                break
    return devices | {scope.owner_id or ""}, keys | {f"device:{d}" for d in devices}
