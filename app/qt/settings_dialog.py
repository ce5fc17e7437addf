"""Settings dialog: camera, model and thresholds, auto-capture, privacy, bin rules, language.

It edits a copy of :class:`Settings`; ``settings()`` returns the new one after ``accept``.
Values are checked on OK and problems are shown in the dialog, which then stays open.

The overall threshold follows the chosen model's recommendation (``threshold=None``) unless
the user unticks that and sets one; each class may have its own (:mod:`app.core.bins` gives
the order in which they apply).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSlider,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.bins import DEFAULT_THRESHOLD, BinRules, BinRulesError, preset_path
from app.core.model_info import ModelInfo
from app.core.registry import ModelEntry
from app.core.settings import KEEP_IMAGES, Settings
from app.qt.i18n import label_text, language_choices, preset_choices
from app.qt.widget_helpers import button

RESOLUTIONS: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (1920, 1080))
TIMES = "\u00d7"  # the multiplication sign in "1280 x 720"


def percent_spin(value: float) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, 100)
    spin.setSuffix(" %")
    spin.setValue(round(value * 100))
    return spin


class SettingsDialog(QDialog):
    """Edits ``settings``; ``cameras`` are camera specs ("0", "1", or a video path).

    ``models`` give each model's labels and recommended threshold; ``rules`` (the bin rules
    without the settings' thresholds) give the rules file's default and per-class thresholds.
    """

    def __init__(
        self,
        settings: Settings,
        cameras: Sequence[str],
        models: Sequence[ModelEntry],
        parent: QWidget | None = None,
        *,
        rules: BinRules | None = None,
    ) -> None:
        super().__init__(parent)
        self._original = settings
        # Per-class thresholds of the bin rules apply where the settings set none.
        self._rule_thresholds = dict(rules.class_thresholds) if rules is not None else {}
        self._rules_default = rules.default_threshold if rules is not None else DEFAULT_THRESHOLD
        # The user's own overall threshold (percent), kept while the recommendation is ticked.
        own = settings.threshold
        self._own_threshold = None if own is None else round(own * 100)
        self._models = list(models)
        self._thresholds = dict(settings.class_thresholds)  # kept across model switches
        self._result = settings
        self._labels: dict[str, QLabel] = {}  # form row labels, texts set by retranslate_ui
        self.tabs = QTabWidget()
        self.tabs.addTab(self._camera_tab(settings, cameras), "")
        self.tabs.addTab(self._model_tab(settings), "")
        self.tabs.addTab(self._history_tab(settings), "")
        self.tabs.addTab(self._general_tab(settings), "")
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #B71C1C;")
        self.error_label.hide()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.retranslate_ui()
        self._fill_class_table()

    # -- tabs -------------------------------------------------------------------------------

    def _row_label(self, key: str) -> QLabel:
        self._labels[key] = QLabel()
        return self._labels[key]

    def _camera_tab(self, s: Settings, cameras: Sequence[str]) -> QWidget:
        self.camera_combo = QComboBox()
        self.camera_combo.setEditable(True)  # a video file or stream URL may be typed
        self._cameras = list(dict.fromkeys([*cameras, s.camera]))
        self.camera_browse = button(self._browse_video)
        self.resolution_combo = QComboBox()
        sizes = list(RESOLUTIONS)
        if s.resolution is not None and s.resolution not in sizes:
            sizes.append(s.resolution)
        self._resolutions: list[tuple[int, int] | None] = [None, *sizes]
        self.auto_check = QCheckBox()
        self.auto_check.setChecked(s.auto_capture)
        self.sensitivity_slider = QSlider(Qt.Orientation.Horizontal)
        self.sensitivity_slider.setRange(0, 100)
        self.sensitivity_slider.setValue(round(s.capture_sensitivity * 100))
        self.sensitivity_value = QLabel()
        self.sensitivity_slider.valueChanged.connect(
            lambda v: self.sensitivity_value.setText(f"{v} %")
        )
        self.sensitivity_value.setText(f"{self.sensitivity_slider.value()} %")
        self.hold_spin = QDoubleSpinBox()
        self.hold_spin.setRange(0.1, 10.0)
        self.hold_spin.setSingleStep(0.1)
        self.hold_spin.setDecimals(1)
        self.hold_spin.setValue(s.capture_hold_s)
        self.auto_check.toggled.connect(self._enable_capture)

        camera_row = QHBoxLayout()
        camera_row.addWidget(self.camera_combo, 1)
        camera_row.addWidget(self.camera_browse)
        sensitivity_row = QHBoxLayout()
        sensitivity_row.addWidget(self.sensitivity_slider, 1)
        sensitivity_row.addWidget(self.sensitivity_value)
        page = QWidget()
        self.camera_form = QFormLayout(page)
        self.camera_form.addRow(self._row_label("camera"), camera_row)
        self.camera_form.addRow(self._row_label("resolution"), self.resolution_combo)
        self.camera_form.addRow(self.auto_check)
        self.camera_form.addRow(self._row_label("sensitivity"), sensitivity_row)
        self.camera_form.addRow(self._row_label("hold"), self.hold_spin)
        self._enable_capture()
        return page

    def _model_tab(self, s: Settings) -> QWidget:
        self.model_combo = QComboBox()
        for entry in self._models:
            name = entry.info.name if entry.info is not None else entry.path.name
            self.model_combo.addItem(name, entry.id)
            if not entry.ok:  # listed so the user sees it, but it cannot be chosen
                item = self.model_combo.model().item(self.model_combo.count() - 1)  # type: ignore[attr-defined]
                item.setEnabled(False)
                item.setToolTip(entry.error or "")
        index = self.model_combo.findData(s.model_id)
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        own = s.threshold
        self.threshold_spin = percent_spin(self._recommended() if own is None else own)
        self.threshold_spin.setEnabled(own is not None)
        self.threshold_spin.valueChanged.connect(lambda _v: self._sync_default_thresholds())
        self.recommended_check = QCheckBox()
        self.recommended_check.setChecked(own is None)
        self.recommended_check.toggled.connect(self._on_recommended_toggled)
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold_spin)
        threshold_row.addWidget(self.recommended_check, 1)
        self.class_table = QTableWidget(0, 2)
        self.class_table.verticalHeader().hide()
        self.class_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.class_table.itemChanged.connect(self._on_class_checked)
        self.class_hint = QLabel()
        self.class_hint.setWordWrap(True)
        page = QWidget()
        self.model_form = QFormLayout(page)
        self.model_form.addRow(self._row_label("model"), self.model_combo)
        self.model_form.addRow(self._row_label("threshold"), threshold_row)
        self.model_form.addRow(self.class_hint)
        self.model_form.addRow(self.class_table)
        return page

    def _history_tab(self, s: Settings) -> QWidget:
        self.images_combo = QComboBox()
        for value in KEEP_IMAGES:
            self.images_combo.addItem(value, value)
        self.images_combo.setCurrentIndex(max(0, self.images_combo.findData(s.keep_images)))
        self.privacy_hint = QLabel()
        self.privacy_hint.setWordWrap(True)
        self.retention_spin = QSpinBox()
        self.retention_spin.setRange(0, 3650)
        self.retention_spin.setValue(s.retention_days)
        page = QWidget()
        self.history_form = QFormLayout(page)
        self.history_form.addRow(self._row_label("images"), self.images_combo)
        self.history_form.addRow(self.privacy_hint)
        self.history_form.addRow(self._row_label("retention"), self.retention_spin)
        return page

    def _general_tab(self, s: Settings) -> QWidget:
        self.preset_combo = QComboBox()
        self.bins_edit = QLineEdit(s.bins_file or "")
        self.bins_edit.setClearButtonEnabled(True)
        self.bins_browse = button(self._browse_bins)
        self.language_combo = QComboBox()
        bins_row = QHBoxLayout()
        bins_row.addWidget(self.bins_edit, 1)
        bins_row.addWidget(self.bins_browse)
        self.bins_hint = QLabel()
        self.bins_hint.setWordWrap(True)
        page = QWidget()
        self.general_form = QFormLayout(page)
        self.general_form.addRow(self._row_label("preset"), self.preset_combo)
        self.general_form.addRow(self._row_label("bins"), bins_row)
        self.general_form.addRow(self.bins_hint)
        self.general_form.addRow(self._row_label("language"), self.language_combo)
        self._language = s.language
        return page

    # -- texts ------------------------------------------------------------------------------

    def retranslate_ui(self) -> None:
        """Set every text; called at start and when the UI language changes."""
        self.setWindowTitle(self.tr("Settings"))
        for index, title in enumerate(
            (self.tr("Camera"), self.tr("Model"), self.tr("History"), self.tr("General"))
        ):
            self.tabs.setTabText(index, title)
        self._labels["camera"].setText(self.tr("Camera:"))
        self._labels["resolution"].setText(self.tr("Resolution:"))
        self._labels["sensitivity"].setText(self.tr("Sensitivity:"))
        self._labels["hold"].setText(self.tr("Hold still for:"))
        self.camera_browse.setText(self.tr("Video file…"))
        camera = self.camera_spec() if self.camera_combo.count() else self._original.camera
        self.camera_combo.clear()
        for spec in self._cameras:
            shown = self.tr("Camera {n}").format(n=spec) if spec.isdigit() else spec
            self.camera_combo.addItem(shown, spec)
        self._set_camera(camera)
        current = self.resolution_combo.currentIndex()
        self.resolution_combo.clear()
        for size in self._resolutions:
            text = self.tr("Camera default") if size is None else f"{size[0]} {TIMES} {size[1]}"
            self.resolution_combo.addItem(text)
        initial = self._resolutions.index(self._original.resolution)
        self.resolution_combo.setCurrentIndex(current if current >= 0 else initial)
        self.auto_check.setText(self.tr("Capture automatically when an item is held still"))
        self.sensitivity_slider.setToolTip(
            self.tr("Higher values react to smaller items and smaller changes in the picture")
        )
        self.hold_spin.setSuffix(" " + self.tr("s"))
        self._labels["model"].setText(self.tr("Model:"))
        self._labels["threshold"].setText(self.tr("Confidence threshold:"))
        self.threshold_spin.setToolTip(
            self.tr("Below this confidence the station asks the operator to check the item")
        )
        self.recommended_check.setToolTip(
            self.tr(
                "The threshold chosen for this model from its measured errors on validation "
                "images; it changes with the model"
            )
        )
        self._show_recommendation()
        self.class_hint.setText(
            self.tr("Tick a class to give it its own threshold instead of the overall one.")
        )
        self.class_table.setHorizontalHeaderLabels([self.tr("Class"), self.tr("Threshold")])
        self._labels["images"].setText(self.tr("Pictures kept with each record:"))
        names = {
            "nothing": self.tr("Nothing (class, confidence and time only)"),
            "thumbnail": self.tr("A small picture"),
            "crop": self.tr("A small picture and a training crop (to teach the station)"),
        }
        for i in range(self.images_combo.count()):
            self.images_combo.setItemText(i, names[str(self.images_combo.itemData(i))])
        self.privacy_hint.setText(
            self.tr(
                "Pictures help to check and correct results and to export a dataset; training "
                "crops (about 15 KB each) let the station learn from corrected and confirmed "
                "records. Choose Nothing where people or personal data may be in view. "
                "Records, with their pictures, are deleted after the time below."
            )
        )
        self._labels["retention"].setText(self.tr("Delete records after:"))
        self.retention_spin.setSuffix(" " + self.tr("days"))
        self.retention_spin.setSpecialValueText(self.tr("Keep forever"))
        self._labels["preset"].setText(self.tr("Bin rules:"))
        self.preset_combo.setToolTip(
            self.tr("Which bins the station sorts into; names follow the language chosen below")
        )
        preset = self.preset_combo.currentData() or self._original.bin_preset
        self.preset_combo.clear()
        for preset_id, name in preset_choices():
            self.preset_combo.addItem(name, preset_id)
        self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(preset)))
        self._labels["bins"].setText(self.tr("Bin rules file:"))
        self.bins_edit.setPlaceholderText(self.tr("Default (bins.json in the data folder)"))
        self.bins_browse.setText(self.tr("Browse…"))
        self.bins_hint.setText(
            self.tr("A JSON file that maps classes to bins; it is merged over the chosen rules.")
        )
        self._labels["language"].setText(self.tr("Language:"))
        language = self.language_combo.currentData() or self._language
        self.language_combo.clear()
        for code, name in language_choices():
            self.language_combo.addItem(name, code)
        self.language_combo.setCurrentIndex(max(0, self.language_combo.findData(language)))
        # Qt ships no Vietnamese catalogue for its standard buttons, so name them here.
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("OK"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate_ui()
        super().changeEvent(event)

    # -- per-class thresholds -------------------------------------------------------------------

    def _model_info(self) -> ModelInfo | None:
        """The model chosen in the combo box (None when it cannot be read)."""
        for entry in self._models:
            if entry.id == self.model_combo.currentData():
                return entry.info
        return None

    def _model_labels(self) -> list[str]:
        info = self._model_info()
        return list(info.labels) if info is not None else []

    # -- overall threshold ------------------------------------------------------------------

    def _recommended(self) -> float:
        """The overall threshold when the user sets none: the chosen model's recommendation,
        else the bin rules' default."""
        info = self._model_info()
        if info is not None and info.unsure_threshold is not None:
            return info.unsure_threshold
        return self._rules_default

    def _show_recommendation(self) -> None:
        """The checkbox names the recommended value; while ticked the spin box shows it."""
        percent = round(self._recommended() * 100)
        self.recommended_check.setText(
            self.tr("Use the model's recommendation ({value} %)").format(value=percent)
        )
        if self.recommended_check.isChecked():
            self.threshold_spin.setValue(percent)

    def _on_recommended_toggled(self, follow: bool) -> None:
        self.threshold_spin.setEnabled(not follow)
        if follow:
            self._own_threshold = self.threshold_spin.value()
            self._show_recommendation()
        elif self._own_threshold is not None:  # back to what the user had set
            self.threshold_spin.setValue(self._own_threshold)

    def _on_model_changed(self) -> None:
        self._show_recommendation()
        self._fill_class_table()

    def _fill_class_table(self) -> None:
        self._store_table()
        labels = self._model_labels()
        labels += sorted(set(self._thresholds) - set(labels))  # other models' overrides stay
        table = self.class_table
        table.blockSignals(True)
        table.setRowCount(len(labels))
        for row, label in enumerate(labels):
            item = QTableWidgetItem(label_text(label))
            item.setData(Qt.ItemDataRole.UserRole, label)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            own = label in self._thresholds
            item.setCheckState(Qt.CheckState.Checked if own else Qt.CheckState.Unchecked)
            table.setItem(row, 0, item)
            spin = percent_spin(self._thresholds.get(label, self._default_for(label)))
            spin.setEnabled(own)
            table.setCellWidget(row, 1, spin)
        table.blockSignals(False)

    def _store_table(self) -> None:
        """Remember the table's overrides (so a model switch does not lose them)."""
        for row in range(self.class_table.rowCount()):
            item, spin = self.class_table.item(row, 0), self.class_table.cellWidget(row, 1)
            if item is None:
                continue
            label = str(item.data(Qt.ItemDataRole.UserRole))
            if item.checkState() == Qt.CheckState.Checked and isinstance(spin, QSpinBox):
                self._thresholds[label] = spin.value() / 100
            else:
                self._thresholds.pop(label, None)

    def _on_class_checked(self, item: QTableWidgetItem) -> None:
        spin = self.class_table.cellWidget(item.row(), 1)
        if spin is not None:
            spin.setEnabled(item.checkState() == Qt.CheckState.Checked)
            self._sync_default_thresholds()

    def _default_for(self, label: str) -> float:
        """The threshold an unticked class gets: its bin rule's, else the overall one (the
        spin box shows the model's recommendation while that is ticked)."""
        return self._rule_thresholds.get(label, self.threshold_spin.value() / 100)

    def _sync_default_thresholds(self) -> None:
        """Unticked classes show the threshold they will get."""
        for row in range(self.class_table.rowCount()):
            item, spin = self.class_table.item(row, 0), self.class_table.cellWidget(row, 1)
            if item is not None and isinstance(spin, QSpinBox) and not spin.isEnabled():
                label = str(item.data(Qt.ItemDataRole.UserRole))
                spin.setValue(round(self._default_for(label) * 100))

    def set_class_threshold(self, label: str, value: float | None) -> None:
        """Tick ``label`` with ``value`` (or untick it with None), as a user would."""
        for row in range(self.class_table.rowCount()):
            item = self.class_table.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == label:
                spin = self.class_table.cellWidget(row, 1)
                if value is not None and isinstance(spin, QSpinBox):
                    spin.setValue(round(value * 100))
                state = Qt.CheckState.Unchecked if value is None else Qt.CheckState.Checked
                item.setCheckState(state)
                return
        raise KeyError(label)

    # -- result -----------------------------------------------------------------------------------

    def camera_spec(self) -> str:
        text = self.camera_combo.currentText().strip()
        index = self.camera_combo.findText(text)
        return str(self.camera_combo.itemData(index)) if index >= 0 else text

    def _set_camera(self, spec: str) -> None:
        index = self.camera_combo.findData(spec)
        if index >= 0:
            self.camera_combo.setCurrentIndex(index)
        else:
            self.camera_combo.setEditText(spec)

    def current_settings(self) -> Settings:
        """The settings the widgets describe now (before validation)."""
        self._store_table()
        bins_file = self.bins_edit.text().strip()
        return dataclasses.replace(
            self._original,
            camera=self.camera_spec(),
            resolution=self._resolutions[max(0, self.resolution_combo.currentIndex())],
            model_id=str(self.model_combo.currentData() or self._original.model_id),
            threshold=(
                None if self.recommended_check.isChecked() else self.threshold_spin.value() / 100
            ),
            class_thresholds=dict(sorted(self._thresholds.items())),
            auto_capture=self.auto_check.isChecked(),
            capture_sensitivity=self.sensitivity_slider.value() / 100,
            capture_hold_s=round(self.hold_spin.value(), 1),
            keep_images=str(self.images_combo.currentData() or self._original.keep_images),
            retention_days=self.retention_spin.value(),
            bin_preset=str(self.preset_combo.currentData() or self._original.bin_preset),
            bins_file=bins_file or None,
            language=str(self.language_combo.currentData() or "system"),
        )

    def validate(self, s: Settings) -> list[str]:
        """Problems that stop the settings being used, as sentences for the user."""
        problems = []
        if not s.camera:
            problems.append(self.tr("Choose a camera or type the path of a video file."))
        entry = next((e for e in self._models if e.id == s.model_id), None)
        if self._models and (entry is None or not entry.ok):
            problems.append(
                self.tr("The model “{model}” cannot be used: {error}").format(
                    model=s.model_id,
                    error=entry.error if entry else self.tr("not found"),
                )
            )
        if s.bins_file:
            path = Path(s.bins_file).expanduser()
            if not path.is_file():
                problems.append(
                    self.tr("The bin rules file {path} does not exist.").format(path=path)
                )
            else:
                try:
                    warning = BinRules.load(preset_path(s.bin_preset), path).warning
                except BinRulesError as exc:
                    warning = str(exc)
                if warning:
                    problems.append(
                        self.tr("The bin rules file cannot be used: {error}").format(error=warning)
                    )
        return problems

    def accept(self) -> None:
        candidate = self.current_settings()
        problems = self.validate(candidate)
        if problems:
            self.error_label.setText("\n".join(problems))
            self.error_label.show()
            return
        self._result = candidate
        super().accept()

    def settings(self) -> Settings:
        """The accepted settings (the original ones if the dialog was cancelled)."""
        return self._result

    # -- helpers ------------------------------------------------------------------------

    def _enable_capture(self) -> None:
        on = self.auto_check.isChecked()
        for w in (self.sensitivity_slider, self.sensitivity_value, self.hold_spin):
            w.setEnabled(on)

    def _browse_video(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, self.tr("Choose a video file"), "",
            self.tr("Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)"),
        )  # fmt: skip
        if name:
            self._set_camera(name)

    def _browse_bins(self) -> None:
        start = self.bins_edit.text() or str(Path.home())
        name, _ = QFileDialog.getOpenFileName(
            self, self.tr("Choose a bin rules file"), start, self.tr("JSON files (*.json)")
        )
        if name:
            self.bins_edit.setText(name)
