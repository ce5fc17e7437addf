"""validate -> train -> evaluate -> export (parity) -> the app's Classifier -> compare, via the CLI.

The task (solid red / green / blue images with a grey blob and noise) is trivially learnable by
the plain-CNN baseline in a few seconds, so the exported model must classify clean colour
images correctly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow")

import onnx  # noqa: E402

from app.core.classifier import Classifier  # noqa: E402
from app.core.model_info import ModelInfo  # noqa: E402
from tests.training.synthetic import COLOURS, colour_image, tiny_config, write_config  # noqa: E402
from training import export as export_mod  # noqa: E402
from training.__main__ import build_parser, main  # noqa: E402


@pytest.fixture(scope="module")
def trained(colour_dataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root, _ = colour_dataset
    work = tmp_path_factory.mktemp("e2e")
    paths = {"data": root, "run": work / "run", "cache": work / "cache",
             "config": write_config(work / "cnn.json", tiny_config("colours_cnn")),
             "model": work / "models" / "colours.onnx"}
    rc = main(["train", "--config", str(paths["config"]), "--data", str(root),
               "--run-dir", str(paths["run"]), "--cache-dir", str(paths["cache"])])
    assert rc == 0
    return paths


def test_train_leaves_a_complete_run_directory(trained, colour_dataset) -> None:
    run = trained["run"]
    _, bad = colour_dataset
    for name in ("config.json", "manifest.json", "validation.json", "validation.md", "run.json",
                 "state.json", "history.json", "curves.png", "model.weights.h5"):
        assert (run / name).is_file(), name
    skipped = {s["path"] for s in json.loads((run / "validation.json").read_text())["skipped"]}
    assert skipped == {p for paths in bad.values() for p in paths}
    info = json.loads((run / "run.json").read_text())
    manifest_sha = hashlib.sha256((run / "manifest.json").read_bytes()).hexdigest()
    assert info["manifest_sha256"] == manifest_sha
    assert info["labels"] == ["blue", "green", "red"]
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history["phase1"]] == list(range(1, 9))
    assert all(r["seconds"] > 0 and 0 <= r["val_macro_f1"] <= 1 for r in history["phase1"])
    assert info["best"]["val_macro_f1"] >= 0.9
    saved = json.loads((run / "config.json").read_text())
    assert saved["data"]["path"] == str(trained["data"])  # --resume needs no --data
    assert saved["phase1"]["learning_rate"] == 0.01


def test_existing_run_is_not_overwritten_without_resume(trained, capsys) -> None:
    rc = main(["train", "--config", str(trained["config"]), "--data", str(trained["data"]),
               "--run-dir", str(trained["run"]), "--cache-dir", str(trained["cache"])])
    assert rc == 1
    assert "--resume" in capsys.readouterr().err


def test_evaluate_writes_metrics_and_figures(trained) -> None:
    assert main(["evaluate", "--run-dir", str(trained["run"]), "--split", "test"]) == 0
    out = trained["run"] / "eval" / "test"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 12
    assert metrics["accuracy"] >= 0.9
    assert set(metrics["per_class"]) == {"blue", "green", "red"}
    assert np.array(metrics["confusion"]).sum() == 12
    assert metrics["top_k"]["top_2"] >= metrics["accuracy"]
    for name in ("confusion.png", "confusion.csv", "mistakes.png", "report.md",
                 "predictions.csv"):
        assert (out / name).stat().st_size > 0, name
    assert "macro-F1" in (out / "report.md").read_text()


def test_export_passes_parity_and_loads_in_the_app(trained) -> None:
    out = trained["model"]
    rc = main(["export", "--run-dir", str(trained["run"]), "--out", str(out), "--id", "colours",
               "--version", "0.1.0", "--quantize"])
    assert rc == 0
    report = json.loads((trained["run"] / "export" / "export.json").read_text())
    assert report["parity"]["passed"]
    assert report["parity"]["max_abs_diff"] <= 1e-4
    assert report["parity"]["top1_disagreements"] == 0
    assert set(report["variants"]) == {"fp32", "int8"}
    # INT8 stops before the softmax: probabilities stay float, not steps of 1/256.
    int8 = onnx.load(trained["run"] / "export" / "model_int8.onnx").graph
    assert any(n.op_type == "QuantizeLinear" for n in int8.node)
    (softmax,) = [n for n in int8.node if n.op_type == "Softmax"]
    assert not [n for n in int8.node if n.op_type == "QuantizeLinear"
                and softmax.output[0] in n.input]
    (producer,) = [n for n in int8.node if int8.output[0].name in n.output]
    assert producer.op_type != "DequantizeLinear"

    proto = onnx.load(out)
    (graph_input,) = proto.graph.input
    assert graph_input.name == "image"
    dims = graph_input.type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value")  # dynamic batch
    assert [d.dim_value for d in dims[1:]] == [32, 32, 3]
    assert any(op.domain in ("", "ai.onnx") and op.version == 17 for op in proto.opset_import)
    info = ModelInfo.from_onnx_metadata({p.key: p.value for p in proto.metadata_props}, out)
    assert info.id == "colours"
    assert info.labels == ("blue", "green", "red")
    assert info.input.preprocessing == "in_graph"
    assert info.output == "probabilities"
    run_info = json.loads((trained["run"] / "run.json").read_text())
    assert info.training["manifest_sha256"] == run_info["manifest_sha256"]
    assert info.training["dataset"] == "colours"
    assert info.metrics["validation"]["accuracy"] >= 0.9
    assert "test" in info.metrics

    classifier = Classifier(out)
    for label, rgb in COLOURS.items():
        prediction = classifier.predict(colour_image(rgb, seed=4242, side=120))
        assert prediction.label == label


def test_export_refuses_when_onnx_disagrees(trained, monkeypatch, capsys) -> None:
    real = export_mod.ort_predict

    def drifted(sess: object, images: np.ndarray, batch: int = 32) -> np.ndarray:
        return real(sess, images, batch)[:, ::-1]  # every top-1 changes

    monkeypatch.setattr(export_mod, "ort_predict", drifted)
    out = trained["model"].with_name("refused.onnx")
    rc = main(["export", "--run-dir", str(trained["run"]), "--out", str(out), "--id", "x",
               "--version", "1"])
    assert rc == 1
    assert "disagree" in capsys.readouterr().err
    assert not out.exists()


def test_compare_reports_metrics_and_latency(trained, tmp_path: Path) -> None:
    out = tmp_path / "compare.md"
    assert main(["compare", str(trained["run"]), "--out", str(out), "--repeats", "5"]) == 0
    table = out.read_text()
    row = next(line for line in table.splitlines() if line.startswith("| colours_cnn"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "plain_cnn"
    assert float(cells[3]) >= 0.9  # accuracy
    assert cells[6] == "ONNX"  # scored on the exported file, not the Keras model
    assert float(cells[7]) > 0  # ONNX size
    assert "ONNX Runtime" in table


def test_evaluate_scores_the_exported_file(trained, tmp_path: Path, capsys) -> None:
    run = trained["run"]
    assert main(["evaluate", "--run-dir", str(run), "--onnx", str(trained["model"])]) == 0
    out = run / "eval" / f"test-onnx-{trained['model'].stem}"  # one folder per scored file
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 12
    assert metrics["accuracy"] >= 0.9
    assert metrics["model"] == str(trained["model"])
    assert trained["model"].name in (out / "report.md").read_text()
    assert set(metrics["confidence"]) == {"0.50", "0.60", "0.80", "0.90"}

    # a file with another input size (a shipped model) is scored on images decoded at its size
    from training.run import open_run

    images, labels = open_run(run).data(input_size=(20, 24)).arrays("test")
    assert images.shape[1:] == (20, 24, 3)
    assert len(labels) == 12
    capsys.readouterr()

    not_a_model = tmp_path / "notes.onnx"
    not_a_model.write_text("hello")
    assert main(["evaluate", "--run-dir", str(run), "--onnx", str(not_a_model)]) == 1
    assert "notes.onnx" in capsys.readouterr().err

    # The same file claiming another split: its test images may have been training images.
    proto = onnx.load(trained["model"])
    for prop in proto.metadata_props:
        data = json.loads(prop.value)
        data["training"]["manifest_sha256"] = "0" * 64
        prop.value = json.dumps(data)
    other = tmp_path / "other-split.onnx"
    onnx.save(proto, other)
    assert main(["evaluate", "--run-dir", str(run), "--onnx", str(other)]) == 1
    assert "another split" in capsys.readouterr().err


def test_resume_continues_instead_of_restarting(colour_dataset, tmp_path: Path) -> None:
    root, _ = colour_dataset
    config = write_config(tmp_path / "c.json",
                          tiny_config("resume", phase1={"epochs": 1, "schedule": "constant"}))
    run = tmp_path / "run"
    base = ["--run-dir", str(run), "--cache-dir", str(tmp_path / "cache")]
    assert main(["train", "--config", str(config), "--data", str(root), *base]) == 0
    first = json.loads((run / "history.json").read_text())["phase1"]
    state = json.loads((run / "state.json").read_text())
    steps = state["optimizer_step"]
    assert state["epoch"] == 1
    assert main(["train", "--resume", "--epochs-override", "2", *base]) == 0
    history = json.loads((run / "history.json").read_text())["phase1"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[0] == first[0]  # epoch 1 was not trained again
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2
    assert state["optimizer_step"] == 2 * steps  # the optimizer continued its count


def test_every_cli_option_is_explained() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    assert set(subparsers.choices) >= {"train", "evaluate", "export", "compare"}


def test_validate_command_lists_bad_files(colour_dataset, tmp_path: Path, capsys) -> None:
    root, bad = colour_dataset
    config = write_config(tmp_path / "c.json", tiny_config("v"))
    out = tmp_path / "report"
    assert main(["validate", "--config", str(config), "--data", str(root), "--out", str(out),
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    printed = capsys.readouterr().out
    for paths in bad.values():
        for path in paths:
            assert f"`{path}`" in printed
    report = json.loads((out / "validation.json").read_text())
    assert report["usable"] == 60
