"""The REST API over real HTTPS: authentication, isolation, errors, health."""

from __future__ import annotations

import datetime as dt

import httpx

from ..support.api import assert_problem, make_owner, ok
from ..support.hub import LiveHub


def test_no_key_is_401_with_challenge(hub: LiveHub) -> None:
    with hub.client() as c:
        for path in ("/v1/tenants", "/v1/me", "/v1/apikeys"):
            body = assert_problem(c.get(path), 401, "access.unauthenticated")
            assert body["instance"] == path
        assert c.get("/v1/tenants").headers["www-authenticate"] == "Bearer"


def test_malformed_and_unknown_keys_are_401(hub: LiveHub) -> None:
    real = hub.operator_token
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for token in ("nonsense", "fwk_", forged, "fwk_" + "a" * 12 + "_" + "b" * 43, "x" * 5000):
        with hub.client(token) as c:
            assert_problem(c.get("/v1/me"), 401, "access.unauthenticated")


def test_operator_key_works_and_me_describes_it(hub: LiveHub) -> None:
    with hub.operator() as op:
        me = ok(op.get("/v1/me"))
    assert me["role"] == "operator"
    assert "tenants:write" in me["scopes"]


def test_expired_key_is_401(hub: LiveHub) -> None:
    with hub.operator() as op:
        key = ok(
            op.post(
                "/v1/apikeys", json={"name": "short", "role": "operator", "expires_in_days": 1}
            ),
            201,
        )
    with hub.client(key["token"]) as c:
        ok(c.get("/v1/me"))  # valid now, and cached as verified
        hub.clock.advance(dt.timedelta(days=1, seconds=1))
        assert_problem(c.get("/v1/me"), 401, "access.unauthenticated")


def test_revoked_key_is_401_on_the_next_request(hub: LiveHub) -> None:
    with hub.operator() as op:
        key = ok(op.post("/v1/apikeys", json={"name": "temp", "role": "operator"}), 201)
        with hub.client(key["token"]) as c:
            ok(c.get("/v1/me"))
            ok(op.delete(f"/v1/apikeys/{key['id']}"), 204)
            assert_problem(c.get("/v1/me"), 401)
        listed = {k["id"]: k for k in ok(op.get("/v1/apikeys"))["items"]}
        assert listed[key["id"]]["revoked_at"] is not None


def test_owner_cannot_read_or_change_another_owners_device(hub: LiveHub) -> None:
    with hub.operator() as op:
        a = make_owner(hub, op, "acme")
        b = make_owner(hub, op, "", tenant_id=a.tenant_id)  # same tenant, another owner
        before = ok(op.get(f"/v1/tenants/{b.tenant_id}/devices/{b.device_id}"))
        with hub.client(a.token) as alice:
            url = f"/v1/tenants/{b.tenant_id}/devices/{b.device_id}"
            assert_problem(alice.get(url), 404, "device.not_found")
            assert_problem(alice.patch(url, json={"name": "mine now"}), 404)
            assert_problem(alice.patch(url, json={"status": "revoked"}), 404)
            assert_problem(alice.delete(url), 404)
            listed = ok(alice.get(f"/v1/tenants/{a.tenant_id}/devices"))["items"]
            assert [d["id"] for d in listed] == [a.device_id]
            filtered = ok(
                alice.get(f"/v1/tenants/{a.tenant_id}/devices", params={"owner_id": b.owner_id})
            )
            assert filtered["items"] == []
            assert_problem(alice.get(f"/v1/tenants/{a.tenant_id}/owners/{b.owner_id}"), 404)
        assert ok(op.get(f"/v1/tenants/{b.tenant_id}/devices/{b.device_id}")) == before


