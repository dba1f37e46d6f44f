"""``python -m bench``: run every scenario against Fleetward, Mosquitto and amqtt.

Prints one table of absolute figures and ratios (Fleetward ÷ other, higher is better
except for memory). Every broker runs on loopback on its own free ports; the load
generator runs in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import scenarios
from bench.brokers import Running, start_amqtt, start_fleetward, start_mosquitto

Scenario = tuple[str, str, bool, Callable[[Running], Awaitable[float]]]


def _scenarios(duration: float, idle: int, connects: int) -> list[Scenario]:
    return [
        ("QoS 0 fan-in 8→1", "msg/s", True, lambda b: scenarios.qos0_fan_in(b, duration)),
        ("QoS 0 fan-out 1→50", "msg/s", True, lambda b: scenarios.qos0_fan_out(b, duration)),
        ("QoS 1 fan-in 8→1", "msg/s", True, lambda b: scenarios.qos1_fan_in(b, duration)),
        (
            "TLS QoS 0 fan-in 8→1",
            "msg/s",
            True,
            lambda b: scenarios.qos0_fan_in(b, duration, tls=True),
        ),
        (
            f"RSS per idle connection ({idle})",
            "KiB",
            False,
            lambda b: scenarios.idle_connections(b, idle),
        ),
        (f"connects ({connects})", "conn/s", True, lambda b: scenarios.connect_rate(b, connects)),
    ]


async def _run_all(brokers: list[Running], plan: list[Scenario]) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name, _unit, _better_high, run in plan:
        results[name] = {}
        for broker in brokers:
            t0 = time.perf_counter()
            try:
                value = await asyncio.wait_for(run(broker), 120)
            except (TimeoutError, OSError, ConnectionError) as e:
                print(f"  {broker.name}: {name} failed: {e!r}", file=sys.stderr)
                value = float("nan")
            results[name][broker.name] = value
            print(
                f"  {broker.name:10s} {name:34s} {value:12,.1f}  ({time.perf_counter() - t0:.1f}s)",
                file=sys.stderr,
            )
            await asyncio.sleep(0.5)
    return results


def _table(
    brokers: list[Running], plan: list[Scenario], results: dict[str, dict[str, float]]
) -> str:
    names = [b.name for b in brokers]
    others = [n for n in names if n != "fleetward"]
    head = (
        "| scenario | unit | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"vs {o}" for o in others)
        + " |"
    )
    lines = [head, "|" + "---|" * (2 + len(names) + len(others))]
    for name, unit, _better_high, _run in plan:
        row = results[name]
        cells = [f"{row[n]:,.1f}" if unit == "KiB" else f"{row[n]:,.0f}" for n in names]
        ratios = []
        for o in others:
            fw, other = row.get("fleetward", float("nan")), row.get(o, float("nan"))
            usable = other and not math.isnan(other) and not math.isnan(fw)
            ratios.append(f"{fw / other:.2f}x" if usable else "n/a")
        lines.append(
            f"| {name} | {unit} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--duration", type=float, default=3.0, help="seconds measured per throughput scenario"
    )
    parser.add_argument(
        "--idle", type=int, default=10_000, help="idle connections for the memory scenario"
    )
    parser.add_argument(
        "--connects", type=int, default=5_000, help="connections for the connect-rate scenario"
    )
    parser.add_argument(
        "--brokers", default="fleetward,mosquitto,amqtt", help="comma-separated subset"
    )
    parser.add_argument(
        "--only", default="", help="run only scenarios whose name contains this text"
    )
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()  # the load generator (the brokers choose their own loop)
    except ImportError:
        pass
    starters = {"fleetward": start_fleetward, "mosquitto": start_mosquitto, "amqtt": start_amqtt}
    with tempfile.TemporaryDirectory(prefix="fleetward-bench-") as tmp:
        work = Path(tmp)
        brokers = [starters[name](work) for name in args.brokers.split(",")]
        try:
            plan = [
                s
                for s in _scenarios(args.duration, args.idle, args.connects)
                if args.only.lower() in s[0].lower()
            ]
            results = asyncio.run(_run_all(brokers, plan))
        finally:
            for b in brokers:
                b.stop()
    print()
    print(_table(brokers, plan, results))
    print()
    for b in brokers:
        for note in b.notes:
            print(f"- {note}")


if __name__ == "__main__":
    main()
