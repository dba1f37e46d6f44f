"""The in-process event bus: per-type fan-out, isolated failures, safe unsubscribe."""

from __future__ import annotations

import datetime as dt

import pytest

from fleetward.events import ClientConnected, ClientDisconnected, EventBus


def _connected() -> ClientConnected:
    return ClientConnected(
        at=dt.datetime.now(dt.UTC),
        client_id="c",
        identity=None,
        tenant_id=None,
        listener="plain",
        protocol_version=5,
        peer="127.0.0.1",
        tls_version=None,
        cert_serial=None,
        clean_start=True,
        keepalive=30,
    )


def test_handlers_get_their_type_only_in_order_and_a_failure_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[str] = []

    def boom(_e: ClientConnected) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe(ClientConnected, lambda e: seen.append("a"))
    bus.subscribe(ClientConnected, boom)
    bus.subscribe(ClientConnected, lambda e: seen.append("b"))
    bus.subscribe(ClientDisconnected, lambda e: seen.append("other"))
    assert bus.wants(ClientConnected)
    bus.publish(_connected())
    assert seen == ["a", "b"]
    assert "event handler failed for ClientConnected" in caplog.text


def test_a_handler_that_unsubscribes_while_called_does_not_disturb_the_delivery() -> None:
    bus = EventBus()
    seen: list[str] = []
    stop_first = bus.subscribe(ClientConnected, lambda e: (seen.append("1"), stop_first()))
    bus.subscribe(ClientConnected, lambda e: seen.append("2"))
    bus.publish(_connected())
    bus.publish(_connected())
    assert seen == ["1", "2", "2"]
    stop_first()  # twice is harmless
    assert bus.wants(ClientConnected)


def test_wants_is_false_once_everyone_left() -> None:
    bus = EventBus()
    stop = bus.subscribe(ClientConnected, lambda e: None)
    stop()
    assert not bus.wants(ClientConnected)
    bus.publish(_connected())  # nobody listens: nothing happens