def test_other_tenant_is_404_never_403(hub: LiveHub) -> None:
    with hub.operator() as op:
        a = make_owner(hub, op, "tenant-a")
        b = make_owner(hub, op, "tenant-b")
        with hub.client(a.token) as alice:
            for path in (
                f"/v1/tenants/{b.tenant_id}",
                f"/v1/tenants/{b.tenant_id}/devices",
                f"/v1/tenants/{b.tenant_id}/devices/{b.device_id}",
                f"/v1/tenants/{b.tenant_id}/owners",
                f"/v1/tenants/{b.tenant_id}/owners/{b.owner_id}",
            ):
                assert_problem(alice.get(path), 404)
            assert_problem(alice.delete(f"/v1/tenants/{b.tenant_id}"), 404)
            # and an unknown tenant looks exactly the same as someone else's
            ghost = assert_problem(
                alice.get("/v1/tenants/01900000-0000-7000-8000-000000000000/devices"), 404
            )
            theirs = assert_problem(alice.get(f"/v1/tenants/{b.tenant_id}/devices"), 404)
            assert ghost["code"] == theirs["code"]
            # an owner sees only its own tenant
            assert [t["id"] for t in ok(alice.get("/v1/tenants"))["items"]] == [a.tenant_id]
        ok(op.get(f"/v1/tenants/{b.tenant_id}/devices/{b.device_id}"))


def test_keys_only_attenuate(hub: LiveHub) -> None:
    with hub.operator() as op:
        a = make_owner(hub, op, "t")
        other = make_owner(hub, op, "", tenant_id=a.tenant_id)
    with hub.client(a.token) as alice:
        assert_problem(alice.post("/v1/apikeys", json={"name": "x", "role": "operator"}), 403)
        assert_problem(
            alice.post(
                "/v1/apikeys",
                json={
                    "name": "x",
                    "tenant_id": a.tenant_id,
                    "owner_id": a.owner_id,
                    "scopes": ["tenants:write"],
                },
            ),
            403,
        )
        assert_problem(
            alice.post(
                "/v1/apikeys",
                json={"name": "x", "tenant_id": a.tenant_id, "owner_id": other.owner_id},
            ),
            404,
        )
        narrow = ok(
            alice.post(
                "/v1/apikeys",
                json={
                    "name": "read only",
                    "tenant_id": a.tenant_id,
                    "owner_id": a.owner_id,
                    "scopes": ["devices:read"],
                },
            ),
            201,
        )
        assert narrow["scopes"] == ["devices:read"]
        assert_problem(
            alice.post("/v1/tenants", json={"name": "mine"}), 403, "access.operator_only"
        )
    with hub.client(narrow["token"]) as ro:
        ok(ro.get(f"/v1/tenants/{a.tenant_id}/devices"))
        assert_problem(
            ro.post(f"/v1/tenants/{a.tenant_id}/devices", json={"name": "n"}),
            403,
            "access.missing_scope",
        )
        assert_problem(
            ro.post(
                "/v1/apikeys", json={"name": "y", "tenant_id": a.tenant_id, "owner_id": a.owner_id}
            ),
            403,
        )


def test_suspending_an_owner_or_tenant_stops_their_keys(hub: LiveHub) -> None:
    with hub.operator() as op:
        a = make_owner(hub, op, "t")
        with hub.client(a.token) as alice:
            ok(alice.get("/v1/me"))
            ok(
                op.patch(
                    f"/v1/tenants/{a.tenant_id}/owners/{a.owner_id}", json={"status": "suspended"}
                )
            )
            assert_problem(alice.get("/v1/me"), 401)
            ok(
                op.patch(
                    f"/v1/tenants/{a.tenant_id}/owners/{a.owner_id}", json={"status": "active"}
                )
            )
            ok(alice.get("/v1/me"))
            ok(op.patch(f"/v1/tenants/{a.tenant_id}", json={"status": "suspended"}))
            assert_problem(alice.get("/v1/me"), 401)


