"""Helpers for the packaging tests: where the built app is and how to run it and the source."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DIST = Path(os.environ.get("WASTE_SORTER_DIST", REPO / "dist"))
APP_DIR = DIST / "waste-sorter"
EXE = APP_DIR / ("waste-sorter.exe" if sys.platform == "win32" else "waste-sorter")
SAMPLES = sorted((REPO / "resources" / "samples").glob("*.jpg"))


def project_version() -> str:
    with (REPO / "pyproject.toml").open("rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def run_frozen(
    exe: Path, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the frozen program as an operator's shell would: no Python variables around it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [str(exe), *map(str, args)],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=timeout,
        check=False,
    )


def run_source(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m app`` from the working tree with this test's interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "app", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime in ns) of every file and link under ``root``."""
    snap: dict[str, tuple[int, int]] = {}
    for path in root.rglob("*"):
        if path.is_symlink() or path.is_file():
            st = path.lstat()
            snap[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
        elif path.is_dir():
            snap[path.relative_to(root).as_posix() + "/"] = (0, 0)
    return snap


def frozen_env(tmp: Path) -> dict[str, str]:
    """A home of its own, so nothing the test does touches the real user's data."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "LANG": "C.UTF-8",
    }


def json_rows(stdout: str) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def csv_rows(stdout: str) -> list[dict[str, str]]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(stdout)))


__all__: Sequence[str] = (
    "APP_DIR",
    "DIST",
    "EXE",
    "REPO",
    "SAMPLES",
    "csv_rows",
    "frozen_env",
    "json_rows",
    "project_version",
    "run_frozen",
    "run_source",
    "tree_snapshot",
)
