"""``registry.sql.tx.transaction``: the one place SQL stores turn driver errors into ours."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError, StatementError

from fleetward.errors import ConflictError, StorageError
from fleetward.registry.sql.tx import transaction


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = create_engine(f"sqlite:///{tmp_path / 'tx.db'}")
    with e.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    yield e
    e.dispose()


def _ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT id FROM t ORDER BY id"))]


def test_commits_when_the_block_ends(engine: Engine) -> None:
    with transaction(engine) as conn:
        conn.execute(text("INSERT INTO t (id) VALUES (1)"))
    assert _ids(engine) == [1]


def test_an_integrity_error_is_a_conflict_and_rolls_back(engine: Engine) -> None:
    with transaction(engine) as conn:
        conn.execute(text("INSERT INTO t (id) VALUES (1)"))
    with pytest.raises(ConflictError) as info, transaction(engine) as conn:
        conn.execute(text("INSERT INTO t (id) VALUES (2), (1)"))
    assert info.value.code == "storage.integrity"
    assert _ids(engine) == [1]  # row 2 rolled back with the rest


def test_an_operational_error_is_a_storage_error(engine: Engine) -> None:
    with pytest.raises(StorageError) as info, transaction(engine) as conn:
        conn.execute(text("SELECT * FROM missing"))
    assert info.value.code == "storage.unavailable"
    assert str(info.value) == "database unavailable"


def test_other_driver_errors_pass_unless_the_caller_widens_the_net(engine: Engine) -> None:
    with pytest.raises(StatementError), transaction(engine) as conn:
        conn.execute(text("SELECT :x"))  # a bind parameter without a value
    with (
        pytest.raises(StorageError) as info,
        transaction(engine, unavailable=SQLAlchemyError, detail="cannot record it") as conn,
    ):
        conn.execute(text("SELECT :x"))
    assert info.value.code == "storage.unavailable"
    assert str(info.value) == "cannot record it"
