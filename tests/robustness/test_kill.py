"""SIGKILL the station app while it records items from a video, again and again: every record
it confirmed is in the history afterwards and SQLite's integrity check passes.

The app is started as ``python -m app gui --camera VIDEO`` would be, under
``tests.robustness.gui_probe``, which prints ``saved id=N`` when the app's own
``LiveSession.record_saved`` fires (only after ``HistoryStore.add`` returned).
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from app.core.history import HistoryStore
from tests.robustness import faults
from tests.robustness.harness import REPO

KILLS = 8
SETTINGS = {"capture_hold_s": 0.3}


def start_app(video: Path, data_dir: Path, model: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(REPO),
        "WASTE_SORTER_EXIT_AFTER_VIDEO": "1",
    }
    cmd = [sys.executable, "-m", "tests.robustness.gui_probe", "gui", "--camera", str(video),
           "--data-dir", str(data_dir), "--model", str(model)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=REPO)  # fmt: skip


def reader(stream: object, sink: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line)
    sink.put(None)


def check_history(db: Path, confirmed: set[int]) -> int:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with HistoryStore(db) as store:
        assert store.recovered_from is None, "the history was thrown away as damaged"
        stored = {r.id for r in store.query(limit=1_000_000)}
    missing = confirmed - stored
    assert not missing, f"confirmed records lost after SIGKILL: {sorted(missing)}"
    return len(stored)


@pytest.mark.slow
def test_sigkill_while_recording_loses_nothing_confirmed(
    tmp_path: Path, station_video: Path, tiny_model: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "settings.json").write_text(json.dumps(SETTINGS), encoding="utf-8")
    db = data_dir / "history.sqlite3"
    rng = random.Random(11)
    confirmed: set[int] = set()
    crashes: list[str] = []
    kills = 0
    for attempt in range(KILLS):
        proc = start_app(station_video, data_dir, tiny_model)
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=reader, args=(proc.stdout, lines), daemon=True).start()
        wanted = rng.randint(1, 3)  # confirmed records in this run before the kill
        extra_delay = rng.uniform(0.0, 0.6)  # lands anywhere: mid-write, mid-frame, idle
        saved_now = 0
        deadline = time.monotonic() + 60
        kill_at: float | None = None
        ended = False
        while time.monotonic() < deadline:
            timeout = 0.05 if kill_at is not None else 1.0
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                line = ""
            if line is None:
                ended = True
                break
            if " saved id=" in line:
                confirmed.add(int(line.rsplit("=", 1)[1]))
                saved_now += 1
                if saved_now >= wanted and kill_at is None:
                    kill_at = time.monotonic() + extra_delay
            if kill_at is not None and time.monotonic() >= kill_at:
                break
        if not ended and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
            faults.count("SIGKILL while recording")
        _, err = proc.communicate(timeout=30)
        while True:  # lines printed just before the kill still count
            try:
                line = lines.get_nowait()
            except queue.Empty:
                break
            if line and " saved id=" in line:
                confirmed.add(int(line.rsplit("=", 1)[1]))
        if proc.returncode not in (-signal.SIGKILL, 0):
            crashes.append(
                f"run {attempt}: exit {proc.returncode}: "
                + next((ln for ln in err.splitlines() if "Fatal" in ln), err.strip()[-300:])
            )
        check_history(db, confirmed)  # after every death, whatever caused it
    faults.KILL_LOG.append({"kills": kills, "confirmed": len(confirmed), "crashes": crashes})
    assert kills >= KILLS // 2, f"only {kills} kills landed; crashes: {crashes}"
    assert len(confirmed) >= KILLS, "too few records confirmed to prove anything"
    assert not crashes, "the app died on its own:\n" + "\n".join(crashes)
