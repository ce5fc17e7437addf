"""The history panel's filter bar: period, class, bin, confidence, corrections and search."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from PySide6.QtCore import QDate, QEvent, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.history import RecordFilter
from app.qt.i18n import label_text
from app.qt.widget_helpers import button, fill_combo, local_midnight, to_date, to_qdate

SEARCH_DELAY_MS = 300
# Preset -> how many days before today its range starts (None: no lower bound / custom).
PRESET_DAYS: dict[str, int] = {"today": 0, "7d": 6, "30d": 29}


class HistoryFilterBar(QWidget):
    """Widgets that describe a :class:`RecordFilter`; ``filter_changed`` when the user edits.

    Typing in the search box is debounced so each keystroke does not run a query.
    """

    filter_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._updating = False  # set while widgets are changed by code, not the user
        self._labels: list[str] = []
        self._bins: list[tuple[str, str]] = []
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._emit)

        self.period_label, self.preset_combo = QLabel(), QComboBox()
        self.from_edit, self.to_edit = QDateEdit(), QDateEdit()
        for edit in (self.from_edit, self.to_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(QDate.currentDate())
            edit.dateChanged.connect(self._on_date_edited)
        self.to_label = QLabel()
        self.class_label, self.class_combo = QLabel(), QComboBox()
        self.bin_label, self.bin_combo = QLabel(), QComboBox()
        for combo in (self.class_combo, self.bin_combo):
            # Bin names from a rules file can be long; do not let them stretch the bar.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(14)
        self.conf_label, self.conf_spin = QLabel(), QSpinBox()
        self.conf_spin.setRange(0, 100)
        self.conf_spin.setSuffix(" %")
        self.corrected_combo = QComboBox()
        self.search_edit = QLineEdit(clearButtonEnabled=True)
        self.search_edit.textChanged.connect(self._search_timer.start)
        self.clear_button = button(self.clear)
        self.preset_combo.currentIndexChanged.connect(self._on_preset)
        for combo in (self.class_combo, self.bin_combo, self.corrected_combo):
            combo.currentIndexChanged.connect(self._on_widget)
        self.conf_spin.valueChanged.connect(self._on_widget)

        row1 = QHBoxLayout()
        w: QWidget
        for w in (self.period_label, self.preset_combo, self.from_edit, self.to_label,
                  self.to_edit, self.class_label, self.class_combo, self.bin_label,
                  self.bin_combo):  # fmt: skip
            row1.addWidget(w)
        row1.addStretch(1)
        row2 = QHBoxLayout()
        for w in (self.conf_label, self.conf_spin, self.corrected_combo):
            row2.addWidget(w)
        row2.addWidget(self.search_edit, 1)
        row2.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row1)
        layout.addLayout(row2)
        self.retranslate_ui()
        self.set_preset("all")

    def retranslate_ui(self) -> None:
        self._updating = True
        try:
            self.period_label.setText(self.tr("Period:"))
            self.to_label.setText(self.tr("to"))
            fill_combo(self.preset_combo, [
                ("today", self.tr("Today")), ("7d", self.tr("Last 7 days")),
                ("30d", self.tr("Last 30 days")), ("all", self.tr("All time")),
                ("custom", self.tr("Custom range")),
            ])  # fmt: skip
            self.class_label.setText(self.tr("Class:"))
            self.bin_label.setText(self.tr("Bin:"))
            self.conf_label.setText(self.tr("Min. confidence:"))
            fill_combo(self.corrected_combo, [
                (None, self.tr("Corrected or not")), (True, self.tr("Corrected only")),
                (False, self.tr("Not corrected")),
            ])  # fmt: skip
            self.search_edit.setPlaceholderText(self.tr("Search source, class or note…"))
            self.clear_button.setText(self.tr("Clear filters"))
            self._fill_labels()
            self._fill_bins()
        finally:
            self._updating = False

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate_ui()
        super().changeEvent(event)

    # -- choices ----------------------------------------------------------------------------

    def set_labels(self, labels: Iterable[str]) -> None:
        """Classes offered in the class filter (sorted; the selection is kept if offered)."""
        self._labels = sorted(set(labels))
        self._updating = True
        try:
            self._fill_labels()
        finally:
            self._updating = False

    def offered_labels(self) -> list[str]:
        return list(self._labels)

    def set_bins(self, bins: Sequence[tuple[str, str]]) -> None:
        """Bins offered in the bin filter, as (bin id, display name)."""
        self._bins = list(bins)
        self._updating = True
        try:
            self._fill_bins()
        finally:
            self._updating = False

    def _fill_labels(self) -> None:
        items: list[tuple[object, str]] = [(None, self.tr("All classes"))]
        items += [(label, label_text(label)) for label in self._labels]
        fill_combo(self.class_combo, items)

    def _fill_bins(self) -> None:
        items: list[tuple[object, str]] = [(None, self.tr("All bins"))]
        items += list(self._bins)
        fill_combo(self.bin_combo, items)

    # -- the filter -----------------------------------------------------------------------------

    def current_filter(self) -> RecordFilter:
        """The filter the widgets describe (dates are local calendar days, "to" included)."""
        preset = self.preset_combo.currentData()
        since = until = None
        if preset != "all":
            since = local_midnight(to_date(self.from_edit.date()))
            if preset == "custom":
                until = local_midnight(to_date(self.to_edit.date()) + timedelta(days=1))
        label, bin_id = self.class_combo.currentData(), self.bin_combo.currentData()
        conf = self.conf_spin.value()
        return RecordFilter(
            since=since,
            until=until,
            labels=(label,) if label else (),
            bins=(bin_id,) if bin_id else (),
            min_conf=conf / 100.0 if conf else None,
            corrected=self.corrected_combo.currentData(),
            text=self.search_edit.text().strip() or None,
        )

    @Slot()
    def clear(self) -> None:
        self._updating = True
        try:
            for combo in (self.class_combo, self.bin_combo, self.corrected_combo):
                combo.setCurrentIndex(0)
            self.conf_spin.setValue(0)
            self.search_edit.clear()
            self.set_preset("all")
        finally:
            self._updating = False
        self._emit()

    def set_preset(self, preset: str) -> None:
        """Select ``preset`` and show its days in the date edits (no ``filter_changed``)."""
        was = self._updating
        self._updating = True
        try:
            self.preset_combo.setCurrentIndex(self.preset_combo.findData(preset))
            # "All time" has no dates to show; "Custom range" brings them back.
            for w in (self.from_edit, self.to_label, self.to_edit):
                w.setVisible(preset != "all")
            back = PRESET_DAYS.get(preset)
            if back is not None:
                today = date.today()
                self.from_edit.setDate(to_qdate(today - timedelta(days=back)))
                self.to_edit.setDate(to_qdate(today))
        finally:
            self._updating = was

    def roll_preset(self) -> bool:
        """Move a relative preset ("Today", "Last 7 days") on after midnight; True if it moved."""
        preset = str(self.preset_combo.currentData())
        back = PRESET_DAYS.get(preset)
        if back is None or self.from_edit.date() == to_qdate(date.today() - timedelta(days=back)):
            return False
        self.set_preset(preset)
        return True

    def _on_preset(self) -> None:
        if not self._updating:
            self.set_preset(str(self.preset_combo.currentData()))
            self._emit()

    def _on_date_edited(self) -> None:
        if self._updating:
            return
        if self.to_edit.date() < self.from_edit.date():
            self._updating = True
            self.to_edit.setDate(self.from_edit.date())
            self._updating = False
        self.set_preset("custom")
        self._emit()

    def _on_widget(self) -> None:
        if not self._updating:
            self._emit()

    def _emit(self) -> None:
        self._search_timer.stop()
        self.filter_changed.emit()
