"""An upgrade as an operator lives it, over real HTTPS on SQLite and PostgreSQL: keys
minted before the access and audit permissions existed, then the hub of today starts.

The bootstrap-style key that held everything reaches ``/v1/audit`` right after the
upgrade; a narrower key still gets 403 until the operator grants it on purpose."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import insert

from fleetward.access import Principal
from fleetward.app import Hub
from fleetward.clock import ManualClock
from fleetward.crypto import SecretHasher, client_context, new_secret, new_token_id
from fleetward.registry import Store
from fleetward.registry.sql.tables import api_keys

from ..support.hub import hub_settings
from .test_apikey_scopes_migration import OLD_OPERATOR, at_0006

NOW = dt.datetime.now(dt.UTC)
_hasher = SecretHasher(time_cost=1, memory_kib=8192, parallelism=1)


def _old_key(store: Store, name: str, scopes: list[str]) -> str:
    key_id = new_token_id()
    token = f"fwk_{key_id}_{new_secret()}"
    row = {
        "id": key_id,
        "role": "operator",
        "tenant_id": None,
        "owner_id": None,
        "name": name,
        "scopes": scopes,
        "secret_hash": _hasher.hash(token),
        "created_by": "local-console",
        "created_at": NOW,
        "expires_at": NOW + dt.timedelta(days=30),
        "revoked_at": None,
    }
    with store.engine.begin() as conn:
        conn.execute(insert(api_keys).values(row))
    return token


def test_old_full_key_reaches_audit_after_upgrade_narrow_key_needs_a_grant(
    db_url: str, tmp_path: Path
) -> None:
    old = Store(db_url)
    at_0006(old)
    full = _old_key(old, "bootstrap operator key", OLD_OPERATOR)
    narrow = _old_key(old, "dashboard", ["tenants:read", "devices:read"])
    old.close()

    hub = Hub(hub_settings(tmp_path / "data", db_url=db_url), clock=ManualClock(NOW))
    prepared = hub.prepare()
    assert prepared.operator_token is None  # the old bootstrap key is still the operator's
    assert prepared.tls is not None
    assert prepared.tls.ca_file is not None
    server = hub.api_server(prepared.tls)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        base = f"https://127.0.0.1:{hub.settings.api.port}"
        verify = client_context(prepared.tls.ca_file)

        def get(token: str, path: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.get(base + path, headers=headers, verify=verify, timeout=30)

        assert get(full, "/v1/audit").status_code == 200
        assert get(narrow, "/v1/tenants").status_code == 200
        refused = get(narrow, "/v1/audit")
        assert refused.status_code == 403
        assert "audit:read" in refused.text

        narrow_id = narrow.split("_")[1]
        hub.api_keys.grant(Principal.local_operator(), narrow_id, ["audit:read"])
        assert get(narrow, "/v1/audit").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        hub.close()
