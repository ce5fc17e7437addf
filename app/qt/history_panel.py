"""History panel: the paged record table, its filters, corrections, deletion and exports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QSize, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.bins import UNSURE_ID, BinRules
from app.core.dataset_export import DatasetExportReport, export_dataset
from app.core.history import HistoryError, HistoryStore
from app.qt.correction_dialog import CorrectionDialog
from app.qt.history_filters import HistoryFilterBar
from app.qt.history_model import CORRECTED_MARK, THUMB_SIZE, Column, HistoryTableModel
from app.qt.i18n import label_text
from app.qt.widget_helpers import button, debounce_timer

log = logging.getLogger(__name__)

REFRESH_DELAY_MS = 200


class HistoryPanel(QWidget):
    """Every classification, newest first, filterable, correctable and exportable.

    ``records_changed`` fires after this panel corrected or deleted records (not for records
    added elsewhere: call :meth:`refresh` for those); ``record_corrected(id, label)`` fires
    once per corrected record.
    """

    records_changed = Signal()
    record_corrected = Signal(int, str)

    def __init__(
        self,
        store: HistoryStore,
        rules: BinRules,
        labels: Sequence[str],
        parent: QWidget | None = None,
        *,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._rules = rules
        self._labels = list(labels)
        self._export_dir = export_dir or Path.home()
        self.model = HistoryTableModel(store, rules, self)
        self.filters = HistoryFilterBar(self)
        self.filters.filter_changed.connect(self.apply_filters)
        self._refresh_timer = debounce_timer(self, REFRESH_DELAY_MS, self.refresh_now)
        self._build()
        self.retranslate_ui()
        self.apply_filters()

    def _build(self) -> None:
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(THUMB_SIZE + 6)
        self.table.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(Column.SOURCE, QHeaderView.ResizeMode.Stretch)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.doubleClicked.connect(lambda _index: self.correct_selected())
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)

        self.correct_action = _action(self, self.correct_selected)
        self.restore_action = _action(self, self.restore_selected)
        self.confirm_action = _action(self, self.confirm_selected)
        self.delete_action = _action(self, self.delete_selected)
        self.delete_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.delete_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.table.addAction(self.delete_action)

        self.status_label = QLabel()
        self.correct_button = button(self.correct_selected)
        self.confirm_button = button(self.confirm_selected)
        self.delete_button = button(self.delete_selected)
        self.csv_button = button(self.export_csv_dialog)
        self.dataset_button = button(self.export_dataset_dialog)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status_label, 1)
        for b in (self.confirm_button, self.correct_button, self.delete_button, self.csv_button,
                  self.dataset_button):
            bottom.addWidget(b)

        layout = QVBoxLayout(self)
        layout.addWidget(self.filters)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self.model.modelReset.connect(self._update_status)
        self.model.rowsInserted.connect(self._update_status)
        self.model.rowsRemoved.connect(self._update_status)

    def retranslate_ui(self) -> None:
        """Set every text; called at start and when the UI language changes."""
        self.correct_action.setText(self.tr("Correct class…"))
        self.restore_action.setText(self.tr("Restore the model's class"))
        self.confirm_action.setText(self.tr("Mark as right"))
        self.confirm_button.setText(self.tr("Right \u2713"))
        self.confirm_button.setToolTip(
            self.tr("The model's class is right for the selected records (teaching learns it)")
        )
        self.delete_action.setText(self.tr("Delete…"))
        self.correct_button.setText(self.tr("Correct class…"))
        self.correct_button.setToolTip(self.tr("Set the right class for the selected records"))
        self.delete_button.setText(self.tr("Delete…"))
        self.delete_button.setToolTip(self.tr("Delete the selected records"))
        self.csv_button.setText(self.tr("Export CSV…"))
        self.csv_button.setToolTip(self.tr("Save the records that match the filters as CSV"))
        self.dataset_button.setText(self.tr("Export dataset…"))
        self.dataset_button.setToolTip(
            self.tr("Save the thumbnails of corrected records, one folder per class")
        )
        self._offer_choices()
        self.model.retranslate()
        self._size_columns()
        self._update_status()

    def _size_columns(self) -> None:
        """Widths from the texts a column can hold (they change with the language).

        Measured from known texts, not rows: ResizeToContents would measure every loaded row.
        """
        metrics = self.table.horizontalHeader().fontMetrics()

        def fit(texts: Iterable[str], extra: int = 20, cap: int = 320) -> int:
            return min(cap, max(metrics.horizontalAdvance(t) for t in texts) + extra)

        def title(col: Column) -> str:
            return str(self.model.headerData(col, Qt.Orientation.Horizontal))

        classes = [label_text(x) + " " + CORRECTED_MARK for x in self.correction_labels()]
        bins = [self.model.bin_name(b) for b in [*self._rules.bins, UNSURE_ID]]
        widths = {
            Column.TIME: fit([title(Column.TIME), "2026-12-31 23:59:59"]),
            Column.THUMB: fit([title(Column.THUMB)], cap=THUMB_SIZE + 16) + 0,
            Column.CLASS: fit([title(Column.CLASS), *classes]),
            Column.CONFIDENCE: fit([title(Column.CONFIDENCE), "100.0 %"]),
            Column.BIN: fit([title(Column.BIN), *bins], extra=40, cap=260),
            Column.MODEL: fit([title(Column.MODEL), "waste 1.0.0"]),
        }
        header = self.table.horizontalHeader()
        for col, width in widths.items():
            header.resizeSection(col, max(width, THUMB_SIZE + 12) if col == Column.THUMB else width)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate_ui()
        super().changeEvent(event)

    def _offer_choices(self) -> None:
        try:
            seen = set(self._store.distinct_labels())
        except HistoryError as exc:  # e.g. a language change while the store is closing
            log.warning("history panel: cannot list classes: %s", exc)
            seen = set(self.filters.offered_labels())
        self.filters.set_labels(set(self._labels) | seen)
        bins = [(b, self.model.bin_name(b)) for b in [*self._rules.bins, UNSURE_ID]]
        self.filters.set_bins(bins)

    # -- loading ----------------------------------------------------------------------------

    @Slot()
    def apply_filters(self) -> None:
        """Reload the table for the filters' current values."""
        self._guard(lambda: self.model.set_filter(self.filters.current_filter()))

    @Slot()
    def refresh(self) -> None:
        """Show new records soon; calls during the short wait are folded into one update
        (a folder of images adds hundreds of records in a burst)."""
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    @Slot()
    def refresh_now(self) -> None:
        """Show records added since the last load, keeping filters, selection and scrolling."""
        self._refresh_timer.stop()

        def run() -> None:
            if self.filters.roll_preset():  # midnight passed: "Today" means another day now
                self.model.set_filter(self.filters.current_filter())
            else:
                self.model.refresh_head()
            fresh = {rec.final_label for rec in self.model.head(50)}
            if not fresh <= set(self.filters.offered_labels()):  # e.g. another model's class
                self.filters.set_labels(set(self.filters.offered_labels()) | fresh)

        self._guard(run, quiet=True)

    @Slot(object)
    def set_labels(self, labels: Sequence[str]) -> None:
        """The current model's labels, offered in the class filter and the correction dialog."""
        self._labels = list(labels)
        self._offer_choices()

    def set_rules(self, rules: BinRules) -> None:
        """New bin rules (names, colours, bins for corrections)."""
        self._rules = rules
        self.model.set_rules(rules)
        self._offer_choices()

    # -- selection and editing ------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [rec.id for r in rows if (rec := self.model.record(r)) is not None]

    def select_ids(self, ids: Sequence[int]) -> None:
        sel = self.table.selectionModel()
        sel.clearSelection()
        for rid in ids:
            row = self.model.row_of(rid)
            if row >= 0:
                flags = sel.SelectionFlag.Select | sel.SelectionFlag.Rows
                sel.select(self.model.index(row, 0), flags)

    @Slot()
    def correct_selected(self) -> None:
        """Ask for the right class of the selected records, then store it."""
        ids = self.selected_ids()
        if not ids:
            return
        first = self.model.record(self.model.row_of(ids[0]))
        picture = None
        if len(ids) == 1 and first is not None and first.has_thumbnail:
            data: list[bytes | None] = []
            if self._guard(lambda: data.append(self._store.thumbnail(ids[0]))) and data[0]:
                picture = QPixmap()
                picture.loadFromData(data[0])
        labels = self.correction_labels()
        dialog = CorrectionDialog(labels, len(ids), first, self, picture)
        if dialog.exec() and (label := dialog.label()) is not None:
            self.correct_records(ids, label)

    def correction_labels(self) -> list[str]:
        """The model's labels (in its order), then other classes already in the history."""
        extra = sorted(set(self.filters.offered_labels()) - set(self._labels))
        return self._labels + extra

    def correct_records(self, ids: Sequence[int], label: str) -> None:
        """Store the operator's class and its bin; the model's answer is kept beside it."""
        # The operator is sure: confidence 1.0 passes every threshold (no model is involved),
        # so only a class without a bin goes to "unsure".
        bin_id = self._rules.decide(label, 1.0).bin_id

        def run() -> None:
            for rid in ids:
                self._store.correct(rid, label, bin_id)

        if self._guard(run):
            self._after_edit(ids)
            for rid in ids:
                self.record_corrected.emit(rid, label)

    @Slot()
    def confirm_selected(self) -> None:
        """Mark the model's answer of the selected records as right (a teaching example)."""
        ids = self.selected_ids()

        def run() -> None:
            for rid in ids:
                self._store.confirm(rid)

        if ids and self._guard(run):
            self._after_edit(ids)

    @Slot()
    def restore_selected(self) -> None:
        """Drop the operator's correction of the selected records."""
        ids = self.selected_ids()

        def run() -> None:
            for rid in ids:
                self._store.clear_correction(rid)

        if ids and self._guard(run):
            self._after_edit(ids)

    def _after_edit(self, ids: Sequence[int]) -> None:
        scroll = self.table.verticalScrollBar().value()
        self._guard(lambda: self.model.reload(keep_loaded=True))
        self.select_ids(ids)
        self.table.verticalScrollBar().setValue(scroll)
        self.records_changed.emit()

    @Slot()
    def delete_selected(self) -> None:
        """Delete the selected records after the user confirms."""
        ids = self.selected_ids()
        if not ids:
            return
        answer = QMessageBox.question(
            self,
            self.tr("Delete records"),
            self.tr(
                "Delete the selected records ({n}) from the history? This cannot be undone."
            ).format(n=len(ids)),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_records(ids)

    def delete_records(self, ids: Sequence[int]) -> int:
        """Delete records by id without asking; returns how many existed."""
        deleted: list[int] = []
        if not self._guard(lambda: deleted.append(self._store.delete(ids))):
            return 0
        self.model.remove_ids(set(ids))
        self.records_changed.emit()
        return deleted[0]

    # -- exports ---------------------------------------------------------------------------------

    @Slot()
    def export_csv_dialog(self) -> None:
        default = self._export_dir / f"waste-history-{datetime.now():%Y%m%d-%H%M}.csv"
        name, _ = QFileDialog.getSaveFileName(
            self, self.tr("Export history as CSV"), str(default), self.tr("CSV files (*.csv)")
        )
        if name:
            self.export_csv(Path(name))

    def export_csv(self, path: Path) -> int:
        """Write the records matching the current filters to ``path``; returns the row count."""
        rows: list[int] = []
        flt = self.model.record_filter
        if not self._guard(lambda: rows.append(self._store.export_csv(path, flt))):
            return 0
        self.status_label.setText(
            self.tr("Records exported: {n}, to {path}").format(n=rows[0], path=path)
        )
        return rows[0]

    @Slot()
    def export_dataset_dialog(self) -> None:
        parent = QFileDialog.getExistingDirectory(
            self, self.tr("Choose where to create the dataset folder"), str(self._export_dir)
        )
        if not parent:
            return
        report = self.export_dataset(Path(parent) / f"waste-dataset-{datetime.now():%Y%m%d-%H%M%S}")
        if report is not None:
            QMessageBox.information(self, self.tr("Export dataset"), self.dataset_message(report))

    def export_dataset(self, dest: Path) -> DatasetExportReport | None:
        """Export corrected records matching the filters as ``dest/<class>/<id>.jpg``."""
        reports: list[DatasetExportReport] = []
        if not self._guard(
            lambda: reports.append(export_dataset(self._store, dest, self.model.record_filter))
        ):
            return None
        self.status_label.setText(self.dataset_message(reports[0]).split("\n")[0])
        return reports[0]

    def dataset_message(self, report: DatasetExportReport) -> str:
        """What a dataset export did, including that the images are thumbnails."""
        if report.records == 0:
            return self.tr("No corrected records match the current filters.")
        text = self.tr("Corrected records exported: {n}, to {path}").format(
            n=report.records, path=report.dest
        )
        text += "\n\n" + self.tr(
            "The history keeps only small thumbnails (about 160 pixels), so the images are "
            "thumbnails, not the original photos."
        )
        if report.without_image:
            text += "\n" + self.tr(
                "Records without a stored thumbnail (listed in manifest.csv only): {n}"
            ).format(n=report.without_image)
        return text

    # -- small helpers ------------------------------------------------------------------------

    def _context_menu(self, pos: QPoint) -> None:
        if not self.selected_ids():
            return
        menu = QMenu(self)
        menu.addAction(self.confirm_action)
        menu.addAction(self.correct_action)
        menu.addAction(self.restore_action)
        menu.addSeparator()
        menu.addAction(self.delete_action)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _update_buttons(self) -> None:
        has = bool(self.table.selectionModel().hasSelection())
        for w in (self.confirm_button, self.correct_button, self.delete_button):
            w.setEnabled(has)
        for a in (self.confirm_action, self.correct_action, self.restore_action,
                  self.delete_action):
            a.setEnabled(has)

    def _update_status(self) -> None:
        total, shown = self.model.total, self.model.rowCount()
        text = self.tr("Matching records: {n}").format(n=f"{total:,}")
        if shown < total:  # the rest load as the user scrolls
            text += " · " + self.tr("loaded: {n}").format(n=f"{shown:,}")
        self.status_label.setText(text)
        self._update_buttons()

    def _guard(self, action: Callable[[], object], *, quiet: bool = False) -> bool:
        """Run a store operation; show its error to the user instead of raising.

        ``quiet`` errors (from automatic refreshes, which come with every new record) go to
        the status line rather than a dialog that would pop up again and again.
        """
        try:
            action()
        except (HistoryError, OSError) as exc:
            log.warning("history panel: %s", exc)
            if quiet:
                self.status_label.setText(str(exc))
            else:
                QMessageBox.warning(self, self.tr("History"), str(exc))
            return False
        return True


def _action(parent: QWidget, slot: Callable[[], None]) -> QAction:
    action = QAction(parent)
    action.triggered.connect(slot)
    return action
