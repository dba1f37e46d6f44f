"""A recording TCP proxy: every byte a server received and sent, for "what did it see" tests.

It sits in front of a plain-TCP listener (TLS would hide the bytes from the proxy, and the
question is what the hub process itself handles, which is the bytes after TLS).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Capture:
    """Bytes seen in both directions, per connection, under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chunks: list[bytes] = []

    def add(self, data: bytes) -> None:
        with self._lock:
            self._chunks.append(data)

    def all_bytes(self) -> bytes:
        """Everything, in arrival order (both directions interleaved)."""
        with self._lock:
            return b"".join(self._chunks)


def _pump(src: socket.socket, dst: socket.socket, capture: Capture) -> None:
    with suppress(OSError):
        while data := src.recv(65536):
            capture.add(data)
            dst.sendall(data)
    with suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


@contextmanager
def recording_proxy(target_port: int, host: str = "127.0.0.1") -> Iterator[tuple[int, Capture]]:
    """Listen on a free loopback port and forward to ``target_port``; yield (port, capture)."""
    capture = Capture()
    listener = socket.create_server((host, 0))
    port = listener.getsockname()[1]
    conns: list[socket.socket] = []

    def serve() -> None:
        with suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection((host, target_port))
                conns.extend((client, upstream))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pump, args=(a, b, capture), daemon=True).start()

    thread = threading.Thread(target=serve, name="recording-proxy", daemon=True)
    thread.start()
    try:
        yield port, capture
    finally:
        listener.close()
        for c in conns:
            with suppress(OSError):
                c.close()
        thread.join(5)
