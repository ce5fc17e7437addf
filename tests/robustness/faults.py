"""Fault injection helpers: a tiny tmpfs (full or read-only disk), a database lock held by
another process, model files damaged under a running app, a camera that comes and goes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tests.robustness.harness import REPO

FAULT_COUNTS: dict[str, int] = {}  # fault kind -> times injected (read by the report)
KILL_LOG: list[dict[str, object]] = []  # one entry per kill-loop test run


def count(kind: str) -> None:
    FAULT_COUNTS[kind] = FAULT_COUNTS.get(kind, 0) + 1


class MountUnavailable(RuntimeError):
    """tmpfs cannot be mounted here (not root, no CAP_SYS_ADMIN, not Linux)."""


@contextmanager
def tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    """A fresh tmpfs of ``size`` mounted at ``path`` for the duration."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise MountUnavailable(result.stderr.strip() or f"mount exited {result.returncode}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, *, read_only: bool) -> None:
    mode = "ro" if read_only else "rw"
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


_LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("COMMIT")
conn.close()
print("released", flush=True)
"""


@contextmanager
def database_locked(db: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holds an exclusive write lock on ``db`` until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    try:
        line = proc.stdout.readline().strip()
        if line != "locked":
            raise RuntimeError(f"lock holder did not start: {line!r}")
        count("database locked by another process")
        yield proc
    finally:
        if proc.poll() is None:
            try:
                proc.stdin.write("\n")
                proc.stdin.flush()
            except BrokenPipeError:  # it was released (and exited) a moment ago
                pass
            proc.wait(30)


def corrupt_file(path: Path, how: str) -> None:
    """Damage a model file in place: ``garbage``, ``truncate`` or ``delete``."""
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        path.write_bytes(np.random.default_rng(3).bytes(max(64, path.stat().st_size)))
    else:
        raise ValueError(how)
    os.sync()
    count(f"model file {how}d" if how != "garbage" else "model file overwritten")


class FlakyCamera:
    """A FrameSource that plays frames, is unplugged for a while, then comes back.

    Timeline (per instance, shared through ``state``): ``live_frames`` good frames, then reads
    fail (``None``) - the worker gives up on it - then ``open()`` refuses ``refusals`` times,
    then it works again for good.
    """

    description = "Flaky camera"
    is_file = False

    def __init__(self, state: dict[str, int], *, live_frames: int = 20, refusals: int = 2) -> None:
        self.state = state
        self.live_frames = live_frames
        self.refusals = refusals
        self._frame = np.full((48, 64, 3), 128, np.uint8)

    @property
    def fps(self) -> float | None:
        return 30.0

    @property
    def resolution(self) -> tuple[int, int] | None:
        return (64, 48)

    def open(self) -> None:
        from app.qt.camera_worker import CameraError

        self.state["opens"] = self.state.get("opens", 0) + 1
        if self.state.get("unplugged") and self.state.get("refused", 0) < self.refusals:
            self.state["refused"] = self.state.get("refused", 0) + 1
            raise CameraError("Cannot open camera Flaky camera")

    def read(self) -> np.ndarray | None:
        time.sleep(1 / 30)
        delivered = self.state.get("delivered", 0)
        if delivered >= self.live_frames and not self.state.get("unplugged"):
            self.state["unplugged"] = 1
            count("camera unplugged")
        if self.state.get("unplugged") and self.state.get("refused", 0) < self.refusals:
            return None  # unplugged: reads fail until the worker gives up and re-opens
        self.state["delivered"] = delivered + 1
        return self._frame

    def close(self) -> None:
        pass


def repo_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}
