"""Deny and allow lists of device ids, client ids and networks, global or per tenant.

Pure: :class:`AccessList` is an immutable index built once from the stored entries
(rebuild it, and bump the authorizer generation, when they change); :func:`check` takes
``now``. Lookups are dict hits for ids and one dict hit per distinct prefix length for
networks, so 100k entries cost the same per check as ten.

Semantics (decided here, once):

* A subject is a device id, a client id and a peer address. Each is checked against the
  global entries and against the entries of the connection's tenant; other tenants'
  entries never apply. A subject passed as ``None`` (not known yet, e.g. the device id
  before authentication) is not checked, so the broker checks once before and once
  after authenticating.
* **Deny wins.** Any unexpired deny entry matching any subject refuses, whatever the
  allow lists say.
* **Allow lists are gates.** For each (scope, kind) that has allow entries, that kind's
  subject must match an unexpired allow entry *of that scope*; each scope's list is
  checked on its own, so a tenant cannot widen the global list nor the reverse.
* **Expired entries match nothing**, but an allow list stays in force while it holds any
  entry, expired or not. This fails closed: when the last temporary allow entry lapses
  nobody is admitted, instead of the list silently vanishing and admitting everybody.
  Deleting the entries is what lifts an allow list.
* Network entries are canonical (host bits dropped, IPv4-mapped IPv6 turned into IPv4),
  and peer addresses are unmapped the same way, so dual-stack sockets cannot dodge a rule.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from fleetward.access.policy import IPAddress, IPNetwork, parse_ip
from fleetward.errors import InvalidInputError

__all__ = ["AccessList", "AccessListEntry", "ListDecision", "ListKind", "ListMode", "check"]

ListKind = Literal["device", "client", "cidr"]
ListMode = Literal["deny", "allow"]
_KINDS: Final = ("device", "client", "cidr")
_MODES: Final = ("deny", "allow")


@dataclass(frozen=True, slots=True)
class AccessListEntry:
    """One list entry; ``scope`` is a tenant id, or ``None`` for the whole hub.

    Raises :class:`InvalidInputError` for an unknown kind or mode, an empty value or a
    value that is not a network for kind ``cidr``.
    """

    kind: ListKind
    value: str
    mode: ListMode
    scope: str | None = None
    expires_at: dt.datetime | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS or self.mode not in _MODES or not self.value:
            raise InvalidInputError("bad access list entry", code="access.bad_list_entry")
        if self.kind == "cidr":
            _network(self.value)

    def live(self, now: dt.datetime) -> bool:
        """Whether the entry still matches at ``now``."""
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class ListDecision:
    """The answer, why, and the entry that decided it (``None`` for defaults)."""

    allowed: bool
    reason: str
    entry: AccessListEntry | None = None


def _network(value: str) -> IPNetwork:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidInputError(f"not a network: {value!r}", code="access.bad_list_entry") from None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


_IdKey = tuple[ListMode, str | None, ListKind, str]
_NetTable = dict[int, dict[int, list[AccessListEntry]]]
"""prefix length -> network address as int -> entries."""


class AccessList:
    """An immutable index over list entries; see the module docstring for semantics."""

    __slots__ = ("_gates", "_ids", "_nets", "_size")

    def __init__(self, entries: Iterable[AccessListEntry] = ()) -> None:
        self._ids: dict[_IdKey, list[AccessListEntry]] = {}
        self._nets: dict[tuple[ListMode, str | None, int], _NetTable] = {}
        self._gates: set[tuple[str | None, ListKind]] = set()
        self._size = 0
        for entry in entries:
            self._size += 1
            if entry.mode == "allow":
                self._gates.add((entry.scope, entry.kind))
            if entry.kind == "cidr":
                network = _network(entry.value)
                table = self._nets.setdefault((entry.mode, entry.scope, network.version), {})
                by_address = table.setdefault(network.prefixlen, {})
                by_address.setdefault(int(network.network_address), []).append(entry)
            else:
                key = (entry.mode, entry.scope, entry.kind, entry.value)
                self._ids.setdefault(key, []).append(entry)

    def __len__(self) -> int:
        """How many entries the index was built from (expired ones included)."""
        return self._size

    def _match(
        self,
        mode: ListMode,
        scope: str | None,
        kind: ListKind,
        subject: str | IPAddress,
        now: dt.datetime,
    ) -> AccessListEntry | None:
        """A live entry of (mode, scope, kind) matching ``subject``, or ``None``."""
        if isinstance(subject, str):
            candidates = self._ids.get((mode, scope, kind, subject), ())
            return next((e for e in candidates if e.live(now)), None)
        table = self._nets.get((mode, scope, subject.version))
        if not table:
            return None
        address = int(subject)
        bits = subject.max_prefixlen
        for prefixlen, by_address in table.items():
            mask = ((1 << prefixlen) - 1) << (bits - prefixlen)
            for entry in by_address.get(address & mask, ()):
                if entry.live(now):
                    return entry
        return None

    def check(
        self,
        *,
        tenant_id: str | None,
        device_id: str | None,
        client_id: str | None,
        peer_ip: IPAddress | str | None,
        now: dt.datetime,
    ) -> ListDecision:
        """Whether the lists let this connection in; see the module docstring.

        An unparsable ``peer_ip`` string is refused when any network entry exists (fail
        closed), and otherwise ignored.
        """
        if not self._size:
            return _ALLOWED  # no lists: nothing to look up (the usual hub)
        # only network entries ever match an address: parse it only when there are some
        address = parse_ip(peer_ip) if peer_ip is not None and self._nets else None
        if peer_ip is not None and address is None and self._nets:
            return ListDecision(False, "refused: unparsable peer address")
        subjects: list[tuple[ListKind, str | IPAddress]] = []
        if device_id is not None:
            subjects.append(("device", device_id))
        if client_id is not None:
            subjects.append(("client", client_id))
        if address is not None:
            subjects.append(("cidr", address))
        scopes: tuple[str | None, ...] = (None,) if tenant_id is None else (None, tenant_id)
        for kind, subject in subjects:
            for scope in scopes:
                hit = self._match("deny", scope, kind, subject, now)
                if hit is not None:
                    return ListDecision(False, f"denied: {_where(scope)} {kind} {hit.value}", hit)
        for kind, subject in subjects:
            for scope in scopes:
                if (scope, kind) in self._gates and (
                    self._match("allow", scope, kind, subject, now) is None
                ):
                    return ListDecision(
                        False, f"refused: not on the {_where(scope)} {kind} allow list"
                    )
        return ListDecision(True, "lists allow")


_ALLOWED = ListDecision(True, "lists allow")


def _where(scope: str | None) -> str:
    return "global" if scope is None else f"tenant {scope}"


def check(
    access_list: AccessList,
    *,
    tenant_id: str | None,
    device_id: str | None,
    client_id: str | None,
    peer_ip: IPAddress | str | None,
    now: dt.datetime,
) -> ListDecision:
    """Function form of :meth:`AccessList.check`, for callers that pass the index around."""
    return access_list.check(
        tenant_id=tenant_id, device_id=device_id, client_id=client_id, peer_ip=peer_ip, now=now
    )
