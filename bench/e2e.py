"""E2E envelope benchmarks: ``python -m bench.e2e`` prints two tables.

1. Seal+open time per message, in microseconds. The stream suite (3, the default of
   :class:`~fleetward.e2e.Sealer`) reuses one HPKE context per sender/recipient pair, so a
   message costs one AES-GCM operation on each side; its rows are the mean over a long
   stream (a keyed message every 16, opened from the cached context). The single-shot
   suite 1 runs a full HPKE setup per message (ephemeral key and two X25519 DH to seal,
   two DH to open, one of them cached): its rows, one X25519 DH and pyca's base-mode
   HPKE are the references.
2. Broker throughput, QoS 0 fan-in 8→1 through one Fleetward broker on loopback, with
   64-byte payloads plain, sealed with the stream suite (a real stream: keyed and compact
   messages) and sealed single-shot. Runs are interleaved (the order reversed every
   round) and the ratio is of the medians: on a shared machine one run varies by ±40 %.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import statistics
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bench.brokers import Running, start_fleetward
from bench.load import blob_fan_in
from fleetward.crypto.signing import SigningKey
from fleetward.e2e import (
    E2EKeyPair,
    KeyDirectory,
    KeyOwner,
    Opener,
    OwnerKind,
    ReplayGuard,
    Sealer,
    TrustedKeys,
    open_envelope,
    seal_envelope,
)
from fleetward.mqtt import Publish, encode

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
TOPIC = "devices/d1/telemetry/temp"
FAN_TOPIC = "bench/in/{}"
V311 = 4
PUBLISHERS = 8
BLOB_MESSAGES = 512


def _best_us(fn: Callable[[], object], repeat: int = 5) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def _tenant() -> tuple[E2EKeyPair, list[E2EKeyPair], TrustedKeys]:
    hub = SigningKey.generate()
    directory = KeyDirectory(lifetime=dt.timedelta(days=30), overlap=dt.timedelta(days=1))
    device = E2EKeyPair.generate(KeyOwner("t1", OwnerKind.DEVICE, "d1"))
    apps = [E2EKeyPair.generate(KeyOwner("t1", OwnerKind.APP, f"a{i}")) for i in range(3)]
    trusted = TrustedKeys({hub.kid: hub.public}, tenant_id="t1", max_age=dt.timedelta(days=1))
    for pair in (device, *apps):
        for signed in directory.publish(pair.record, now=NOW, signer=hub):
            trusted.add(signed.to_bytes(), now=NOW)
    return device, apps, trusted


def run_e2e_bench() -> list[tuple[str, str, float]]:
    """Rows of (what, unit, value): per-message seal+open, then the references."""
    device, apps, trusted = _tenant()
    app = apps[0]
    own = {app.key_id: app}
    replay = ReplayGuard()
    seqs = itertools.count()
    sealer = Sealer(device, first_seq=1 << 40)
    opener = Opener([app], trusted)

    def stream(payload: bytes) -> Callable[[], object]:
        def run() -> object:
            data = sealer.seal(payload, topic=TOPIC, recipients=[app.record], now=NOW)
            return opener.open(data, topic=TOPIC, now=NOW)

        return run

    def single(payload: bytes, recipients: int = 1) -> Callable[[], object]:
        records = [a.record for a in apps[:recipients]]

        def run() -> object:
            data = seal_envelope(
                payload, topic=TOPIC, sender=device, recipients=records, seq=next(seqs)
            )
            return open_envelope(
                data, topic=TOPIC, own_keys=own, senders=trusted, replay=replay, now=NOW
            )

        return run

    small, large = b"\x5a" * 64, b"\x5a" * 4096
    suite = pyca_hpke.Suite(
        pyca_hpke.KEM.X25519, pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_256_GCM
    )
    sk = X25519PrivateKey.generate()
    pk, peer = sk.public_key(), X25519PrivateKey.generate().public_key()
    first = Sealer(device, first_seq=0)
    keyed, compact = (
        first.seal(small, topic=TOPIC, recipients=[app.record], now=NOW) for _ in "kc"
    )
    return [
        ("stream suite: seal+open 64 B, per message", "µs", _best_us(stream(small))),
        ("stream suite: seal+open 4 KiB, per message", "µs", _best_us(stream(large))),
        ("stream suite: 64 B payload on the wire, compact", "B", len(compact)),
        ("stream suite: 64 B payload on the wire, keyed", "B", len(keyed)),
        ("reference: single-shot (suite 1) seal+open 64 B", "µs", _best_us(single(small))),
        ("reference: single-shot (suite 1) seal+open 4 KiB", "µs", _best_us(single(large))),
        ("reference: single-shot (suite 1) 64 B payload on the wire", "B", 64 + 74),
        ("reference: suite 2, 3 recipients (one opens) 64 B", "µs", _best_us(single(small, 3))),
        ("reference: one X25519 DH", "µs", _best_us(lambda: sk.exchange(peer))),
        (
            "reference: pyca HPKE base seal+open 64 B",
            "µs",
            _best_us(lambda: suite.decrypt(suite.encrypt(small, pk, b"i"), sk, b"i")),
        ),
    ]


def _packets(kind: str, index: int) -> bytes:
    """A publisher's blob: ``BLOB_MESSAGES`` QoS 0 PUBLISHes of 64 bytes, plain or sealed."""
    topic, payload = FAN_TOPIC.format(index), b"x" * 64
    if kind == "plain":
        return encode(Publish(topic, payload), V311) * BLOB_MESSAGES
    device, apps, _ = _tenant()
    sealer = Sealer(device, first_seq=1, stream=kind == "stream")
    return b"".join(
        encode(
            Publish(topic, sealer.seal(payload, topic=topic, recipients=[apps[0].record], now=NOW)),
            V311,
        )
        for _ in range(BLOB_MESSAGES)
    )


