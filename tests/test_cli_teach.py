"""``waste-sorter teach`` as a user runs it (in process, real files and tiny real models).

The shipped-models folder is pointed at a temporary folder holding a tiny "waste" model (the
station's default model id) with an embedding, so these tests neither need nor wait for the
real shipped models, and "the station's model" is one whose answers are known: channel means
-> red/green/blue, so it gets red, green and blue examples right and yellow ones wrong.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from app import cli
from app.core.paths import DataDir
from app.core.settings import Settings, load_settings, save_settings
from tests.factories import (
    BLUE,
    GREEN,
    RED,
    TEACH_COLOURS,
    YELLOW,
    make_onnx_model,
    write_examples,
    write_image,
)

BASE_LABELS = ("red", "green", "blue")
PER_CLASS = 4
ERROR = "waste-sorter: error: "


@pytest.fixture(autouse=True)
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "shipped"
    make_onnx_model(folder / "waste.onnx", BASE_LABELS, model_id="waste", novelty_threshold=250.0)
    monkeypatch.setattr(cli, "_shipped_models", lambda: folder)
    return folder


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("base")
    return make_onnx_model(
        folder / "colours.onnx", BASE_LABELS, model_id="colours", novelty_threshold=250.0
    )


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("examples") / "station"
    write_examples(root, TEACH_COLOURS, PER_CLASS, seed=1)
    return root


@pytest.fixture(scope="module")
def known_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Examples of the classes the base model already gets right."""
    root = tmp_path_factory.mktemp("known") / "known"
    write_examples(root, {"red": RED, "green": GREEN, "blue": BLUE}, PER_CLASS, seed=2)
    return root


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pictures")
    return {
        "yellow": write_image(folder / "yellow.png", "png", size=(30, 20), color=YELLOW),
        "red": write_image(folder / "red.png", "png", size=(30, 20), color=RED),
    }


def teach(data_dir: Path, *args: str | Path) -> int:
    return cli.main(["teach", *map(str, args), "--data-dir", str(data_dir)])


def classify(
    capsys: pytest.CaptureFixture[str], data_dir: Path, picture: Path, *args: str
) -> dict[str, Any]:
    capsys.readouterr()
    rc = cli.main(["classify", "--json", *args, "--data-dir", str(data_dir), str(picture)])
    out = capsys.readouterr().out
    assert rc == 0, out
    row: dict[str, Any] = json.loads(out)
    return row


def taught_json(
    capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str | Path
) -> dict[str, Any]:
    capsys.readouterr()
    rc = teach(data_dir, "--json", *args)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary: dict[str, Any] = json.loads(captured.out)
    return summary


def station_model(data_dir: Path) -> str:
    return load_settings(DataDir(data_dir).settings_file)[0].model_id


def test_teach_prints_what_it_learnt(
    capsys: pytest.CaptureFixture[str], data_dir: Path, base: Path, examples: Path
) -> None:
    assert teach(data_dir, "--name", "canteen", "--base", base, examples) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert re.match(
        r"^Taught 'canteen-v1' in \d+\.\d s from 16 examples \(0 already known\): "
        r".*canteen-v1\.onnx \(\d+\.\d MB\)$",
        lines[0],
    ), lines[0]
    # four examples per class: four folds, not the usual five
    assert lines[1] == (
        "Accuracy on the examples (4-fold cross-validation): 100.0%; "
        "'colours' on the same examples: 75.0%"
    )
    assert lines[2:6] == [
        "    blue       4 examples  100.0%",
        "    green      4 examples  100.0%",
        "    red        4 examples  100.0%",
        "    yellow     4 examples  100.0%  (new)",
    ]
    assert lines[6].startswith("No bin for: blue, green, red, yellow -- ")
    assert lines[7].startswith("Not promoted. The station still uses 'waste'; ")
    assert "classify --model canteen" in lines[7]
    assert "reading examples 16/16" in captured.err
    assert "Traceback" not in captured.err
    assert (data_dir / "models" / "canteen-v1.onnx").is_file()
    assert json.loads((data_dir / "teach" / "canteen-v1.json").read_text("utf-8"))["model"] == (
        "canteen-v1"
    )
    assert station_model(data_dir) == "waste", "teaching alone does not switch the station"


