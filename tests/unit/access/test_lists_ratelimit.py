"""Deny/allow lists (:mod:`fleetward.access.lists`) and rate limits (:mod:`...ratelimit`)."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest

from fleetward.access.lists import AccessList, AccessListEntry, ListKind, ListMode, check
from fleetward.access.ratelimit import FlapDetector, TokenBucket
from fleetward.errors import InvalidInputError

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def entry(
    kind: ListKind,
    value: str,
    mode: ListMode = "deny",
    scope: str | None = None,
    expires_at: dt.datetime | None = None,
) -> AccessListEntry:
    return AccessListEntry(kind, value, mode, scope, expires_at, reason="test")


def allowed(
    access_list: AccessList,
    *,
    tenant_id: str | None = "t1",
    device_id: str | None = "d1",
    client_id: str | None = "c1",
    peer_ip: str | None = "192.0.2.10",
    now: dt.datetime = NOW,
) -> bool:
    return check(
        access_list,
        tenant_id=tenant_id,
        device_id=device_id,
        client_id=client_id,
        peer_ip=peer_ip,
        now=now,
    ).allowed


# -- lists -------------------------------------------------------------------------------------


def test_empty_lists_allow() -> None:
    assert allowed(AccessList())


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("device", "d1"),
        ("client", "c1"),
        ("cidr", "192.0.2.10"),
        ("cidr", "192.0.2.0/24"),
        ("cidr", "192.0.0.0/8"),
        ("cidr", "0.0.0.0/0"),
        ("cidr", "192.0.2.77/24"),  # host bits are dropped
        ("cidr", "::ffff:192.0.2.0/120"),  # IPv4-mapped entry applies to IPv4 peers
    ],
)
def test_global_deny(kind: ListKind, value: str) -> None:
    lists = AccessList([entry(kind, value)])
    decision = check(
        lists, tenant_id="t1", device_id="d1", client_id="c1", peer_ip="192.0.2.10", now=NOW
    )
    assert not decision.allowed
    assert decision.entry is not None
    assert decision.reason.startswith("denied: global")
    assert allowed(lists, device_id="d2", client_id="c2", peer_ip="2001:db8::1")


def test_ipv6_deny_and_mapped_peers() -> None:
    lists = AccessList([entry("cidr", "2001:db8::/32"), entry("cidr", "203.0.113.0/24")])
    assert not allowed(lists, peer_ip="2001:db8:1::5")
    assert allowed(lists, peer_ip="2001:db9::5")
    assert not allowed(lists, peer_ip="::ffff:203.0.113.9")  # dual-stack socket
    assert allowed(lists, peer_ip="::ffff:203.0.114.9")


def test_tenant_scope_applies_to_that_tenant_only() -> None:
    lists = AccessList([entry("device", "d1", scope="t1"), entry("cidr", "10.0.0.0/8", scope="t2")])
    assert not allowed(lists, tenant_id="t1")
    assert allowed(lists, tenant_id="t2")
    assert allowed(lists, tenant_id=None)  # before authentication: only global entries
    assert not allowed(lists, tenant_id="t2", device_id="d9", peer_ip="10.1.1.1")
    assert allowed(lists, tenant_id="t1", device_id="d9", peer_ip="10.1.1.1")


def test_expired_entries_match_nothing() -> None:
    lists = AccessList([entry("client", "c1", expires_at=LATER)])
    assert not allowed(lists)
    assert allowed(lists, now=LATER)


def test_deny_wins_over_allow() -> None:
    lists = AccessList(
        [entry("device", "d1", "allow"), entry("device", "d1", "deny"), entry("cidr", "::/0")]
    )
    assert not allowed(lists)
    lists = AccessList([entry("device", "d1", "allow"), entry("client", "c1", "deny", "t1")])
    assert not allowed(lists)


def test_allow_list_is_a_gate_per_scope_and_kind() -> None:
    lists = AccessList([entry("cidr", "10.0.0.0/8", "allow")])
    assert allowed(lists, peer_ip="10.2.3.4")
    assert not allowed(lists, peer_ip="192.0.2.1")
    assert allowed(lists, peer_ip=None)  # an unknown subject is not checked
    # a device allow list in tenant t1 gates t1's devices only
    lists = AccessList([entry("device", "d1", "allow", scope="t1")])
    assert allowed(lists, device_id="d1")
    assert not allowed(lists, device_id="d2")
    assert allowed(lists, device_id="d2", tenant_id="t2")
    # a tenant list cannot widen the global one
    lists = AccessList([entry("client", "c1", "allow"), entry("client", "c2", "allow", scope="t1")])
    assert allowed(lists, client_id="c1", tenant_id=None)
    assert not allowed(lists, client_id="c1")
    assert not allowed(lists, client_id="c2")


def test_allow_list_stays_in_force_after_expiry() -> None:
    lists = AccessList([entry("client", "c1", "allow", expires_at=LATER)])
    assert allowed(lists, now=NOW)
    decision = check(lists, tenant_id="t1", device_id="d1", client_id="c1", peer_ip=None, now=LATER)
    assert not decision.allowed
    assert decision.reason == "refused: not on the global client allow list"


def test_unparsable_peer_fails_closed_only_with_network_entries() -> None:
    assert allowed(AccessList([entry("device", "x")]), peer_ip="garbage")
    assert not allowed(AccessList([entry("cidr", "10.0.0.0/8")]), peer_ip="garbage")


@pytest.mark.parametrize(
    ("kind", "value", "mode"),
    [
        ("cidr", "10.0.0.0/33", "deny"),
        ("cidr", "nope", "deny"),
        ("device", "", "deny"),
        ("ip", "x", "deny"),
        ("device", "x", "block"),
    ],
)
def test_bad_entries_are_refused(kind: str, value: str, mode: str) -> None:
    with pytest.raises(InvalidInputError):
        AccessListEntry(kind, value, mode)  # type: ignore[arg-type]


def test_large_lists_index_by_prefix() -> None:
    entries = [entry("cidr", f"10.{i // 256}.{i % 256}.0/24") for i in range(20_000)]
    entries += [entry("device", f"dev-{i}", scope=f"t{i % 7}") for i in range(50_000)]
    entries.append(entry("cidr", "2001:db8:ffff::/48"))
    lists = AccessList(entries)
    assert len(lists) == 70_001
    assert not allowed(lists, peer_ip="10.78.31.200")
    assert allowed(lists, peer_ip="11.0.0.1")
    assert not allowed(lists, tenant_id="t3", device_id="dev-3", peer_ip=None)
    assert allowed(lists, tenant_id="t4", device_id="dev-3", peer_ip=None)
    assert not allowed(lists, peer_ip="2001:db8:ffff:1::1")
    assert lists._nets[("deny", None, 4)].keys() == {24}  # one probe per prefix length


def test_peer_ip_objects_are_accepted() -> None:
    lists = AccessList([entry("cidr", "10.0.0.0/8")])
    decision = lists.check(
        tenant_id=None,
        device_id=None,
        client_id=None,
        peer_ip=ipaddress.ip_address("10.0.0.1"),
        now=NOW,
    )
    assert not decision.allowed


# -- token bucket ------------------------------------------------------------------------------


def test_token_bucket_refill_math() -> None:
    bucket = TokenBucket(rate=2.0, burst=4)
    assert all(bucket.take(100.0) for _ in range(4))  # starts full
    assert not bucket.take(100.0)
    assert bucket.tokens(100.25) == 0.5
    assert not bucket.take(100.25)  # a refusal consumes nothing
    assert bucket.take(100.5)
    assert bucket.tokens(100.5) == 0.0
    assert bucket.retry_after(100.5, 3) == 1.5
    assert bucket.tokens(110.0) == 4.0  # capped at burst
    assert bucket.take(110.0, 4)
    assert not bucket.take(110.0, 0.5)


def test_token_bucket_ignores_time_going_backwards() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(50.0)
    assert not bucket.take(10.0)
    assert not bucket.take(50.5)
    assert bucket.take(51.0)


def test_token_bucket_edges() -> None:
    bucket = TokenBucket(rate=0.0, burst=1)
    assert bucket.take(0.0)
    assert not bucket.take(1e9)
    assert bucket.retry_after(1e9) is None
    assert TokenBucket(rate=1.0, burst=2).retry_after(0.0, 3) is None
    with pytest.raises(InvalidInputError):
        TokenBucket(rate=-1.0, burst=1)
    with pytest.raises(InvalidInputError):
        TokenBucket(rate=1.0, burst=0)
    with pytest.raises(InvalidInputError):
        bucket.take(0.0, -1)


# -- flapping ----------------------------------------------------------------------------------


def test_flapping_ban_and_escalation() -> None:
    flaps = FlapDetector(threshold=3, window=10.0, ban=60.0, escalation=2.0, max_ban=200.0)
    assert flaps.record_connect("d1", 0.0) is None
    assert flaps.record_connect("d1", 5.0) is None
    assert flaps.record_connect("d1", 9.0) == 69.0
    assert flaps.banned_until("d1", 68.9) == 69.0
    assert flaps.record_connect("d1", 30.0) == 69.0  # refused attempts do not count
    assert flaps.banned_until("d1", 69.0) is None
    assert flaps.banned_until("other", 0.0) is None
    # still looping after the ban: banned again, twice as long
    assert flaps.record_connect("d1", 69.0) is None
    assert flaps.record_connect("d1", 70.0) is None
    assert flaps.record_connect("d1", 71.0) == 191.0
    # third time: 240s, capped at 200s
    for t in (191.0, 192.0):
        assert flaps.record_connect("d1", t) is None
    assert flaps.record_connect("d1", 193.0) == 393.0
    for t in (393.0, 394.0):
        assert flaps.record_connect("d1", t) is None
    assert flaps.record_connect("d1", 395.0) == 595.0


def test_slow_reconnects_are_not_flapping() -> None:
    flaps = FlapDetector(threshold=3, window=10.0, ban=60.0)
    assert all(flaps.record_connect("d1", t * 5.0) is None for t in range(100))


def test_quiet_keys_are_forgotten_and_escalation_resets() -> None:
    flaps = FlapDetector(threshold=2, window=10.0, ban=10.0, forget_after=100.0)
    flaps.record_connect("d1", 0.0)
    assert flaps.record_connect("d1", 1.0) == 11.0
    flaps.record_connect("d1", 20.0)
    assert flaps.record_connect("d1", 21.0) == 41.0  # escalated
    # quiet for forget_after past the ban end: back to the base ban
    flaps.record_connect("d1", 141.0)
    assert flaps.record_connect("d1", 142.0) == 152.0
    flaps.record_connect("x", 1000.0)
    assert len(flaps) == 1  # d1 purged once stale


def test_flap_memory_is_lru_bounded() -> None:
    flaps = FlapDetector(threshold=2, window=10.0, ban=10.0, max_keys=3)
    for key in ("a", "b", "c"):
        flaps.record_connect(key, 0.0)
    flaps.record_connect("a", 1.0)  # a is now the most recent (and banned)
    flaps.record_connect("d", 2.0)  # evicts b, the least recently used
    assert len(flaps) == 3
    assert flaps.banned_until("a", 2.0) == 11.0
    assert flaps.record_connect("b", 3.0) is None  # b starts afresh
    assert flaps.record_connect("c", 3.0) is None  # c was evicted by b: afresh too
    flaps.unban("a")
    assert flaps.banned_until("a", 3.0) is None


def test_flap_detector_validates() -> None:
    with pytest.raises(InvalidInputError):
        FlapDetector(threshold=0)
    with pytest.raises(InvalidInputError):
        FlapDetector(ban=100.0, max_ban=10.0)
    with pytest.raises(InvalidInputError):
        FlapDetector(escalation=0.5)
