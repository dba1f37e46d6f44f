"""One transaction with the driver's errors turned into Fleetward's, for every SQL store.

The registry, the access store and the revocation writes share the rule: a constraint
violation is a :class:`ConflictError` (``storage.integrity``), a database that cannot
serve the request a :class:`StorageError` (``storage.unavailable``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from fleetward.errors import ConflictError, StorageError

__all__ = ["transaction"]


@contextmanager
def transaction(
    engine: Engine,
    *,
    unavailable: type[SQLAlchemyError] = OperationalError,
    detail: str = "database unavailable",
) -> Iterator[Connection]:
    """``engine.begin()``: committed when the block ends, rolled back on error.

    An :class:`IntegrityError` becomes a :class:`ConflictError`; an ``unavailable`` error
    (by default :class:`OperationalError`; a caller that must never leak a driver error
    passes :class:`SQLAlchemyError`) becomes a :class:`StorageError` saying ``detail``.
    """
    try:
        with engine.begin() as conn:
            yield conn
    except IntegrityError as e:
        raise ConflictError(
            "the change conflicts with existing data", code="storage.integrity"
        ) from e
    except unavailable as e:
        raise StorageError(detail, code="storage.unavailable") from e
