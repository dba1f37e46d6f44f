"""Data-at-rest and blind-hub benchmarks: ``python -m bench.datalife`` prints a table.

* Broker throughput, QoS 0 fan-in 8→1, with 64-byte plaintext payloads and with the same
  64 bytes E2E-sealed for one recipient (138 bytes): the broker never opens a payload,
  so the only cost of sealing on the hub is the larger frame. Target: sealed ≥ 0.9 of plain.
* Telemetry history ingest on SQLite, from the broker's publish tap to the committed row
  (recorder queue, batches of 500 on the worker thread): vault-encrypted (per-owner data
  key, AES-256-GCM, AAD per row) against the same path with the payload stored as it
  came. Fresh database per run, runs interleaved, medians. Target ≥ 0.7.

Runs one Fleetward broker on loopback (``bench.brokers``); the history part runs in this
process on a temporary database. Numbers move with the machine's load: compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.brokers import Running, start_fleetward
from bench.load import blob_fan_in
from fleetward.access.mqtt_hooks import Identity
from fleetward.clock import SystemClock
from fleetward.e2e import E2EKeyPair, KeyOwner, OwnerKind, seal_envelope
from fleetward.history import (
    HistoryRecorder,
    HistoryService,
    RecorderLimits,
    RowSealer,
    SqlHistory,
    StreamRule,
)
from fleetward.mqtt import Publish, encode
from fleetward.registry import RegistryService, Scope, Store
from fleetward.vault import FileKeyProvider, OwnerRef, Vault, create_key_file
from fleetward.vault.sql import SqlDataKeys

V311 = 4
WARMUP = 1.0
TOPIC = "bench/in/{}"
DEVICES = 8
OWNERS = 4


def _sealed_64() -> bytes:
    device = E2EKeyPair.generate(KeyOwner("t1", OwnerKind.DEVICE, "d1"))
    app = E2EKeyPair.generate(KeyOwner("t1", OwnerKind.APP, "a1"))
    return seal_envelope(
        b"x" * 64, topic=TOPIC.format(0), sender=device, recipients=[app.record], seq=1
    )


async def _fan_in(broker: Running, payload: bytes, duration: float) -> float:
    """Delivered msg/s, 8 QoS 0 publishers → 1 subscriber, ``payload`` in every PUBLISH."""
    packets = [encode(Publish(TOPIC.format(i), payload), V311) for i in range(8)]
    blobs = [packet * 500 for packet in packets]
    return await blob_fan_in(broker.port, blobs, len(packets[0]), duration=duration, warmup=WARMUP)


def _broker_rows(duration: float, rounds: int) -> list[tuple[str, float]]:
    sealed = _sealed_64()
    plain_runs: list[float] = []
    sealed_runs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_fleetward(Path(tmp))
        try:
            for _ in range(rounds):  # interleaved: load drifts hit both alike
                plain_runs.append(asyncio.run(_fan_in(broker, b"x" * 64, duration)))
                sealed_runs.append(asyncio.run(_fan_in(broker, sealed, duration)))
        finally:
            broker.stop()
    return [
        ("QoS 0 fan-in, 64 B plaintext (msg/s)", max(plain_runs)),
        (f"QoS 0 fan-in, 64 B sealed = {len(sealed)} B (msg/s)", max(sealed_runs)),
    ]


class _PassThrough:
    """The plaintext baseline: stores each payload as it came (never used by the hub)."""

    def encrypt_many(self, owner: OwnerRef, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        return [payload for payload, _aad in items]

    def decrypt(self, owner: OwnerRef, blob: bytes, aad: bytes = b"") -> bytes:
        return blob


async def _ingest(history: HistoryService, tenant: str, n: int, batch: int) -> float:
    """Rows/s from the broker's publish tap to the last committed row.

    The publishes of ``DEVICES`` devices go through :meth:`HistoryRecorder.tap` on the
    loop in bursts of 100 (as the router would hand them over), while the recorder's
    flush task stores batches of ``batch`` on its worker thread, as in the hub.
    """
    limits = RecorderLimits(batch_max=batch, queue_max=n + 1, purge_interval=3600.0)
    recorder = HistoryRecorder(
        [StreamRule("#", dt.timedelta(days=1))], history, SystemClock(), limits
    )
    devices = [Identity(f"dev-{d}", tenant_id=tenant, kind="device") for d in range(DEVICES)]
    topics = [f"devices/dev-{d}/telemetry/temp" for d in range(DEVICES)]
    payload = b"x" * 64
    recorder.start()
    await asyncio.sleep(0.05)  # the purge task's first (empty) pass, outside the timing
    t0 = time.perf_counter()
    for i in range(n):
        recorder.tap(devices[i % DEVICES], topics[i % DEVICES], payload)
        if i % 100 == 99:
            await asyncio.sleep(0)
    await recorder.stop()  # returns once the last queued row is committed
    elapsed = time.perf_counter() - t0
    if recorder.stored != n:
        raise RuntimeError(f"stored {recorder.stored} of {n} rows")
    return n / elapsed


def _ingest_once(encrypted: bool, n: int, batch: int) -> float:
    """One run on a fresh SQLite database: same devices, owners, messages and batches;
    only the sealer differs (the vault, or the pass-through)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir(mode=0o700)
        store = Store(f"sqlite:///{root / 'data' / 'fleetward.db'}")
        store.migrate()
        clock = SystemClock()
        reg = RegistryService(store, clock)
        tenant = reg.create_tenant("bench").id
        owners = [reg.create_owner(Scope(tenant), f"owner-{o}").id for o in range(OWNERS)]
        owner_of = {f"dev-{d}": owners[d % OWNERS] for d in range(DEVICES)}
        sealer: RowSealer = _PassThrough()
        if encrypted:
            create_key_file(root / "keys" / "kek", root / "data")
            kek = FileKeyProvider.load(root / "keys" / "kek", root / "data")
            earlier = Vault(SqlDataKeys(store.engine), kek, clock)  # a previous hub run made
            for o in owners:  # the owners' data keys; this one starts with a cold cache
                earlier.ensure_key(OwnerRef(tenant, o))
            sealer = Vault(SqlDataKeys(store.engine), kek, clock)
        history = HistoryService(SqlHistory(store.engine), sealer, lambda _t, d: owner_of.get(d))
        try:
            return asyncio.run(_ingest(history, tenant, n, batch))
        finally:
            store.close()


