"""The per-device door: which topics one device (or gateway) may publish and subscribe.

Pure decisions over a frozen :class:`DevicePolicy` and an explicit ``now``: no clock, no
I/O, so the broker can call them on every SUBSCRIBE and first PUBLISH per topic and cache
the answers until its ``generation`` changes. Every answer is a :class:`Decision` whose
``reason`` goes to the audit log.

The door of device ``{id}`` is its own ``devices/{id}/…`` tree, read and written by row
(the layout is in ``ARCHITECTURE.md``, "Topic layout"). Rows are an allow-list, so a
subtree added to the layout later is closed until a row opens it:

==========================  ==========  ============  =================  ===============
row (under devices/{id}/)   device pub  device sub    gateway pub        gateway sub
                                                      (for a child)      (for a child)
==========================  ==========  ============  =================  ===============
``telemetry/#``             yes         no            yes                no
``state/reported``          yes         yes           yes                yes
``state/desired``           no          yes           no                 yes
``commands/#``              no          yes           no                 yes
``proxy/+/req``             yes         no            yes                no
``proxy/+/resp``            no          yes           no                 yes
``presence``                no          no            yes                no
==========================  ==========  ============  =================  ===============

Why: commands, desired state and proxy responses are written by apps, peers and the hub;
a device that could write them could forge orders to itself or answers from the proxy.
A device reads back its own reported state (retained) to recover after a reboot. Child
presence is written only by the gateway: the hub sees a direct device's connection
itself, so letting a device write its own presence would only let it lie.

Everything else needs an owner-issued :class:`Grant` (same tenant, unexpired). On top:

* ``$``-topics are never writable by a device, whatever a grant says; a ``$`` filter is
  subscribable only through a grant whose first level names it literally (``$fleet/#``
  yes, ``#`` or ``+/…`` never, MQTT-4.7.2-1).
* A subscription is allowed only if *one* allowed pattern covers the whole filter
  (:func:`filter_covers`): ``devices/+/commands/#`` is not covered by ``devices/me/…``.
* Ids substituted into the door must be one literal level: an id that is empty, ``.``,
  ``..`` or contains ``+ # /`` or U+0000 gets no door at all.
* Topics with a ``.`` or ``..`` level are refused outright; MQTT does not normalise them,
  but bridges that map topics to paths might.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from typing import Final

from fleetward.access.mqtt_hooks import filter_covers
from fleetward.errors import InvalidInputError
from fleetward.mqtt.topics import matches, topic_filter_problem, topic_name_problem

__all__ = [
    "DOOR",
    "Decision",
    "DeviceLimits",
    "DevicePolicy",
    "DoorRow",
    "Grant",
    "IPAddress",
    "IPNetwork",
    "check_connect_origin",
    "check_payload",
    "may_publish",
    "may_subscribe",
    "parse_ip",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_GATEWAY: Final = "gateway"


@dataclass(frozen=True, slots=True)
class Decision:
    """An answer and why; ``reason`` is for the audit log, never for the device."""

    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class DoorRow:
    """One row of the door table: a pattern under ``devices/{id}/`` and who may use it."""

    suffix: str
    device_publish: bool
    device_subscribe: bool
    child_publish: bool
    child_subscribe: bool


DOOR: Final[tuple[DoorRow, ...]] = (
    DoorRow("telemetry/#", True, False, True, False),
    DoorRow("state/reported", True, True, True, True),
    DoorRow("state/desired", False, True, False, True),
    DoorRow("commands/#", False, True, False, True),
    DoorRow("proxy/+/req", True, False, True, False),
    DoorRow("proxy/+/resp", False, True, False, True),
    DoorRow("presence", False, False, True, False),
)
"""The door table of the module docstring, as data."""


@dataclass(frozen=True, slots=True)
class Grant:
    """An owner-issued, auditable widening of one device's door.

    Patterns are MQTT filters used as-is (no substitution). A grant counts only inside its
    own tenant and before ``expires_at``; it can never make a ``$``-topic writable.
    Raises :class:`InvalidInputError` for a pattern that is not a valid filter.
    """

    id: str
    tenant_id: str
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    expires_at: dt.datetime | None = None
    issued_by: str = ""

    def __post_init__(self) -> None:
        for pattern in (*self.publish, *self.subscribe):
            problem = topic_filter_problem(pattern, shared=False)
            if problem is not None:
                raise InvalidInputError(f"grant {self.id}: {problem}", code="access.bad_grant")

    def active(self, tenant_id: str, now: dt.datetime) -> bool:
        """Whether this grant counts for a device of ``tenant_id`` at ``now``."""
        return self.tenant_id == tenant_id and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """Per-device limits: payload size, publish rate, where it may connect from.

    ``None`` for listeners or CIDRs means "any". Raises :class:`InvalidInputError` for
    non-positive sizes or rates, so a bad record cannot silently disable a limit.
    """

    max_payload: int = 256 * 1024
    publish_rate: float = 10.0
    publish_burst: int = 50
    allowed_listeners: frozenset[str] | None = None
    allowed_cidrs: tuple[IPNetwork, ...] | None = None

    def __post_init__(self) -> None:
        if self.max_payload <= 0 or self.publish_rate <= 0 or self.publish_burst <= 0:
            raise InvalidInputError(
                "payload size, publish rate and burst must be positive", code="access.bad_limits"
            )


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    """Everything the door needs to know about one device; built by the registry side.

    ``children`` count only when ``kind`` is ``"gateway"``; a gateway acts for a child
    with the child's own row rights (plus ``presence``), never for anyone else.
    """

    device_id: str
    tenant_id: str
    owner_id: str
    kind: str = "device"
    children: frozenset[str] = frozenset()
    grants: tuple[Grant, ...] = ()
    limits: DeviceLimits = field(default_factory=DeviceLimits)


def _one_level(value: str) -> bool:
    """Whether ``value`` is safe to use as one literal topic level."""
    return value not in {"", ".", ".."} and not any(c in value for c in "+#/\x00")


def _has_dot_level(text: str) -> bool:
    return "." in text and any(level in {".", ".."} for level in text.split("/"))


def _door_role(policy: DevicePolicy, device_level: str) -> str | None:
    """``"self"``, ``"child"`` or ``None`` for the id level of a ``devices/…`` topic."""
    if not _one_level(device_level):
        return None
    if device_level == policy.device_id:
        return "self"
    if policy.kind == _GATEWAY and device_level in policy.children:
        return "child"
    return None


def _door_row(policy: DevicePolicy, text: str, *, publish: bool) -> tuple[str, DoorRow | None]:
    """The (role, first door row) letting ``policy`` use ``text``; row ``None`` if none."""
    head, sep, rest = text.partition("/")
    if head != "devices" or not sep:
        return "", None
    device_level, sep, _ = rest.partition("/")
    role = _door_role(policy, device_level) if sep else None
    if role is None:
        return "", None
    for row in DOOR:
        if role == "self":
            usable = row.device_publish if publish else row.device_subscribe
        else:
            usable = row.child_publish if publish else row.child_subscribe
        if not usable:
            continue
        pattern = f"devices/{device_level}/{row.suffix}"
        if matches(pattern, text) if publish else filter_covers(pattern, text):
            return role, row
    return role, None


def may_publish(policy: DevicePolicy, topic: str, *, now: dt.datetime) -> Decision:
    """Whether the device of ``policy`` may publish to the topic name ``topic`` at ``now``.

    Order: a malformed name or a ``.``/``..`` level is refused; a ``$``-topic is refused
    (the hub alone writes those); then the door table; then active grants.
    """
    problem = topic_name_problem(topic)
    if problem is not None:
        return Decision(False, f"refused: {problem}")
    if _has_dot_level(topic):
        return Decision(False, "refused: '.' or '..' topic level")
    if topic.startswith("$"):
        return Decision(False, "refused: $-topics are written by the hub only")
    role, row = _door_row(policy, topic, publish=True)
    if row is not None:
        return Decision(True, f"door: {role} {row.suffix}")
    for grant in policy.grants:
        if grant.active(policy.tenant_id, now):
            for pattern in grant.publish:
                if matches(pattern, topic):
                    return Decision(True, f"grant {grant.id}: publish {pattern}")
    return Decision(False, "refused: outside the device's door and grants")


def may_subscribe(policy: DevicePolicy, topic_filter: str, *, now: dt.datetime) -> Decision:
    """Whether the device of ``policy`` may subscribe to ``topic_filter`` at ``now``.

    Allowed only when one door row or one active grant pattern covers the whole filter.
    A shared subscription must be passed as its inner filter; a raw ``$share/…`` is a
    ``$`` filter and needs a literal grant like any other.
    """
    problem = topic_filter_problem(topic_filter, shared=False)
    if problem is not None:
        return Decision(False, f"refused: {problem}")
    if _has_dot_level(topic_filter):
        return Decision(False, "refused: '.' or '..' topic level")
    role, row = _door_row(policy, topic_filter, publish=False)
    if row is not None:
        return Decision(True, f"door: {role} {row.suffix}")
    for grant in policy.grants:
        if grant.active(policy.tenant_id, now):
            for pattern in grant.subscribe:
                if filter_covers(pattern, topic_filter):
                    return Decision(True, f"grant {grant.id}: subscribe {pattern}")
    return Decision(False, "refused: no door row or grant covers the filter")


def parse_ip(peer_ip: IPAddress | str) -> IPAddress | None:
    """``peer_ip`` as an address (IPv4-mapped IPv6 becomes IPv4), or ``None`` if unparsable.

    Unmapping matters on dual-stack sockets: ``::ffff:10.0.0.1`` must meet the same
    ``10.0.0.0/8`` rules as ``10.0.0.1``.
    """
    if isinstance(peer_ip, str):
        try:
            peer_ip = ipaddress.ip_address(peer_ip)
        except ValueError:
            return None
    if isinstance(peer_ip, ipaddress.IPv6Address) and peer_ip.ipv4_mapped is not None:
        return peer_ip.ipv4_mapped
    return peer_ip


def check_connect_origin(limits: DeviceLimits, listener: str, peer_ip: IPAddress | str) -> Decision:
    """Whether a device with ``limits`` may connect on ``listener`` from ``peer_ip``.

    ``peer_ip`` is the bare address (no port); an unparsable one is refused when CIDRs
    are restricted, so a malformed peer can never slip past the list.
    """
    if limits.allowed_listeners is not None and listener not in limits.allowed_listeners:
        return Decision(False, f"refused: listener {listener!r} not allowed for this device")
    if limits.allowed_cidrs is not None:
        address = parse_ip(peer_ip)
        if address is None:
            return Decision(False, "refused: unparsable peer address")
        if not any(address in network for network in limits.allowed_cidrs):
            return Decision(False, f"refused: {address} outside the device's allowed networks")
    return Decision(True, "origin allowed")


def check_payload(limits: DeviceLimits, size: int) -> Decision:
    """Whether a payload of ``size`` bytes is within the device's ``max_payload``."""
    if size > limits.max_payload:
        return Decision(False, f"refused: payload {size} > {limits.max_payload} bytes")
    return Decision(True, "payload size allowed")
