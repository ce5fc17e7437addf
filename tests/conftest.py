"""Suite-wide setup: headless Qt, and a guard that no test leaves a thread running."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Set once for the whole suite (STYLE.md §9), before any Qt import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """The read-only ``shared/`` folder beside the checkout, if this machine has one."""
    env = os.environ.get("WASTE_SORTER_SHARED")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared", REPO_ROOT / "shared"]
    for candidate in candidates:
        if (candidate / "data").is_dir() or (candidate / "pretrained").is_dir():
            return candidate
    return None


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh per-test data directory, also exported as WASTE_SORTER_DATA_DIR."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("WASTE_SORTER_DATA_DIR", str(root))
    return root


# Threads that libraries start once and keep for the life of the process.
# "Dummy-" threads are Qt-started threads Python saw once; QThread tests check isRunning() instead.
_LONG_LIVED = ("Dummy-", "pydevd", "ThreadPoolExecutor", "asyncio", "QDBus", "tf_", "grpc")


@pytest.fixture(autouse=True)
def _no_dangling_threads() -> Iterator[None]:
    """Fail a test that leaves a Python thread running (napari's dangling-thread check)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while True:
        extra = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not t.name.startswith(_LONG_LIVED)
        ]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"test left threads running: {[t.name for t in extra]}"
