"""The access routes over real HTTPS: enrolment, tokens, grants, lists, makers, audit.

Each test runs a live hub (uvicorn, TLS, SQLite) and talks to it only over HTTP, as an
operator, as owners of the same tenant and as an owner of another tenant. Every act
must leave an audit entry naming the API key that did it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest

from ..support.api import OwnerWorld, assert_problem, make_owner, ok
from ..support.hub import LiveHub
from ..unit.crypto._certs import make_cert

STRONG_CODE = "v9#Lq2-xT7!mRw4$zK8p-Hn3"


@dataclass
class World:
    """alice and bob share a tenant; carol has her own."""

    alice: OwnerWorld
    bob: OwnerWorld
    carol: OwnerWorld


@pytest.fixture
def world(hub: LiveHub) -> World:
    with hub.operator() as op:
        alice = make_owner(hub, op, "acme")
        bob = make_owner(hub, op, "", tenant_id=alice.tenant_id)
        carol = make_owner(hub, op, "globex")
    return World(alice, bob, carol)


def key_id(token: str) -> str:
    return token.split("_")[1]


def add_device(hub: LiveHub, w: OwnerWorld, name: str, **extra: Any) -> str:
    with hub.client(w.token) as c:
        body = {"name": name, **extra}
        return str(ok(c.post(f"/v1/tenants/{w.tenant_id}/devices", json=body), 201)["id"])


def narrow_key(hub: LiveHub, w: OwnerWorld, *scopes: str) -> str:
    with hub.client(w.token) as c:
        body = {
            "name": "narrow",
            "tenant_id": w.tenant_id,
            "owner_id": w.owner_id,
            "scopes": list(scopes),
        }
        return str(ok(c.post("/v1/apikeys", json=body), 201)["token"])


def audit(hub: LiveHub, tenant_id: str) -> list[dict[str, Any]]:
    with hub.operator() as op:
        entries: list[dict[str, Any]] = ok(
            op.get("/v1/audit", params={"tenant_id": tenant_id, "limit": 1000})
        )
    return entries


def acts_by(entries: list[dict[str, Any]], token: str) -> set[str]:
    return {e["action"] for e in entries if e["actor"] == f"apikey:{key_id(token)}"}


def jwt_header(token: str) -> dict[str, Any]:
    head = token.split(".", maxsplit=1)[0]
    parsed: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return parsed


def test_enrollment_codes_credentials_tokens_and_device_revocation(
    hub: LiveHub, world: World
) -> None:
    a, t = world.alice, world.alice.tenant_id
    dev = f"/v1/tenants/{t}/devices/{a.device_id}"
    with hub.client(a.token) as alice:
        code = ok(alice.post(f"{dev}/enrollment-codes", json={}), 201)
        assert code["device_id"] == a.device_id
        assert len(code["code"]) >= 24
        for weak in ("password123", "dev", "changeme-changeme"):
            body = assert_problem(alice.post(f"{dev}/enrollment-codes", json={"code": weak}), 422)
            assert body["code"].startswith("secret."), body
            assert weak not in body["detail"]
        mine = ok(
            alice.post(f"{dev}/enrollment-codes", json={"code": STRONG_CODE, "ttl_seconds": 600}),
            201,
        )
        assert mine["code"] == STRONG_CODE
        assert_problem(
            alice.post(f"{dev}/enrollment-codes", json={"ttl_seconds": 5}), 422, "enrollment.ttl"
        )
        creds = ok(alice.get(f"{dev}/credentials"))
        assert {c["id"] for c in creds} == {code["credential_id"], mine["credential_id"]}
        assert all(c["kind"] == "enrollment_code" and c["revoked_at"] is None for c in creds)
        raw = alice.get(f"{dev}/credentials").text
        assert "argon2" not in raw
        assert "hash" not in raw
        assert STRONG_CODE not in raw

        revoked = ok(alice.post(f"{dev}/credentials/{code['credential_id']}/revoke"))
        assert revoked["revoked_at"] is not None
        assert_problem(
            alice.post(f"{dev}/credentials/{code['credential_id']}/revoke"),
            409,
            "credential.not_live",
        )

        # A pending device gets no token; an active one does.
        assert_problem(alice.post(f"{dev}/tokens", json={}), 403, "device.not_active")
        ok(alice.patch(dev, json={"status": "active"}))
        token = ok(alice.post(f"{dev}/tokens", json={"ttl_seconds": 300}), 201)
        assert (token["kind"], token["sub"], token["tenant_id"]) == ("device", a.device_id, t)
        assert token["publish"] == [f"devices/{a.device_id}/#"]
        left = dt.datetime.fromisoformat(token["expires_at"]) - hub.clock.now()
        assert dt.timedelta(seconds=290) < left <= dt.timedelta(seconds=300)
        assert_problem(
            alice.post(f"{dev}/enrollment-codes", json={}), 409, "enrollment.not_pending"
        )

        # A suspension through the registry route reaches the live state at once.
        ok(alice.patch(dev, json={"status": "suspended"}))
        assert_problem(alice.post(f"{dev}/tokens", json={}), 403, "device.not_active")
        ok(alice.patch(dev, json={"status": "active"}))
        ok(alice.post(f"{dev}/tokens", json={}), 201)

        gone = ok(alice.post(f"{dev}/revoke"))
        assert gone["status"] == "revoked"
        assert_problem(alice.post(f"{dev}/tokens", json={}), 403, "device.not_active")
        assert all(c["revoked_at"] is not None for c in ok(alice.get(f"{dev}/credentials")))

    # Another owner of the tenant, and another tenant, see no such device.
    for other in (world.bob, world.carol):
        with hub.client(other.token) as c:
            for method, path in (
                ("POST", f"{dev}/enrollment-codes"),
                ("GET", f"{dev}/credentials"),
                ("POST", f"{dev}/tokens"),
                ("POST", f"{dev}/revoke"),
                ("POST", f"{dev}/credentials/{mine['credential_id']}/revoke"),
            ):
                kwargs: dict[str, Any] = {"json": {}} if method == "POST" else {}
                assert_problem(c.request(method, path, **kwargs), 404)
    with hub.client(narrow_key(hub, a, "devices:read", "access:read")) as ro:
        ok(ro.get(f"{dev}/credentials"))
        assert_problem(ro.post(f"{dev}/enrollment-codes", json={}), 403, "access.missing_scope")
        assert_problem(ro.post(f"{dev}/revoke"), 403, "access.missing_scope")

    acts = acts_by(audit(hub, t), a.token)
    assert {
        "enrollment.code_created",
        "credential.revoked",
        "token.minted",
        "device.updated",
        "device.revoked",
    } <= acts


def test_app_tokens_attenuation_revocation_and_jwks(hub: LiveHub, world: World) -> None:
    a, t = world.alice, world.alice.tenant_id
    d1, d2 = a.device_id, add_device(hub, a, "lamp")
    tel = f"devices/{d1}/telemetry/#"
    with hub.client(a.token) as alice:
        app = ok(
            alice.post(
                f"/v1/tenants/{t}/tokens",
                json={
                    "sub": "dashboard",
                    "subscribe": [tel, f"devices/{d2}/#", f"$fleet/presence/{d1}"],
                    "publish": [f"devices/{d2}/commands/+"],
                    "ttl_seconds": 1800,
                },
            ),
            201,
        )
        assert (app["kind"], app["sub"], app["parent"]) == ("app", "dashboard", None)
        assert app["subscribe"] == sorted([tel, f"devices/{d2}/#", f"$fleet/presence/{d1}"])
        # Nothing outside alice's own devices, and no wildcard in the device level.
        for pattern in (
            "devices/+/telemetry/#",
            "devices/#",
            "$fleet/#",
            "#",
            f"devices/{world.bob.device_id}/telemetry/#",
            f"devices/{world.carol.device_id}/#",
        ):
            assert_problem(
                alice.post(f"/v1/tenants/{t}/tokens", json={"sub": "x", "subscribe": [pattern]}),
                422,
                "access.pattern_scope",
            )
        assert_problem(
            alice.post(
                f"/v1/tenants/{t}/tokens",
                json={"sub": "x", "publish": [f"$fleet/presence/{d1}"]},
            ),
            422,
            "access.bad_grant",
        )
        assert_problem(
            alice.post(f"/v1/tenants/{world.carol.tenant_id}/tokens", json={"sub": "x"}), 404
        )

    # Attenuation needs no API key: the parent token is the credential.
    with hub.client() as anyone:
        child = ok(
            anyone.post(
                "/v1/tokens/attenuate",
                json={"token": app["token"], "subscribe": [f"devices/{d1}/telemetry/temp"]},
            ),
            201,
        )
        assert (child["kind"], child["parent"]) == ("grant", app["jti"])
        assert child["subscribe"] == [f"devices/{d1}/telemetry/temp"]
        for wider in (
            {"subscribe": [f"devices/{d1}/#"]},
            {"publish": [tel]},
            {"subscribe": [tel], "ttl_seconds": 3600},
        ):
            assert_problem(
                anyone.post("/v1/tokens/attenuate", json={"token": app["token"], **wider}),
                403,
                "token.escalation",
            )
        assert_problem(
            anyone.post("/v1/tokens/attenuate", json={"token": app["token"][:-3] + "AAA"}), 401
        )
        jwks = ok(anyone.get("/v1/jwks"))
        assert jwt_header(app["token"])["kid"] in {k["kid"] for k in jwks["keys"]}
        assert all(k["alg"] == "EdDSA" and "d" not in k for k in jwks["keys"])

    # Only a token minted for the caller can be revoked by an owner key.
    with hub.client(world.carol.token) as carol:
        assert_problem(carol.post(f"/v1/tenants/{t}/tokens/{app['jti']}/revoke"), 404)
        theirs = f"/v1/tenants/{world.carol.tenant_id}/tokens/{app['jti']}/revoke"
        assert_problem(carol.post(theirs), 404, "token.not_found")
    with hub.client(world.bob.token) as bob:
        mine = f"/v1/tenants/{t}/tokens/{app['jti']}/revoke"
        assert_problem(bob.post(mine), 404, "token.not_found")
    assert app["jti"] not in hub.hub.access().hub.state.revoked_tokens
    with hub.client(a.token) as alice:
        # an attenuated child counts as alice's too
        ok(alice.post(f"/v1/tenants/{t}/tokens/{child['jti']}/revoke"))
        first = ok(alice.post(f"/v1/tenants/{t}/tokens/{app['jti']}/revoke"))
        assert first == {"jti": app["jti"], "revoked": True, "already": False}
        again = ok(alice.post(f"/v1/tenants/{t}/tokens/{app['jti']}/revoke"))
        assert again["already"] is True
    assert app["jti"] in hub.hub.access().hub.state.revoked_tokens
    with hub.client() as anyone:
        # The revoked token and everything attenuated from it are dead.
        for parent in (app["token"], child["token"]):
            assert_problem(anyone.post("/v1/tokens/attenuate", json={"token": parent}), 401)

    entries = audit(hub, t)
    assert {"token.minted", "token.revoked"} <= acts_by(entries, a.token)
    revoked = [e for e in entries if e["action"] == "token.revoked"]
    assert [e["target"] for e in revoked] == [child["jti"], app["jti"], app["jti"]]
    assert any(
        e["action"] == "token.attenuated" and e["details"].get("parent") == app["jti"]
        for e in entries
    )
    assert all(app["token"] not in json.dumps(e) for e in entries)


def test_grants_gateway_children_and_limits(hub: LiveHub, world: World) -> None:
    a, t = world.alice, world.alice.tenant_id
    d1, d2 = a.device_id, add_device(hub, a, "switch")
    gw = add_device(hub, a, "gateway-1", kind="gateway")
    base = f"/v1/tenants/{t}/devices"
    with hub.client(a.token) as alice:
        grant = ok(
            alice.post(
                f"{base}/{d1}/grants",
                json={
                    "subscribe": [f"devices/{d2}/state/reported"],
                    "publish": [f"devices/{d2}/commands/on"],
                },
            ),
            201,
        )
        assert (grant["device_id"], grant["revoked_at"]) == (d1, None)
        assert grant["issued_by"] == f"apikey:{key_id(a.token)}"
        for pattern in ("devices/+/state/#", "$fleet/#", f"devices/{world.bob.device_id}/#"):
            assert_problem(
                alice.post(f"{base}/{d1}/grants", json={"subscribe": [pattern]}),
                422,
                "access.pattern_scope",
            )
        assert_problem(alice.post(f"{base}/{d1}/grants", json={}), 422, "access.bad_grant")
        assert_problem(
            alice.post(
                f"{base}/{world.bob.device_id}/grants", json={"subscribe": [f"devices/{d1}/#"]}
            ),
            404,
        )
        assert [g["id"] for g in ok(alice.get(f"{base}/{d1}/grants"))] == [grant["id"]]
    with hub.client(world.bob.token) as bob:
        assert_problem(bob.get(f"{base}/{d1}/grants"), 404)
        assert_problem(bob.delete(f"/v1/tenants/{t}/grants/{grant['id']}"), 404)
    with hub.client(a.token) as alice:
        ok(alice.delete(f"/v1/tenants/{t}/grants/{grant['id']}"), 204)
        assert_problem(alice.delete(f"/v1/tenants/{t}/grants/{grant['id']}"), 409, "grant.revoked")
        (listed,) = ok(alice.get(f"{base}/{d1}/grants"))
        assert listed["revoked_at"] is not None

        # Gateways and their children.
        added = ok(alice.post(f"{base}/{gw}/children", json={"child_id": d1}), 201)
        assert added == {"gateway_id": gw, "children": [d1]}
        assert_problem(
            alice.post(f"{base}/{d2}/children", json={"child_id": d1}), 422, "gateway.not_gateway"
        )
        assert_problem(
            alice.post(f"{base}/{gw}/children", json={"child_id": gw}), 422, "gateway.bad_child"
        )
        assert_problem(
            alice.post(f"{base}/{gw}/children", json={"child_id": world.bob.device_id}), 404
        )
        assert ok(alice.get(f"{base}/{gw}/children"))["children"] == [d1]
        ok(alice.delete(f"{base}/{gw}/children/{d1}"), 204)
        assert_problem(alice.delete(f"{base}/{gw}/children/{d1}"), 404, "gateway.no_child")
        assert ok(alice.get(f"{base}/{gw}/children"))["children"] == []

        # Limits.
        defaults = ok(alice.get(f"{base}/{d1}/limits"))
        assert defaults["max_payload"] == 256 * 1024
        new = {
            "max_payload": 1024,
            "publish_rate": 2.5,
            "publish_burst": 5,
            "allowed_listeners": ["mqtts"],
            "allowed_cidrs": ["10.0.0.0/8"],
        }
        set_ = ok(alice.put(f"{base}/{d1}/limits", json=new))
        assert {k: set_[k] for k in new} == new
        assert {k: v for k, v in ok(alice.get(f"{base}/{d1}/limits")).items() if k in new} == new
        for bad in ({"max_payload": 0}, {"allowed_cidrs": ["not-a-net"]}, {"publish_rate": -1}):
            assert_problem(alice.put(f"{base}/{d1}/limits", json=bad), 422)
    with hub.client(world.carol.token) as carol:
        assert_problem(carol.get(f"{base}/{d1}/limits"), 404)
        assert_problem(carol.put(f"{base}/{d1}/limits", json={}), 404)
    with hub.client(narrow_key(hub, a, "access:read")) as ro:
        ok(ro.get(f"{base}/{d1}/limits"))
        assert_problem(ro.put(f"{base}/{d1}/limits", json={}), 403, "access.missing_scope")

    assert {
        "grant.added",
        "grant.revoked",
        "gateway.child_added",
        "gateway.child_removed",
        "device.limits_set",
    } <= acts_by(audit(hub, t), a.token)


def test_lists_and_maker_cas_are_the_operators(hub: LiveHub, world: World) -> None:
    a, t = world.alice, world.alice.tenant_id
    now = hub.clock.now()
    ca = make_cert(
        "Maker Root",
        ca=True,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=365),
    )
    leaf = make_cert(
        "not a ca",
        issuer=ca,
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
    )
    with hub.client(a.token) as alice:
        for method, path in (
            ("GET", f"/v1/tenants/{t}/access-lists"),
            ("POST", f"/v1/tenants/{t}/access-lists"),
            ("GET", "/v1/access-lists"),
            ("POST", "/v1/access-lists"),
            ("GET", f"/v1/tenants/{t}/maker-cas"),
            ("POST", f"/v1/tenants/{t}/maker-cas"),
        ):
            body = {"mode": "deny", "kind": "device", "value": "x"}
            if "maker" in path:
                body = {"name": "m", "pem": ca.pem.decode()}
            kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
            assert_problem(alice.request(method, path, **kwargs), 403, "access.operator_only")
        carol_t = world.carol.tenant_id
        assert_problem(alice.get(f"/v1/tenants/{carol_t}/access-lists"), 404)
        assert_problem(alice.get(f"/v1/tenants/{carol_t}/maker-cas"), 404)

    with hub.operator() as op:
        entry = ok(
            op.post(
                f"/v1/tenants/{t}/access-lists",
                json={"mode": "deny", "kind": "device", "value": a.device_id, "reason": "stolen"},
            ),
            201,
        )
        assert (entry["tenant_id"], entry["mode"], entry["reason"]) == (t, "deny", "stolen")
        assert [e["id"] for e in ok(op.get(f"/v1/tenants/{t}/access-lists"))] == [entry["id"]]
        assert ok(op.get(f"/v1/tenants/{world.carol.tenant_id}/access-lists")) == []
        hub_wide = ok(
            op.post(
                "/v1/access-lists", json={"mode": "deny", "kind": "cidr", "value": "203.0.113.0/24"}
            ),
            201,
        )
        assert hub_wide["tenant_id"] is None
        assert [e["id"] for e in ok(op.get("/v1/access-lists"))] == [hub_wide["id"]]
        assert len(hub.hub.access().hub.state.lists) == 2
        assert_problem(
            op.post("/v1/access-lists", json={"mode": "deny", "kind": "cidr", "value": "nope"}),
            422,
            "access.bad_list_entry",
        )
        assert_problem(
            op.post("/v1/access-lists", json={"mode": "block", "kind": "cidr", "value": "::1"}), 422
        )
        # A tenant entry cannot be deleted through the hub-wide path, nor the reverse.
        assert_problem(op.delete(f"/v1/access-lists/{entry['id']}"), 404, "list.not_found")
        assert_problem(op.delete(f"/v1/tenants/{t}/access-lists/{hub_wide['id']}"), 404)
        ok(op.delete(f"/v1/tenants/{t}/access-lists/{entry['id']}"), 204)
        ok(op.delete(f"/v1/access-lists/{hub_wide['id']}"), 204)
        assert len(hub.hub.access().hub.state.lists) == 0
        assert_problem(op.get("/v1/tenants/01900000-0000-7000-8000-000000000000/access-lists"), 404)

        maker = ok(
            op.post(
                f"/v1/tenants/{t}/maker-cas", json={"name": "Acme Devices", "pem": ca.pem.decode()}
            ),
            201,
        )
        assert maker["subject"].endswith("Maker Root")
        assert len(maker["fingerprint"]) == 64
        assert t in hub.hub.access().hub.state.makers
        assert_problem(
            op.post(f"/v1/tenants/{t}/maker-cas", json={"name": "leaf", "pem": leaf.pem.decode()}),
            422,
            "maker_ca.not_ca",
        )
        assert_problem(
            op.post(
                f"/v1/tenants/{t}/maker-cas", json={"name": "junk", "pem": "-----BEGIN nothing"}
            ),
            422,
            "maker_ca.malformed",
        )
        assert [m["id"] for m in ok(op.get(f"/v1/tenants/{t}/maker-cas"))] == [maker["id"]]
        assert_problem(
            op.delete(f"/v1/tenants/{world.carol.tenant_id}/maker-cas/{maker['id']}"), 404
        )
        ok(op.delete(f"/v1/tenants/{t}/maker-cas/{maker['id']}"), 204)
        assert_problem(
            op.delete(f"/v1/tenants/{t}/maker-cas/{maker['id']}"), 404, "maker.not_found"
        )
        assert t not in hub.hub.access().hub.state.makers
        me = key_id(hub.operator_token)

    acts = acts_by(audit(hub, t), hub.operator_token)
    assert {"list.deny_added", "list.entry_deleted", "maker.registered", "maker.revoked"} <= acts
    with hub.operator() as op:
        everything = ok(op.get("/v1/audit", params={"limit": 1000}))
    assert any(
        e["action"] == "list.deny_added" and e["tenant_id"] is None and e["actor"] == f"apikey:{me}"
        for e in everything
    )


def test_audit_view_is_scoped_to_the_caller(hub: LiveHub, world: World) -> None:
    a, b = world.alice, world.bob
    for w in (a, b, world.carol):
        with hub.client(w.token) as c:
            dev = f"/v1/tenants/{w.tenant_id}/devices/{w.device_id}"
            ok(c.post(f"{dev}/enrollment-codes", json={}), 201)
    with hub.client(a.token) as alice:
        mine = ok(alice.get("/v1/audit"))
        codes = [e for e in mine if e["action"] == "enrollment.code_created"]
        assert {e["target"] for e in codes} == {a.device_id}
        assert {e["tenant_id"] for e in mine} == {a.tenant_id}
        assert ok(alice.get("/v1/audit", params={"tenant_id": a.tenant_id})) == mine
        assert_problem(alice.get("/v1/audit", params={"tenant_id": world.carol.tenant_id}), 404)
        assert_problem(alice.get("/v1/audit", params={"limit": 0}), 422)
    with hub.client(narrow_key(hub, a, "devices:read")) as ro:
        assert_problem(ro.get("/v1/audit"), 403, "access.missing_scope")
    with hub.operator() as op:
        tenant_a = ok(op.get("/v1/audit", params={"tenant_id": a.tenant_id}))
        assert {a.device_id, b.device_id} <= {e["target"] for e in tenant_a}
        assert (
            ok(op.get("/v1/audit", params={"limit": 2}))
            == ok(op.get("/v1/audit", params={"limit": 1000}))[-2:]
        )
    # Chain fields are exposed so a client can check continuity.
    seqs = [e["seq"] for e in tenant_a]
    assert seqs == sorted(seqs)
    assert all(len(e["hash"]) == 64 for e in tenant_a)


def test_owner_suspension_and_deletion_reach_the_live_state(hub: LiveHub, world: World) -> None:
    a, t = world.alice, world.alice.tenant_id
    dev = f"/v1/tenants/{t}/devices/{a.device_id}"
    state = hub.hub.access().hub.state
    with hub.client(a.token) as alice:
        ok(alice.patch(dev, json={"status": "active"}))
    assert state.device(a.device_id) is not None
    with hub.operator() as op:
        ok(op.patch(f"/v1/tenants/{t}/owners/{a.owner_id}", json={"status": "suspended"}))
        live = state.device(a.device_id)
        assert live is not None
        assert not live.usable
        assert_problem(op.post(f"{dev}/tokens", json={}), 403, "device.not_active")
        ok(op.patch(f"/v1/tenants/{t}/owners/{a.owner_id}", json={"status": "active"}))
        ok(op.post(f"{dev}/tokens", json={}), 201)
        ok(op.delete(f"/v1/tenants/{t}/owners/{a.owner_id}"), 204)
        assert state.device(a.device_id) is None
        ok(op.delete(f"/v1/tenants/{t}"), 204)
        assert state.device(world.bob.device_id) is None
    actions = [e["action"] for e in audit(hub, t)]
    assert {"owner.updated", "owner.deleted", "tenant.deleted"} <= set(actions)


def test_unknown_fields_and_oversized_inputs_are_refused(hub: LiveHub, world: World) -> None:
    a, t = world.alice, world.alice.tenant_id
    with hub.client(a.token) as c:
        assert_problem(c.post(f"/v1/tenants/{t}/tokens", json={"sub": "x", "admin": True}), 422)
        assert_problem(
            c.post(f"/v1/tenants/{t}/tokens", json={"sub": "x", "subscribe": ["a"] * 33}), 422
        )
        assert_problem(c.post(f"/v1/tenants/{t}/tokens/{'j' * 65}/revoke"), 422)
        r = c.post(
            "/v1/tokens/attenuate", content=b"{", headers={"content-type": "application/json"}
        )
        assert_problem(r, 422)
