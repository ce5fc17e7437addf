"""Statistics panel: a period chooser, summary numbers and charts, with PNG/CSV export.

Numbers come from :func:`app.core.stats.compute` (SQL aggregates); this panel only draws them.
``refresh()`` is debounced, so a burst of new records costs one recomputation.
"""

from __future__ import annotations

import csv
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

from PySide6.QtCore import QDate, QEvent, Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from app.core.bins import UNSURE_ID, BinRules
from app.core.history import HistoryError, HistoryStore
from app.core.stats import Stats, compute, period_bounds
from app.qt import charts
from app.qt.i18n import bin_name, label_text
from app.qt.widget_helpers import (
    button,
    debounce_timer,
    fill_combo,
    local_midnight,
    to_date,
    to_qdate,
)

log = logging.getLogger(__name__)

REFRESH_DELAY_MS = 500
HOURLY_MAX_SPAN = timedelta(days=2)  # longer periods are charted per day
NO_VALUE = "\u2013"  # an en dash: a rate of an empty period is undefined, not 0 %


class StatsPanel(QWidget):
    """Items sorted in a period: by class, by bin, over time, plus summary rates."""

    def __init__(
        self,
        store: HistoryStore,
        rules: BinRules | None = None,
        parent: QWidget | None = None,
        *,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._rules = rules
        self._export_dir = export_dir or Path.home()
        self.stats: Stats | None = None
        self._timer = debounce_timer(self, REFRESH_DELAY_MS, self.recompute)
        self._build()
        self.retranslate_ui()
        self.recompute()

    def _build(self) -> None:
        self.period_label, self.period_combo = QLabel(), QComboBox()
        self.from_edit, self.to_edit, self.to_label = QDateEdit(), QDateEdit(), QLabel()
        week_ago = QDate.currentDate().addDays(-6)
        for edit, start in ((self.from_edit, week_ago), (self.to_edit, QDate.currentDate())):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setDate(start)
            edit.dateChanged.connect(self._on_dates)
        self.period_combo.currentIndexChanged.connect(self._on_period)
        self.range_label = QLabel()
        self.png_button = button(self.export_png_dialog)
        self.csv_button = button(self.export_csv_dialog)
        top = QHBoxLayout()
        for w in (self.period_label, self.period_combo, self.from_edit, self.to_label,
                  self.to_edit, self.range_label):  # fmt: skip
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(self.png_button)
        top.addWidget(self.csv_button)

        # Everything below is what "Export PNG" saves.
        self.sheet = QWidget()
        self.sheet.setAutoFillBackground(True)
        summary = QHBoxLayout()
        self.total_title, self.total_value = _card(summary)
        self.conf_title, self.conf_value = _card(summary)
        self.unsure_title, self.unsure_value = _card(summary)
        self.corrected_title, self.corrected_value = _card(summary)
        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.class_view = charts.make_view()
        self.bin_view = charts.make_view()
        self.time_view = charts.make_view()
        grid = QGridLayout(self.sheet)
        grid.addLayout(summary, 0, 0, 1, 2)
        grid.addWidget(self.empty_label, 1, 0, 1, 2)
        grid.addWidget(self.class_view, 2, 0)
        grid.addWidget(self.bin_view, 2, 1)
        grid.addWidget(self.time_view, 3, 0, 1, 2)
        grid.setRowStretch(2, 3)
        grid.setRowStretch(3, 2)
        grid.setColumnStretch(0, 4)
        grid.setColumnStretch(1, 5)  # the pie's legend needs room for long bin names

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.sheet, 1)

    def retranslate_ui(self) -> None:
        """Set every text; called at start and when the UI language changes."""
        self.period_label.setText(self.tr("Period:"))
        self.to_label.setText(self.tr("to"))
        self.period_combo.blockSignals(True)
        fill_combo(self.period_combo, [
            ("day", self.tr("Today")), ("week", self.tr("This week")),
            ("month", self.tr("This month")), ("custom", self.tr("Custom range")),
        ])  # fmt: skip
        self.period_combo.blockSignals(False)
        self._enable_dates()
        self.png_button.setText(self.tr("Export PNG…"))
        self.png_button.setToolTip(self.tr("Save the charts and numbers as an image"))
        self.csv_button.setText(self.tr("Export CSV…"))
        self.csv_button.setToolTip(self.tr("Save the numbers as a CSV file"))
        self.total_title.setText(self.tr("Items sorted"))
        self.conf_title.setText(self.tr("Mean confidence"))
        self.unsure_title.setText(self.tr("Unsure rate"))
        self.unsure_title.setToolTip(
            self.tr("Share of items below their class threshold, which the station asked to check")
        )
        self.corrected_title.setText(
            self.tr("Correction rate (operators' estimate of the model's error rate)")
        )
        self.corrected_title.setToolTip(
            self.tr(
                "Share of items an operator corrected: the operators' estimate of the "
                "model's error rate (items nobody checked count as right)"
            )
        )
        self.empty_label.setText(self.tr("No items were sorted in this period."))
        if self.stats is not None:
            self._draw(self.stats)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate_ui()
        super().changeEvent(event)

    # -- computing --------------------------------------------------------------------------

    def period(self) -> tuple[datetime, datetime]:
        """``(since, until)`` of the chosen period as aware local datetimes."""
        choice = str(self.period_combo.currentData())
        if choice in ("day", "week", "month"):
            return period_bounds(choice)  # type: ignore[arg-type]
        start, end = to_date(self.from_edit.date()), to_date(self.to_edit.date())
        return local_midnight(start), local_midnight(end + timedelta(days=1))

    @Slot()
    def refresh(self) -> None:
        """Recompute soon; calls during the wait are folded into that one recomputation."""
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def recompute(self) -> None:
        """Recompute now and redraw."""
        self._timer.stop()
        since, until = self.period()
        hourly = until - since <= HOURLY_MAX_SPAN
        try:
            stats = compute(self._store, since, until, bucket="hour" if hourly else "day")
        except (HistoryError, ValueError) as exc:
            log.warning("statistics: %s", exc)
            self.empty_label.setText(str(exc))
            return
        self.stats = stats
        self._draw(stats)

    def set_rules(self, rules: BinRules) -> None:
        self._rules = rules
        if self.stats is not None:
            self._draw(self.stats)

    # -- drawing ----------------------------------------------------------------------------

    def _draw(self, stats: Stats) -> None:
        last_day = (stats.until - timedelta(microseconds=1)).date()
        first_day = stats.since.date()
        span = f"{first_day:%Y-%m-%d}"
        if last_day != first_day:
            span += f" \u2013 {last_day:%Y-%m-%d}"
        self.range_label.setText(span)
        self.total_value.setText(f"{stats.total:,}")
        self.conf_value.setText(_percent(stats.mean_confidence) if stats.total else NO_VALUE)
        self.unsure_value.setText(_rate(stats.unsure_rate, stats.unsure, stats.total))
        self.corrected_value.setText(_rate(stats.correction_rate, stats.corrected, stats.total))
        self.empty_label.setVisible(stats.total == 0)

        other = self.tr("other")
        classes = [(label_text(name), n) for name, n in stats.by_label]
        self.class_set = charts.class_bars(
            self.class_view, self.tr("Items by class"), charts.top_counts(classes, other=other)
        )
        slices = [(*self._bin_look(bin_id), n) for bin_id, n in stats.by_bin]
        self.bin_series = charts.bin_pie(
            self.bin_view,
            self.tr("Items by bin"),
            [(name, n, colour, text) for name, colour, text, n in slices],
        )
        if stats.per_hour:
            hourly_fmt = "%H" if len(stats.per_hour) <= 25 else "%d %Hh"
            self.time_series = charts.time_chart(
                self.time_view, self.tr("Items per hour"), stats.per_hour, hourly_fmt
            )
        else:
            days: list[tuple[date, int]] = list(stats.per_day)
            self.time_series = charts.time_chart(
                self.time_view, self.tr("Items per day"), days, "%m-%d"
            )

    def _bin_look(self, bin_id: str) -> tuple[str, str | None, str | None]:
        """(display name, colour, text colour) of a bin; the raw id without rules."""
        found = None
        if self._rules is not None:
            found = self._rules.unsure if bin_id == UNSURE_ID else self._rules.bins.get(bin_id)
        if found is None:
            return bin_id, None, None
        return bin_name(found), found.colour, found.text_colour

    # -- exporting ----------------------------------------------------------------------------

    @Slot()
    def export_png_dialog(self) -> None:
        default = self._export_dir / f"waste-stats-{datetime.now():%Y%m%d-%H%M}.png"
        name, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export charts as PNG"), str(default), self.tr("PNG images (*.png)")
        )
        if name and not self.export_png(Path(name)):
            QMessageBox.warning(
                self, self.tr("Statistics"), self.tr("Could not save {path}").format(path=name)
            )

    def export_png(self, path: Path) -> bool:
        """Save the numbers and charts, as shown, to ``path``."""
        return bool(self.sheet.grab().save(str(path), "PNG"))

    @Slot()
    def export_csv_dialog(self) -> None:
        default = self._export_dir / f"waste-stats-{datetime.now():%Y%m%d-%H%M}.csv"
        name, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export statistics as CSV"), str(default), self.tr("CSV files (*.csv)")
        )
        if name:
            try:
                self.export_csv(Path(name))
            except OSError as exc:
                QMessageBox.warning(self, self.tr("Statistics"), str(exc))

    def export_csv(self, path: Path) -> int:
        """Write ``Stats.to_rows()`` of the shown period to ``path``; returns the data rows."""
        if self.stats is None:
            self.recompute()
        assert self.stats is not None
        rows = self.stats.to_rows()
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)
        return len(rows) - 1

    # -- period widgets ------------------------------------------------------------------------

    def set_period(self, period: str, start: date | None = None, end: date | None = None) -> None:
        """Choose "day", "week", "month" or "custom" (with ``start``/``end`` days) and redraw."""
        self.period_combo.blockSignals(True)
        self.period_combo.setCurrentIndex(self.period_combo.findData(period))
        self.period_combo.blockSignals(False)
        for edit, day in ((self.from_edit, start), (self.to_edit, end)):
            if day is not None:
                edit.blockSignals(True)
                edit.setDate(to_qdate(day))
                edit.blockSignals(False)
        self._enable_dates()
        self.recompute()

    def _on_period(self) -> None:
        self._enable_dates()
        self.recompute()

    def _on_dates(self) -> None:
        if self.to_edit.date() < self.from_edit.date():
            self.to_edit.blockSignals(True)
            self.to_edit.setDate(self.from_edit.date())
            self.to_edit.blockSignals(False)
        if self.period_combo.currentData() == "custom":
            self.recompute()

    def _enable_dates(self) -> None:
        custom = self.period_combo.currentData() == "custom"
        for w in (self.from_edit, self.to_edit, self.to_label):
            w.setVisible(custom)
        self.range_label.setVisible(not custom)


def _card(row: QHBoxLayout) -> tuple[QLabel, QLabel]:
    """A framed title + big number pair added to ``row``."""
    frame = QFrame()
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    title, value = QLabel(), QLabel()
    title.setWordWrap(True)
    font = value.font()
    font.setPointSizeF(font.pointSizeF() * 1.8)
    font.setBold(True)
    value.setFont(font)
    box = QVBoxLayout(frame)
    box.addWidget(title)
    box.addWidget(value)
    row.addWidget(frame)
    return title, value


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def _rate(rate: float, count: int, total: int) -> str:
    return f"{_percent(rate)} ({count:,}/{total:,})" if total else NO_VALUE
