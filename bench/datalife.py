"""Data-at-rest and blind-hub benchmarks: ``python -m bench.datalife`` prints a table.

* Broker throughput, QoS 0 fan-in 8→1, with 64-byte plaintext payloads and with the same
  64 bytes E2E-sealed for one recipient (138 bytes): the broker never opens a payload,
  so the only cost of sealing on the hub is the larger frame. Target: sealed ≥ 0.9 of plain.
* Telemetry history ingest on SQLite, batches of 500: vault-encrypted (per-owner data key,
  AES-256-GCM, AAD per row) against the same rows stored as plaintext. Target ≥ 0.7.

Runs one Fleetward broker on loopback (``bench.brokers``); the history part runs in this
process on a temporary database. Numbers move with the machine's load: compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path

from bench.brokers import Running, start_fleetward
from bench.load import Client, Qos0Publisher, open_client
from fleetward.clock import SystemClock
from fleetward.e2e import E2EKeyPair, KeyOwner, OwnerKind, seal_envelope
from fleetward.history import HistoryService, Pending, SqlHistory, StoredRow
from fleetward.mqtt import Publish, encode
from fleetward.registry import RegistryService, Scope, Store
from fleetward.vault import FileKeyProvider, Vault, create_key_file
from fleetward.vault.sql import SqlDataKeys

V311 = 4
WARMUP = 1.0
TOPIC = "bench/in/{}"


def _sealed_64() -> bytes:
    device = E2EKeyPair.generate(KeyOwner("t1", OwnerKind.DEVICE, "d1"))
    app = E2EKeyPair.generate(KeyOwner("t1", OwnerKind.APP, "a1"))
    return seal_envelope(
        b"x" * 64, topic=TOPIC.format(0), sender=device, recipients=[app.record], seq=1
    )


async def _fan_in(broker: Running, payload: bytes, duration: float) -> float:
    """Delivered msg/s, 8 QoS 0 publishers → 1 subscriber, ``payload`` in every PUBLISH."""
    size = len(encode(Publish(TOPIC.format(0), payload), V311))
    sub = await open_client(lambda: Client("dl-sub"), broker.port)
    sub.subscribe("bench/in/#", 0)
    await asyncio.wait_for(sub.subacked, 10)
    pubs: list[Qos0Publisher] = []
    for i in range(8):
        p = await open_client(
            lambda i=i: Qos0Publisher(f"dl-pub-{i}", TOPIC.format(i)), broker.port
        )
        assert isinstance(p, Qos0Publisher)
        p.blob = encode(Publish(TOPIC.format(i), payload), V311) * 500
        p.skip_suback()
        pubs.append(p)
    for p in pubs:
        p.running = True
        p.pump()
    try:
        await asyncio.sleep(WARMUP)
        start, t0 = sub.received, time.perf_counter()
        await asyncio.sleep(duration)
        return (sub.received - start) / size / (time.perf_counter() - t0)
    finally:
        for p in pubs:
            p.running = False
            p.close()
        sub.close()


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


def _history_rows(n: int, batch: int) -> list[tuple[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir(mode=0o700)
        store = Store(f"sqlite:///{root / 'data' / 'fleetward.db'}")
        store.migrate()
        clock = SystemClock()
        reg = RegistryService(store, clock)
        tenant = reg.create_tenant("bench").id
        owner = reg.create_owner(Scope(tenant), "owner").id
        create_key_file(root / "keys" / "kek", root / "data")
        kek = FileKeyProvider.load(root / "keys" / "kek", root / "data")
        vault = Vault(SqlDataKeys(store.engine), kek, clock)
        sql = SqlHistory(store.engine)
        history = HistoryService(sql, vault, lambda _t, _d: owner)
        now = dt.datetime.now(dt.UTC)
        day = dt.timedelta(days=1)
        pending = [
            Pending(tenant, "dev-1", "temp", now + dt.timedelta(microseconds=i), day, b"x" * 64)
            for i in range(n)
        ]

        def plaintext() -> None:  # the same rows, the payload stored as it came
            for i in range(0, n, batch):
                sql.insert_many(
                    [
                        StoredRow(
                            0,
                            tenant,
                            owner,
                            p.device_id,
                            p.stream,
                            p.received_at,
                            p.received_at + day,
                            False,
                            p.payload,
                        )
                        for p in pending[i : i + batch]
                    ]
                )

        def encrypted() -> None:
            for i in range(0, n, batch):
                history.store_batch(pending[i : i + batch])

        results: dict[str, float] = {}
        for name, run in (
            ("plain", plaintext),
            ("enc", encrypted),
            ("plain2", plaintext),
            ("enc2", encrypted),
        ):
            t0 = time.perf_counter()
            run()
            results[name] = n / (time.perf_counter() - t0)
        store.close()
    return [
        ("history ingest, plaintext rows (rows/s)", max(results["plain"], results["plain2"])),
        ("history ingest, vault-encrypted rows (rows/s)", max(results["enc"], results["enc2"])),
    ]


def main() -> None:
    """Run both parts and print the table with the two ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.datalife")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per broker run")
    parser.add_argument("--rounds", type=int, default=2, help="broker runs per payload kind")
    parser.add_argument("--rows", type=int, default=20_000, help="history rows per run")
    args = parser.parse_args()
    rows = _broker_rows(args.duration, args.rounds) + _history_rows(args.rows, 500)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':{width}s}  {'value':>12s}")
    for name, value in rows:
        print(f"{name:{width}s}  {value:12,.0f}")
    broker_ratio = rows[1][1] / rows[0][1]
    ingest_ratio = rows[3][1] / rows[2][1]
    print(f"{'sealed ÷ plain broker throughput (target ≥ 0.90)':{width}s}  {broker_ratio:12.2f}")
    print(
        f"{'encrypted ÷ plaintext history ingest (target ≥ 0.70)':{width}s}  {ingest_ratio:12.2f}"
    )


if __name__ == "__main__":
    main()
