"""The whole alert path with real parts: 54 registry devices on three sites connected over
TLS, a site losing power, a lone device going dark elsewhere, alerts stored in SQLite,
published to the owner's topic and sent to a real local webhook receiver that fails once.
"""

from __future__ import annotations

import json
from pathlib import Path

from fleetward.clock import SystemClock
from fleetward.crypto import SecretHasher
from fleetward.presence import AlertState
from fleetward.registry import RegistryService, Scope, Store

from ...support.broker import live_broker
from ..broker._clients import Paho, wait_until
from ._receiver import SECRET, receiver

SITES = {"plant-a": 20, "plant-b": 20, "plant-c": 14}
_hasher = SecretHasher(time_cost=1, memory_kib=8192, parallelism=1)


def _register(data_dir: Path) -> tuple[str, str, dict[str, list[str]]]:
    """A tenant, an owner and the devices of each site; returns their ids."""
    data_dir.mkdir(mode=0o700)
    store = Store(f"sqlite:///{data_dir / 'fleetward.db'}")
    store.migrate()
    registry = RegistryService(store, SystemClock())
    tenant = registry.create_tenant("acme")
    owner = registry.create_owner(Scope(tenant.id), "olivia")
    devices = {
        site: [
            registry.create_device(
                Scope(tenant.id), owner_id=owner.id, name=f"{site}-{i}", site=site
            ).id
            for i in range(n)
        ]
        for site, n in SITES.items()
    }
    store.close()
    return tenant.id, owner.id, devices


def test_site_outage_is_one_alert_and_a_lone_drop_is_tampering(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    tenant_id, owner_id, devices = _register(data_dir)
    all_ids = [d for ids in devices.values() for d in ids]
    pw_hash = _hasher.hash("device-pw")
    users = [
        {"name": d, "password_hash": pw_hash, "publish": ["devices/{username}/#"]} for d in all_ids
    ]
    users.append(
        {"name": "olivia", "password_hash": _hasher.hash("olivia-pw"), "subscribe": ["$fleet/#"]}
    )
    with receiver(script=[500]) as hooks:
        env = {
            "FLEETWARD_MQTT__USERS": json.dumps(users),
            "FLEETWARD_PRESENCE__TICK_INTERVAL": "0.1",
            "FLEETWARD_PRESENCE__SITE_WINDOW": "1.5",
            "FLEETWARD_PRESENCE__OFFLINE_AFTER": "600",
            "FLEETWARD_PRESENCE__WEBHOOK_BASE_DELAY": "0.05",
            "FLEETWARD_PRESENCE__WEBHOOKS": json.dumps(
                [{"url": hooks.url, "secret": SECRET.decode(), "tenant_id": tenant_id}]
            ),
        }
        with live_broker(data_dir, **env) as lb:
            monitor = lb.hub.presence
            assert monitor is not None
            assert monitor.alerts is not None
            owner = Paho(lb, user=("olivia", "olivia-pw"), client_id="dash").connected()
            owner.subscribe(f"$fleet/alerts/{owner_id}", qos=1)
            clients = {
                d: Paho(lb, user=(d, "device-pw"), client_id=d).connected(keepalive=30)
                for d in all_ids
            }
            try:
                wait_until(
                    lambda: all(
                        (p := monitor.get(d)) is not None and p.status.value == "online"
                        for d in all_ids
                    ),
                    timeout=20,
                    what="every device online",
                )
                # plant-a loses power: 16 of its 20 devices vanish; plant-c loses one device
                dropped = devices["plant-a"][:16]
                lone = devices["plant-c"][3]
                for d in [*dropped, lone]:
                    clients[d].kill()

                def alerts() -> list[tuple[str, str]]:
                    page = monitor.alerts.list(tenant_id, limit=200)  # type: ignore[union-attr]
                    return sorted((a.kind, a.subject) for a in page.items)

                wait_until(lambda: len(alerts()) >= 2, timeout=10, what="two alerts")
                wait_until(lambda: len(hooks.accepted) >= 2, timeout=10, what="two webhooks")
                assert alerts() == [("possible_tampering", lone), ("site_outage", "plant-a")]
                outage = monitor.alerts.list(tenant_id, limit=200).items
                site_alert = next(a for a in outage if a.kind == "site_outage")
                assert site_alert.details["offline"] == 16
                assert site_alert.owner_id == owner_id
                # the owner's topic got one message per alert, not one per device
                bodies = [json.loads(m.payload) for m in owner.take(2)]
                assert sorted(b["alert"]["kind"] for b in bodies) == [
                    "possible_tampering",
                    "site_outage",
                ]
                # the receiver refused the first attempt; each alert was accepted once
                assert [s for _, s in hooks.attempts].count(500) == 1
                assert len(hooks.accepted) == 2
                assert hooks.duplicates == 0
                assert hooks.bad_signatures == 0
                # the lone device returns: its alert resolves by itself and is delivered
                clients[lone] = Paho(lb, user=(lone, "device-pw"), client_id=lone).connected()
                wait_until(lambda: len(hooks.accepted) >= 3, timeout=10, what="resolve hook")
                tamper = next(a for a in outage if a.kind == "possible_tampering")
                resolved = monitor.alerts.get(tenant_id, tamper.id)
                assert resolved.state is AlertState.RESOLVED
                assert resolved.resolution == "returned"
                assert f"{tamper.id}.resolved" in hooks.accepted
            finally:
                for c in clients.values():
                    c.close()
                owner.close()
