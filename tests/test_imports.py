"""Nono uses only the public API of the packages it depends on: no import reaches into a private module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import nono

PACKAGE = Path(nono.__file__).resolve().parent


def is_private(dotted: str) -> bool:
    """True for a name inside another package that starts with `_` (dunders like `__version__` are public)."""
    top, *rest = dotted.split(".")
    return top != "nono" and any(part.startswith("_") and not part.endswith("__") for part in rest)


def private_imports(source: str) -> Iterator[str]:
    """Each private module (or private name) of another package that `source` imports."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if is_private(node.module):
                names = [node.module]
            else:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue  # a relative import stays inside nono
        yield from (name for name in names if is_private(name))


def test_the_check_recognises_private_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "import telegram._utils.types\n"
        "from telegram._utils.defaultvalue import DefaultValue\n"
        "from telegram import _bot, Bot, __version__\n"
        "from nono.core import _internal\n"
        "from . import _sibling\n"
        "from telegram.request import BaseRequest\n"
    )
    assert list(private_imports(source)) == ["telegram._utils.types", "telegram._utils.defaultvalue", "telegram._bot"]


def test_no_module_imports_a_private_module_of_another_package() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20, f"found only {len(files)} modules under {PACKAGE}"
    found = {
        str(path.relative_to(PACKAGE.parent)): modules
        for path in files
        if (modules := list(private_imports(path.read_text(encoding="utf-8"))))
    }
    assert found == {}
