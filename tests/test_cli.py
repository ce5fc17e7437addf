"""The command-line contract, exercised as a user would: real processes, real files."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import KIND_SUFFIX, MALFORMED_KINDS, VALID_KINDS, make_onnx_model, write_image

REPO = Path(__file__).resolve().parents[1]
LABELS = ["red", "green", "blue"]
JSON_KEYS = {"path", "label", "confidence", "top_k", "bin", "error", "unsure", "novelty"}


def run_cli(
    *args: str | Path, data_dir: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASTE_SORTER_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "app", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return make_onnx_model(tmp_path / "tiny.onnx", LABELS, model_id="tiny")


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    folder = tmp_path / "images with spaces ü"
    folder.mkdir()
    good = [write_image(folder / f"good {k}{KIND_SUFFIX[k]}", k) for k in VALID_KINDS]
    bad = [write_image(folder / f"bad {k}{KIND_SUFFIX[k]}", k) for k in MALFORMED_KINDS]
    return good, bad


def parse_lines(stdout: str) -> dict[str, dict[str, object]]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    by_path = {str(r["path"]): r for r in rows}
    assert len(by_path) == len(rows), "a file was reported twice"
    return by_path


def test_malformed_corpus_one_line_per_file(model: Path, corpus, data_dir: Path) -> None:
    good, bad = corpus
    result = run_cli("classify", "--json", "--model", model, good[0].parent, data_dir=data_dir)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    rows = parse_lines(result.stdout)
    assert set(rows) == {str(p) for p in good + bad}
    for path in good:
        row = rows[str(path)]
        assert row["error"] is None, row
        assert row["label"] in LABELS
        assert 0.0 <= float(row["confidence"]) <= 1.0  # type: ignore[arg-type]
        assert next(t["label"] for t in row["top_k"]) == row["label"]  # type: ignore[index,union-attr]
        assert row["bin"]
        assert set(row) == JSON_KEYS
        assert row["unsure"] is True, "the test labels have no bin"
        assert row["novelty"] is None, "a schema-1 model has no novelty detector"
    for path in bad:
        row = rows[str(path)]
        assert set(row) == JSON_KEYS
        assert row["unsure"] is None
        assert row["novelty"] is None
        assert isinstance(row["error"], str)
        assert row["error"]
        assert "\n" not in row["error"]
        assert row["label"] is None
        assert row["confidence"] is None
        assert row["top_k"] is None
        assert row["bin"] is None


def test_all_good_exits_zero_and_labels_colours(
    model: Path, tmp_path: Path, data_dir: Path
) -> None:
    from PIL import Image

    paths = []
    for name, colour in [("r.png", (250, 0, 0)), ("g.png", (0, 250, 0)), ("b.png", (0, 0, 250))]:
        Image.new("RGB", (40, 30), colour).save(tmp_path / name)
        paths.append(tmp_path / name)
    result = run_cli(
        "classify", "--json", "--top-k", "2", "--model", model, *paths, data_dir=data_dir
    )
    assert result.returncode == 0, result.stderr
    rows = parse_lines(result.stdout)
    assert [rows[str(p)]["label"] for p in paths] == LABELS
    assert all(len(r["top_k"]) == 2 for r in rows.values())  # type: ignore[arg-type]


def test_classify_uses_the_bin_preset_and_reports_a_broken_override(
    model: Path, tmp_path: Path, data_dir: Path
) -> None:
    from PIL import Image

    red = tmp_path / "r.png"
    Image.new("RGB", (40, 30), (250, 0, 0)).save(red)
    (data_dir / "settings.json").write_text(json.dumps({"bin_preset": "vietnam"}))
    (data_dir / "bins.json").write_text(json.dumps({"classes": {"red": "organic"}}))
    result = run_cli("classify", "--json", "--model", model, red, data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert parse_lines(result.stdout)[str(red)]["bin"] == "organic"
    assert "warning" not in result.stderr

    # "glass" is a bin of the generic preset only: the override is refused, and said so.
    (data_dir / "bins.json").write_text(json.dumps({"classes": {"red": "glass"}}))
    result = run_cli("classify", "--json", "--model", model, red, data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert parse_lines(result.stdout)[str(red)]["bin"] == "unsure"
    assert "warning: bins.json: classes.red refers to unknown bin 'glass'" in result.stderr


def _solid(path: Path, colour: tuple[int, int, int]) -> Path:
    from PIL import Image

    Image.new("RGB", (40, 30), colour).save(path)
    return path


# The tiny model's classes in a bin of the generic preset, so that only thresholds and
# novelty make an answer unsure.
COLOUR_BINS = {"classes": {"red": "glass", "green": "glass", "blue": "glass"}}


def test_an_item_the_model_flags_novel_is_unsure_even_when_confident(
    tmp_path: Path, data_dir: Path
) -> None:
    # novelty = the image's mean pixel value: dark red (66.7) is familiar, bright red (83.3)
    # is not; both are "red" with confidence above 0.9999.
    model = make_onnx_model(tmp_path / "novel.onnx", LABELS, novelty_threshold=75.0)
    (data_dir / "bins.json").write_text(json.dumps(COLOUR_BINS))
    familiar = _solid(tmp_path / "familiar.png", (200, 0, 0))
    strange = _solid(tmp_path / "strange.png", (250, 0, 0))
    result = run_cli("classify", "--json", "--model", model, familiar, strange, data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    rows = parse_lines(result.stdout)
    ok, novel = rows[str(familiar)], rows[str(strange)]
    assert (ok["label"], ok["bin"], ok["unsure"]) == ("red", "glass", False)
    assert ok["novelty"] == pytest.approx(200 / 3, abs=0.5)
    assert (novel["label"], novel["bin"], novel["unsure"]) == ("red", "unsure", True)
    assert float(novel["confidence"]) > 0.9999  # type: ignore[arg-type]
    assert novel["novelty"] == pytest.approx(250 / 3, abs=0.5)

    text = run_cli("classify", "--model", model, strange, data_dir=data_dir)
    assert text.returncode == 0, text.stderr
    assert text.stdout.rstrip("\n").endswith("\tUNSURE - check")


def test_the_models_recommended_threshold_applies_unless_the_user_chose_one(
    tmp_path: Path, data_dir: Path
) -> None:
    # Dark red is "red" with confidence ~0.99991: below this (strict) recommendation.
    model = make_onnx_model(
        tmp_path / "calibrated.onnx", LABELS, metadata={"schema": 2, "unsure_threshold": 0.99995}
    )
    (data_dir / "bins.json").write_text(json.dumps(COLOUR_BINS))
    red = _solid(tmp_path / "red.png", (200, 0, 0))
    settings = data_dir / "settings.json"

    def unsure() -> object:
        result = run_cli("classify", "--json", "--model", model, red, data_dir=data_dir)
        assert result.returncode == 0, result.stderr
        return parse_lines(result.stdout)[str(red)]["unsure"]

    assert unsure() is True  # no settings file: the model's recommendation
    settings.write_text(json.dumps({"schema": 1, "threshold": 0.6}))  # the old default
    assert unsure() is True
    settings.write_text(json.dumps({"schema": 1, "threshold": 0.9}))  # chosen by the user
    assert unsure() is False


def test_usage_errors_exit_one(model: Path, tmp_path: Path, data_dir: Path) -> None:
    assert run_cli("classify", data_dir=data_dir).returncode == 1
    assert run_cli("classify", "--top-k", "0", "x.jpg", data_dir=data_dir).returncode == 1
    assert run_cli("classify", "--no-such-flag", "x.jpg", data_dir=data_dir).returncode == 1
    missing = run_cli("classify", "--model", "no-such-model", tmp_path, data_dir=data_dir)
    assert missing.returncode == 1
    assert "no-such-model" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_missing_path_is_an_error_line(model: Path, tmp_path: Path, data_dir: Path) -> None:
    result = run_cli(
        "classify", "--json", "--model", model, tmp_path / "nope.jpg", data_dir=data_dir
    )
    assert result.returncode == 2
    (row,) = parse_lines(result.stdout).values()
    assert row["error"]


def test_record_then_history_and_stats(model: Path, tmp_path: Path, data_dir: Path) -> None:
    from PIL import Image

    for name, colour in [("a.png", (255, 0, 0)), ("b.png", (0, 255, 0)), ("c.png", (250, 5, 5))]:
        Image.new("RGB", (20, 20), colour).save(tmp_path / name)
    result = run_cli(
        "classify",
        "--record",
        "--model",
        model,
        tmp_path / "a.png",
        tmp_path / "b.png",
        tmp_path / "c.png",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr

    history = run_cli("history", "--format", "csv", data_dir=data_dir)
    assert history.returncode == 0, history.stderr
    rows = list(csv.DictReader(io.StringIO(history.stdout)))
    assert sorted(r["label"] for r in rows) == ["green", "red", "red"]
    assert all(r["model_id"] == "tiny" for r in rows)

    only_red = run_cli("history", "--format", "csv", "--label", "red", data_dir=data_dir)
    assert len(list(csv.DictReader(io.StringIO(only_red.stdout)))) == 2

    table = run_cli("history", "--format", "table", data_dir=data_dir)
    assert table.returncode == 0
    assert "3 record(s)" in table.stdout

    stats = run_cli("stats", "--period", "day", "--format", "json", data_dir=data_dir)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["total"] == 3


def test_models_lists_user_and_broken_models(tmp_path: Path, data_dir: Path) -> None:
    user_models = data_dir / "models"
    user_models.mkdir(exist_ok=True)
    make_onnx_model(user_models / "mine.onnx", LABELS, model_id="mine")
    (user_models / "broken.onnx").write_bytes(b"not a model")
    result = run_cli("models", "--json", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    entries = {Path(e["path"]).name: e for e in json.loads(result.stdout)}
    assert entries["mine.onnx"]["id"] == "mine"
    assert entries["mine.onnx"]["labels"] == LABELS
    assert entries["broken.onnx"]["error"]
    assert "broken.onnx" in entries["broken.onnx"]["error"]


def test_history_and_stats_with_hand_written_bad_rows(data_dir: Path) -> None:
    """Issue 15: bad rows are skipped or shown in part with one warning; the file stays."""
    from datetime import UTC, datetime

    from tests.core.history_helpers import corrupt_files, write_odd_history

    db = data_dir / "history.sqlite3"
    shown, skipped = write_odd_history(db, datetime.now(UTC))

    history = run_cli("history", "--format", "csv", data_dir=data_dir)
    assert history.returncode == 0, history.stderr
    rows = list(csv.DictReader(io.StringIO(history.stdout)))
    assert sorted(int(r["id"]) for r in rows) == sorted(shown.values())
    warnings = [line for line in history.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, history.stderr
    assert warnings[0].startswith("waste-sorter: warning: 6 history row(s)")
    assert all(str(rid) in warnings[0] for rid in skipped.values())

    table = run_cli("history", data_dir=data_dir)
    assert table.returncode == 0, table.stderr
    assert f"{len(shown)} record(s)" in table.stdout

    for fmt in ("json", "csv", "table"):
        stats = run_cli("stats", "--period", "day", "--format", fmt, data_dir=data_dir)
        assert stats.returncode == 0, stats.stderr
        assert len(stats.stderr.strip().splitlines()) == 1, stats.stderr
        assert "could not be read" in stats.stderr
    stats = run_cli("stats", "--period", "day", "--format", "json", data_dir=data_dir)
    assert json.loads(stats.stdout)["by_label"]["paper"] == 1
    assert corrupt_files(db) == []
