"""Properties of the policy core: random policies never open a topic outside the door.

Hypothesis draws devices and gateways with hostile ids, random children and random
grants (patterns over an alphabet that includes ``+``, ``#``, ``$fleet`` and other
devices' ids), then checks every "yes" against an independent oracle built from
:func:`fleetward.mqtt.matches`: the topic lies in the device's own tree (or a child's,
for gateways) or under an active grant, and is never a ``$`` topic for publishing. The
deny/allow lists are checked against a naive linear scan of the entries.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from fleetward.access.lists import AccessList, AccessListEntry
from fleetward.access.mqtt_hooks import filter_covers
from fleetward.access.policy import DevicePolicy, Grant, may_publish, may_subscribe
from fleetward.mqtt import matches

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
TENANT = "t1"
IDS = ["d0", "d1", "d0", "d1", "gw", "gw", "d2", "+", "#", "a/b", ".", "..", "", "x\x00", "$fleet"]
WORDS = [
    "devices",
    "d0",
    "d1",
    "d2",
    "gw",
    "telemetry",
    "commands",
    "state",
    "reported",
    "desired",
    "proxy",
    "req",
    "resp",
    "presence",
    "$fleet",
    "$SYS",
    "",
    ".",
    "..",
]
_WRITTEN_TO_DEVICES = ("commands/#", "state/desired", "proxy/+/resp")

ids = st.sampled_from(IDS) | st.text(alphabet="ab+#/$.", max_size=4)
words = st.sampled_from(WORDS)
topics = st.lists(words, min_size=1, max_size=6).map("/".join)
filters = st.builds(
    lambda levels, tail: "/".join(levels + tail),
    st.lists(words | st.just("+"), max_size=5),
    st.sampled_from([[], ["#"]]),
).filter(bool)
ESCAPES = [
    "#",
    "+/#",
    "+/+/+",
    "devices/#",
    "devices/+/commands/#",
    "$fleet/#",
    "$fleet/presence/+",
    "$fleet/presence/d0",
    "$SYS/#",
]
patterns = filters | st.sampled_from(ESCAPES)
SUFFIXES = [
    "telemetry/t",
    "telemetry/#",
    "telemetry/+/x",
    "state/reported",
    "state/desired",
    "state/+",
    "state/#",
    "commands/go",
    "commands/#",
    "proxy/w/req",
    "proxy/w/resp",
    "proxy/+/resp",
    "proxy/#",
    "presence",
    "#",
    "+/+",
]


def near(policy: DevicePolicy, wildcards: bool) -> st.SearchStrategy[str]:
    """Topics (or filters) aimed at the device's own, its children's and others' trees."""
    targets = sorted({policy.device_id, "d2", "+", *policy.children})
    suffixes = SUFFIXES if wildcards else [s for s in SUFFIXES if "+" not in s and "#" not in s]
    aimed = st.builds(
        lambda i, sfx: f"devices/{i}/{sfx}", st.sampled_from(targets), st.sampled_from(suffixes)
    )
    literal = [p for g in policy.grants for p in (*g.publish, *g.subscribe)]
    if not wildcards:  # concrete topics that the grant patterns (and $fleet) would match
        literal = [p.replace("+", "x").replace("#", "y") for p in literal]
        literal += [f"$fleet/presence/{t}" for t in targets]
    extra = st.sampled_from(literal) if literal else aimed
    return st.one_of(aimed, aimed, extra, patterns if wildcards else topics)


expiries = st.none() | st.integers(-3, 3).map(lambda h: NOW + dt.timedelta(hours=h))
grants = st.builds(
    Grant,
    id=st.sampled_from(["g1", "g2", "g3"]),
    tenant_id=st.sampled_from([TENANT, "t2"]),
    publish=st.lists(patterns, max_size=3).map(tuple),
    subscribe=st.lists(patterns, max_size=3).map(tuple),
    expires_at=expiries,
)
policies = st.builds(
    DevicePolicy,
    device_id=ids,
    tenant_id=st.just(TENANT),
    owner_id=st.just("o1"),
    kind=st.sampled_from(["device", "gateway"]),
    children=st.frozensets(ids, max_size=4),
    grants=st.lists(grants, max_size=3).map(tuple),
)


def _one_level(value: str) -> bool:
    return value not in {"", ".", ".."} and not any(c in value for c in "+#/\x00")


def _trees(policy: DevicePolicy) -> list[str]:
    """``devices/{id}/#`` for the device and (gateways only) its children, valid ids only."""
    owned = {policy.device_id} | (policy.children if policy.kind == "gateway" else set())
    return [f"devices/{i}/#" for i in sorted(owned) if _one_level(i)]


