"""A real local webhook receiver (stdlib http.server in a thread) that checks signatures.

It answers with the scripted status codes in order (then 200), verifies every request's
``Fleetward-Signature`` with the shared secret, and drops repeats of a delivery id it
already accepted, exactly as the receiver guide in docs/presence.md says to.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fleetward.crypto import verify_webhook

SECRET = b"receiver-shared-secret-0123456789"


@dataclass
class Receiver:
    """What the receiver saw."""

    url: str
    script: list[int]
    attempts: list[tuple[str, int]] = field(default_factory=list)  # (delivery id, status)
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def receiver(script: list[int] | None = None) -> Iterator[Receiver]:
    """Serve on a free loopback port until the block ends."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signature = self.headers.get("Fleetward-Signature", "")
            delivery = self.headers.get("Fleetward-Delivery", "")
            with state.lock:
                if not verify_webhook(SECRET, signature, body, now=int(time.time())):
                    state.bad_signatures += 1
                    status = 401
                elif state.script:
                    status = state.script.pop(0)
                elif delivery in state.accepted:
                    state.duplicates += 1
                    status = 200
                else:
                    state.accepted[delivery] = json.loads(body)
                    status = 200
                state.attempts.append((delivery, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/fleet", list(script or []))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
