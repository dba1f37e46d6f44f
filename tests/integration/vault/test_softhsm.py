"""The PKCS#11 provider against a real token: Debian's SoftHSM2, on a throwaway token.

The token lives in a temporary directory named by a temporary ``SOFTHSM2_CONF``, so no
global SoftHSM state is touched. Without softhsm2 these tests skip, or fail when
``FLEETWARD_REQUIRE_SERVICES=1`` (CI, where tools/ensure-tools.sh installs it).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleetward.clock import ManualClock
from fleetward.config import load_settings
from fleetward.errors import ConfigError
from fleetward.registry import RegistryService, Scope, Store
from fleetward.vault import (
    FileKeyProvider,
    KekMismatchError,
    OwnerRef,
    Pkcs11KeyProvider,
    SqlDataKeys,
    Vault,
    build_key_provider,
    create_key_file,
    find_pkcs11_module,
)

from ...support.databases import require_services

TOKEN = "fleetward-test"
PIN = "4862"


@dataclass(frozen=True)
class SoftHsm:
    module: Path
    conf: Path


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    util = shutil.which("softhsm2-util")
    reason = "softhsm2-util not on PATH"
    try:
        module = find_pkcs11_module(None)
        __import__("pkcs11")
    except (ConfigError, ImportError) as e:
        util, reason = None, str(e)
    if util is None:
        message = f"SoftHSM2 unavailable ({reason}); apt-get install softhsm2"
        if require_services():
            pytest.fail(message + " (FLEETWARD_REQUIRE_SERVICES=1)")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir(mode=0o700)
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {root / 'tokens'}\n"
        "objectstore.backend = file\nlog.level = ERROR\n",
        encoding="utf-8",
    )
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        [util, "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "97531"],
        env=env,
        check=True,
        capture_output=True,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))  # read by SoftHSM2 when the library loads
        yield SoftHsm(module, conf)


def _provider(
    hsm: SoftHsm, label: str, *, create: bool = True, pin: str = PIN
) -> Pkcs11KeyProvider:
    return Pkcs11KeyProvider(
        hsm.module, token_label=TOKEN, key_label=label, pin=pin, create_missing=create
    )


def test_wrap_round_trip_and_the_key_never_leaves_the_token(softhsm: SoftHsm) -> None:
    import pkcs11

    provider = _provider(softhsm, "kek-roundtrip")
    assert provider.kek_id.startswith("p11-")
    dek = os.urandom(32)
    wrapped = provider.wrap(dek, b"ctx")
    assert len(wrapped) == 60
    assert dek not in wrapped
    assert provider.unwrap(wrapped, b"ctx") == dek
    with pytest.raises(KekMismatchError):
        provider.unwrap(wrapped, b"other ctx")
    with pytest.raises(KekMismatchError):
        provider.unwrap(wrapped[:-1] + bytes([wrapped[-1] ^ 1]), b"ctx")

    again = _provider(softhsm, "kek-roundtrip", create=False)  # found, not re-created
    assert again.kek_id == provider.kek_id
    assert again.unwrap(wrapped, b"ctx") == dek
    again.close()
    provider.close()

    lib = pkcs11.lib(str(softhsm.module))
    with lib.get_token(token_label=TOKEN).open(user_pin=PIN) as session:
        key = session.get_key(pkcs11.ObjectClass.SECRET_KEY, label="kek-roundtrip")
        assert key[pkcs11.Attribute.SENSITIVE] is True
        assert key[pkcs11.Attribute.EXTRACTABLE] is False
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[pkcs11.Attribute.VALUE]


def test_refusals_name_the_problem(softhsm: SoftHsm) -> None:
    import pkcs11

    with pytest.raises(ConfigError) as info:
        _provider(softhsm, "kek-absent", create=False)
    assert info.value.code == "vault.pkcs11_key"
    with pytest.raises(ConfigError) as info:
        _provider(softhsm, "kek-x", pin="0000")
    assert info.value.code == "vault.pkcs11_login"
    assert "0000" not in info.value.detail
    with pytest.raises(ConfigError) as info:
        Pkcs11KeyProvider(softhsm.module, token_label="no-such-token", key_label="k", pin=PIN)
    assert info.value.code == "vault.pkcs11_token"

    lib = pkcs11.lib(str(softhsm.module))
    with lib.get_token(token_label=TOKEN).open(rw=True, user_pin=PIN) as session:
        session.generate_key(
            pkcs11.KeyType.AES,
            256,
            label="kek-extractable",
            store=True,
            template={pkcs11.Attribute.EXTRACTABLE: True, pkcs11.Attribute.SENSITIVE: False},
        )
    with pytest.raises(ConfigError) as info:
        _provider(softhsm, "kek-extractable", create=False)
    assert "can leave the token" in info.value.detail


def test_vault_on_the_hsm_with_rotation_from_a_key_file(softhsm: SoftHsm, tmp_path: Path) -> None:
    clock = ManualClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    store = Store(f"sqlite:///{tmp_path / 'hub.db'}")
    store.migrate()
    try:
        registry = RegistryService(store, clock)
        tenant = registry.create_tenant("acme")
        owner = OwnerRef(tenant.id, registry.create_owner(Scope(tenant.id), "alice").id)
        create_key_file(tmp_path / "keys" / "kek", tmp_path / "data")
        file_kek = FileKeyProvider.load(tmp_path / "keys" / "kek", tmp_path / "data")
        storage = SqlDataKeys(store.engine)
        vault = Vault(storage, file_kek, clock)
        blob = vault.encrypt(owner, b"integration secret", b"row-1")

        hsm = _provider(softhsm, "kek-rotation")
        report = vault.rotate_kek(hsm)
        assert report.rewrapped == 1
        restarted = Vault(storage, hsm, clock)
        assert restarted.check() == {hsm.kek_id: 1}
        assert restarted.decrypt(owner, blob, b"row-1") == b"integration secret"
        with pytest.raises(KekMismatchError):
            Vault(storage, file_kek, clock).decrypt(owner, blob, b"row-1")
        second = restarted.encrypt(owner, b"more", b"row-2")
        assert restarted.decrypt(owner, second, b"row-2") == b"more"
        hsm.close()
    finally:
        store.close()


def test_settings_build_the_pkcs11_provider(softhsm: SoftHsm) -> None:
    settings = load_settings(
        None,
        {
            "FLEETWARD_VAULT__PROVIDER": "pkcs11",
            "FLEETWARD_VAULT__PKCS11_MODULE": str(softhsm.module),
            "FLEETWARD_VAULT__PKCS11_TOKEN_LABEL": TOKEN,
            "FLEETWARD_VAULT__PKCS11_KEY_LABEL": "kek-from-settings",
            "FLEETWARD_VAULT__PKCS11_PIN": PIN,
        },
    )
    provider = build_key_provider(settings)
    assert isinstance(provider, Pkcs11KeyProvider)
    assert provider.unwrap(provider.wrap(b"d" * 32, b"c"), b"c") == b"d" * 32
    provider.close()
    with pytest.raises(ConfigError) as info:
        build_key_provider(
            settings.model_copy(
                update={
                    "vault": settings.vault.model_copy(
                        update={"pkcs11_module": Path("/nonexistent/libpkcs11.so")}
                    )
                }
            )
        )
    assert info.value.code == "vault.pkcs11_module"
