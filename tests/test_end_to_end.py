"""End to end, as at a station: real photos on video through the real app, then the history.

A video made from real TrashNet photos (empty background, an item held still for two seconds,
empty again, several items in a row) is played through ``waste-sorter gui --camera VIDEO``;
afterwards ``waste-sorter history --format csv`` must list exactly one record per item, each
with the right class.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.video_factory import write_station_video

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "resources" / "samples"
ITEMS = ["cardboard", "glass", "metal", "paper", "plastic", "trash"]


def _run(args: list[str], data_dir: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "QT_QPA_PLATFORM": "offscreen",
        "WASTE_SORTER_EXIT_AFTER_VIDEO": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


@pytest.mark.skipif(not (REPO / "models" / "waste.onnx").is_file(), reason="no shipped model")
def test_station_video_gives_one_record_per_item(tmp_path: Path) -> None:
    video = write_station_video(
        tmp_path / "station.avi",
        [SAMPLES / f"{name}.jpg" for name in ITEMS],
        fps=15,
        hold_s=2.0,
        empty_s=1.5,
    )
    data_dir = tmp_path / "data"

    gui = _run(["gui", "--camera", str(video), "--model", "waste"], data_dir, timeout=180)
    assert gui.returncode == 0, gui.stderr[-3000:]
    assert "Traceback" not in gui.stderr

    history = _run(["history", "--format", "csv"], data_dir, timeout=60)
    assert history.returncode == 0, history.stderr
    rows = list(csv.DictReader(io.StringIO(history.stdout)))
    assert [r["final_label"] for r in rows] == ITEMS, rows
    assert {r["model_id"] for r in rows} == {"waste"}
    assert all(r["source"] == str(video) or r["source"].endswith("station.avi") for r in rows)
