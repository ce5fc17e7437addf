"""Fixtures for the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.synthetic import make_colour_dataset

try:
    import tqdm
except ImportError:  # app-only install: the training tests skip themselves
    pass
else:
    # tqdm's stall monitor is a background thread that outlives the bar; the suite's
    # dangling-thread guard (tests/conftest.py) would rightly flag it.
    tqdm.tqdm.monitor_interval = 0


@pytest.fixture(scope="session")
def colour_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("colours")
    bad = make_colour_dataset(root)
    return root, bad


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache so tests never touch ~/.cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("WASTE_SORTER_CACHE", str(path))
    return path
