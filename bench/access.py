"""``python -m bench.access``: revocation-to-disconnect latency and token connect rate.

The hub runs in this process on its own loop thread (its broker and access services, as
``fleetward serve`` wires them); the load generator runs on the main loop; revocations
are called from a worker thread, as the REST API's thread pool calls them. With
``--sessions`` devices connected (token auth on a loopback TCP listener), it revokes
``--revocations`` of them one at a time and measures from the call to the moment the
client's socket closes, and from the call to its return. Then it measures CONNECT/CONNACK
cycles per second over TLS with a token per device, and the same devices reconnecting over
TCP with the tokens they just used (a reconnect storm: the hub has verified them before).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import resource
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.gcwatch import GcWatch, loop_lag
from bench.load import V311, Client
from fleetward.access.live import load_state
from fleetward.app import Hub, settle_heap
from fleetward.config import load_settings
from fleetward.mqtt import Connect, encode
from fleetward.registry import Device, DeviceKind, DeviceStatus, Scope
from fleetward.registry.ids import new_id


def raise_fd_limit(want: int = 65_536) -> None:
    """Clients and hub share this process: two descriptors per session.

    Root may lift the hard limit too; anyone else gets the hard limit.
    """
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class TokenClient(Client):
    """A load client that authenticates with a device token."""

    def __init__(self, device_id: str, token: str) -> None:
        super().__init__(device_id, keep_alive=3600)
        self._token = token
        self.lost: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        packet = Connect(
            self.client_id,
            keep_alive=self.keep_alive,
            username=self.client_id,
            password=self._token.encode(),
        )
        transport.write(encode(packet, V311))  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.lost.done():
            self.lost.set_result(time.perf_counter())


HUB_LOOPS: dict[int, asyncio.AbstractEventLoop] = {}
"""The loop each running hub runs on (by ``id(hub)``), for probes placed on it."""


@contextmanager
def running_hub(work: Path, **env: str) -> Iterator[tuple[Hub, int, int, Path]]:
    """A hub with a loopback TCP listener and a TLS listener, on a loop thread."""
    from bench.brokers import free_port

    tcp, tls = free_port(), free_port()
    listeners = [
        {"name": "tcp", "kind": "tcp", "host": "127.0.0.1", "port": tcp},
        {"name": "tls", "kind": "tls", "host": "127.0.0.1", "port": tls},
    ]
    settings = load_settings(
        None,
        {
            "FLEETWARD_DATA_DIR": str(work / "hub"),
            "FLEETWARD_API__PORT": str(free_port()),
            "FLEETWARD_MQTT__LISTENERS": json.dumps(listeners),
            "FLEETWARD_MQTT__PERSISTENCE": "false",
            "FLEETWARD_MQTT__STATS_INTERVAL": "0",
            **env,
        },
    )
    hub = Hub(settings)
    hub.prepare(bootstrap=False)
    tls_material = hub.tls_material()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hub", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(hub.start_broker(tls_material), loop).result(30)
    HUB_LOOPS[id(hub)] = loop
    try:
        assert tls_material.ca_file is not None
        yield hub, tcp, tls, tls_material.ca_file
    finally:
        asyncio.run_coroutine_threadsafe(hub.stop_broker(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        hub.close()


def make_devices(hub: Hub, n: int) -> tuple[str, list[tuple[str, str]]]:
    """``n`` active devices in one tenant (one transaction) and a token for each."""
    tenant = hub.registry.create_tenant(f"bench-{new_id()[-6:]}").id
    owner = hub.registry.create_owner(Scope(tenant), "bench").id
    now = dt.datetime.now(dt.UTC)
    ids = [new_id() for _ in range(n)]
    with hub.store.unit() as u:
        for i, device_id in enumerate(ids):
            u.devices.add(
                Device(
                    device_id,
                    tenant,
                    owner,
                    f"d{i}",
                    DeviceKind.DEVICE,
                    f"site-{i % 20}",
                    (),
                    DeviceStatus.ACTIVE,
                    now,
                    now,
                )
            )
    access = hub.access()
    access.hub.state = load_state(access.runtime.store, now)
    ttl = dt.timedelta(minutes=30)
    return tenant, [(d, access.devices.device_token(d, tenant, ttl).token) for d in ids]


async def connect_all(
    devices: list[tuple[str, str]], port: int, tls: ssl.SSLContext | None = None
) -> list[TokenClient]:
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(200)
    clients: list[TokenClient] = []

    async def one(device_id: str, token: str) -> None:
        async with sem:
            _, proto = await loop.create_connection(
                lambda: TokenClient(device_id, token),
                "127.0.0.1",
                port,
                ssl=tls,
                server_hostname="localhost" if tls else None,
            )
            await asyncio.wait_for(proto.connacked, 30)
            proto.skip_suback()
            clients.append(proto)

    await asyncio.gather(*(one(d, t) for d, t in devices))
    return clients


@contextmanager
def idle_elsewhere(devices: list[tuple[str, str]], port: int) -> Iterator[None]:
    """Hold ``devices``' connections open from a child process (its own descriptors).

    The hub and the measured clients share this process; the idle fleet lives in the
    child so the fleet size is not capped by one process's descriptor limit.
    """
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-m", "bench.access", "--hold", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write(json.dumps(devices) + "\n")
    child.stdin.flush()
    if child.stdout.readline().strip() != "ready":
        child.kill()
        raise RuntimeError("the idle fleet did not connect")
    try:
        yield
    finally:
        child.stdin.close()
        child.wait(30)


async def _hold(port: int) -> None:
    """Child side of :func:`idle_elsewhere`: connect, say ready, wait for stdin to close."""
    import sys

    devices = [tuple(d) for d in json.loads(sys.stdin.readline())]
    clients = await connect_all(devices, port)  # type: ignore[arg-type]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for c in clients:
        c.close()


async def revocations(
    hub: Hub, tenant: str, clients: list[TokenClient], k: int
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    devices = hub.access().devices
    to_disconnect, to_return = [], []
    step = max(1, len(clients) // k)
    for c in clients[::step][:k]:
        t0 = time.perf_counter()
        await loop.run_in_executor(None, devices.revoke_device, Scope(tenant), c.client_id, "bench")
        returned = time.perf_counter()
        lost = await asyncio.wait_for(c.lost, 5)
        to_disconnect.append((lost - t0) * 1000)
        to_return.append((returned - t0) * 1000)
    q = statistics.quantiles
    return {
        "revoke → disconnect p50 (ms)": statistics.median(to_disconnect),
        "revoke → disconnect p99 (ms)": q(to_disconnect, n=100)[98],
        "revoke call p99 (ms)": q(to_return, n=100)[98],
    }


async def connect_rate(devices: list[tuple[str, str]], port: int, ca: Path | None = None) -> float:
    """CONNECT/CONNACK per second for ``devices`` (over TLS when ``ca`` is given)."""
    ctx = ssl.create_default_context(cafile=str(ca)) if ca is not None else None
    t0 = time.perf_counter()
    clients = await connect_all(devices, port, ctx)
    rate = len(devices) / (time.perf_counter() - t0)
    for c in clients:
        c.close()
    await asyncio.wait_for(asyncio.gather(*(c.lost for c in clients)), 30)
    return rate


async def run(
    sessions: int, k: int, connects: int, *, freeze: bool = False, gc_report: bool = False
) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(prefix="fleetward-bench-") as tmp,
        running_hub(Path(tmp)) as (
            hub,
            tcp,
            tls,
            ca,
        ),
    ):
        tenant, devices = make_devices(hub, sessions + connects)
        if freeze:  # what ``fleetward serve`` does once the hub has started
            settle_heap()
        measured = min(k, sessions)
        idle, active = devices[measured:sessions], devices[:measured]
        stop, lags = asyncio.Event(), []
        loop = HUB_LOOPS[id(hub)]
        lagging = asyncio.run_coroutine_threadsafe(loop_lag(stop, lags), loop)
        t0 = time.perf_counter()
        with GcWatch() as watch:
            with idle_elsewhere(idle, tcp):
                clients = await connect_all(active, tcp)
                rate = sessions / (time.perf_counter() - t0)
                results = {f"token connects, TCP ({sessions}) (conn/s)": rate}
                results.update(await revocations(hub, tenant, clients, k))
                tracked = len(gc.get_objects()) if gc_report else 0  # the whole fleet is on
            await asyncio.sleep(1.0)
            fresh = devices[sessions:]
            results[f"token connects, TLS ({connects}) (conn/s)"] = await connect_rate(
                fresh, tls, ca
            )
            await asyncio.sleep(1.0)
            results[f"token reconnects, TCP ({connects}) (conn/s)"] = await connect_rate(fresh, tcp)
        loop.call_soon_threadsafe(stop.set)
        await asyncio.wrap_future(lagging)
        if gc_report:
            results.update(watch.report())
            lags.sort()
            results["hub loop lag p99.9 (ms)"] = lags[int(len(lags) * 0.999)]
            results["hub loop lag max (ms)"] = lags[-1]
            results["gc tracked objects, fleet on"] = tracked
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hold", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--revocations", type=int, default=200)
    parser.add_argument("--connects", type=int, default=2_000)
    parser.add_argument(
        "--no-freeze", action="store_true", help="skip gc.freeze() after start (A/B)"
    )
    parser.add_argument("--gc-report", action="store_true", help="GC pauses and hub loop lag too")
    args = parser.parse_args()
    raise_fd_limit()
    if args.hold:
        asyncio.run(_hold(args.hold))
        return
    results = asyncio.run(
        run(
            args.sessions,
            args.revocations,
            args.connects,
            freeze=not args.no_freeze,
            gc_report=args.gc_report,
        )
    )
    print(f"\n| {'measure':44s} | {'value':>10s} |\n|{'-' * 46}|{'-' * 12}|")
    for name, value in results.items():
        print(f"| {name:44s} | {value:10,.2f} |")


if __name__ == "__main__":
    main()