def test_json_summary(
    capsys: pytest.CaptureFixture[str], data_dir: Path, base: Path, examples: Path
) -> None:
    capsys.readouterr()
    assert teach(data_dir, "--json", "--name", "canteen", "--base", base, examples) == 0
    captured = capsys.readouterr()
    assert "reading examples" not in captured.err, "no progress lines with --json"
    summary = json.loads(captured.out)
    assert {"model", "accuracy", "base_accuracy", "promoted"} <= set(summary)
    assert summary["model"] == "canteen-v1"
    assert summary["accuracy"] == 1.0
    assert summary["base_accuracy"] == 0.75
    assert summary["base_model"] == "colours"
    assert summary["promoted"] is False
    assert summary["station_model"] == "waste"
    assert summary["station_accuracy"] == 0.75, "the tiny waste model misses every yellow"
    assert summary["classes"] == ["blue", "green", "red", "yellow"]
    assert summary["new_classes"] == ["yellow"]
    assert summary["examples"] == dict.fromkeys(summary["classes"], PER_CLASS)
    assert summary["cached"] == 0
    assert summary["no_bin"] == ["blue", "green", "red", "yellow"]
    assert summary["bins_set"] == {}
    assert summary["problems"] == []
    assert Path(summary["path"]) == data_dir / "models" / "canteen-v1.onnx"

    again = taught_json(capsys, data_dir, "--name", "canteen", "--base", base, examples)
    assert again["model"] == "canteen-v2"
    assert again["version"] == 2
    assert again["cached"] == 4 * PER_CLASS, "every example's features came from the cache"


def test_bins_for_a_new_class(
    capsys: pytest.CaptureFixture[str],
    data_dir: Path,
    base: Path,
    examples: Path,
    pictures: dict[str, Path],
) -> None:
    # Three-dimensional features under a strong penalty give mild probabilities (about 0.5 for
    # a clean yellow): a lower overall threshold lets the bin show instead of "Not sure".
    save_settings(data_dir / "settings.json", Settings(threshold=0.3))
    summary = taught_json(
        capsys,
        data_dir,
        "--name",
        "canteen",
        "--base",
        base,
        "--bins",
        "yellow=packaging",
        examples,
    )
    assert summary["bins_set"] == {"yellow": "packaging"}
    assert summary["no_bin"] == ["blue", "green", "red"]
    override = json.loads((data_dir / "bins.json").read_text("utf-8"))
    assert override["classes"] == {"yellow": {"bin": "packaging"}}

    row = classify(capsys, data_dir, pictures["yellow"], "--model", "canteen")
    assert row["label"] == "yellow"
    assert row["bin"] == "packaging"
    assert row["unsure"] is False
    red = classify(capsys, data_dir, pictures["red"], "--model", "canteen")
    assert red["label"] == "red"
    assert red["unsure"] is True, "red has no bin"


def test_an_unknown_bin_is_a_warning_not_a_failure(
    capsys: pytest.CaptureFixture[str], data_dir: Path, base: Path, examples: Path
) -> None:
    capsys.readouterr()
    rc = teach(
        data_dir,
        "--json",
        "--name",
        "canteen",
        "--base",
        base,
        "--bins",
        "yellow=nosuch,tea=paper",
        examples,
    )
    captured = capsys.readouterr()
    assert rc == 0
    assert "warning: bins not set: 'nosuch' (for yellow) is not a bin; bins: " in captured.err
    summary = json.loads(captured.out)
    assert "yellow" in summary["no_bin"]
    assert summary["bins_set"] == {"yellow": "nosuch"}, "what was asked, not what was set"
    assert not (data_dir / "bins.json").exists()
    assert (data_dir / "models" / "canteen-v1.onnx").is_file()


def test_promote_then_roll_back(
    capsys: pytest.CaptureFixture[str], data_dir: Path, examples: Path, pictures: dict[str, Path]
) -> None:
    before = classify(capsys, data_dir, pictures["yellow"])
    assert before["label"] in ("red", "green"), "the station's model knows no yellow"

    capsys.readouterr()
    assert teach(data_dir, "--name", "canteen", "--promote", examples) == 0  # base: the station's
    out = capsys.readouterr().out
    assert "'waste' on the same examples: 75.0%" in out
    assert (
        "This station now uses 'canteen-v1' (was 'waste'; undo: waste-sorter teach --rollback)."
    ) in out
    assert station_model(data_dir) == "canteen-v1"
    assert classify(capsys, data_dir, pictures["yellow"])["label"] == "yellow"

    assert teach(data_dir, "--rollback") == 0
    assert capsys.readouterr().out == (
        "This station's model is 'waste' again (was 'canteen-v1').\n"
    )
    assert station_model(data_dir) == "waste"
    assert classify(capsys, data_dir, pictures["yellow"])["label"] in ("red", "green")
    assert (data_dir / "models" / "canteen-v1.onnx").is_file(), "rolling back deletes nothing"

    assert teach(data_dir, "--rollback") == 1
    assert "nothing to roll back" in capsys.readouterr().err


