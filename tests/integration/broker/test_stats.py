"""Broker statistics under ``$fleet/broker/…``: readable with a grant, never writable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ...support.broker import LiveBroker, live_broker
from ._clients import ALICE, Paho, wait_until

pytestmark = pytest.mark.timeout(60)
CAROL = ("carol", "carol-pw")


@pytest.fixture
def lb(tmp_path: Path) -> Iterator[LiveBroker]:
    with live_broker(tmp_path / "broker", FLEETWARD_MQTT__STATS_INTERVAL="0.2") as b:
        yield b


class _Stats:
    """The latest value of each statistic a subscribed client has received."""

    def __init__(self, client: Paho) -> None:
        self.client = client
        self.values: dict[str, str] = {}

    def wait(self, predicate: Callable[[dict[str, str]], bool], what: str) -> dict[str, str]:
        def check() -> bool:
            while not self.client.messages.empty():
                m = self.client.messages.get()
                self.values[m.topic.removeprefix("$fleet/broker/")] = m.payload.decode()
            return predicate(self.values)

        wait_until(check, 5, what)
        return self.values


def _at_least(name: str, n: int) -> Callable[[dict[str, str]], bool]:
    return lambda v: name in v and int(v[name]) >= n


def test_a_granted_client_reads_the_statistics_and_they_move(lb: LiveBroker) -> None:
    alice = Paho(lb, client_id="stats-alice", user=ALICE).connected()
    alice.publish("devices/alice/t", b"x", qos=1)
    carol = Paho(lb, client_id="stats-carol", user=CAROL).connected()
    assert carol.subscribe("$fleet/broker/#", 0) == [0]
    stats = _Stats(carol)
    stats.wait(_at_least("clients/connected", 2), "two connected clients")
    values = stats.wait(_at_least("messages/received", 1), "one message received")
    assert values["version"]
    before = int(values["messages/received"])
    for _ in range(5):
        alice.publish("devices/alice/t", b"x", qos=1)
    stats.wait(_at_least("messages/received", before + 5), "five more messages")
    alice.close()
    stats.wait(lambda v: v.get("clients/connected") == "1", "alice gone")
    carol.close()


def test_statistics_are_retained_for_a_late_subscriber(lb: LiveBroker) -> None:
    wait_until(lambda: lb.call(lambda: "$fleet/broker/uptime" in lb.broker.router.retained))
    carol = Paho(lb, client_id="stats-late", user=CAROL).connected()
    carol.subscribe("$fleet/broker/uptime", 0)
    message = carol.get()
    assert message.retain
    assert message.payload.decode().isdigit()
    carol.close()


@pytest.mark.parametrize("topic_filter", ["$fleet/broker/#", "$fleet/#", "#", "+/broker/#"])
def test_clients_without_a_grant_see_no_statistics(lb: LiveBroker, topic_filter: str) -> None:
    anon = Paho(lb, client_id="stats-anon").connected()
    codes = anon.subscribe(topic_filter, 0)
    if codes == [0]:  # '#' and '+/…' are allowed but never match $ topics (MQTT-4.7.2-1)
        assert topic_filter in ("#", "+/broker/#")
        anon.assert_silent(0.6)
    else:
        assert codes[0] >= 0x80
    anon.close()


def test_no_client_can_write_a_statistic(lb: LiveBroker) -> None:
    wait_until(lambda: lb.call(lambda: "$fleet/broker/version" in lb.broker.router.retained))
    for who in (Paho(lb, client_id="w-anon"), Paho(lb, client_id="w-alice", user=ALICE)):
        who.connected()
        code = who.publish("$fleet/broker/version", b"evil", qos=1, retain=True)
        assert code is not None
        assert code >= 0x80  # Not Authorized / Topic Name invalid
        who.close()
    version = lb.call(lambda: lb.broker.router.retained["$fleet/broker/version"].payload)
    assert version != b"evil"
