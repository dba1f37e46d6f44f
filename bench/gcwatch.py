"""Where the hub's loop stalls: cyclic-GC pauses by generation, and loop lateness.

Used by ``python -m bench.access --gc-report``: the full (generation 2) collections of a
hub holding 10,000 devices and sessions are what ``gc.freeze()`` after start is meant
to shorten, and a loop that wakes late is how a pause shows up as revocation latency.
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class GcWatch:
    """Times every collection through ``gc.callbacks`` while installed."""

    pauses: dict[int, list[float]] = field(default_factory=lambda: {0: [], 1: [], 2: []})
    _t0: float = 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.pauses[info["generation"]].append((time.perf_counter() - self._t0) * 1000)

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._callback)

    def report(self) -> dict[str, float]:
        """Count, total and longest pause of each generation, in ms."""
        out: dict[str, float] = {}
        for gen, pauses in self.pauses.items():
            out[f"gc gen{gen} collections"] = len(pauses)
            out[f"gc gen{gen} total (ms)"] = sum(pauses)
            out[f"gc gen{gen} longest (ms)"] = max(pauses, default=0.0)
        return out


async def loop_lag(stop: asyncio.Event, lags: list[float], period: float = 0.005) -> None:
    """Run on the hub's loop: how late each ``period`` sleep wakes, in ms."""
    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(period)
        lags.append((time.perf_counter() - t0 - period) * 1000)
