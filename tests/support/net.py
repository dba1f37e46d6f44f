"""Network helpers for tests: free loopback ports."""

from __future__ import annotations

import socket

_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and this process has not used.

    The kernel may hand the same ephemeral port to two binds in a row once the first
    socket is closed, so a fixture asking for two ports could otherwise get one twice.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no unused loopback port found")
