"""The fleet simulator: N devices on S sites, enrolled and run through the SDK.

It is how a newcomer sees the hub working, and a smoke test of the whole device path:
every simulated device makes its own key, enrols with its one-time code, connects
over TLS (mTLS when the listener takes certificates), publishes telemetry every
``interval`` seconds (with jitter), drops out now and then (abruptly, so the hub
publishes its last will) and reconnects with backoff; a whole site can go dark on
demand. The hub side (tenant, devices, codes) is set up by the caller; this module
only speaks MQTT. Everything is bounded: the device count, the run time, each queue.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fleetward.device.backoff import BackoffPolicy
from fleetward.device.client import DeviceClient, quiet_closed_socket_races
from fleetward.device.credentials import CredentialStore, Endpoint
from fleetward.device.enroll import enroll
from fleetward.errors import FleetwardError, InvalidInputError

__all__ = ["MAX_DEVICES", "MAX_DURATION", "FleetPlan", "FleetReport", "SimDevice", "run_fleet"]

MAX_DEVICES = 1000
MAX_SITES = 100
MAX_DURATION = 3600.0
_ENROLL_TRIES = 8  # a running hub learns of devices created at its console within ~1 s
_ENROLL_CONCURRENCY = 8
_SIM_BACKOFF = BackoffPolicy(base=0.5, cap=10.0)


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A device the hub knows (pending) and the one-time code it will enrol with."""

    device_id: str
    name: str
    site: str
    code: str


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """What to simulate; :meth:`check` bounds it before anything starts."""

    devices: tuple[SimDevice, ...]
    duration: float = 30.0
    interval: float = 2.0
    dropout_chance: float = 0.02
    """Per device and telemetry tick: the chance of a sudden drop-out."""
    dropout_seconds: tuple[float, float] = (1.0, 5.0)
    outage_site: str | None = None
    outage_after: float = 10.0
    outage_seconds: float = 10.0

    def check(self) -> None:
        """Raise :class:`InvalidInputError` (``simulate.*``) for an unbounded plan."""
        if not 1 <= len(self.devices) <= MAX_DEVICES:
            raise InvalidInputError(f"simulate 1 to {MAX_DEVICES} devices", code="simulate.devices")
        if not 0 < self.duration <= MAX_DURATION:
            raise InvalidInputError(
                f"the duration is 0 to {MAX_DURATION:.0f} seconds", code="simulate.duration"
            )
        if not 0.05 <= self.interval <= 3600:
            raise InvalidInputError(
                "the interval is 0.05 to 3600 seconds", code="simulate.interval"
            )
        if not 0 <= self.dropout_chance <= 1:
            raise InvalidInputError("the drop-out chance is 0 to 1", code="simulate.dropout")
        sites = {d.site for d in self.devices}
        if len(sites) > MAX_SITES:
            raise InvalidInputError(f"at most {MAX_SITES} sites", code="simulate.sites")
        if self.outage_site is not None and self.outage_site not in sites:
            raise InvalidInputError(
                f"no site named {self.outage_site!r} (sites: {', '.join(sorted(sites))})",
                code="simulate.outage_site",
            )
        if self.outage_after < 0 or self.outage_seconds < 0:
            raise InvalidInputError("outage times must not be negative", code="simulate.outage")


@dataclass(slots=True)
class FleetReport:
    """What happened, for the summary the CLI prints (and tests check)."""

    enrolled: int = 0
    enroll_failed: dict[str, str] = field(default_factory=dict)
    connected: int = 0
    telemetry_sent: int = 0
    dropouts: int = 0
    reconnects: int = 0
    queue_dropped: int = 0
    outage_devices: int = 0


async def run_fleet(
    plan: FleetPlan,
    endpoint: Endpoint,
    creds_root: Path,
    *,
    auth: Literal["certificate", "token"] = "certificate",
    rand: random.Random | None = None,
    on_enrolled: Callable[[SimDevice, bool], None] | None = None,
) -> FleetReport:
    """Enrol every device, run them for ``plan.duration`` seconds, close them cleanly."""
    plan.check()
    quiet_closed_socket_races(asyncio.get_running_loop())
    rng = rand or random.Random()  # noqa: S311 - simulated behaviour, not security
    report = FleetReport()
    gate = asyncio.Semaphore(_ENROLL_CONCURRENCY)

    async def enrol_one(device: SimDevice) -> SimDevice | None:
        async with gate:
            ok = await _enroll_with_retries(endpoint, device, creds_root, report)
        if on_enrolled is not None:
            on_enrolled(device, ok)
        return device if ok else None

    enrolled = [
        d for d in await asyncio.gather(*(enrol_one(d) for d in plan.devices)) if d is not None
    ]
    report.enrolled = len(enrolled)
    clients = [
        DeviceClient(
            endpoint,
            CredentialStore(creds_root / d.device_id),
            auth=auth,
            queue_size=100,
            backoff=_SIM_BACKOFF,
            rand=rng.random,
            persistent_session=False,
        )
        for d in enrolled
    ]
    for client in clients:
        client.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + plan.duration
    tasks = [
        asyncio.create_task(_behave(client, plan, rng, report, deadline)) for client in clients
    ]
    if plan.outage_site is not None:
        site = [c for c, d in zip(clients, enrolled, strict=True) if d.site == plan.outage_site]
        tasks.append(asyncio.create_task(_outage(site, plan, report)))
    try:
        await asyncio.sleep(plan.duration)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        report.connected = sum(1 for c in clients if c.connected)
        for client in clients:
            await client.close()
    report.telemetry_sent = sum(c.sent for c in clients)
    report.reconnects = sum(max(0, c.connects - 1) for c in clients)
    report.queue_dropped = sum(c.queue.dropped for c in clients)
    return report


async def _enroll_with_retries(
    endpoint: Endpoint, device: SimDevice, creds_root: Path, report: FleetReport
) -> bool:
    store = CredentialStore(creds_root / device.device_id)
    delay = 0.25
    for attempt in range(_ENROLL_TRIES):
        try:
            await enroll(endpoint, device.device_id, store, code=device.code)
        except FleetwardError as e:
            if attempt == _ENROLL_TRIES - 1:
                report.enroll_failed[device.name] = e.code
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        else:
            return True
    return False  # pragma: no cover - the loop returns


async def _behave(
    client: DeviceClient, plan: FleetPlan, rng: random.Random, report: FleetReport, end: float
) -> None:
    """Telemetry every interval (±20 %), and now and then a sudden drop-out."""
    loop = asyncio.get_running_loop()
    seq = 0
    temp = rng.uniform(18.0, 24.0)
    await asyncio.sleep(rng.uniform(0, plan.interval))  # not all at once
    while loop.time() < end:
        temp += rng.gauss(0, 0.2)
        body = {"seq": seq, "temp_c": round(temp, 2)}
        client.publish_telemetry("env", json.dumps(body).encode())
        seq += 1
        if client.connected and rng.random() < plan.dropout_chance:
            report.dropouts += 1
            client.abort(offline_for=rng.uniform(*plan.dropout_seconds))
        await asyncio.sleep(plan.interval * rng.uniform(0.8, 1.2))


async def _outage(clients: list[DeviceClient], plan: FleetPlan, report: FleetReport) -> None:
    """The whole site loses power at once (every device drops, the hub sends the wills)."""
    await asyncio.sleep(plan.outage_after)
    report.outage_devices = len(clients)
    for client in clients:
        client.abort(offline_for=plan.outage_seconds)
