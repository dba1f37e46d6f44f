"""``python -m bench.presence``: how fast the hub notices a device going away.

``--sessions`` devices connect with tokens (``bench.access``'s hub, presence on). Then
``--samples`` of them leave one at a time, half cleanly (DISCONNECT) and half abruptly
(the socket is torn down with no DISCONNECT, as when a process dies or a box loses
power while the network still answers), and the time from the client's act to the hub's
presence state saying ``offline`` is measured. A peer that vanishes without a trace (no
FIN, no RST: a cut cable) is found by keepalive, at 1.5 times the keepalive by design, so
that case is a setting, not a measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.access import (
    TokenClient,
    connect_all,
    idle_elsewhere,
    make_devices,
    raise_fd_limit,
    running_hub,
)
from fleetward.app import Hub
from fleetward.mqtt import Disconnect, encode
from fleetward.presence.model import PresenceStatus

V311 = 4


async def _offline_after(hub: Hub, device_id: str, t0: float, limit: float = 5.0) -> float:
    monitor = hub.presence
    assert monitor is not None
    deadline = t0 + limit
    while time.perf_counter() < deadline:
        p = monitor.get(device_id)
        if p is not None and p.status is PresenceStatus.OFFLINE:
            return (time.perf_counter() - t0) * 1000
        await asyncio.sleep(0.0005)
    raise TimeoutError(f"{device_id} not seen offline")


async def _leave(hub: Hub, clients: list[TokenClient], clean: bool) -> list[float]:
    out = []
    for c in clients:
        t0 = time.perf_counter()
        assert c.transport is not None
        if clean:
            c.transport.write(encode(Disconnect(), V311))
            c.transport.close()
        else:
            c.transport.abort()
        out.append(await _offline_after(hub, c.client_id, t0))
    return out


async def run(sessions: int, samples: int) -> dict[str, float]:
    env = {"FLEETWARD_PRESENCE__REFRESH_INTERVAL": "0.5"}
    with (
        tempfile.TemporaryDirectory(prefix="fleetward-bench-") as tmp,
        running_hub(Path(tmp), **env) as (hub, tcp, _tls, _ca),
    ):
        _tenant, devices = make_devices(hub, sessions)
        await asyncio.sleep(1.5)  # the presence directory picks the new devices up
        with idle_elsewhere(devices[samples:], tcp):
            picked = await connect_all(devices[:samples], tcp)
            await asyncio.sleep(1.0)
            half = len(picked) // 2
            clean = await _leave(hub, picked[:half], clean=True)
            abrupt = await _leave(hub, picked[half:], clean=False)
        q = statistics.quantiles
        return {
            "clean disconnect → offline p50 (ms)": statistics.median(clean),
            "clean disconnect → offline p99 (ms)": q(clean, n=100)[98],
            "abrupt close → offline p50 (ms)": statistics.median(abrupt),
            "abrupt close → offline p99 (ms)": q(abrupt, n=100)[98],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    raise_fd_limit()
    results = asyncio.run(run(args.sessions, args.samples))
    print(f"\n| {'measure (' + str(args.sessions) + ' devices connected)':44s} | {'value':>10s} |")
    print(f"|{'-' * 46}|{'-' * 12}|")
    for name, value in results.items():
        print(f"| {name:44s} | {value:10,.2f} |")


if __name__ == "__main__":
    main()
