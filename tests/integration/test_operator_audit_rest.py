"""Every state-changing REST request lands in the audit log once, without secrets.

A live hub (uvicorn, TLS, SQLite) is driven over HTTPS only; the stored log is then read
straight from the database, so what is asserted absent is absent from the chain itself.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fleetward.audit import SqlAuditStore

from ..support.api import assert_problem, ok
from ..support.hub import LiveHub


def stored(hub: LiveHub) -> list[dict[str, Any]]:
    hub.hub.audit_log().flush()
    return [dataclasses.asdict(e) for e in SqlAuditStore(hub.hub.store.engine).iter_entries()]


def only(entries: list[dict[str, Any]], action: str) -> dict[str, Any]:
    found = [e for e in entries if e["action"] == action]
    assert len(found) == 1, (action, found)
    return found[0]


def test_registry_and_key_acts_are_recorded_once_without_secrets(hub: LiveHub) -> None:
    me = f"apikey:{hub.operator_token.split('_')[1]}"
    with hub.operator() as op:
        tenant = ok(op.post("/v1/tenants", json={"name": "acme-secretname"}), 201)["id"]
        owner = ok(
            op.post(f"/v1/tenants/{tenant}/owners", json={"name": "o", "email": "o@x.test"}), 201
        )["id"]
        device = ok(
            op.post(f"/v1/tenants/{tenant}/devices", json={"name": "d", "owner_id": owner}), 201
        )["id"]
        created = ok(
            op.post(
                "/v1/apikeys",
                json={"name": "k", "role": "owner", "tenant_id": tenant, "owner_id": owner},
            ),
            201,
        )
        ok(op.delete(f"/v1/apikeys/{created['id']}"), 204)
        ok(op.get(f"/v1/tenants/{tenant}"))  # a read is not an act
    log = stored(hub)
    t = only(log, "api.create_tenant")
    assert (t["actor"], t["target"], t["outcome"]) == (me, tenant, "ok")
    o = only(log, "api.create_owner")
    assert (o["actor"], o["target"], o["tenant_id"]) == (me, owner, tenant)
    d = only(log, "api.create_device")
    assert (d["target"], d["tenant_id"], d["details"]["status"]) == (device, tenant, 201)
    k = only(log, "api.create_key")
    assert (k["actor"], k["target"], k["outcome"]) == (me, created["id"], "ok")
    r = only(log, "api.revoke_key")
    assert (r["actor"], r["target"], r["details"]["method"]) == (me, created["id"], "DELETE")
    assert not [e for e in log if e["action"] == "api.get_tenant"]
    text = json.dumps(log, default=str)
    assert created["token"] not in text
    assert created["token"].split("_")[2] not in text
    assert "acme-secretname" not in text
    assert "o@x.test" not in text


def test_a_refused_mutation_is_recorded_as_refused(hub: LiveHub) -> None:
    with hub.operator() as op:
        tenant = ok(op.post("/v1/tenants", json={"name": "acme"}), 201)["id"]
        owner = ok(op.post(f"/v1/tenants/{tenant}/owners", json={"name": "o"}), 201)["id"]
        token = ok(
            op.post(
                "/v1/apikeys",
                json={"name": "k", "role": "owner", "tenant_id": tenant, "owner_id": owner},
            ),
            201,
        )["token"]
    with hub.client(token) as c:
        assert_problem(c.post("/v1/tenants", json={"name": "mine"}), 403)
    with hub.client("fwk_nope_nope") as c:
        assert_problem(c.delete(f"/v1/tenants/{tenant}"), 401)
    log = stored(hub)
    refused = [e for e in log if e["action"] == "api.create_tenant" and e["outcome"] != "ok"]
    assert len(refused) == 1
    assert refused[0]["outcome"] == "refused"
    assert refused[0]["details"]["status"] == 403
    assert refused[0]["actor"] == f"apikey:{token.split('_')[1]}"
    anon = only(log, "api.delete_tenant")
    assert (anon["actor"], anon["target"], anon["outcome"]) == ("anonymous", tenant, "refused")


def test_owner_export_is_recorded_but_other_reads_are_not(hub: LiveHub) -> None:
    with hub.operator() as op:
        tenant = ok(op.post("/v1/tenants", json={"name": "acme"}), 201)["id"]
        owner = ok(op.post(f"/v1/tenants/{tenant}/owners", json={"name": "o"}), 201)["id"]
        ok(op.get(f"/v1/tenants/{tenant}/owners/{owner}/export"))
        ok(op.get(f"/v1/tenants/{tenant}/owners/{owner}"))
    log = stored(hub)
    e = only(log, "api.export_owner")
    assert (e["target"], e["tenant_id"], e["outcome"]) == (owner, tenant, "ok")
    assert not [x for x in log if x["action"] == "api.get_owner"]


def test_an_act_the_log_cannot_take_is_not_confirmed(hub: LiveHub) -> None:
    log = hub.hub.audit_log()
    log.close()  # recording now fails closed, as with a full backlog
    try:
        with hub.operator() as op:
            assert_problem(op.post("/v1/tenants", json={"name": "acme"}), 503, "audit.unavailable")
            ok(op.get("/v1/me"))  # reads do not need the log
    finally:
        log.open()
    assert not [e for e in stored(hub) if e["action"] == "api.create_tenant"]


def test_self_audited_access_routes_add_only_their_refusals(hub: LiveHub) -> None:
    with hub.operator() as op:
        tenant = ok(op.post("/v1/tenants", json={"name": "acme"}), 201)["id"]
        owner = ok(op.post(f"/v1/tenants/{tenant}/owners", json={"name": "o"}), 201)["id"]
        device = ok(
            op.post(f"/v1/tenants/{tenant}/devices", json={"name": "d", "owner_id": owner}), 201
        )["id"]
        dev = f"/v1/tenants/{tenant}/devices/{device}"
        ok(op.post(f"{dev}/enrollment-codes", json={}), 201)
        token = ok(
            op.post(
                "/v1/apikeys",
                json={"name": "k", "role": "owner", "tenant_id": tenant, "owner_id": owner},
            ),
            201,
        )["token"]
    entry = {"mode": "deny", "kind": "client", "value": "evil"}
    with hub.client(token) as c:
        assert_problem(c.post("/v1/access-lists", json=entry), 403)
    log = stored(hub)
    assert only(log, "enrollment.code_created")["target"] == device  # the service's record
    assert not [e for e in log if e["action"] == "api.create_enrollment_code"]
    refused = only(log, "api.add_global_entry")
    assert (refused["outcome"], refused["details"]["status"]) == ("refused", 403)
    assert "evil" not in json.dumps(log, default=str)
