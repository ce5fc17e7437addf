"""Fixtures for checking the built app.

These tests look at what ``make package`` left in ``dist/``; they build nothing themselves
(``make package-test`` builds first) and skip with the reason when there is nothing to test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.packaging.helpers import APP_DIR, EXE, REPO


@pytest.fixture(scope="session")
def frozen_exe() -> Path:
    if not EXE.is_file():
        pytest.skip(f"no frozen app at {EXE}: run `make package` (or `make package-test`) first")
    return EXE


@pytest.fixture(scope="session")
def bundled_models(frozen_exe: Path) -> list[Path]:
    """The .onnx files inside the bundle; skips when the build shipped none."""
    models = sorted((APP_DIR / "_internal" / "models").glob("*.onnx"))
    if not models:
        pytest.skip(
            "the app was built with an empty models/ folder: nothing to classify with "
            "(train and export the models, or build with PACKAGE_ARGS='--models-dir DIR')"
        )
    return models


@pytest.fixture
def packaging_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make packaging/*.py importable (it is a folder of scripts, not a package: the name
    would shadow the ``packaging`` library)."""
    monkeypatch.syspath_prepend(str(REPO / "packaging"))
