"""Give full-power API keys the permissions added after they were minted.

``access:read``, ``access:write`` and ``audit:read`` arrived after the first release.
There is no wildcard scope: a key holds the list it was minted with, so an operator
key that could do *everything* then cannot reach the access and audit endpoints now.

Least privilege decides who gains them: only a key that held every permission its
role could hold before (all eight for an operator key, the six owner permissions for
an owner key) is widened, and only when its creator was the local console or was
itself widened, so no key ends up wider than the key that minted it. Narrower keys
are left alone; ``fleetward apikey grant`` widens one deliberately. Revoked keys keep
their rows as they were. The permission sets are frozen here, not imported, so later
code changes cannot change what this revision did.

The audit log is not open while migrations run, so the widened key ids are logged as
a warning instead. Downgrade leaves scopes alone: removing them could narrow a key
widened by hand after the upgrade.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_log = logging.getLogger("fleetward.registry.migrations")

_OLD_OPERATOR = frozenset(
    {
        "tenants:read",
        "tenants:write",
        "owners:read",
        "owners:write",
        "devices:read",
        "devices:write",
        "apikeys:read",
        "apikeys:write",
    }
)
_OLD_OWNER = frozenset(
    {
        "tenants:read",
        "owners:read",
        "devices:read",
        "devices:write",
        "apikeys:read",
        "apikeys:write",
    }
)
_ADDED = frozenset({"access:read", "access:write", "audit:read"})
_CEILING = {"operator": _OLD_OPERATOR, "owner": _OLD_OWNER}
_CONSOLE = "local-console"

_keys = sa.table(
    "api_keys",
    sa.column("id", sa.String),
    sa.column("role", sa.String),
    sa.column("scopes", sa.JSON),
    sa.column("created_by", sa.String),
    sa.column("revoked_at", sa.DateTime(timezone=True)),
)


def full_power(rows: Mapping[str, tuple[str, frozenset[str], str | None]]) -> set[str]:
    """Ids of keys that held their role's whole old ceiling, through a full-power chain.

    ``rows`` maps key id to (role, scopes, created_by). A key whose creator row is
    gone, or was not itself full-power, is not widened (fails closed).
    """
    memo: dict[str, bool] = {}

    def full(key_id: str, depth: int) -> bool:
        if key_id in memo:
            return memo[key_id]
        row = rows.get(key_id)
        ok = False
        if row is not None and depth <= len(rows):
            role, scopes, creator = row
            ceiling = _CEILING.get(role)
            ok = ceiling is not None and ceiling <= scopes
            if ok and creator not in (None, _CONSOLE):
                ok = full(creator, depth + 1)
        memo[key_id] = ok
        return ok

    return {key_id for key_id in rows if full(key_id, 0)}


def upgrade() -> None:
    """Add the new permissions to every usable full-power key."""
    conn = op.get_bind()
    found = conn.execute(
        sa.select(_keys.c.id, _keys.c.role, _keys.c.scopes, _keys.c.created_by, _keys.c.revoked_at)
    ).all()
    rows = {r.id: (r.role, frozenset(r.scopes), r.created_by) for r in found}
    revoked = {r.id for r in found if r.revoked_at is not None}
    widened: list[str] = []
    for key_id in sorted(full_power(rows) - revoked):
        scopes = rows[key_id][1]
        if scopes >= _ADDED:
            continue
        conn.execute(
            sa.update(_keys).where(_keys.c.id == key_id).values(scopes=sorted(scopes | _ADDED))
        )
        widened.append(key_id)
    if widened:
        _log.warning(
            "upgrade widened %d full-power API key(s) with %s: %s",
            len(widened),
            ", ".join(sorted(_ADDED)),
            ", ".join(widened),
        )


def downgrade() -> None:
    """Leave scopes as they are (see the module docstring)."""
