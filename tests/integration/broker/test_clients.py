"""Interoperability: aiomqtt (async) and the mosquitto command-line clients, plain and TLS."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import aiomqtt
import pytest
from aiomqtt import ProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleetward.events import ClientDisconnected

from ...support.broker import LiveBroker
from ._clients import (
    ALICE,
    BOB,
    HOST,
    MosquittoSub,
    Paho,
    is_connected,
    mosquitto_pub,
    wait_event,
    wait_until,
)

VERSIONS = pytest.mark.parametrize("v5", [False, True], ids=["v311", "v5"])


def _aio(
    lb: LiveBroker,
    *,
    v5: bool = True,
    user: tuple[str, str] | None = None,
    tls: bool = False,
    **kw: object,
) -> aiomqtt.Client:
    context: ssl.SSLContext | None = lb.tls_context() if (user or tls) else None
    return aiomqtt.Client(
        HOST,
        lb.tls_port if context else lb.plain_port,
        username=user[0] if user else None,
        password=user[1] if user else None,
        protocol=ProtocolVersion.V5 if v5 else ProtocolVersion.V311,
        tls_context=context,
        **kw,  # type: ignore[arg-type]
    )


async def _next(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(5):
        return await anext(aiter(client.messages))


def test_aiomqtt_tls_qos_and_properties(mqtt_broker: LiveBroker) -> None:
    """aiomqtt over TLS (MQTT 5): QoS 0/1/2 round trip and user properties unchanged.

    MQTT-4.3.1-1 / MQTT-4.3.2-1 / MQTT-4.3.3-1, MQTT-3.3.2-17.
    """

    async def main() -> None:
        async with _aio(mqtt_broker, user=ALICE, identifier="aio-alice") as c:
            await c.subscribe("devices/alice/#", qos=2)
            for qos in (0, 1, 2):
                p = Properties(PacketTypes.PUBLISH)
                p.UserProperty = [("qos", str(qos))]
                await c.publish("devices/alice/aio", f"m{qos}", qos=qos, properties=p)
                m = await _next(c)
                assert (m.payload, m.qos) == (f"m{qos}".encode(), qos)
                assert m.properties is not None
                assert m.properties.UserProperty == [("qos", str(qos))]

    asyncio.run(main())


def test_aiomqtt_v311_persistent_session(mqtt_broker: LiveBroker) -> None:
    """aiomqtt 3.1.1 with clean session 0 gets messages queued while it was away, in order.

    v3 MQTT-3.1.2-4/-5, MQTT-4.6.0-6.
    """

    async def main() -> None:
        async with _aio(mqtt_broker, v5=False, identifier="aio-away", clean_session=False) as c:
            await c.subscribe("aio/away/#", qos=1)
        wait_until(lambda: not is_connected(mqtt_broker, "aio-away"))
        async with _aio(mqtt_broker, v5=False) as pub:
            for i in range(10):
                await pub.publish("aio/away/t", str(i), qos=1)
        async with _aio(mqtt_broker, v5=False, identifier="aio-away", clean_session=False) as c:
            got = [int((await _next(c)).payload) for _ in range(10)]  # type: ignore[arg-type]
            assert got == list(range(10))

    asyncio.run(main())


def test_aiomqtt_qos1_burst_in_order(mqtt_broker: LiveBroker) -> None:
    """500 QoS 1 messages between two aiomqtt clients arrive complete and in order.

    v5 MQTT-4.6.0-5.
    """

    async def main() -> None:
        async with _aio(mqtt_broker) as sub, _aio(mqtt_broker) as pub:
            await sub.subscribe("aio/burst", qos=1)
            await asyncio.gather(*(pub.publish("aio/burst", str(i), qos=1) for i in range(500)))
            got = [int((await _next(sub)).payload) for _ in range(500)]  # type: ignore[arg-type]
            assert got == list(range(500))

    asyncio.run(main())


def test_aiomqtt_is_kicked_with_administrative_action(mqtt_broker: LiveBroker) -> None:
    """A kicked aiomqtt client's message loop ends with DISCONNECT 0x98 (5.0 §3.14.2.1)."""

    async def main() -> None:
        async with _aio(mqtt_broker, user=ALICE, identifier="aio-kicked") as c:
            await c.subscribe("devices/alice/#", qos=1)
            loop = asyncio.get_running_loop()
            kicked = await loop.run_in_executor(
                None,
                lambda: mqtt_broker.call(
                    lambda: mqtt_broker.broker.kick(lambda s: s.identity.name == "alice")
                ),
            )
            assert kicked == 1
            with pytest.raises(aiomqtt.MqttError) as caught:
                await _next(c)
            cause = caught.value.__cause__
            assert isinstance(cause, aiomqtt.MqttCodeError)
            assert getattr(cause.rc, "value", cause.rc) == 0x98
            checked.append(True)

    checked: list[bool] = []
    # leaving the context after the broker dropped us may complain; that is fine here
    with contextlib.suppress(aiomqtt.MqttError):
        asyncio.run(main())
    assert checked == [True]
    event = wait_event(mqtt_broker, ClientDisconnected, client_id="aio-kicked")
    assert (event.reason, event.reason_code) == ("kicked", 0x98)


