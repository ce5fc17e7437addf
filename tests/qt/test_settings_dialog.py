"""Settings dialog: widgets -> Settings round trip, validation, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QSpinBox
from pytestqt.qtbot import QtBot

from app.core.bins import BinRules, default_bins_path
from app.core.model_info import InputSpec, ModelInfo
from app.core.registry import ModelEntry
from app.core.settings import Settings, load_settings, save_settings
from app.qt.settings_dialog import SettingsDialog

WASTE = ("cardboard", "glass", "metal", "paper", "plastic", "trash")


def entry(
    model_id: str,
    labels: tuple[str, ...],
    error: str | None = None,
    *,
    recommended: float | None = None,
) -> ModelEntry:
    path = Path(f"/models/{model_id}.onnx")
    info = (
        None
        if error
        else ModelInfo(
            model_id,
            model_id.title(),
            "1.0",
            labels,
            InputSpec(32, 32),
            unsure_threshold=recommended,
        )
    )
    return ModelEntry(model_id, path, info, error, shipped=True)


MODELS = [
    entry("waste", WASTE, recommended=0.8),  # its metadata recommends 0.8
    entry("cifar10", ("airplane", "automobile", "bird", "cat", "deer")),
    entry("broken", (), error="broken.onnx: not a Waste Sorter model"),
]


@pytest.fixture
def dialog(qtbot: QtBot) -> SettingsDialog:
    start = Settings(class_thresholds={"trash": 0.5})
    widget = SettingsDialog(start, ["0", "1"], MODELS)
    qtbot.addWidget(widget)
    return widget


def class_row(dialog: SettingsDialog, label: str) -> int:
    for row in range(dialog.class_table.rowCount()):
        item = dialog.class_table.item(row, 0)
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == label:
            return row
    raise AssertionError(f"{label} not in the table")


def test_widgets_show_the_current_settings(dialog: SettingsDialog) -> None:
    assert dialog.camera_combo.currentText() == "Camera 0"
    assert dialog.camera_spec() == "0"
    assert dialog.resolution_combo.currentText() == "Camera default"
    assert dialog.model_combo.currentData() == "waste"
    assert dialog.recommended_check.isChecked()
    assert dialog.recommended_check.text() == "Use the model's recommendation (80 %)"
    assert dialog.threshold_spin.value() == 80
    assert not dialog.threshold_spin.isEnabled()
    assert dialog.class_table.rowCount() == len(WASTE)
    trash = dialog.class_table.item(class_row(dialog, "trash"), 0)
    assert trash is not None
    assert trash.checkState() == Qt.CheckState.Checked
    glass_spin = dialog.class_table.cellWidget(class_row(dialog, "glass"), 1)
    assert isinstance(glass_spin, QSpinBox)
    assert not glass_spin.isEnabled()
    assert dialog.current_settings() == Settings(class_thresholds={"trash": 0.5})


def test_round_trip_through_widgets_and_file(dialog: SettingsDialog, tmp_path: Path) -> None:
    dialog.camera_combo.setCurrentIndex(1)
    dialog.resolution_combo.setCurrentIndex(2)  # 1280 x 720
    dialog.recommended_check.setChecked(False)
    assert dialog.threshold_spin.isEnabled()
    dialog.threshold_spin.setValue(70)
    dialog.set_class_threshold("glass", 0.8)
    dialog.set_class_threshold("trash", None)
    dialog.auto_check.setChecked(False)
    dialog.sensitivity_slider.setValue(80)
    dialog.hold_spin.setValue(2.5)
    dialog.images_combo.setCurrentIndex(dialog.images_combo.findData("nothing"))
    dialog.retention_spin.setValue(90)
    dialog.language_combo.setCurrentIndex(dialog.language_combo.findData("vi"))
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    expected = Settings(
        camera="1",
        resolution=(1280, 720),
        model_id="waste",
        threshold=0.7,
        class_thresholds={"glass": 0.8},
        auto_capture=False,
        capture_sensitivity=0.8,
        capture_hold_s=2.5,
        keep_images="nothing",
        retention_days=90,
        bins_file=None,
        language="vi",
    )
    assert dialog.settings() == expected
    path = tmp_path / "settings.json"
    save_settings(path, dialog.settings())
    assert load_settings(path) == (expected, [])


def test_overrides_survive_a_model_switch_and_a_typed_video_path(dialog: SettingsDialog) -> None:
    dialog.set_class_threshold("glass", 0.9)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("cifar10"))
    # The other model's classes, plus the overrides that belong to the first one.
    assert class_row(dialog, "cat") >= 0
    assert class_row(dialog, "glass") >= 0
    dialog.set_class_threshold("cat", 0.3)
    dialog.camera_combo.setEditText("/videos/line-1.mp4")
    new = dialog.current_settings()
    assert new.model_id == "cifar10"
    assert new.class_thresholds == {"cat": 0.3, "glass": 0.9, "trash": 0.5}
    assert new.camera == "/videos/line-1.mp4"


def test_validation_keeps_the_dialog_open_with_clear_messages(
    dialog: SettingsDialog, tmp_path: Path
) -> None:
    broken = tmp_path / "bins.json"
    broken.write_text(json.dumps({"bins": {"x": {"name": "X"}}}), encoding="utf-8")
    dialog.bins_edit.setText(str(broken))
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("broken"))
    dialog.camera_combo.setEditText("")
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    message = dialog.error_label.text()
    assert "Choose a camera" in message
    assert "not a Waste Sorter model" in message
    assert "bin rules file cannot be used" in message
    assert "bins.x" in message
    assert dialog.settings() == Settings(class_thresholds={"trash": 0.5})  # unchanged

    good = tmp_path / "good.json"
    good.write_text(json.dumps({"bins": {"glass": {"colour": "#004D40"}}}), encoding="utf-8")
    dialog.bins_edit.setText(str(good))
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("waste"))
    dialog.camera_combo.setCurrentIndex(0)
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.settings().bins_file == str(good)


def test_preset_combo_chooses_the_bin_rules(dialog: SettingsDialog, tmp_path: Path) -> None:
    combo = dialog.preset_combo
    assert [combo.itemData(i) for i in range(combo.count())] == ["generic", "vietnam", "eu"]
    assert combo.currentData() == "generic"
    assert combo.currentText() == "Generic recycling"
    combo.setCurrentIndex(combo.findData("vietnam"))
    dialog.retranslate_ui()  # a language change keeps the choice
    assert combo.currentData() == "vietnam"
    assert dialog.current_settings().bin_preset == "vietnam"

    # An override file is checked against the chosen preset: Vietnam has no glass bin.
    override = tmp_path / "bins.json"
    override.write_text(json.dumps({"bins": {"glass": {"colour": "#004D40"}}}), encoding="utf-8")
    dialog.bins_edit.setText(str(override))
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted
    assert "not a bin of vietnam.json" in dialog.error_label.text()
    combo.setCurrentIndex(combo.findData("eu"))
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert (dialog.settings().bin_preset, dialog.settings().bins_file) == ("eu", str(override))


def test_missing_bins_file_is_reported(dialog: SettingsDialog, tmp_path: Path) -> None:
    dialog.bins_edit.setText(str(tmp_path / "nope.json"))
    dialog.accept()
    assert "does not exist" in dialog.error_label.text()


def test_model_recommendation_checkbox_round_trip(qtbot: QtBot, tmp_path: Path) -> None:
    """Ticked: the spin box shows the chosen model's recommendation and None is saved;
    unticked: the user's own value is saved (and comes back after ticking and unticking)."""
    dialog = SettingsDialog(Settings(threshold=0.7), ["0"], MODELS)
    qtbot.addWidget(dialog)
    check, spin = dialog.recommended_check, dialog.threshold_spin
    assert (check.isChecked(), spin.isEnabled(), spin.value()) == (False, True, 70)
    assert dialog.current_settings().threshold == 0.7

    check.setChecked(True)
    assert (spin.isEnabled(), spin.value()) == (False, 80)
    assert dialog.current_settings().threshold is None
    # A model without a recommendation: the bin rules' default (0.6 without rules).
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("cifar10"))
    assert check.text() == "Use the model's recommendation (60 %)"
    assert spin.value() == 60
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("waste"))
    assert spin.value() == 80
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
    path = tmp_path / "settings.json"
    save_settings(path, dialog.settings())
    assert json.loads(path.read_text(encoding="utf-8"))["threshold"] is None
    assert load_settings(path) == (Settings(), [])

    again = SettingsDialog(load_settings(path)[0], ["0"], MODELS)
    qtbot.addWidget(again)
    assert again.recommended_check.isChecked()
    again.recommended_check.setChecked(False)
    assert again.threshold_spin.value() == 80, "starts from the recommendation"
    again.threshold_spin.setValue(65)
    again.recommended_check.setChecked(True)
    again.recommended_check.setChecked(False)
    assert again.threshold_spin.value() == 65, "the user's value comes back"
    assert again.current_settings().threshold == 0.65


