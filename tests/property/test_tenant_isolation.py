"""Property: no listing or lookup ever returns another tenant's (or owner's) rows.

Hypothesis generates random worlds of tenants, owners and devices; every scoped read
is checked against the world, on both databases and over the real REST API.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetward.clock import ManualClock
from fleetward.errors import NotFoundError
from fleetward.registry import Page, RegistryService, Scope, Store

from ..support.api import ok
from ..support.hub import LiveHub

_counter = itertools.count()
labels = st.from_regex(r"[a-z0-9_.:-]{1,12}", fullmatch=True)
names = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FF), min_size=1, max_size=20
).filter(lambda s: s.strip() != "")
# A world: per tenant, per owner, a list of (device name, site, tags).
devices = st.lists(st.tuples(names, st.none() | labels, st.lists(labels, max_size=3)), max_size=4)
worlds = st.lists(st.lists(devices, min_size=1, max_size=3), min_size=2, max_size=4)


@dataclass
class Known:
    """Every row created so far, by tenant and owner."""

    tenant_of_device: dict[str, str] = field(default_factory=dict)
    owner_of_device: dict[str, str] = field(default_factory=dict)
    tenant_of_owner: dict[str, str] = field(default_factory=dict)


def _all(fetch: Any) -> list[Any]:
    out: list[Any] = []
    cursor = None
    while True:
        page: Page[Any] = fetch(cursor)
        out += page.items
        cursor = page.next_cursor
        if cursor is None:
            return out


def _build(registry: RegistryService, world: list[list[Any]], known: Known) -> list[str]:
    tenant_ids = []
    for owners in world:
        tenant = registry.create_tenant(f"t{next(_counter)}")
        tenant_ids.append(tenant.id)
        for owner_devices in owners:
            owner = registry.create_owner(Scope(tenant.id), "owner")
            known.tenant_of_owner[owner.id] = tenant.id
            for name, site, tags in owner_devices:
                d = registry.create_device(
                    Scope(tenant.id), owner_id=owner.id, name=name, site=site, tags=tags
                )
                known.tenant_of_device[d.id] = tenant.id
                known.owner_of_device[d.id] = owner.id
    return tenant_ids


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds, page_size=st.integers(1, 5))
def test_scoped_reads_never_cross_tenants(
    store: Store, world: list[list[Any]], page_size: int
) -> None:
    registry = RegistryService(store, ManualClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    known = Known()
    tenant_ids = _build(registry, world, known)
    for tenant_id in tenant_ids:
        scope = Scope(tenant_id)
        listed = _all(lambda c, s=scope: registry.list_devices(s, limit=page_size, cursor=c))
        assert {d.id for d in listed} == {
            d for d, t in known.tenant_of_device.items() if t == tenant_id
        }
        assert all(d.tenant_id == tenant_id for d in listed)
        owners = _all(lambda c, s=scope: registry.list_owners(s, limit=page_size, cursor=c))
        assert {o.id for o in owners} == {
            o for o, t in known.tenant_of_owner.items() if t == tenant_id
        }
        for device_id, owner_tenant in known.tenant_of_device.items():
            if owner_tenant == tenant_id:
                assert registry.get_device(scope, device_id).tenant_id == tenant_id
            else:
                with pytest.raises(NotFoundError):
                    registry.get_device(scope, device_id)
        for owner_id in {o for o, t in known.tenant_of_owner.items() if t == tenant_id}:
            as_owner = Scope(tenant_id, owner_id)
            mine = _all(lambda c, s=as_owner: registry.list_devices(s, limit=page_size, cursor=c))
            assert {d.id for d in mine} == {
                d for d, o in known.owner_of_device.items() if o == owner_id
            }
            for device_id, device_owner in known.owner_of_device.items():
                if device_owner != owner_id:
                    with pytest.raises(NotFoundError):
                        registry.get_device(as_owner, device_id)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=worlds)
def test_owner_keys_never_see_other_rows_over_http(hub: LiveHub, world: list[list[Any]]) -> None:
    known = Known()
    _build(hub.hub.registry, world, known)
    tokens: dict[str, str] = {}
    with hub.operator() as op:
        for owner_id, tenant_id in known.tenant_of_owner.items():
            body = {"name": "k", "tenant_id": tenant_id, "owner_id": owner_id}
            tokens[owner_id] = ok(op.post("/v1/apikeys", json=body), 201)["token"]
    for owner_id, tenant_id in known.tenant_of_owner.items():
        with hub.client(tokens[owner_id]) as c:
            listed = ok(c.get(f"/v1/tenants/{tenant_id}/devices", params={"limit": 200}))["items"]
            assert {d["id"] for d in listed} == {
                d for d, o in known.owner_of_device.items() if o == owner_id
            }
            for device_id, device_tenant in known.tenant_of_device.items():
                status = c.get(f"/v1/tenants/{device_tenant}/devices/{device_id}").status_code
                expected = 200 if known.owner_of_device[device_id] == owner_id else 404
                assert status == expected, (owner_id, device_id)
            tenants = ok(c.get("/v1/tenants"))["items"]
            assert [t["id"] for t in tenants] == [tenant_id]