def _active(policy: DevicePolicy) -> list[Grant]:
    return [
        g
        for g in policy.grants
        if g.tenant_id == policy.tenant_id and (g.expires_at is None or g.expires_at > NOW)
    ]


@settings(max_examples=600, deadline=None)
@given(policies, st.data())
def test_publish_never_leaves_door_and_grants(policy: DevicePolicy, data: st.DataObject) -> None:
    topic = data.draw(near(policy, wildcards=False))
    decision = may_publish(policy, topic, now=NOW)
    if not decision.allowed:
        return
    assert not topic.startswith("$")
    assert ".." not in topic.split("/")
    granted = any(matches(p, topic) for g in _active(policy) for p in g.publish)
    in_tree = any(matches(tree, topic) for tree in _trees(policy))
    assert granted or in_tree, (policy, topic, decision)
    if not granted:
        suffix = topic.split("/", 2)[2]
        assert not any(matches(rule, suffix) for rule in _WRITTEN_TO_DEVICES), decision


@settings(max_examples=500, deadline=None)
@given(policies, st.data())
def test_subscribe_never_reaches_past_door_and_grants(
    policy: DevicePolicy, data: st.DataObject
) -> None:
    topic_filter = data.draw(near(policy, wildcards=True))
    probes = data.draw(st.lists(near(policy, wildcards=False), max_size=6))
    decision = may_subscribe(policy, topic_filter, now=NOW)
    if not decision.allowed:
        return
    patterns = [p for g in _active(policy) for p in g.subscribe]
    assert any(filter_covers(p, topic_filter) for p in patterns + _trees(policy)), decision
    if topic_filter.startswith("$"):
        head = topic_filter.split("/", 1)[0]
        assert any(p.split("/", 1)[0] == head for p in patterns), decision
    # semantic check with the matcher as oracle: every topic the filter reaches is ours
    for topic in probes:
        if matches(topic_filter, topic):
            assert any(matches(p, topic) for p in patterns + _trees(policy)), (topic, decision)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["d0", "d1", "gw"]), st.sampled_from(["telemetry/x", "state/reported"]))
def test_valid_devices_can_always_report(device_id: str, suffix: str) -> None:
    policy = DevicePolicy(device_id=device_id, tenant_id=TENANT, owner_id="o1")
    assert may_publish(policy, f"devices/{device_id}/{suffix}", now=NOW).allowed
    assert may_subscribe(policy, f"devices/{device_id}/commands/#", now=NOW).allowed


# -- lists -------------------------------------------------------------------------------------

_VALUES = {
    "device": ["d0", "d1", "d2"],
    "client": ["c0", "c1"],
    "cidr": ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3/32", "192.0.2.0/24", "2001:db8::/32"],
}
entries = st.sampled_from(["device", "client", "cidr"]).flatmap(
    lambda kind: st.builds(
        AccessListEntry,
        kind=st.just(kind),
        value=st.sampled_from(_VALUES[kind]),
        mode=st.sampled_from(["deny", "allow"]),
        scope=st.sampled_from([None, "t1", "t2"]),
        expires_at=expiries,
    )
)
peers = st.sampled_from(["10.1.2.3", "10.9.9.9", "192.0.2.7", "2001:db8::1", "::ffff:10.1.2.3"])


def _hits(entry: AccessListEntry, device: str, client: str, peer: str) -> bool:
    if entry.expires_at is not None and entry.expires_at <= NOW:
        return False
    if entry.kind == "device":
        return entry.value == device
    if entry.kind == "client":
        return entry.value == client
    address = ipaddress.ip_address(peer)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address in ipaddress.ip_network(entry.value)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(entries, max_size=12),
    st.sampled_from(["t1", "t2"]),
    st.sampled_from(["d0", "d1", "d9"]),
    st.sampled_from(["c0", "c9"]),
    peers,
)
def test_lists_match_a_naive_scan(
    items: list[AccessListEntry], tenant: str, device: str, client: str, peer: str
) -> None:
    decision = AccessList(items).check(
        tenant_id=tenant, device_id=device, client_id=client, peer_ip=peer, now=NOW
    )
    applicable = [e for e in items if e.scope in (None, tenant)]
    denied = any(e.mode == "deny" and _hits(e, device, client, peer) for e in applicable)
    if denied:
        assert not decision.allowed  # deny always wins
        return
    gates = {(e.scope, e.kind) for e in applicable if e.mode == "allow"}
    admitted = all(
        any(
            e.mode == "allow" and (e.scope, e.kind) == gate and _hits(e, device, client, peer)
            for e in applicable
        )
        for gate in gates
    )
    assert decision.allowed is admitted, (decision, items)
