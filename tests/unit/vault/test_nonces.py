"""The nonce pool: every byte once, refilled from the OS generator, never shared after fork."""

from __future__ import annotations

import os

from fleetward.vault.nonces import NoncePool


class _Counting:
    """A real CSPRNG that counts how often it is read."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, n: int) -> bytes:
        self.calls += 1
        return os.urandom(n)


def test_nonces_are_unique_and_the_os_is_read_in_blocks() -> None:
    source = _Counting()
    pool = NoncePool(source)
    nonces = [pool(12) for _ in range(3000)]
    assert len(set(nonces)) == 3000
    assert all(len(n) == 12 for n in nonces)
    assert source.calls <= 3000 * 12 // 4096 + 1  # blocks, not one call per nonce
    assert len(pool(10_000)) == 10_000  # a request larger than a block


def test_no_byte_is_handed_out_twice() -> None:
    counter = iter(range(1 << 30))

    def source(n: int) -> bytes:  # every 4-byte word it ever returns is distinct
        return b"".join(next(counter).to_bytes(4, "big") for _ in range(n // 4))

    pool = NoncePool(source)
    out = b"".join(pool(12) for _ in range(1000))  # crosses two refills
    words = [out[i : i + 4] for i in range(0, len(out), 4)]
    assert len(words) == 3000
    assert len(set(words)) == 3000


def test_a_forked_child_draws_its_own_nonces() -> None:
    pool = NoncePool()
    pool(12)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what it draws next must not be what the parent draws next
        os.close(read)
        os.write(write, pool(12))
        os._exit(0)
    os.close(write)
    child = os.read(read, 12)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 12
    assert pool(12) != child