def test_promote_from_a_taught_station_model(
    capsys: pytest.CaptureFixture[str], data_dir: Path, examples: Path
) -> None:
    first = taught_json(capsys, data_dir, "--name", "canteen", "--promote", examples)
    assert first["promoted"] is True
    second = taught_json(capsys, data_dir, "--name", "canteen", "--promote", examples)
    assert second["model"] == "canteen-v2"
    assert second["base_model"] == "canteen-v1", "the station's model is the default base"
    assert second["station_accuracy"] == 1.0
    assert second["promoted"] is False
    assert "not better than 'canteen-v1'" in second["not_promoted_because"]
    assert station_model(data_dir) == "canteen-v1"


def test_promote_only_when_better(
    capsys: pytest.CaptureFixture[str], data_dir: Path, known_only: Path
) -> None:
    summary = taught_json(capsys, data_dir, "--name", "canteen", "--promote", known_only)
    assert summary["accuracy"] == 1.0
    assert summary["station_accuracy"] == 1.0
    assert summary["promoted"] is False
    assert summary["not_promoted_because"] == (
        "it is not better than 'waste' on these examples (100.0% vs 100.0%)"
    )
    assert station_model(data_dir) == "waste"
    assert not (data_dir / "teach" / "station.json").exists()


def test_skipped_files_and_folders_are_each_reported(
    capsys: pytest.CaptureFixture[str], data_dir: Path, base: Path, tmp_path: Path
) -> None:
    root = tmp_path / "mixed"
    write_examples(root, {"red": RED, "yellow": YELLOW}, 3, seed=4)
    (root / "red" / "broken.jpg").write_text("Shopping list: milk", encoding="utf-8")
    missing = tmp_path / "no such folder"
    capsys.readouterr()
    rc = teach(data_dir, "--json", "--name", "canteen", "--base", base, root, missing)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    warnings = [line for line in captured.err.splitlines() if "warning: skipped" in line]
    assert len(warnings) == 2, captured.err
    assert any(f"{missing}: not a folder" in w for w in warnings)
    assert any("broken.jpg" in w for w in warnings)
    summary = json.loads(captured.out)
    assert summary["examples"] == {"red": 3, "yellow": 3}
    assert len(summary["problems"]) == 2


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    return make_onnx_model(tmp_path / "plain.onnx", BASE_LABELS, model_id="plain")


@pytest.fixture
def thin(tmp_path: Path) -> Path:
    root = tmp_path / "thin"
    write_examples(root, {"red": RED, "yellow": YELLOW}, 2, seed=5)
    return root


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["EXAMPLES"], "teach needs --name NAME (or --rollback)"),
        (["--name", "canteen"], "give example FOLDERs and/or --from-history"),
        (["--name", "canteen", "--base", "nosuch", "EXAMPLES"], "unknown model 'nosuch'"),
        (["--name", "canteen", "--base", "PLAIN", "EXAMPLES"], "model 'plain' has no embedding"),
        (["--name", "waste", "EXAMPLES"], "'waste' is the name of a shipped model"),
        (["--name", "my model", "EXAMPLES"], "'my model' cannot name a model"),
        (["--name", "canteen", "EMPTY"], "no example images found"),
        (["--name", "canteen", "THIN"], "too few examples for red, yellow"),
        (["--name", "canteen", "--bins", "yellow", "EXAMPLES"], "'yellow' is not CLASS=BIN"),
        (["--rollback"], "nothing to roll back to"),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str],
    data_dir: Path,
    tmp_path: Path,
    examples: Path,
    plain: Path,
    thin: Path,
    args: list[str],
    message: str,
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    where = {"EXAMPLES": examples, "PLAIN": plain, "EMPTY": empty, "THIN": thin}
    capsys.readouterr()
    rc = teach(data_dir, *(str(where.get(a, a)) for a in args))
    captured = capsys.readouterr()
    assert rc == 1
    assert captured.out == ""
    errors = [line for line in captured.err.splitlines() if line.startswith(ERROR)]
    assert len(errors) == 1, captured.err
    assert message in errors[0]
    assert "Traceback" not in captured.err
    assert not list((data_dir / "models").glob("*.onnx"))
    assert station_model(data_dir) == "waste"
