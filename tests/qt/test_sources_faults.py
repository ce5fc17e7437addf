"""The GUI's open-images path (``ImageBatchWorker``) reports each failed image on its own."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt

from app.core.classifier import Classifier
from app.qt.sources import ImageBatchWorker
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

LABELS = ("red", "green", "blue")


def run_batch(qtbot, paths: list[Path], model: Path) -> tuple[list, list, tuple]:
    worker = ImageBatchWorker(paths, Classifier(model, intra_op_threads=1))
    done: list = []
    failed: list = []
    direct = Qt.ConnectionType.DirectConnection
    worker.item_done.connect(lambda item: done.append((item.path, item.prediction.label)), direct)
    worker.item_failed.connect(lambda path, error: failed.append((path, error)), direct)
    with qtbot.waitSignal(worker.batch_finished, timeout=30_000) as finished:
        worker.start()
    assert worker.wait(10_000)
    return done, failed, tuple(finished.args)


def test_nan_scores_fail_only_those_images(qtbot, tmp_path: Path) -> None:
    model = make_partial_nan_model(tmp_path / "partnan.onnx", LABELS)
    red = write_image(tmp_path / "in" / "a.png", "png", color=RED)
    green = write_image(tmp_path / "in" / "b.png", "png", color=GREEN)
    red2 = write_image(tmp_path / "in" / "c.png", "png", color=RED)
    done, failed, finished = run_batch(qtbot, [tmp_path / "in"], model)
    assert done == [(red, "red"), (red2, "red")]
    assert [p for p, _ in failed] == [str(green)]
    assert "NaN or infinite" in failed[0][1]
    assert finished == (2, 1, False)


def test_batch1_only_model_works(qtbot, tmp_path: Path) -> None:
    model = make_batch1_model(tmp_path / "b1.onnx", LABELS)
    paths = [write_image(tmp_path / f"{i}.png", "png", color=c) for i, c in enumerate((RED, BLUE))]
    done, failed, finished = run_batch(qtbot, paths, model)
    assert done == [(paths[0], "red"), (paths[1], "blue")]
    assert not failed
    assert finished == (2, 0, False)


def test_unusable_subfolders_are_reported(qtbot, tmp_path: Path) -> None:
    model = make_onnx_model(tmp_path / "tiny.onnx", LABELS)
    root = tmp_path / "in"
    good = write_image(root / "a.png", "png", color=RED)
    (root / "old shots").symlink_to(tmp_path / "moved away")
    deep = make_too_deep_folder(root)
    done, failed, finished = run_batch(qtbot, [root], model)
    assert done == [(good, "red")]
    by_message = {message: path for path, message in failed}
    assert len(failed) == 2
    assert by_message["broken symbolic link (its target does not exist)"] == str(root / "old shots")
    assert by_message["cannot read folder (file name too long)"].startswith(str(deep))
    assert finished == (1, 2, False)


def test_non_utf8_name_of_a_failing_file_reaches_the_ui_escaped(qtbot, tmp_path: Path) -> None:
    model = make_onnx_model(tmp_path / "tiny.onnx", LABELS)
    folder = tmp_path / "in"
    folder.mkdir()
    fd = os.open(os.fsencode(folder) + b"/bad \xe9.png", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"not an image")
    finally:
        os.close(fd)
    good = write_image(folder / "good.png", "png", color=RED)
    done, failed, finished = run_batch(qtbot, [folder], model)
    assert done == [(good, "red")]
    assert failed == [(f"{folder}/bad \\xe9.png", failed[0][1])]
    assert finished == (1, 1, False)