def test_malformed_bodies_are_422_problems(hub: LiveHub) -> None:
    with hub.operator() as op:
        tenant = ok(op.post("/v1/tenants", json={"name": "t"}), 201)
        owners = f"/v1/tenants/{tenant['id']}/owners"
        owner = ok(op.post(owners, json={"name": "o"}), 201)
        devices = f"/v1/tenants/{tenant['id']}/devices"
        cases: list[tuple[str, str, object]] = [
            ("POST", "/v1/tenants", {}),
            ("POST", "/v1/tenants", {"name": ""}),
            ("POST", "/v1/tenants", {"name": "   "}),
            ("POST", "/v1/tenants", {"name": "x" * 129}),
            ("POST", "/v1/tenants", {"name": "bad\x00name"}),
            ("POST", "/v1/tenants", {"name": "t2", "extra": 1}),
            ("POST", "/v1/tenants", ["not", "an", "object"]),
            ("POST", owners, {"name": "o", "email": "not-an-email"}),
            ("POST", devices, {"name": "d", "owner_id": owner["id"], "site": "has space"}),
            ("POST", devices, {"name": "d", "owner_id": owner["id"], "tags": ["ok"] * 33}),
            ("POST", devices, {"name": "d", "owner_id": owner["id"], "kind": "toaster"}),
            ("POST", devices, {"name": "d"}),  # operator must name the owner
            ("PATCH", f"/v1/tenants/{tenant['id']}", {"status": "deleted"}),
            ("POST", "/v1/apikeys", {"name": "k", "expires_in_days": 0}),
            ("POST", "/v1/apikeys", {"name": "k", "scopes": ["root"]}),
        ]
        for method, url, body in cases:
            problem = assert_problem(op.request(method, url, json=body), 422)
            assert problem["detail"], (method, url, body)
        raw = op.post(
            "/v1/tenants", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(raw, 422)
        assert_problem(op.get("/v1/tenants", params={"limit": 0}), 422)
        assert_problem(op.get("/v1/tenants", params={"limit": "many"}), 422)


def test_oversized_body_is_413(hub: LiveHub) -> None:
    with hub.operator() as op:
        big = b'{"name": "' + b"x" * (2 << 20) + b'"}'
        assert_problem(
            op.post("/v1/tenants", content=big, headers={"content-type": "application/json"}), 413
        )
        ok(op.get("/v1/me"))  # still serving


def test_pagination_over_http(hub: LiveHub) -> None:
    with hub.operator() as op:
        made = [ok(op.post("/v1/tenants", json={"name": f"t{i}"}), 201)["id"] for i in range(5)]
        seen: list[str] = []
        params: dict[str, str | int] = {"limit": 2}
        while True:
            page = ok(op.get("/v1/tenants", params=params))
            seen += [t["id"] for t in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert seen == made


def test_unknown_route_and_method_are_problems(hub: LiveHub) -> None:
    with hub.operator() as op:
        assert_problem(op.get("/v1/nothing-here"), 404)
        assert_problem(op.put("/v1/tenants"), 405)


def test_health_readiness_metrics_and_openapi(hub: LiveHub) -> None:
    with hub.client() as c:
        assert ok(c.get("/healthz")) == {"status": "ok"}
        assert ok(c.get("/readyz")) == {"status": "ready"}
        c.get("/v1/me")
        metrics = c.get("/metrics")
        assert metrics.status_code == 200
        assert (
            'fleetward_http_requests_total{method="GET",route="/v1/me",status="401"}'
            in metrics.text
        )
        doc = ok(c.get("/openapi.json"))
        assert doc["openapi"].startswith("3.")
        assert "/v1/tenants/{tenant_id}/devices/{device_id}" in doc["paths"]
        assert "Problem" in doc["components"]["schemas"]


def test_plain_http_is_refused_on_the_tls_port(hub: LiveHub) -> None:
    plain = hub.base_url.replace("https://", "http://")
    try:
        response = httpx.get(plain + "/healthz", timeout=5)
    except httpx.HTTPError:
        return
    assert response.status_code >= 400
