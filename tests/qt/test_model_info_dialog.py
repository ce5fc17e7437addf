"""Model info dialog: the model's recommended threshold and whether it detects unfamiliar items."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.bins import BinRules, default_bins_path
from app.core.model_info import InputSpec, ModelInfo
from app.qt.i18n import install_translator
from app.qt.model_info_dialog import ModelInfoDialog

LABELS = ("glass", "paper", "trash")


def info(unsure_threshold: float | None = None, novelty: dict[str, Any] | None = None) -> ModelInfo:
    return ModelInfo(
        "waste",
        "Waste",
        "2.0.0",
        LABELS,
        InputSpec(32, 32),
        novelty=novelty,
        unsure_threshold=unsure_threshold,
        source=Path("/m.onnx"),
    )


def test_schema_2_model_shows_its_threshold_and_novelty_detector(qtbot: QtBot) -> None:
    model = info(unsure_threshold=0.78, novelty={"output": "novelty", "threshold": 3.5})
    dialog = ModelInfoDialog(model, BinRules.load(default_bins_path()))
    qtbot.addWidget(dialog)
    assert dialog.threshold_label.text() == "78 %"
    assert dialog.novelty_label.text() == "Yes"
    assert dialog.classes.count() == len(LABELS)


def test_older_model_says_what_it_lacks(qtbot: QtBot, qapp: QApplication) -> None:
    dialog = ModelInfoDialog(info())
    qtbot.addWidget(dialog)
    assert dialog.threshold_label.text() == "Not given"
    assert dialog.novelty_label.text() == "No"
    try:
        install_translator(qapp, "vi")
        translated = ModelInfoDialog(info())
        qtbot.addWidget(translated)
        assert translated.threshold_label.text() == "Không có"
        assert translated.novelty_label.text() == "Không"
    finally:
        install_translator(qapp, "en")
