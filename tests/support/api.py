"""Small REST helpers for tests that build a tenant/owner/device world over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from .hub import LiveHub


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body, after asserting the status (with the body in the message)."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """Assert an RFC 9457 problem response and return its body."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "code"} <= body.keys()
    if code is not None:
        assert body["code"] == code, body
    return body


@dataclass
class OwnerWorld:
    """A tenant with one owner, that owner's key and one device."""

    tenant_id: str
    owner_id: str
    token: str
    device_id: str


def make_owner(
    hub: LiveHub, op: httpx.Client, tenant_name: str, *, tenant_id: str | None = None
) -> OwnerWorld:
    """Create (or reuse) a tenant, an owner in it, an owner key and a device."""
    if tenant_id is None:
        tenant_id = ok(op.post("/v1/tenants", json={"name": tenant_name}), 201)["id"]
    owner = ok(op.post(f"/v1/tenants/{tenant_id}/owners", json={"name": "owner"}), 201)
    key = ok(
        op.post(
            "/v1/apikeys",
            json={
                "name": "owner key",
                "role": "owner",
                "tenant_id": tenant_id,
                "owner_id": owner["id"],
            },
        ),
        201,
    )
    with hub.client(key["token"]) as c:
        device = ok(
            c.post(f"/v1/tenants/{tenant_id}/devices", json={"name": "dev", "site": "s1"}), 201
        )
    return OwnerWorld(tenant_id, owner["id"], key["token"], device["id"])
