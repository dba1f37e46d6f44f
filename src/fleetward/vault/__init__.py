"""Encryption at rest: per-owner data keys wrapped by a KEK that never lives in the database.

:class:`Vault` seals and opens owners' data (AES-256-GCM, versioned blobs naming their
data key), rotates the KEK by re-wrapping data keys only, and shreds an owner by
destroying their data key. Key providers keep the KEK in a key file outside the data
directory, in the environment, or on a PKCS#11 token. ``build_key_provider`` and
``build_vault`` are what the composition root calls.
"""

from fleetward.vault.blob import VERSION as BLOB_VERSION
from fleetward.vault.factory import build_key_provider, build_vault, key_file_path
from fleetward.vault.memory import MemoryDataKeys
from fleetward.vault.pkcs11 import Pkcs11KeyProvider, find_pkcs11_module
from fleetward.vault.ports import (
    DataKeyRecord,
    DataKeyStorage,
    KekMismatchError,
    KeyProviderError,
    OwnerRef,
    OwnerShreddedError,
    UndecryptableError,
    UnknownOwnerError,
    VaultError,
)
from fleetward.vault.providers import (
    EnvKeyProvider,
    FileKeyProvider,
    KeyProvider,
    create_key_file,
    default_key_file,
)
from fleetward.vault.service import RotationReport, Vault
from fleetward.vault.sql import SqlDataKeys, owner_data_keys

__all__ = [
    "BLOB_VERSION",
    "DataKeyRecord",
    "DataKeyStorage",
    "EnvKeyProvider",
    "FileKeyProvider",
    "KekMismatchError",
    "KeyProvider",
    "KeyProviderError",
    "MemoryDataKeys",
    "OwnerRef",
    "OwnerShreddedError",
    "Pkcs11KeyProvider",
    "RotationReport",
    "SqlDataKeys",
    "UndecryptableError",
    "UnknownOwnerError",
    "Vault",
    "VaultError",
    "build_key_provider",
    "build_vault",
    "create_key_file",
    "default_key_file",
    "find_pkcs11_module",
    "key_file_path",
    "owner_data_keys",
]
