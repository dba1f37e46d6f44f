"""Random nonces drawn from a buffer of CSPRNG output, so a batch costs no system call.

The vault's nonces stay random 96-bit values (NIST SP 800-38D §8.2.2): the pool only
reads the OS generator in 4 KiB blocks and hands each byte out once. On the ingest
path this matters beyond the syscall itself: ``os.urandom`` releases the GIL, and a
worker thread that lets go of it waits up to the interpreter's switch interval to get
it back while the event loop is busy. Rules that keep the nonces unique:

* each byte of the buffer is handed out at most once (under a lock);
* a forked child never uses bytes its parent read (the pool notes the pid that filled
  it and starts over in any other process).
"""

from __future__ import annotations

import os
import threading

from fleetward.crypto.aead import RandomBytes

__all__ = ["NoncePool"]

_BLOCK = 4096


class NoncePool:
    """A :data:`RandomBytes` source that buffers ``random`` (``os.urandom`` by default)."""

    __slots__ = ("_buf", "_lock", "_pid", "_pos", "_random")

    def __init__(self, random: RandomBytes = os.urandom) -> None:
        self._random = random
        self._lock = threading.Lock()
        self._buf = b""
        self._pos = 0
        self._pid = -1

    def __call__(self, n: int) -> bytes:
        """``n`` fresh random bytes, never returned before by this pool."""
        with self._lock:
            pid = os.getpid()
            if pid != self._pid or self._pos + n > len(self._buf):
                fresh = self._random(max(_BLOCK, n))
                if len(fresh) < n:
                    raise ValueError("the random source returned too few bytes")
                self._buf, self._pos, self._pid = fresh, 0, pid
            out = self._buf[self._pos : self._pos + n]
            self._pos += n
            return out
