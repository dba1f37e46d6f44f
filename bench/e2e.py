"""E2E envelope micro-benchmarks: seal+open time per message, in microseconds.

``python -m bench.e2e`` prints a table. The floor of any X25519 HPKE auth-mode envelope is
five scalar multiplications (ephemeral key generation and two DH to seal, two DH to open),
so the DH reference row says what this machine can do at best; pyca's own base-mode HPKE
(Rust, one DH fewer on each side) is the other reference.
"""

from __future__ import annotations

import datetime as dt
import itertools
import timeit
from collections.abc import Callable

from cryptography.hazmat.primitives import hpke as pyca_hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from fleetward.crypto.signing import SigningKey
from fleetward.e2e import (
    E2EKeyPair,
    KeyDirectory,
    KeyOwner,
    OwnerKind,
    ReplayGuard,
    TrustedKeys,
    open_envelope,
    seal_envelope,
)

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
TOPIC = "devices/d1/telemetry/temp"


def _best_us(fn: Callable[[], object], repeat: int = 5) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def run_e2e_bench() -> list[tuple[str, str, float]]:
    """Rows of (what, unit, value): seal+open for 64 B and 4 KiB, plus references."""
    hub = SigningKey.generate()
    directory = KeyDirectory(lifetime=dt.timedelta(days=30), overlap=dt.timedelta(days=1))
    device = E2EKeyPair.generate(KeyOwner("t1", OwnerKind.DEVICE, "d1"))
    apps = [E2EKeyPair.generate(KeyOwner("t1", OwnerKind.APP, f"a{i}")) for i in range(3)]
    trusted = TrustedKeys({hub.kid: hub.public}, tenant_id="t1", max_age=dt.timedelta(days=1))
    for pair in (device, *apps):
        for signed in directory.publish(pair.record, now=NOW, signer=hub):
            trusted.add(signed.to_bytes(), now=NOW)
    app = apps[0]
    own = {app.key_id: app}
    replay = ReplayGuard()
    seqs = itertools.count()

    def seal_open(payload: bytes, recipients: int = 1) -> Callable[[], object]:
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
    sealed = seal_envelope(small, topic=TOPIC, sender=device, recipients=[app.record], seq=0)
    suite = pyca_hpke.Suite(
        pyca_hpke.KEM.X25519, pyca_hpke.KDF.HKDF_SHA256, pyca_hpke.AEAD.AES_256_GCM
    )
    sk = X25519PrivateKey.generate()
    pk, peer = sk.public_key(), X25519PrivateKey.generate().public_key()
    return [
        ("seal+open 64 B, 1 recipient", "µs", _best_us(seal_open(small))),
        ("seal+open 4 KiB, 1 recipient", "µs", _best_us(seal_open(large))),
        ("seal+open 64 B, 3 recipients (one opens)", "µs", _best_us(seal_open(small, 3))),
        (
            "seal only 64 B",
            "µs",
            _best_us(
                lambda: seal_envelope(
                    small, topic=TOPIC, sender=device, recipients=[app.record], seq=1
                )
            ),
        ),
        (
            "open only 64 B (replay check skipped)",
            "µs",
            _best_us(
                lambda: open_envelope(
                    sealed,
                    topic=TOPIC,
                    own_keys=own,
                    senders=trusted,
                    replay=ReplayGuard(),
                    now=NOW,
                )
            ),
        ),
        ("reference: one X25519 DH", "µs", _best_us(lambda: sk.exchange(peer))),
        (
            "reference: pyca HPKE base seal+open 64 B",
            "µs",
            _best_us(lambda: suite.decrypt(suite.encrypt(small, pk, b"i"), sk, b"i")),
        ),
    ]


def main() -> None:
    """Print the table."""
    rows = run_e2e_bench()
    width = max(len(name) for name, _, _ in rows)
    print(f"{'E2E envelope':{width}s}  {'value':>10s}  unit")
    for name, unit, value in rows:
        print(f"{name:{width}s}  {value:10.1f}  {unit}")


if __name__ == "__main__":
    main()
