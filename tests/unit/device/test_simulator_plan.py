"""The simulator refuses unbounded or inconsistent plans before anything starts."""

from __future__ import annotations

import pytest

from fleetward.device.simulator import MAX_DEVICES, FleetPlan, SimDevice
from fleetward.errors import InvalidInputError


def _fleet(n: int, sites: int = 2) -> tuple[SimDevice, ...]:
    return tuple(SimDevice(f"d{i}", f"d{i}", f"site-{i % sites + 1}", "c") for i in range(n))


def test_a_sensible_plan_passes() -> None:
    FleetPlan(_fleet(4), duration=5, outage_site="site-2").check()


@pytest.mark.parametrize(
    ("plan", "code"),
    [
        (FleetPlan(()), "simulate.devices"),
        (FleetPlan(_fleet(MAX_DEVICES + 1)), "simulate.devices"),
        (FleetPlan(_fleet(2), duration=0), "simulate.duration"),
        (FleetPlan(_fleet(2), duration=3601), "simulate.duration"),
        (FleetPlan(_fleet(2), interval=0.001), "simulate.interval"),
        (FleetPlan(_fleet(2), dropout_chance=1.5), "simulate.dropout"),
        (FleetPlan(_fleet(200, sites=101)), "simulate.sites"),
        (FleetPlan(_fleet(2), outage_site="site-9"), "simulate.outage_site"),
        (FleetPlan(_fleet(2), outage_after=-1), "simulate.outage"),
    ],
)
def test_bad_plans_are_refused(plan: FleetPlan, code: str) -> None:
    with pytest.raises(InvalidInputError) as e:
        plan.check()
    assert e.value.code == code
