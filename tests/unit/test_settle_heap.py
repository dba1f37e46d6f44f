"""``fleetward serve`` freezes what the started hub holds (ADR 0007: full GC pauses)."""

from __future__ import annotations

import gc

from fleetward.app import settle_heap


def test_settle_heap_takes_the_live_objects_out_of_the_collectors_scans() -> None:
    held = [[i] for i in range(1000)]  # long-lived, tracked objects, like the loaded state
    gc.unfreeze()
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(held)
        assert gc.isenabled()  # young objects are still collected
    finally:
        gc.unfreeze()