def test_aiomqtt_anonymous_refused_on_tls(mqtt_broker: LiveBroker) -> None:
    """aiomqtt without credentials on the TLS listener is refused with 0x86."""

    async def main() -> None:
        with pytest.raises(aiomqtt.MqttCodeError) as caught:
            async with _aio(mqtt_broker, tls=True, identifier="aio-anon"):
                pass
        assert getattr(caught.value.rc, "value", caught.value.rc) == 0x86

    asyncio.run(main())


@VERSIONS
def test_mosquitto_round_trip_at_each_qos(mqtt_broker: LiveBroker, v5: bool) -> None:
    """mosquitto_pub to mosquitto_sub on the plain listener, QoS 0, 1 and 2."""
    sub = MosquittoSub(
        mqtt_broker, f"mq-rt-{v5}", "mq/rt/#", "-q", "2", "-C", "3", "-F", "%q %t %p", v5=v5
    )
    for qos in (0, 1, 2):
        done = mosquitto_pub(
            mqtt_broker, "-t", f"mq/rt/{qos}", "-m", f"m{qos}", "-q", str(qos), v5=v5
        )
        assert done.returncode == 0, done.stderr
    code, out, err = sub.output()
    assert code == 0, err
    assert out.splitlines() == ["0 mq/rt/0 m0", "1 mq/rt/1 m1", "2 mq/rt/2 m2"]


def test_mosquitto_v5_properties_reach_paho(mqtt_broker: LiveBroker) -> None:
    """Properties set by mosquitto_pub -D arrive unchanged at a paho subscriber (TLS).

    MQTT-3.3.2-17 (User Property), MQTT-3.3.2-20 (Content Type), MQTT-3.3.2-15
    (Response Topic).
    """
    sub = Paho(mqtt_broker, user=BOB).connected()
    try:
        sub.subscribe("shared/props", qos=1)
        done = mosquitto_pub(
            mqtt_broker,
            "-t",
            "shared/props",
            "-m",
            "{}",
            "-q",
            "1",
            "-D",
            "publish",
            "user-property",
            "site",
            "north",
            "-D",
            "publish",
            "content-type",
            "application/json",
            "-D",
            "publish",
            "response-topic",
            "shared/reply",
            user=BOB,
        )
        assert done.returncode == 0, done.stderr
        p = sub.get().properties
        assert p.UserProperty == [("site", "north")]
        assert p.ContentType == "application/json"
        assert p.ResponseTopic == "shared/reply"
    finally:
        sub.close()


def test_mosquitto_sub_persistent_session(mqtt_broker: LiveBroker) -> None:
    """mosquitto_sub -c (clean session 0) receives what was queued while it was away.

    v3 MQTT-3.1.2-5; the second run shows Session Present behaviour from the client's
    side: it gets the messages without subscribing anew (-E would exit first).
    """
    first = MosquittoSub(mqtt_broker, "mq-away", "mq/away", "-c", "-q", "1", v5=False)
    first.kill()
    wait_until(lambda: not is_connected(mqtt_broker, "mq-away"))
    for i in range(3):
        done = mosquitto_pub(mqtt_broker, "-t", "mq/away", "-m", f"q{i}", "-q", "1", v5=False)
        assert done.returncode == 0, done.stderr
    again = MosquittoSub(
        mqtt_broker, "mq-away", "mq/away", "-c", "-q", "1", "-C", "3", wait=False, v5=False
    )
    code, out, err = again.output()
    assert code == 0, err
    assert out.splitlines() == ["q0", "q1", "q2"]


def test_mosquitto_sub_over_tls_gets_aiomqtt_messages(mqtt_broker: LiveBroker) -> None:
    """A TLS mosquitto_sub (3.1.1) receives what a TLS aiomqtt client publishes."""
    sub = MosquittoSub(mqtt_broker, "mq-tls", "shared/mix", "-C", "2", v5=False, user=BOB)

    async def main() -> None:
        async with _aio(mqtt_broker, user=BOB, identifier="aio-bob") as c:
            await c.publish("shared/mix", "one", qos=1)
            await c.publish("shared/mix", "two", qos=2)

    asyncio.run(main())
    code, out, err = sub.output()
    assert code == 0, err
    assert out.splitlines() == ["one", "two"]
    down = wait_event(mqtt_broker, ClientDisconnected, client_id="aio-bob")
    assert down.reason == "client_disconnect"
