"""Running the real station app (offscreen) under ``tests.robustness.gui_probe`` and reading
what it reported. Used by the live-pipeline, memory and start-up benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import REPO

PROBE = "tests.robustness.gui_probe"
SETTINGS = {"capture_hold_s": 0.3, "store_thumbnails": True}


def two_cores() -> set[int] | None:
    """The first two CPUs this process may use (the target machine has two cores)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    return set(cpus[:2])


def station_video(folder: Path, *, fps: float = 30.0, hold_s: float = 1.2,
                  empty_s: float = 0.8) -> Path:  # fmt: skip
    """Real TrashNet photos held in front of an empty backdrop (tests/video_factory)."""
    from tests.video_factory import write_station_video

    photos = sorted((REPO / "resources" / "samples").glob("*.jpg"))
    out = folder / f"station-{fps:g}fps.avi"
    if not out.is_file():
        write_station_video(out, photos, fps=fps, hold_s=hold_s, empty_s=empty_s)
    return out


def video_frames(path: Path) -> tuple[int, float]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()


@dataclass
class ProbeRun:
    """One app run: its probe events (time, name, fields), exit status and stderr."""

    spawned_at: float
    events: list[tuple[float, str, dict[str, str]]]
    returncode: int | None
    stderr: str
    wall_s: float
    data_dir: Path
    crashed: str = ""  # the fatal error line when the process died abnormally
    extra: dict[str, object] = field(default_factory=dict)

    def first(self, name: str) -> tuple[float, dict[str, str]] | None:
        return next(((t, f) for t, n, f in self.events if n == name), None)

    def all(self, name: str) -> list[tuple[float, dict[str, str]]]:
        return [(t, f) for t, n, f in self.events if n == name]


def run_app(
    python: str,
    *,
    camera: Path,
    model: Path,
    extra_args: list[str] | None = None,
    timeout_s: float = 600.0,
    stop_after: str | None = None,
    data_dir: Path | None = None,
    pin_two_cores: bool = True,
) -> ProbeRun:
    """Start the app on ``camera`` (a video file) and wait for it to end by itself
    (``WASTE_SORTER_EXIT_AFTER_VIDEO``), or SIGTERM it once event ``stop_after`` shows up."""
    from tests.robustness.gui_probe import parse_events

    folder = data_dir or Path(tempfile.mkdtemp(prefix="bench-app-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps(SETTINGS), encoding="utf-8")
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(REPO),
        "WASTE_SORTER_EXIT_AFTER_VIDEO": "1",
    }
    cores = two_cores() if pin_two_cores else None
    cmd = [python, "-m", PROBE, "gui", "--camera", str(camera), "--data-dir", str(folder),
           "--model", str(model), *(extra_args or [])]  # fmt: skip
    spawned = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = spawned + timeout_s
    stopped = False
    for line in proc.stdout:
        lines.append(line)
        if stop_after and not stopped and f" {stop_after}" in line:
            proc.send_signal(signal.SIGTERM)
            stopped = True
        if time.monotonic() > deadline:
            proc.kill()
            break
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    crashed = next((ln for ln in err.splitlines() if "Fatal Python error" in ln), "")
    if proc.returncode and proc.returncode < 0 and not crashed:
        crashed = f"killed by signal {-proc.returncode}"
    return ProbeRun(
        spawned_at=spawned,
        events=parse_events("".join(lines)),
        returncode=proc.returncode,
        stderr=err,
        wall_s=time.monotonic() - spawned,
        data_dir=folder,
        crashed=crashed,
    )
