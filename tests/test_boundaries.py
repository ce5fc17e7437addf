"""Architecture rules, checked on the source (STYLE.md §1).

- ``app/core`` never imports PySide6, tensorflow/keras or ``app.qt``;
- nothing under ``app/`` imports tensorflow/keras (it would end up in the installer);
- ``training/`` never imports ``app.qt`` or PySide6.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, including imports inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in imported_modules(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(REPO)} imports {name}")
    return found


RULES = [
    ("app/core", ("PySide6", "shiboken6", "tensorflow", "keras", "tf2onnx", "app.qt")),
    ("app", ("tensorflow", "keras", "tf2onnx", "matplotlib", "sklearn")),
    ("training", ("app.qt", "PySide6")),
]


@pytest.mark.parametrize(("package", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_layer_boundaries(package: str, forbidden: tuple[str, ...]) -> None:
    assert (REPO / package).is_dir()
    assert violations(package, forbidden) == []


def test_checker_catches_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from PySide6 import QtCore\n    import tensorflow as tf\n")
    assert {"PySide6", "tensorflow"} <= imported_modules(bad)


def test_only_the_taught_model_writer_imports_onnx() -> None:
    """The app runs models with onnxruntime; the ``onnx`` package only writes the models a
    station teaches (app.core.teach_graph), so nothing else may come to depend on it."""
    users = {
        str(path.relative_to(REPO))
        for path in sorted((REPO / "app").rglob("*.py"))
        if any(n == "onnx" or n.startswith("onnx.") for n in imported_modules(path))
    }
    assert users == {"app/core/teach_graph.py"}
