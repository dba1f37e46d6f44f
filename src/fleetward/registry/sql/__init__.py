"""SQLAlchemy adapters for the registry ports."""

from fleetward.registry.sql.store import Store, Unit

__all__ = ["Store", "Unit"]