async def _fan_in(port: int, blobs: list[bytes], duration: float, warmup: float) -> float:
    """Delivered msg/s, ``PUBLISHERS`` QoS 0 publishers → 1 subscriber."""
    mean_size = sum(len(b) for b in blobs) / (len(blobs) * BLOB_MESSAGES)
    return await blob_fan_in(port, blobs, mean_size, duration=duration, warmup=warmup)


def run_broker_bench(rounds: int, duration: float) -> dict[str, list[float]]:
    """msg/s per run for each payload kind, interleaved (order reversed every round)."""
    kinds = ["plain", "stream", "single"]
    blobs = {k: [_packets(k, i) for i in range(PUBLISHERS)] for k in kinds}
    runs: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        broker: Running = start_fleetward(Path(tmp))
        try:
            asyncio.run(_fan_in(broker.port, blobs["plain"], 0.5, 0.5))  # warm the broker
            for r in range(rounds):
                for kind in kinds if r % 2 == 0 else kinds[::-1]:
                    runs[kind].append(asyncio.run(_fan_in(broker.port, blobs[kind], duration, 0.5)))
        finally:
            broker.stop()
    return runs


def main() -> None:
    """Print both tables."""
    parser = argparse.ArgumentParser(prog="python -m bench.e2e")
    parser.add_argument("--rounds", type=int, default=7, help="broker runs per payload kind")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per broker run")
    parser.add_argument("--no-broker", action="store_true", help="only the envelope timings")
    args = parser.parse_args()
    rows = run_e2e_bench()
    width = max(len(name) for name, _, _ in rows)
    print(f"{'E2E envelope':{width}s}  {'value':>10s}  unit")
    for name, unit, value in rows:
        shown = f"{value:.0f}" if unit == "B" else f"{value:.1f}"
        print(f"{name:{width}s}  {shown:>10s}  {unit}")
    if args.no_broker:
        return
    runs = run_broker_bench(args.rounds, args.duration)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"\nQoS 0 fan-in 8→1, 64 B payloads, {args.rounds} interleaved runs of {args.duration} s")
    for kind, values in runs.items():
        spread = f"{min(values):,.0f} .. {max(values):,.0f}"
        print(f"  {kind:6s}  median {med[kind]:10,.0f} msg/s   (runs {spread})")
    for kind in ("stream", "single"):
        per_round = statistics.median(s / p for s, p in zip(runs[kind], runs["plain"], strict=True))
        print(
            f"  {kind} ÷ plain: ratio of medians {med[kind] / med['plain']:.2f}, "
            f"median of per-round ratios {per_round:.2f} (target ≥ 0.90)"
        )


if __name__ == "__main__":
    main()
