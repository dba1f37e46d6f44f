"""The hub's E2E key directory: signed public-key entries, stored and served.

Built on the pure :mod:`fleetward.e2e.directory` model; see ``docs/e2e-format.md``.
"""

from fleetward.keydir.service import KeyDirectoryService, entries_json, open_directory_ring
from fleetward.keydir.tables import e2e_keys

__all__ = ["KeyDirectoryService", "e2e_keys", "entries_json", "open_directory_ring"]
