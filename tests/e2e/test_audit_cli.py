"""``fleetward audit verify|tail`` as an operator runs them, against a tampered database.

The log is written through the library (the hub will do the same once wired), then the
stored rows are edited with plain SQL, as someone with database access but without the
checkpoint key would, and the console script must exit 1 naming each damaged seq.
Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import text

from fleetward.audit import AuditLog, SqlAuditStore, open_audit_keyring
from fleetward.audit.chain import relink
from fleetward.clock import ManualClock
from fleetward.registry import Store

FLEETWARD = shutil.which("fleetward", path=str(Path(sys.executable).parent))
_SCRUBBED = {"FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"}
T0 = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


@dataclass
class Hub:
    """A data directory and database, the console script pointed at both."""

    data_dir: Path
    store: Store
    env: dict[str, str]

    def run(self, *args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
        assert FLEETWARD is not None, f"no fleetward script next to {sys.executable}"
        env = self.env if columns is None else {**self.env, "COLUMNS": str(columns)}
        result = subprocess.run(
            [FLEETWARD, *args],
            env=env,
            cwd=self.data_dir.parent,
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    def verify(self, *, status: int) -> list[str]:
        result = self.run("audit", "verify")
        assert result.returncode == status, (result.stdout, result.stderr)
        assert result.stderr == ""
        return result.stdout.splitlines()

    def sql(self, *statements: str, **params: object) -> None:
        with self.store.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), params)

    def record(self, n: int = 12) -> None:
        """``n`` entries, flushed one by one; checkpoints every 5 and at close."""
        clock = ManualClock(T0)
        audit = AuditLog(
            SqlAuditStore(self.store.engine),
            open_audit_keyring(self.data_dir, clock.now()),
            clock,
            checkpoint_every=5,
            checkpoint_interval=None,
        )
        audit.open()
        for i in range(n):
            audit.record(
                actor="operator",
                action="device.revoked",
                target=f"device:{i + 1}",
                tenant_id="t-even" if i % 2 else "t-odd",
                details={"reason": "lost", "n": i + 1},
            )
            audit.flush()
            clock.advance(dt.timedelta(minutes=1))
        audit.close()


@pytest.fixture
def hub(tmp_path: Path, db_url: str) -> Iterator[Hub]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FLEETWARD_") and k not in _SCRUBBED
    }
    data_dir = tmp_path / "data"
    env.update(FLEETWARD_DATA_DIR=str(data_dir), FLEETWARD_DATABASE__URL=db_url)
    store = Store(db_url)
    h = Hub(data_dir=data_dir, store=store, env=env)
    # The CLI prepares the data directory and migrates, as on an operator's first use.
    assert h.verify(status=0) == [
        "audit log intact: 0 entries, 0 checkpoints, anchored through seq 0 (0 unanchored)"
    ]
    h.record()
    yield h
    store.close()


INTACT = "audit log intact: 12 entries, 3 checkpoints, anchored through seq 12 (0 unanchored)"


def test_verify_passes_then_names_an_edited_entry(hub: Hub) -> None:
    assert hub.verify(status=0) == [INTACT]
    report = json.loads(hub.run("audit", "verify", "--json").stdout)
    assert (report["ok"], report["entries"], report["anchored_seq"]) == (True, 12, 12)

    hub.sql("""UPDATE audit_entries SET details = '{"reason": "found", "n": 4}' WHERE seq = 4""")
    lines = hub.verify(status=1)
    assert lines[0] == "seq 4: content does not match its hash (edited) (entry.edited)"
    assert lines[-1].startswith("audit log NOT intact: 1 problem; 12 entries")
    result = hub.run("audit", "verify", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [(p["code"], p["seq"]) for p in report["problems"]] == [("entry.edited", 4)]


def test_verify_names_a_deleted_entry(hub: Hub) -> None:
    hub.sql("DELETE FROM audit_entries WHERE seq = 7")
    lines = hub.verify(status=1)
    assert lines[0] == "seq 7: entry missing (removed); next is seq 8 (entry.missing)"
    assert len(lines) == 2


def test_verify_names_swapped_entries(hub: Hub) -> None:
    hub.sql(
        "UPDATE audit_entries SET seq = -1 WHERE seq = 3",
        "UPDATE audit_entries SET seq = 3 WHERE seq = 8",
        "UPDATE audit_entries SET seq = 8 WHERE seq = -1",
    )
    named = {line.split(":")[0] for line in hub.verify(status=1)[:-1]}
    assert {"seq 3", "seq 8"} <= named


def test_verify_catches_a_cut_tail_and_forged_checkpoints(hub: Hub) -> None:
    hub.sql("DELETE FROM audit_entries WHERE seq > 10")
    lines = hub.verify(status=1)
    assert lines[0].startswith("seq 12: signed checkpoint beyond the last entry (seq 10)")
    hub.sql("DELETE FROM audit_checkpoints WHERE seq = 12")
    assert hub.verify(status=0) == [
        "audit log intact: 10 entries, 2 checkpoints, anchored through seq 10 (0 unanchored)"
    ]  # cutting exactly at a checkpoint is what no signature can catch
    hub.sql("UPDATE audit_checkpoints SET head_hash = :h WHERE seq = 5", h="0" * 64)
    assert (
        hub.verify(status=1)[0]
        == "seq 5: checkpoint signature is not valid (checkpoint.bad_signature)"
    )


def test_verify_catches_a_consistently_rehashed_rewrite(hub: Hub) -> None:
    sql = SqlAuditStore(hub.store.engine)
    entries = list(sql.iter_entries())
    forged = replace(entries[2], details={"reason": "nothing happened", "n": 3})
    rewritten = relink([forged, *entries[3:]], seq=3, prev_hash=entries[1].hash)
    for entry in rewritten:  # every row rewritten so that the chain itself is perfect
        hub.sql(
            "UPDATE audit_entries SET details = :d, prev_hash = :p, hash = :h WHERE seq = :s",
            d=json.dumps(dict(entry.details)),
            p=entry.prev_hash,
            h=entry.hash,
            s=entry.seq,
        )
    lines = hub.verify(status=1)
    assert [line.split(" (")[-1] for line in lines[:-1]] == ["checkpoint.mismatch)"] * 3
    assert [line.split(":")[0] for line in lines[:-1]] == ["seq 5", "seq 10", "seq 12"]


def test_unreadable_rows_are_reported_not_crashed_on(hub: Hub) -> None:
    hub.sql("UPDATE audit_entries SET details = '[1, 2]' WHERE seq = 2")
    if hub.store.url.startswith("sqlite"):  # only SQLite lets any text into these columns
        hub.sql(
            "UPDATE audit_entries SET details = 'not json' WHERE seq = 5",
            "UPDATE audit_entries SET at = 'yesterday' WHERE seq = 9",
            "UPDATE audit_checkpoints SET signature = '***' WHERE seq = 10",
        )
    named = {line.split(":")[0] for line in hub.verify(status=1)[:-1]}
    sqlite = hub.store.url.startswith("sqlite")
    assert named == ({"seq 2", "seq 5", "seq 9", "seq 10"} if sqlite else {"seq 2"})


def test_tail_shows_the_newest_entries(hub: Hub) -> None:
    result = hub.run("audit", "tail", "-n", "3", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["seq"] for r in rows] == [10, 11, 12]
    assert rows[0]["details"] == {"reason": "lost", "n": 10}
    assert rows[0]["at"] == (T0 + dt.timedelta(minutes=9)).isoformat()
    assert len(rows[0]["hash"]) == 64
    result = hub.run("audit", "tail", "--tenant", "t-odd", "--json")
    assert [r["seq"] for r in json.loads(result.stdout)] == [1, 3, 5, 7, 9, 11]
    table = hub.run("audit", "tail", "-n", "2", columns=200)
    assert table.returncode == 0, table.stderr
    assert "device:12" in table.stdout
    assert 'n=12 reason="lost"' in table.stdout
    assert "device:10" not in table.stdout
