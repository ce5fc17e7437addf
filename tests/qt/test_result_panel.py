"""ResultPanel: a confident answer names the bin in its colours; an unsure one names none."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.bins import BinRules, default_bins_path, preset_path
from app.core.classifier import Prediction
from app.qt.i18n import install_translator
from app.qt.result_panel import UNSURE_BG, ResultPanel


def prediction(label: str, confidence: float, *others: tuple[str, float]) -> Prediction:
    top = ((label, confidence), *others)
    return Prediction(
        label=label,
        confidence=confidence,
        top_k=top,
        probabilities=tuple(p for _, p in top),
        model_id="waste",
        model_version="1.0.0",
        elapsed_ms=5.0,
    )


def pixel(widget, x: int = 6, y: int = 6) -> QColor:  # type: ignore[no-untyped-def]
    return widget.grab().toImage().pixelColor(x, y)


def make_panel(qtbot: QtBot) -> ResultPanel:
    panel = ResultPanel()
    qtbot.addWidget(panel)
    panel.resize(600, 700)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def test_confident_prediction_shows_class_bin_colours_and_top3(qtbot: QtBot) -> None:
    rules = BinRules.load(default_bins_path())
    panel = make_panel(qtbot)
    pred = prediction("glass", 0.91, ("plastic", 0.06), ("metal", 0.03))
    decision = rules.decide("glass", 0.91)
    assert not decision.unsure

    panel.show_prediction(pred, decision)

    assert panel.title_label.text() == "Glass"
    assert panel.bin_block.isVisible()
    assert panel.bin_label.text() == decision.name
    assert panel.instruction_label.text() == decision.instruction
    assert "91%" in panel.confidence_label.text()
    assert not panel.unsure
    # The block is painted in the bin's colour and its text uses the bin's text colour.
    assert pixel(panel.bin_block).name().upper() == decision.colour
    assert panel.bin_label.palette().windowText().color().name().upper() == decision.text_colour
    names = [label.text() for label in panel.top_k_names]
    assert names == ["Glass", "Plastic", "Metal"]
    assert [bar.value() for bar in panel.top_k_bars] == [910, 60, 30]
    assert panel.top_k_bars[0].text() == "91%"


def test_unsure_prediction_asks_to_check_and_names_no_bin(qtbot: QtBot) -> None:
    rules = BinRules.load(default_bins_path())
    panel = make_panel(qtbot)
    pred = prediction("plastic", 0.41, ("glass", 0.35), ("trash", 0.24))
    decision = rules.decide("plastic", 0.41)
    assert decision.unsure

    panel.show_prediction(pred, decision)

    assert panel.unsure
    assert panel.title_label.text() == "Not sure — please check"
    assert pixel(panel.title_label).name().upper() == UNSURE_BG
    # No real bin is named: the block shows the "check" entry, not plastic's bin.
    plastic_bin = rules.bin_for("plastic")
    assert plastic_bin is not None
    shown = panel.bin_label.text() + panel.instruction_label.text()
    assert plastic_bin.name not in shown
    assert not panel.bin_label.isVisible()
    assert panel.instruction_label.text() == rules.unsure.instruction
    assert pixel(panel.bin_block).name().upper() == rules.unsure.colour
    assert "Plastic" in panel.confidence_label.text()
    assert "41%" in panel.confidence_label.text()


def test_message_hides_result_parts_and_status_strip(qtbot: QtBot) -> None:
    rules = BinRules.load(default_bins_path())
    panel = make_panel(qtbot)
    panel.show_prediction(prediction("paper", 0.9), rules.decide("paper", 0.9))
    panel.show_message("Camera unavailable")
    assert panel.title_label.text() == "Camera unavailable"
    assert not panel.bin_block.isVisible()
    assert not panel.top_k_box.isVisible()

    panel.show_status("Saved #7", "ok")
    assert panel.status_text() == "Saved #7"
    panel.show_status("", "")
    assert panel.status_text() == ""


def test_fonts_grow_with_the_panel_and_the_name_fits(qtbot: QtBot) -> None:
    rules = BinRules.load(default_bins_path())
    panel = make_panel(qtbot)
    panel.show_prediction(prediction("cardboard", 0.9), rules.decide("cardboard", 0.9))
    panel.resize(400, 400)
    qtbot.wait(10)
    small = panel.title_label.font().pixelSize()
    panel.resize(1000, 1000)
    qtbot.wait(10)
    big = panel.title_label.font().pixelSize()
    assert big > 2 * small
    metrics = panel.title_label.fontMetrics()
    assert metrics.horizontalAdvance(panel.title_label.text()) <= panel.width()


def test_bin_texts_follow_the_ui_language(qtbot: QtBot, qapp: QApplication) -> None:
    """In Vietnamese the bin, its instruction and "not sure" are Vietnamese, live."""
    rules = BinRules.load(preset_path("vietnam"))
    panel = make_panel(qtbot)
    decision = rules.decide("battery", 0.9)
    panel.show_prediction(prediction("battery", 0.9), decision)
    assert panel.bin_label.text() == "Hazardous — take to the collection point"
    try:
        assert install_translator(qapp, "vi") == "vi"
        qtbot.waitUntil(lambda: panel.bin_label.text() == "Nguy hại — mang đến điểm thu gom")
        assert panel.title_label.text() == "Pin"
        assert panel.instruction_label.text() == decision.instruction_in("vi")
        panel.show_prediction(prediction("carton", 0.3), rules.decide("carton", 0.3))
        assert panel.title_label.text() == "Chưa chắc chắn — vui lòng kiểm tra"
        assert panel.instruction_label.text() == rules.unsure.instruction_in("vi")
        assert "Hộp giấy (carton)" in panel.confidence_label.text()
    finally:
        install_translator(qapp, "en")
    qtbot.waitUntil(lambda: panel.instruction_label.text() == rules.unsure.instruction)
