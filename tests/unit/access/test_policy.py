"""The per-device door (:mod:`fleetward.access.policy`): table rows, escapes, gateways, grants.

Each row of the door table in the module docstring is checked for both operations and
both roles (the device itself, a gateway acting for a child), then the attack catalogue:
wildcard escapes, ``$`` topics, dot levels and hostile ids must all be refused.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest

from fleetward.access.policy import (
    DOOR,
    DeviceLimits,
    DevicePolicy,
    Grant,
    check_connect_origin,
    check_payload,
    may_publish,
    may_subscribe,
)
from fleetward.errors import InvalidInputError

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)

DEVICE = DevicePolicy(device_id="d1", tenant_id="t1", owner_id="o1")
GATEWAY = DevicePolicy(
    device_id="gw", tenant_id="t1", owner_id="o1", kind="gateway", children=frozenset({"c1", "c2"})
)

# (topic under devices/{id}/, device pub, device sub, gateway-for-child pub, child sub)
TABLE = [
    ("telemetry/temp", True, False, True, False),
    ("telemetry/a/b", True, False, True, False),
    ("state/reported", True, True, True, True),
    ("state/desired", False, True, False, True),
    ("commands/reboot", False, True, False, True),
    ("proxy/weather/req", True, False, True, False),
    ("proxy/weather/resp", False, True, False, True),
    ("presence", False, False, True, False),
    ("other/thing", False, False, False, False),
    ("state/other", False, False, False, False),
]


def test_table_matches_door_data() -> None:
    """The docstring table and DOOR agree on row count (rows are tested one by one below)."""
    assert len(DOOR) == 7
    assert {row.suffix for row in DOOR} == {
        "telemetry/#",
        "state/reported",
        "state/desired",
        "commands/#",
        "proxy/+/req",
        "proxy/+/resp",
        "presence",
    }


@pytest.mark.parametrize(("suffix", "pub", "sub", "child_pub", "child_sub"), TABLE)
def test_door_row(suffix: str, pub: bool, sub: bool, child_pub: bool, child_sub: bool) -> None:
    assert may_publish(DEVICE, f"devices/d1/{suffix}", now=NOW).allowed is pub
    assert may_subscribe(DEVICE, f"devices/d1/{suffix}", now=NOW).allowed is sub
    assert may_publish(GATEWAY, f"devices/c1/{suffix}", now=NOW).allowed is child_pub
    assert may_subscribe(GATEWAY, f"devices/c1/{suffix}", now=NOW).allowed is child_sub


@pytest.mark.parametrize(
    "topic_filter",
    ["devices/d1/commands/#", "devices/d1/commands/+", "devices/d1/proxy/+/resp"],
)
def test_wildcards_inside_a_row_are_fine(topic_filter: str) -> None:
    assert may_subscribe(DEVICE, topic_filter, now=NOW).allowed


def test_reasons_name_the_rule() -> None:
    assert may_publish(DEVICE, "devices/d1/telemetry/t", now=NOW).reason == (
        "door: self telemetry/#"
    )
    assert may_publish(GATEWAY, "devices/c1/presence", now=NOW).reason == "door: child presence"
    assert not may_publish(DEVICE, "devices/d2/telemetry/t", now=NOW).reason.startswith("door")


@pytest.mark.parametrize(
    "topic_filter",
    [
        "#",
        "+/#",
        "+/+/+",
        "+/+/+/+",
        "devices/#",
        "devices/+",
        "devices/+/#",
        "devices/+/telemetry/#",
        "devices/+/commands/#",
        "devices/d1/#",  # no single row covers the whole own tree
        "devices/d1/+",
        "devices/d1/+/+",
        "devices/d1/state/#",
        "devices/d2/commands/#",
        "$fleet/#",
        "$fleet/presence/d1",
        "$SYS/#",
        "$share/g/devices/d1/commands/#",
        "devices/d1/commands/../../d2/commands/#",
        "devices/d1/../d2/commands/x",
        "devices/../devices/d2/commands/x",
        "devices/./d1/commands/x",
        "devices/d1/commands/a+",  # invalid filter
        "",
    ],
)
def test_wildcard_escapes_refused_for_subscribe(topic_filter: str) -> None:
    assert not may_subscribe(DEVICE, topic_filter, now=NOW).allowed
    assert not may_subscribe(GATEWAY, topic_filter.replace("d1", "c1"), now=NOW).allowed


@pytest.mark.parametrize(
    "topic",
    [
        "#",
        "devices/+/telemetry/t",
        "devices/d1/telemetry/#",  # wildcards are not topic names
        "devices/d2/telemetry/t",
        "devices/d1/commands/reboot",
        "devices/d1/state/desired",
        "$fleet/presence/d1",
        "$fleet/ota/d1/report",
        "$SYS/broker/load",
        "devices/d1/telemetry/../../d2/telemetry/t",
        "devices/d1/../d2/telemetry/t",
        "devices/d1/telemetry/.",
        "devices/d1",
        "devices",
        "devices/d1/telemetry/t\x00",
        "",
    ],
)
def test_publish_escapes_refused(topic: str) -> None:
    assert not may_publish(DEVICE, topic, now=NOW).allowed


@pytest.mark.parametrize("bad_id", ["+", "#", "a/b", "a\x00", ".", "..", ""])
def test_hostile_device_ids_get_no_door(bad_id: str) -> None:
    policy = DevicePolicy(device_id=bad_id, tenant_id="t1", owner_id="o1")
    for topic in (f"devices/{bad_id}/telemetry/t", "devices/x/telemetry/t"):
        assert not may_publish(policy, topic, now=NOW).allowed
    for topic_filter in (f"devices/{bad_id}/commands/#", "devices/+/commands/#", "#"):
        assert not may_subscribe(policy, topic_filter, now=NOW).allowed
    gateway = DevicePolicy(
        device_id="gw", tenant_id="t1", owner_id="o1", kind="gateway", children=frozenset({bad_id})
    )
    assert not may_publish(gateway, f"devices/{bad_id}/telemetry/t", now=NOW).allowed
    assert not may_subscribe(gateway, f"devices/{bad_id}/commands/#", now=NOW).allowed


def test_gateway_acts_only_for_its_children() -> None:
    assert may_publish(GATEWAY, "devices/c2/telemetry/t", now=NOW).allowed
    assert may_publish(GATEWAY, "devices/gw/telemetry/t", now=NOW).allowed
    assert not may_publish(GATEWAY, "devices/d1/telemetry/t", now=NOW).allowed
    assert not may_publish(GATEWAY, "devices/d1/presence", now=NOW).allowed
    assert not may_subscribe(GATEWAY, "devices/d1/commands/#", now=NOW).allowed
    assert not may_subscribe(GATEWAY, "devices/+/commands/#", now=NOW).allowed
    # its own presence is the hub's to report, like any device's
    assert not may_publish(GATEWAY, "devices/gw/presence", now=NOW).allowed


def test_children_count_only_for_gateways() -> None:
    plain = DevicePolicy(device_id="d1", tenant_id="t1", owner_id="o1", children=frozenset({"c1"}))
    assert not may_publish(plain, "devices/c1/telemetry/t", now=NOW).allowed


def test_grants_add_rights() -> None:
    grant = Grant(
        id="g1",
        tenant_id="t1",
        publish=("devices/d2/commands/+",),
        subscribe=("devices/d2/telemetry/#",),
        issued_by="o1",
    )
    policy = DevicePolicy(device_id="d1", tenant_id="t1", owner_id="o1", grants=(grant,))
    assert may_publish(policy, "devices/d2/commands/open", now=NOW).reason == (
        "grant g1: publish devices/d2/commands/+"
    )
    assert may_subscribe(policy, "devices/d2/telemetry/#", now=NOW).allowed
    assert may_subscribe(policy, "devices/d2/telemetry/+", now=NOW).allowed
    assert not may_subscribe(policy, "devices/d2/#", now=NOW).allowed
    assert not may_publish(policy, "devices/d2/commands/a/b", now=NOW).allowed


def test_expired_and_foreign_tenant_grants_are_ignored() -> None:
    expiring = Grant(
        id="g1", tenant_id="t1", publish=("x/#",), subscribe=("x/#",), expires_at=LATER
    )
    foreign = Grant(id="g2", tenant_id="t2", publish=("y/#",), subscribe=("y/#",))
    policy = DevicePolicy(device_id="d1", tenant_id="t1", owner_id="o1", grants=(expiring, foreign))
    assert may_publish(policy, "x/a", now=NOW).allowed
    assert may_subscribe(policy, "x/a", now=NOW).allowed
    assert not may_publish(policy, "x/a", now=LATER).allowed  # expiry is exclusive
    assert not may_subscribe(policy, "x/a", now=LATER + dt.timedelta(seconds=1)).allowed
    assert not may_publish(policy, "y/a", now=NOW).allowed
    assert not may_subscribe(policy, "y/a", now=NOW).allowed


def test_fleet_topics_need_a_literal_grant() -> None:
    wide = Grant(id="g1", tenant_id="t1", subscribe=("#", "+/presence/+", "+/#"))
    policy = DevicePolicy(device_id="d1", tenant_id="t1", owner_id="o1", grants=(wide,))
    assert may_subscribe(policy, "anything/else", now=NOW).allowed
    assert not may_subscribe(policy, "$fleet/presence/x", now=NOW).allowed
    assert not may_subscribe(policy, "$fleet/#", now=NOW).allowed

    literal = Grant(id="g2", tenant_id="t1", subscribe=("$fleet/presence/x",))
    policy = DevicePolicy(device_id="d1", tenant_id="t1", owner_id="o1", grants=(literal,))
    assert may_subscribe(policy, "$fleet/presence/x", now=NOW).allowed
    assert not may_subscribe(policy, "$fleet/presence/y", now=NOW).allowed
    assert not may_subscribe(policy, "$fleet/presence/+", now=NOW).allowed


def test_no_grant_makes_dollar_topics_writable() -> None:
    grant = Grant(id="g1", tenant_id="t1", publish=("$fleet/#", "$fleet/presence/d1", "#"))
    policy = DevicePolicy(device_id="d1", tenant_id="t1", owner_id="o1", grants=(grant,))
    assert not may_publish(policy, "$fleet/presence/d1", now=NOW).allowed
    assert not may_publish(policy, "$SYS/x", now=NOW).allowed
    assert may_publish(policy, "plain/topic", now=NOW).allowed


@pytest.mark.parametrize("pattern", ["a/#/b", "a+", "", "a\x00"])
def test_grant_patterns_are_validated(pattern: str) -> None:
    with pytest.raises(InvalidInputError):
        Grant(id="g", tenant_id="t1", publish=(pattern,))


# -- limits ------------------------------------------------------------------------------------


def test_connect_origin() -> None:
    limits = DeviceLimits(
        allowed_listeners=frozenset({"mqtts"}),
        allowed_cidrs=(
            ipaddress.ip_network("10.0.0.0/8"),
            ipaddress.ip_network("2001:db8::/32"),
        ),
    )
    assert check_connect_origin(limits, "mqtts", "10.1.2.3").allowed
    assert check_connect_origin(limits, "mqtts", ipaddress.ip_address("2001:db8::1")).allowed
    assert check_connect_origin(limits, "mqtts", "::ffff:10.1.2.3").allowed  # dual stack
    assert not check_connect_origin(limits, "wss", "10.1.2.3").allowed
    assert not check_connect_origin(limits, "mqtts", "11.0.0.1").allowed
    assert not check_connect_origin(limits, "mqtts", "2001:db9::1").allowed
    assert not check_connect_origin(limits, "mqtts", "10.1.2.3:5555").allowed  # not an address
    assert check_connect_origin(DeviceLimits(), "any", "not-an-ip").allowed


def test_payload_limit() -> None:
    limits = DeviceLimits(max_payload=10)
    assert check_payload(limits, 10).allowed
    assert not check_payload(limits, 11).allowed


@pytest.mark.parametrize(
    "kwargs", [{"max_payload": 0}, {"publish_rate": 0.0}, {"publish_burst": -1}]
)
def test_limits_are_validated(kwargs: dict[str, int | float]) -> None:
    with pytest.raises(InvalidInputError):
        DeviceLimits(**kwargs)  # type: ignore[arg-type]
