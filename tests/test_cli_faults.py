"""``classify`` when the model, the folders or the file names misbehave (issue 15).

Real processes, real tiny ONNX models and real files: each case must give one line per image
(valid JSON with ``--json``), no traceback, and exit 2 when anything failed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.factories import (
    BLUE,
    GREEN,
    RED,
    make_batch1_model,
    make_onnx_model,
    make_partial_nan_model,
    make_too_deep_folder,
    write_image,
)
from tests.test_cli import LABELS, REPO, parse_lines, run_cli


def colour_images(folder: Path, colours: dict[str, tuple[int, int, int]]) -> dict[str, Path]:
    return {n: write_image(folder / f"{n}.png", "png", color=c) for n, c in colours.items()}


def test_nan_scores_for_some_images_are_per_image_errors(tmp_path: Path, data_dir: Path) -> None:
    model = make_partial_nan_model(tmp_path / "partnan.onnx", LABELS)
    images = colour_images(tmp_path / "in", {"r1": RED, "g": GREEN, "r2": RED, "b": BLUE})
    result = run_cli("classify", "--json", "--model", model, tmp_path / "in", data_dir=data_dir)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    rows = parse_lines(result.stdout)
    assert set(rows) == {str(p) for p in images.values()}
    for name in ("r1", "r2"):
        row = rows[str(images[name])]
        assert (row["label"], row["error"]) == ("red", None)
    for name in ("g", "b"):
        row = rows[str(images[name])]
        assert row["label"] is None
        assert row["confidence"] is None
        assert "NaN or infinite" in str(row["error"])
    assert "failed on every image" not in result.stderr

    text = run_cli("classify", "--model", model, images["g"], images["r1"], data_dir=data_dir)
    assert text.returncode == 2
    assert "Traceback" not in text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"{images['g']}\tERROR: ")
    assert "NaN" in lines[0]
    assert lines[1].startswith(f"{images['r1']}\tred\t")


def test_batch1_only_model_classifies_every_image(tmp_path: Path, data_dir: Path) -> None:
    model = make_batch1_model(tmp_path / "b1.onnx", LABELS)
    images = colour_images(tmp_path / "in", {"a": RED, "b": GREEN, "c": BLUE, "d": RED})
    result = run_cli("classify", "--json", "--model", model, tmp_path / "in", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "[E:onnxruntime" not in result.stderr
    rows = parse_lines(result.stdout)
    got = {name: rows[str(p)]["label"] for name, p in images.items()}
    assert got == {"a": "red", "b": "green", "c": "blue", "d": "red"}


def test_model_failing_on_every_image_says_so_in_one_line(tmp_path: Path, data_dir: Path) -> None:
    weights = np.full((3, 3), np.nan, np.float32)
    model = make_onnx_model(tmp_path / "nan.onnx", LABELS, weights=weights)
    images = colour_images(tmp_path / "in", {"a": RED, "b": GREEN})
    result = run_cli("classify", "--json", "--model", model, tmp_path / "in", data_dir=data_dir)
    assert result.returncode == 2
    rows = parse_lines(result.stdout)
    assert all(rows[str(p)]["error"] and rows[str(p)]["label"] is None for p in images.values())
    errors = [line for line in result.stderr.splitlines() if line.startswith("waste-sorter:")]
    assert len(errors) == 1, result.stderr
    assert "failed on every image" in errors[0]
    assert "nan.onnx" in errors[0]
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- folders


def test_unusable_subfolders_are_reported_and_exit_2(tmp_path: Path, data_dir: Path) -> None:
    model = make_onnx_model(tmp_path / "tiny.onnx", LABELS)
    root = tmp_path / "in"
    good = write_image(root / "a.png", "png", color=RED)
    (root / "old shots").symlink_to(tmp_path / "moved away")  # a folder that is gone
    deep = make_too_deep_folder(root)  # unreadable even for root: ENAMETOOLONG
    result = run_cli("classify", "--json", "--model", model, root, data_dir=data_dir)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    rows = parse_lines(result.stdout)
    assert rows[str(good)]["label"] == "red"
    assert "broken symbolic link" in str(rows[str(root / "old shots")]["error"])
    deep_rows = [r for p, r in rows.items() if p.startswith(str(deep))]
    assert len(deep_rows) == 1
    assert deep_rows[0]["error"] == "cannot read folder (file name too long)"
    assert deep_rows[0]["label"] is None

    text = run_cli("classify", "--model", model, root, data_dir=data_dir)
    assert text.returncode == 2
    assert f"{root / 'old shots'}\tERROR: broken symbolic link" in text.stdout
    assert "ERROR: cannot read folder (file name too long)" in text.stdout


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_permission_denied_subfolder_is_reported(tmp_path: Path, data_dir: Path) -> None:
    model = make_onnx_model(tmp_path / "tiny.onnx", LABELS)
    root = tmp_path / "in"
    good = write_image(root / "a.png", "png", color=RED)
    write_image(root / "locked" / "b.png", "png", color=RED)
    (root / "locked").chmod(0)
    try:
        result = run_cli("classify", "--json", "--model", model, root, data_dir=data_dir)
    finally:
        (root / "locked").chmod(0o755)
    assert result.returncode == 2
    rows = parse_lines(result.stdout)
    assert rows[str(good)]["label"] == "red"
    assert rows[str(root / "locked")]["error"] == "cannot read folder (permission denied)"


# --------------------------------------------------------------------------- file names

RAW_NAME = b"caf\xe9 \xff.png"  # Latin-1 bytes: not UTF-8
SHOWN_NAME = "caf\\xe9 \\xff.png"  # how every output spells it


def write_raw_name(folder: Path) -> Path:
    """A real PNG whose file name is the bytes ``RAW_NAME`` (created through ``os.open``)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = write_image(folder.parent / "tmp.png", "png", color=RED).read_bytes()
    fd = os.open(os.fsencode(folder) + b"/" + RAW_NAME, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return folder / os.fsdecode(RAW_NAME)


def run_strict(*args: str | Path, data_dir: Path) -> subprocess.CompletedProcess[bytes]:
    """The CLI with a strict UTF-8 stdout (as under en_US.UTF-8); output kept as bytes."""
    env = {
        **os.environ,
        "WASTE_SORTER_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(REPO),
        "PYTHONIOENCODING": "utf-8:strict",
    }
    cmd = [sys.executable, "-m", "app", *(os.fsencode(a) for a in args)]
    return subprocess.run(cmd, capture_output=True, env=env, cwd=REPO, timeout=120, check=False)


def test_non_utf8_file_names_give_valid_output_and_history(tmp_path: Path, data_dir: Path) -> None:
    model = make_onnx_model(tmp_path / "tiny.onnx", LABELS)
    folder = tmp_path / "in"
    raw = write_raw_name(folder)
    shown = f"{folder}/{SHOWN_NAME}"
    for target in (folder, raw):  # found in a folder, and named on the command line
        result = run_strict("classify", "--json", "--model", model, target, data_dir=data_dir)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        lines = result.stdout.decode("utf-8").splitlines()  # strict: valid UTF-8
        assert [json.loads(line)["path"] for line in lines] == [shown]
        assert json.loads(lines[0])["label"] == "red"

    text = run_strict("classify", "--record", "--model", model, folder, data_dir=data_dir)
    assert text.returncode == 0, text.stderr.decode(errors="replace")
    assert text.stdout.decode("utf-8").startswith(f"{shown}\tred\t")

    history = run_strict("history", "--format", "csv", data_dir=data_dir)
    assert history.returncode == 0, history.stderr.decode(errors="replace")
    rows = list(csv.DictReader(io.StringIO(history.stdout.decode("utf-8"))))
    assert [r["source"] for r in rows] == [f"{folder.resolve()}/{SHOWN_NAME}"]
    table = run_strict("history", data_dir=data_dir)
    assert table.returncode == 0
    assert SHOWN_NAME in table.stdout.decode("utf-8")


def test_non_utf8_name_of_a_failing_file_is_a_valid_error_line(
    tmp_path: Path, data_dir: Path
) -> None:
    model = make_partial_nan_model(tmp_path / "partnan.onnx", LABELS)
    folder = tmp_path / "in"
    raw = write_raw_name(folder)
    Path(raw).write_bytes(b"not an image")
    result = run_strict("classify", "--json", "--model", model, folder, data_dir=data_dir)
    assert result.returncode == 2
    row = json.loads(result.stdout.decode("utf-8"))
    assert row["path"] == f"{folder}/{SHOWN_NAME}"
    assert row["error"]
    assert row["label"] is None
