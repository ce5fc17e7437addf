"""Faults while the real station app runs (offscreen, in its own process, from a video).

Model file deleted or overwritten, data disk full, database locked by another program,
camera unplugged and plugged back, data dir read-only at start. The app must stay up, say
what happened (status strip / notice / stderr), and keep every record it confirmed.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from app.core.history import HistoryStore
from tests.robustness import faults
from tests.robustness.gui_probe import parse_events
from tests.robustness.harness import REPO

pytestmark = pytest.mark.slow
Event = tuple[float, str, dict[str, str]]


class App:
    """The app under ``gui_probe``, its probe events collected as they arrive."""

    def __init__(self, video: Path, data_dir: Path, model: Path, *extra: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = data_dir / "settings.json"
        if not settings.exists():
            settings.write_text(json.dumps({"capture_hold_s": 0.3}), encoding="utf-8")
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "tests.robustness.gui_probe", "gui", "--camera",
               str(video), "--data-dir", str(data_dir), "--model", str(model), *extra]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=REPO)  # fmt: skip
        self.events: list[Event] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.stderr = ""

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 30.0) -> Event:
        deadline = time.monotonic() + timeout
        for event in self.events:
            if predicate(event):
                return event
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            for event in parse_events(line):
                self.events.append(event)
                if predicate(event):
                    return event
        raise AssertionError(f"event not seen (exit {self.proc.poll()}): {self.tail()}")

    def count(self, name: str) -> int:
        return sum(1 for _, n, _ in self.events if n == name)

    def saved_ids(self) -> set[int]:
        return {int(f["id"]) for _, n, f in self.events if n == "saved"}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        while not self._lines.empty():
            line = self._lines.get()
            if line:
                self.events.extend(parse_events(line))
        return self.proc.returncode

    def tail(self) -> str:
        return " | ".join(f"{n} {f}" for _, n, f in self.events[-5:])


def named(name: str, **fields: str) -> Callable[[Event], bool]:
    return lambda e: e[1] == name and all(v in e[2].get(k, "") for k, v in fields.items())


def after(app: App, name: str) -> Callable[[Event], bool]:
    """The next ``name`` event after those already seen."""
    seen = app.count(name)
    return lambda e: e[1] == name and app.count(name) > seen


def assert_kept(db: Path, confirmed: set[int]) -> None:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with HistoryStore(db) as store:
        stored = {r.id for r in store.query(limit=100_000)}
    assert confirmed <= stored, f"lost: {sorted(confirmed - stored)}"


def assert_stopped_cleanly(app: App) -> None:
    code = app.stop()
    fatal = next((ln for ln in app.stderr.splitlines() if "Fatal" in ln), "")
    assert not fatal, fatal
    assert code == 0, f"exit {code}: {app.stderr[-500:]}"


@pytest.fixture
def looped(station_video: Path) -> list[str]:
    return ["--probe-loop-minutes", "2"]


@pytest.mark.parametrize("how", ["delete", "garbage"])
def test_model_file_damaged_while_running(
    tmp_path: Path, station_video: Path, tiny_model: Path, looped: list[str], how: str
) -> None:
    model = shutil.copy(tiny_model, tmp_path / "live-model.onnx")
    app = App(station_video, tmp_path / "data", Path(model), "--probe-results", *looped)
    try:
        app.wait_for(named("first_result"))
        faults.corrupt_file(Path(model), how)
        before = app.count("result")
        app.wait_for(lambda e: e[1] == "result" and app.count("result") > before + 30)
        app.wait_for(after(app, "saved"), timeout=30)  # still recording too
        assert app.alive()
    finally:
        assert_stopped_cleanly(app)
    assert_kept(tmp_path / "data" / "history.sqlite3", app.saved_ids())


def test_disk_full_while_running(
    tmp_path: Path, station_video: Path, tiny_model: Path, looped: list[str]
) -> None:
    try:
        with faults.tmpfs(tmp_path / "mnt", "3m") as mnt:
            app = App(station_video, mnt / "data", tiny_model, *looped)
            ballast = mnt / "ballast.bin"
            try:
                app.wait_for(named("saved"))
                with ballast.open("wb") as fh:  # fill the disk to the last byte
                    try:
                        while True:
                            fh.write(b"\0" * 65536)
                    except OSError:
                        pass
                faults.count("disk full while running")
                failed = app.wait_for(named("status", kind="error"), timeout=30)
                assert "NOT saved" in failed[2]["text"], failed
                assert "full" in failed[2]["text"] or "disk" in failed[2]["text"], failed
                assert app.alive()
                ballast.unlink()
                app.wait_for(after(app, "saved"), timeout=30)  # recording resumes
            finally:
                assert_stopped_cleanly(app)
            assert_kept(mnt / "data" / "history.sqlite3", app.saved_ids())
    except faults.MountUnavailable as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")


def test_database_locked_by_another_program_while_running(
    tmp_path: Path, station_video: Path, tiny_model: Path, looped: list[str]
) -> None:
    data = tmp_path / "data"
    app = App(station_video, data, tiny_model, *looped)
    try:
        app.wait_for(named("saved"))
        with faults.database_locked(data / "history.sqlite3"):
            failed = app.wait_for(named("status", kind="error"), timeout=40)
            assert "locked" in failed[2]["text"], failed
            assert app.alive()
        app.wait_for(after(app, "saved"), timeout=30)
    finally:
        assert_stopped_cleanly(app)
    assert_kept(data / "history.sqlite3", app.saved_ids())


def test_camera_unplugged_and_back(tmp_path: Path, station_video: Path, tiny_model: Path) -> None:
    app = App(station_video, tmp_path / "data", tiny_model, "--probe-results",
              "--probe-unplug", "2,5")  # fmt: skip
    try:
        app.wait_for(named("first_result"))
        app.wait_for(named("camera", state="retrying"), timeout=20)
        faults.count("camera unplugged while running")
        gone = app.count("result")
        app.wait_for(lambda e: e[1] == "camera" and e[2].get("state") == "live"
                     and app.count("camera") > 3, timeout=30)  # fmt: skip
        app.wait_for(lambda e: e[1] == "result" and app.count("result") > gone + 20)
        assert app.alive()
        texts = [f.get("text", "") for _, n, f in app.events if n == "camera"]
        assert any("retrying" in t for t in texts), texts
    finally:
        assert_stopped_cleanly(app)


def test_read_only_data_dir_at_start_is_reported(
    tmp_path: Path, station_video: Path, tiny_model: Path
) -> None:
    try:
        with faults.tmpfs(tmp_path / "mnt", "2m") as mnt:
            (mnt / "data" / "models").mkdir(parents=True)
            (mnt / "data" / "settings.json").write_text("{}", encoding="utf-8")
            faults.remount(mnt, read_only=True)
            faults.count("data dir read-only at start")
            app = App(station_video, mnt / "data", tiny_model)
            try:
                deadline = time.monotonic() + 8
                while app.alive() and time.monotonic() < deadline:
                    time.sleep(0.1)
                # Either it exits saying why, or it waits on a message box: both say why.
            finally:
                app.stop()
            assert "Fatal" not in app.stderr
            assert "history" in app.stderr.lower() or "data directory" in app.stderr.lower(), (
                app.stderr[-500:]
            )
    except faults.MountUnavailable as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
