"""The package surface and the sans-I/O promise."""

from __future__ import annotations

import ast
import pathlib

from fleetward import mqtt

FORBIDDEN = {"asyncio", "socket", "ssl", "uvloop", "sqlalchemy", "time", "selectors", "threading"}
PACKAGE = pathlib.Path(mqtt.__file__).parent


def test_every_name_in_all_is_exported() -> None:
    for name in mqtt.__all__:
        assert hasattr(mqtt, name), name
    assert len(set(mqtt.__all__)) == len(mqtt.__all__)


def test_every_module_declares_all() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert "__all__" in names, path.name


def test_the_core_imports_no_io_and_reads_no_clock() -> None:
    """Sans-I/O (CONVENTIONS §1): no event loop, socket, TLS, SQL or clock."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & FORBIDDEN, (path.name, roots)


def test_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 450, path.name