def test_unticked_classes_show_the_threshold_they_will_get(qtbot: QtBot, tmp_path: Path) -> None:
    # The rules file sets its own default and a threshold for "trash".
    override = tmp_path / "bins.json"
    override.write_text(
        json.dumps({"default_threshold": 0.55, "classes": {"trash": {"threshold": 0.5}}}),
        encoding="utf-8",
    )
    rules = BinRules.load(default_bins_path(), override)
    dialog = SettingsDialog(Settings(), ["0"], MODELS, rules=rules)
    qtbot.addWidget(dialog)

    def shown(label: str) -> tuple[bool, int]:
        spin = dialog.class_table.cellWidget(class_row(dialog, label), 1)
        assert isinstance(spin, QSpinBox)
        return spin.isEnabled(), spin.value()

    # Following the model: the rules' class threshold, else the model's recommendation.
    assert shown("trash") == (False, 50)
    assert shown("glass") == (False, 80)
    # The user's overall threshold wins over the model's, not over a class's own.
    dialog.recommended_check.setChecked(False)
    dialog.threshold_spin.setValue(75)
    assert shown("trash") == (False, 50)
    assert shown("glass") == (False, 75)
    # A model without a recommendation, followed: the rules file's default.
    dialog.recommended_check.setChecked(True)
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("cifar10"))
    assert dialog.recommended_check.text() == "Use the model's recommendation (55 %)"
    assert shown("cat") == (False, 55)
    dialog.set_class_threshold("cat", 0.9)
    assert shown("cat") == (True, 90)
    assert dialog.current_settings().class_thresholds == {"cat": 0.9}
    assert dialog.current_settings().threshold is None