def _history_rows(n: int, batch: int, rounds: int) -> tuple[list[tuple[str, float]], float]:
    """The two medians, and the median of the per-round ratios (each round's two runs are
    back to back, so the paired ratio shrugs off the load drifting between rounds)."""
    plain: list[float] = []
    enc: list[float] = []
    for r in range(rounds):  # interleaved, each order half the time: drift hits both alike
        order = (False, True) if r % 2 == 0 else (True, False)
        for encrypted in order:
            (enc if encrypted else plain).append(_ingest_once(encrypted, n, batch))
    ratios = sorted(e / p for e, p in zip(enc, plain, strict=True))
    print(
        f"history ingest, encrypted ÷ plaintext by round: {', '.join(f'{x:.2f}' for x in ratios)}"
    )
    rows = [
        ("history ingest, plaintext rows, tap → commit (rows/s, median)", statistics.median(plain)),
        (
            "history ingest, vault-encrypted rows, tap → commit (rows/s, median)",
            statistics.median(enc),
        ),
    ]
    return rows, statistics.median(ratios)


def main() -> None:
    """Run both parts and print the table with the two ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.datalife")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per broker run")
    parser.add_argument("--rounds", type=int, default=2, help="broker runs per payload kind")
    parser.add_argument("--rows", type=int, default=20_000, help="history rows per run")
    parser.add_argument("--ingest-rounds", type=int, default=6, help="history runs per kind")
    parser.add_argument("--history-only", action="store_true", help="skip the broker part")
    args = parser.parse_args()
    rows = [] if args.history_only else _broker_rows(args.duration, args.rounds)
    ingest_rows, ingest_ratio = _history_rows(args.rows, 500, args.ingest_rounds)
    rows += ingest_rows
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':{width}s}  {'value':>12s}")
    for name, value in rows:
        print(f"{name:{width}s}  {value:12,.0f}")
    if not args.history_only:
        broker_ratio = rows[1][1] / rows[0][1]
        print(
            f"{'sealed ÷ plain broker throughput (target ≥ 0.90)':{width}s}  {broker_ratio:12.2f}"
        )
    label = "encrypted ÷ plaintext history ingest, median by round (target ≥ 0.70)"
    print(f"{label:{width}s}  {ingest_ratio:12.2f}")


if __name__ == "__main__":
    main()
