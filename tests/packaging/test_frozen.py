"""The frozen app (dist/waste-sorter) behaves like the source tree and keeps to its folder.

Run by ``make package-test`` after ``make package``; skipped when nothing was built.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.packaging.helpers import (
    APP_DIR,
    REPO,
    SAMPLES,
    csv_rows,
    frozen_env,
    json_rows,
    project_version,
    run_frozen,
    run_source,
    tree_snapshot,
)

pytestmark = pytest.mark.slow


def model_id(path: Path) -> str:
    """The id the registry gives a shipped model (its metadata id, read with the app's code)."""
    from app.core.classifier import Classifier

    return Classifier(path).info.id


def test_bundle_passes_the_build_checks(frozen_exe: Path) -> None:
    """packaging/bundle_check.py run with the packaging venv (it can read the frozen modules)."""
    pkg_python = (
        REPO / ".venv-pkg" / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    )
    python = pkg_python if pkg_python.is_file() else Path(sys.executable)
    result = subprocess.run(
        [
            str(python),
            str(REPO / "packaging" / "bundle_check.py"),
            str(APP_DIR),
            "--max-mib",
            "450",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["problems"] == []
    modules = set(report["modules"])
    if python == pkg_python:  # the dev venv has no PyInstaller to list them
        assert {"app", "entry", "onnxruntime", "PySide6", "numpy", "platformdirs"} <= modules
        assert "onnx" in modules  # teaching writes models in the frozen app
    for name in ("tensorflow", "keras", "tf2onnx", "matplotlib", "sklearn", "training"):
        assert name not in modules
    # Qt: the modules the app uses are there, the heavy ones it does not use are not.
    internal = APP_DIR / "_internal"
    names = {p.name for p in internal.rglob("*")}
    for wanted in ("QtCore", "QtGui", "QtWidgets", "QtCharts"):
        assert any(n.startswith(wanted + ".") for n in names), wanted
    for unwanted in ("Qt6Quick", "Qt6Qml", "Qt6WebEngineCore", "Qt6Pdf", "Qt6Multimedia", "Qt63D"):
        assert not any(unwanted in n for n in names), unwanted
    for forbidden in ("tensorflow", "keras", "tf2onnx", "matplotlib", "sklearn"):
        assert forbidden not in names
    if sys.platform.startswith("linux"):
        platforms = {p.name for p in internal.glob("PySide6/Qt/plugins/platforms/*")}
        assert {"libqoffscreen.so", "libqxcb.so", "libqwayland.so"} <= platforms


def test_version_and_shipped_files(frozen_exe: Path, tmp_path: Path) -> None:
    result = run_frozen(frozen_exe, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["waste-sorter", project_version()]
    internal = APP_DIR / "_internal"
    assert (internal / "resources" / "bins" / "default.json").is_file()
    for sample in SAMPLES:
        assert (internal / "resources" / "samples" / sample.name).is_file()
    shipped_models = sorted(p.name for p in (REPO / "models").glob("*.onnx"))
    for name in shipped_models:  # built from models/ as it is now (else: rebuild)
        bundled = internal / "models" / name
        assert bundled.is_file(), f"{name} is in models/ but not in the app: rebuild"
        digest = hashlib.sha256((REPO / "models" / name).read_bytes()).hexdigest()
        assert hashlib.sha256(bundled.read_bytes()).hexdigest() == digest, f"{name} is stale"
    # Nothing else: the model cards stay in the repository.
    assert sorted(p.name for p in (internal / "models").iterdir()) == shipped_models


def test_classify_matches_source_tree(
    frozen_exe: Path, bundled_models: list[Path], tmp_path: Path
) -> None:
    assert SAMPLES, "resources/samples/*.jpg missing"
    for model in bundled_models:
        mid = model_id(model)
        frozen = run_frozen(
            frozen_exe,
            "classify",
            "--json",
            "--model",
            mid,
            "--data-dir",
            tmp_path / "frozen-data",
            *SAMPLES,
        )
        source = run_source(
            "classify", "--json", "--model", model, "--data-dir", tmp_path / "src-data", *SAMPLES
        )
        assert frozen.returncode == 0, frozen.stderr
        assert source.returncode == 0, source.stderr
        got = {Path(str(r["path"])).name: r for r in json_rows(frozen.stdout)}
        want = {Path(str(r["path"])).name: r for r in json_rows(source.stdout)}
        assert sorted(got) == sorted(s.name for s in SAMPLES)
        assert sorted(want) == sorted(got)
        for name, row in want.items():
            assert got[name]["label"] == row["label"], (mid, name)
            assert got[name]["bin"] == row["bin"], (mid, name)
            assert got[name]["confidence"] == pytest.approx(row["confidence"], abs=1e-5)
            got_top = [t["label"] for t in got[name]["top_k"]]
            want_top = [t["label"] for t in row["top_k"]]
            assert got_top == want_top


def test_models_and_default_data_dir_outside_install_folder(
    frozen_exe: Path, bundled_models: list[Path], tmp_path: Path
) -> None:
    """Without --data-dir the frozen app writes to the per-user data directory only."""
    env = frozen_env(tmp_path)
    before = tree_snapshot(APP_DIR)
    listed = run_frozen(frozen_exe, "models", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {Path(m).name for m in _model_paths(listed.stdout)} >= {m.name for m in bundled_models}
    recorded = run_frozen(frozen_exe, "classify", "--record", *SAMPLES, env=env)
    assert recorded.returncode == 0, recorded.stderr
    history = run_frozen(frozen_exe, "history", "--format", "csv", env=env)
    assert history.returncode == 0, history.stderr
    assert len(csv_rows(history.stdout)) == len(SAMPLES)
    stats = run_frozen(frozen_exe, "stats", "--format", "json", env=env)
    assert stats.returncode == 0, stats.stderr
    assert tree_snapshot(APP_DIR) == before, "the app wrote into its install folder"
    data_dirs = list(Path(env["HOME"]).rglob("history.sqlite3"))
    assert len(data_dirs) == 1
    if sys.platform.startswith("linux"):
        assert data_dirs[0].parent == Path(env["XDG_DATA_HOME"]) / "waste-sorter"


def _model_paths(stdout: str) -> list[str]:
    return [str(m["path"]) for m in json.loads(stdout) if m["error"] is None]


def _history_count(exe: Path, data: Path) -> int:
    result = run_frozen(exe, "history", "--format", "csv", "--data-dir", data, timeout=60)
    return len(csv_rows(result.stdout)) if result.returncode == 0 else -1


@pytest.fixture(scope="module")
def station_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.video_factory import write_station_video

    out = tmp_path_factory.mktemp("video") / "station.avi"
    return write_station_video(out, SAMPLES[:3], fps=15.0, hold_s=2.0, empty_s=1.5)


def test_gui_offscreen_records_items_and_exits_cleanly_on_sigterm(
    frozen_exe: Path, bundled_models: list[Path], station_video: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {**frozen_env(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    before = tree_snapshot(APP_DIR)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    app = subprocess.Popen(
        [str(frozen_exe), "gui", "--camera", str(station_video), "--data-dir", str(data)],
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        recorded = 0
        while time.monotonic() < deadline and app.poll() is None:
            recorded = _history_count(frozen_exe, data)
            if recorded >= 1:
                break
            time.sleep(1.0)
        if app.poll() is not None:
            pytest.fail(f"the app ended early ({app.returncode}): {app.communicate()[1]}")
        assert recorded >= 1, "no item recorded from the station video within 90 s"
        app.send_signal(signal.SIGTERM)
        _, err = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
            app.communicate()
    # application.py: SIGTERM closes the window like the operator would, so the exit is 0.
    assert app.returncode == 0, err
    assert "Traceback" not in err, err
    assert "Fatal Python error" not in err, err
    rows = csv_rows(run_frozen(frozen_exe, "history", "--format", "csv", "--data-dir", data).stdout)
    assert len(rows) >= recorded
    assert all(r["source"] == f"video:{station_video.name}" for r in rows), rows
    assert tree_snapshot(APP_DIR) == before, "the GUI wrote into its install folder"
    # The source tree reads what the frozen app wrote: same schema, nothing half-written.
    source = run_source("history", "--format", "csv", "--data-dir", data)
    assert source.returncode == 0, source.stderr
    assert len(csv_rows(source.stdout)) == len(rows)


def test_the_frozen_app_teaches_promotes_and_rolls_back(frozen_exe: Path, tmp_path: Path) -> None:
    """Teaching needs no TensorFlow and no source tree: the installed program fits a station
    model on the shipped waste model, the model classifies, promotion and rollback work."""
    from tests.factories import write_examples, write_image

    examples = write_examples(tmp_path / "examples", per_class=6, size=(64, 64))
    data = tmp_path / "data"
    env = frozen_env(tmp_path)
    taught = run_frozen(frozen_exe, "teach", "--name", "site", "--data-dir", data, "--json",
                        "--promote", tmp_path / "examples", env=env, timeout=300)
    assert taught.returncode == 0, taught.stdout + taught.stderr
    summary = json.loads(taught.stdout)
    assert summary["model"] == "site-v1"
    assert sorted(summary["classes"]) == sorted(examples)
    assert (data / "models" / "site-v1.onnx").is_file()
    yellow = write_image(tmp_path / "probe.png", "png", size=(64, 64), color=(230, 220, 20))
    shown = run_frozen(frozen_exe, "classify", "--json", "--data-dir", data, yellow, env=env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    row = json_rows(shown.stdout)[0]
    assert row["label"] == "yellow", row
    back = run_frozen(frozen_exe, "teach", "--rollback", "--data-dir", data, env=env)
    assert back.returncode == 0, back.stdout + back.stderr
    assert "'waste' again" in back.stdout
