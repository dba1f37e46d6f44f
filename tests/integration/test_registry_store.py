"""The registry on real SQLite and real PostgreSQL: the same tests on both."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.clock import ManualClock
from fleetward.errors import ConflictError, NotFoundError
from fleetward.registry import (
    DeviceKind,
    DeviceStatus,
    EntityStatus,
    RegistryService,
    Scope,
    Store,
)
from fleetward.registry.ids import is_id, new_id


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


@pytest.fixture
def registry(store: Store, clock: ManualClock) -> RegistryService:
    return RegistryService(store, clock)


def test_migrations_are_idempotent(store: Store) -> None:
    store.migrate()
    store.migrate()
    store.ping()


def test_tenant_owner_device_round_trip(registry: RegistryService, clock: ManualClock) -> None:
    tenant = registry.create_tenant("acme")
    owner = registry.create_owner(Scope(tenant.id), "alice", "alice@example.com")
    device = registry.create_device(
        Scope(tenant.id),
        owner_id=owner.id,
        name="thermostat",
        kind=DeviceKind.GATEWAY,
        site="lab-1",
        tags=["hvac", "floor:2", "hvac"],
    )
    assert is_id(device.id)
    assert device.status is DeviceStatus.PENDING
    assert device.tags == ("hvac", "floor:2")  # de-duplicated, order kept

    loaded = registry.get_device(Scope(tenant.id), device.id)
    assert loaded == device
    assert loaded.created_at == clock.now()

    clock.advance(dt.timedelta(minutes=5))
    changed = registry.update_device(
        Scope(tenant.id), device.id, name="thermo-2", tags=["x"], status=DeviceStatus.ACTIVE
    )
    assert registry.get_device(Scope(tenant.id), device.id) == changed
    assert changed.updated_at == clock.now() != changed.created_at
    assert changed.status is DeviceStatus.ACTIVE


def test_every_lookup_is_scoped_to_its_tenant(registry: RegistryService) -> None:
    a, b = registry.create_tenant("a"), registry.create_tenant("b")
    owner_a = registry.create_owner(Scope(a.id), "oa")
    dev_a = registry.create_device(Scope(a.id), owner_id=owner_a.id, name="d")

    with pytest.raises(NotFoundError):
        registry.get_device(Scope(b.id), dev_a.id)
    with pytest.raises(NotFoundError):
        registry.get_owner(Scope(b.id), owner_a.id)
    with pytest.raises(NotFoundError):
        registry.update_device(Scope(b.id), dev_a.id, name="stolen")
    with pytest.raises(NotFoundError):
        registry.delete_device(Scope(b.id), dev_a.id)
    with pytest.raises(NotFoundError):  # cannot attach a device to another tenant's owner
        registry.create_device(Scope(b.id), owner_id=owner_a.id, name="sneaky")
    assert registry.list_devices(Scope(b.id), limit=100).items == []
    assert registry.get_device(Scope(a.id), dev_a.id).name == "d"


def test_owner_scope_hides_other_owners_devices(registry: RegistryService) -> None:
    t = registry.create_tenant("t")
    alice, bob = (
        registry.create_owner(Scope(t.id), "alice"),
        registry.create_owner(Scope(t.id), "bob"),
    )
    dev_b = registry.create_device(Scope(t.id), owner_id=bob.id, name="bob's")
    registry.create_device(Scope(t.id), owner_id=alice.id, name="alice's")
    as_alice = Scope(t.id, alice.id)

    with pytest.raises(NotFoundError):
        registry.get_device(as_alice, dev_b.id)
    with pytest.raises(NotFoundError):
        registry.get_owner(as_alice, bob.id)
    names = [d.name for d in registry.list_devices(as_alice, limit=10).items]
    assert names == ["alice's"]
    assert registry.list_devices(as_alice, limit=10, owner_id=bob.id).items == []
    assert [o.id for o in registry.list_owners(as_alice, limit=10).items] == [alice.id]


def test_keyset_pagination_walks_every_row_once_in_creation_order(
    registry: RegistryService,
) -> None:
    t = registry.create_tenant("t")
    o = registry.create_owner(Scope(t.id), "o")
    created = [
        registry.create_device(Scope(t.id), owner_id=o.id, name=f"d{i}").id for i in range(7)
    ]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = registry.list_devices(Scope(t.id), limit=3, cursor=cursor)
        assert len(page.items) <= 3
        seen += [d.id for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == created


def test_filters(registry: RegistryService) -> None:
    t = registry.create_tenant("t")
    o = registry.create_owner(Scope(t.id), "o")
    d1 = registry.create_device(Scope(t.id), owner_id=o.id, name="1", site="north")
    registry.create_device(Scope(t.id), owner_id=o.id, name="2", site="south")
    registry.update_device(Scope(t.id), d1.id, status=DeviceStatus.SUSPENDED)
    by_site = registry.list_devices(Scope(t.id), limit=10, site="north").items
    assert [d.id for d in by_site] == [d1.id]
    by_status = registry.list_devices(Scope(t.id), limit=10, status=DeviceStatus.SUSPENDED).items
    assert [d.id for d in by_status] == [d1.id]


def test_revoked_is_terminal(registry: RegistryService) -> None:
    t = registry.create_tenant("t")
    o = registry.create_owner(Scope(t.id), "o")
    d = registry.create_device(Scope(t.id), owner_id=o.id, name="d")
    registry.update_device(Scope(t.id), d.id, status=DeviceStatus.REVOKED)
    for target in (DeviceStatus.ACTIVE, DeviceStatus.SUSPENDED, DeviceStatus.PENDING):
        with pytest.raises(ConflictError):
            registry.update_device(Scope(t.id), d.id, status=target)
    assert registry.get_device(Scope(t.id), d.id).status is DeviceStatus.REVOKED


def test_suspended_owner_cannot_get_new_devices(registry: RegistryService) -> None:
    t = registry.create_tenant("t")
    o = registry.create_owner(Scope(t.id), "o")
    registry.update_owner(Scope(t.id), o.id, status=EntityStatus.SUSPENDED)
    with pytest.raises(ConflictError):
        registry.create_device(Scope(t.id), owner_id=o.id, name="d")


def test_tenant_names_are_unique(registry: RegistryService) -> None:
    registry.create_tenant("same")
    with pytest.raises(ConflictError):
        registry.create_tenant("same")
    other = registry.create_tenant("other")
    with pytest.raises(ConflictError):
        registry.update_tenant(other.id, name="same")


def test_deleting_a_tenant_cascades(registry: RegistryService, store: Store) -> None:
    t, keep = registry.create_tenant("gone"), registry.create_tenant("kept")
    o = registry.create_owner(Scope(t.id), "o")
    d = registry.create_device(Scope(t.id), owner_id=o.id, name="d")
    ko = registry.create_owner(Scope(keep.id), "ko")
    kd = registry.create_device(Scope(keep.id), owner_id=ko.id, name="kd")
    registry.delete_tenant(t.id)
    with store.unit() as u:
        assert u.devices.get(t.id, d.id) is None
        assert u.owners.get(t.id, o.id) is None
        assert u.devices.get(keep.id, kd.id) is not None
    with pytest.raises(NotFoundError):
        registry.delete_tenant(t.id)


def test_deleting_an_owner_removes_their_devices(registry: RegistryService) -> None:
    t = registry.create_tenant("t")
    o = registry.create_owner(Scope(t.id), "o")
    d = registry.create_device(Scope(t.id), owner_id=o.id, name="d")
    registry.delete_owner(Scope(t.id), o.id)
    with pytest.raises(NotFoundError):
        registry.get_device(Scope(t.id), d.id)


def test_unknown_ids_are_not_found_everywhere(registry: RegistryService) -> None:
    t = registry.create_tenant("t")
    ghost = new_id()
    with pytest.raises(NotFoundError):
        registry.get_tenant(ghost)
    with pytest.raises(NotFoundError):
        registry.get_owner(Scope(t.id), ghost)
    with pytest.raises(NotFoundError):
        registry.get_device(Scope(t.id), ghost)
    with pytest.raises(NotFoundError):
        registry.list_devices(Scope(ghost), limit=5)


def test_ids_are_time_ordered() -> None:
    assert new_id(now_ms=1) < new_id(now_ms=2)
    assert is_id(new_id())
    assert not is_id("not-an-id")


def test_ids_increase_strictly_within_one_millisecond() -> None:
    made = [new_id(now_ms=1_700_000_000_000) for _ in range(5000)]  # forces counter overflow
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(is_id(i) for i in made)
