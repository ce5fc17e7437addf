"""The Teach dialog: gather examples, teach on a worker thread, then promote or discard.

Examples come from the history's corrected and confirmed records (with their training crops
or thumbnails) and from folders the operator adds (one subfolder per class, or a folder of one
class, whose name they confirm: new class names are welcome). A class without a bin gets one
chosen here. Teaching (:func:`app.core.teach.teach`) runs on :class:`TeachWorker`; the result
is shown against the station's current model, and the operator promotes it (it becomes the
station's model) or discards it (the file is deleted). "Roll back" returns to the model used
before the last promotion. Everything the dialog changes goes through ``promote_requested``
and ``rollback_requested``, which the owner turns into a model switch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt, QThread, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.bins import BinRules
from app.core.paths import DataDir
from app.core.teach import MAX_PER_CLASS, Example, Gathered, clean_label, folder_examples
from app.core.teach import history_examples as gather_history
from app.core.teach import teach as run_teach
from app.qt.i18n import bin_name, label_text

log = logging.getLogger(__name__)


class TeachWorker(QThread):
    """Gathers the history's examples and teaches, off the UI thread."""

    progress = Signal(str, int, int)  # stage, done, total
    finished_ok = Signal(object)  # TeachResult
    failed = Signal(str)

    def __init__(self, *, name: str, base_id: str, registry: Any, store: Any,
                 use_history: bool, examples: list[Example], data: DataDir,
                 reserved: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._args = (name, base_id, registry, store, use_history, examples, data, reserved)

    def run(self) -> None:
        name, base_id, registry, store, use_history, examples, data, reserved = self._args
        try:
            gathered = Gathered(list(examples))
            if use_history:
                more = gather_history(store)
                gathered.examples += more.examples
                gathered.problems += more.problems
            base = registry.load(base_id)
            result = run_teach(
                name=name, base=base, examples=gathered.examples, models_dir=data.user_models,
                cache_dir=data.root / "teach" / "cache", reports_dir=data.root / "teach",
                reserved=reserved, problems=gathered.problems,
                progress=lambda s, d, t: self.progress.emit(s, d, t),
            )
        except Exception as exc:  # TeachError, ModelError, HistoryError, OSError: all shown
            log.warning("teaching failed: %s", exc)
            self.failed.emit(str(exc))
            return
        self.finished_ok.emit(result)


class TeachDialog(QDialog):
    promote_requested = Signal(str)  # model id
    rollback_requested = Signal()
    bins_chosen = Signal(object)  # {class: bin id}

    def __init__(self, *, data: DataDir, registry: Any, store: Any, rules: BinRules,
                 current_model: str, reserved: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data, self._registry, self._store, self._rules = data, registry, store, rules
        self._current, self._reserved = current_model, reserved
        self._added: list[Example] = []
        self._history_counts: dict[str, int] = {}
        self._result: Any = None
        self._worker: TeachWorker | None = None
        self._build()
        self.retranslate_ui()
        self._load_history_counts()

    def _build(self) -> None:
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.table = QTableWidget(0, 3)
        self.table.verticalHeader().setVisible(False)
        self.history_check = QCheckBox()
        self.history_check.setChecked(True)
        self.history_check.toggled.connect(self._fill_table)
        self.add_button = QPushButton()
        self.add_button.clicked.connect(self._add_folder)
        self.name_edit = QLineEdit("station")
        self.name_edit.setMaxLength(40)
        form = QFormLayout()
        self.name_label = QLabel()
        form.addRow(self.name_label, self.name_edit)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.teach_button = QPushButton()
        self.teach_button.clicked.connect(self._teach)
        self.promote_button = QPushButton()
        self.promote_button.clicked.connect(self._promote)
        self.discard_button = QPushButton()
        self.discard_button.clicked.connect(self._discard)
        self.rollback_button = QPushButton()
        self.rollback_button.clicked.connect(self.rollback_requested.emit)
        self.close_button = QPushButton()
        self.close_button.clicked.connect(self.reject)
        for b in (self.promote_button, self.discard_button):
            b.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.history_check, 1)
        row.addWidget(self.add_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rollback_button)
        buttons.addStretch(1)
        for b in (self.teach_button, self.promote_button, self.discard_button, self.close_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(640, 520)

    def retranslate_ui(self) -> None:
        self.setWindowTitle(self.tr("Teach this station"))
        self.intro.setText(self.tr(
            "The station learns from examples: records you corrected or marked as right in "
            "the history, and folders of photos (one subfolder per class). New classes are "
            "welcome; give each a bin. About 20 examples per class teach well."
        ))
        self.table.setHorizontalHeaderLabels([self.tr("Class"), self.tr("Examples"),
                                              self.tr("Bin")])
        self.history_check.setText(self.tr("Use corrected and confirmed history records"))
        self.add_button.setText(self.tr("Add a folder of examples…"))
        self.name_label.setText(self.tr("Name of the taught model:"))
        self.teach_button.setText(self.tr("Teach"))
        self.promote_button.setText(self.tr("Use it at this station"))
        self.discard_button.setText(self.tr("Discard"))
        self.rollback_button.setText(self.tr("Roll back to the previous model"))
        self.close_button.setText(self.tr("Close"))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate_ui()
        super().changeEvent(event)

    # -- examples ---------------------------------------------------------------------------

    def _load_history_counts(self) -> None:
        counts: dict[str, int] = {}
        try:
            for label, n in self._store.teaching_counts().items():
                if (clean := clean_label(label)) is not None:
                    counts[clean] = min(MAX_PER_CLASS, counts.get(clean, 0) + n)
        except Exception as exc:  # a locked or damaged database: say so, teach from folders
            self.status.setText(self.tr("History not readable: {e}").format(e=str(exc)))
        self._history_counts = counts
        self._fill_table()

    def counts(self) -> dict[str, int]:
        total = dict(self._history_counts) if self.history_check.isChecked() else {}
        for ex in self._added:
            total[ex.label] = total.get(ex.label, 0) + 1
        return dict(sorted(total.items()))

    def _fill_table(self) -> None:
        counts = self.counts()
        self.table.setRowCount(len(counts))
        for row, (label, n) in enumerate(counts.items()):
            item = QTableWidgetItem(label_text(label))
            item.setData(Qt.ItemDataRole.UserRole, label)
            self.table.setItem(row, 0, item)
            self.table.setItem(row, 1, QTableWidgetItem(str(n)))
            known = self._rules.bin_for(label)
            combo = QComboBox()
            if known is None:
                combo.addItem(self.tr("— choose a bin —"), None)
            for bin_id, b in self._rules.bins.items():
                combo.addItem(bin_name(b), bin_id)
            if known is not None:
                combo.setCurrentIndex(combo.findData(known.id))
            self.table.setCellWidget(row, 2, combo)
        self.table.resizeColumnsToContents()
        self.teach_button.setEnabled(len(counts) >= 2)

    def add_folder(self, folder: Path, single_class: str | None = None) -> int:
        """Add a folder's images; ``single_class`` names the class of a folder without
        subfolders. Returns how many images were added."""
        gathered = folder_examples([folder])
        if single_class is not None:
            label = clean_label(single_class)
            if label is None:
                return 0
            gathered.examples = [Example(label, e.source, e.key, e.data, e.path)
                                 for e in gathered.examples]
        self._added += gathered.examples
        if gathered.problems:
            self.status.setText("\n".join(gathered.problems[:5]))
        self._fill_table()
        return len(gathered.examples)

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.tr("Folder of examples"))
        if not folder:
            return
        path = Path(folder)
        has_classes = any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir())
        name: str | None = None
        if not has_classes:
            name, ok = QInputDialog.getText(self, self.tr("Class of these photos"),
                                            self.tr("Class name:"), text=path.name)
            if not ok:
                return
        self.add_folder(path, name)

    def chosen_bins(self) -> dict[str, str]:
        out = {}
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is None:
                continue
            label = item.data(Qt.ItemDataRole.UserRole)
            combo = self.table.cellWidget(row, 2)
            bin_id = combo.currentData() if isinstance(combo, QComboBox) else None
            known = self._rules.bin_for(label)
            if bin_id and (known is None or known.id != bin_id):
                out[str(label)] = str(bin_id)
        return out

    # -- teaching ---------------------------------------------------------------------------

    def _teach(self) -> None:
        if self._worker is not None:
            return
        self._result = None
        for b in (self.teach_button, self.promote_button, self.discard_button):
            b.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText(self.tr("Teaching…"))
        worker = TeachWorker(
            name=self.name_edit.text().strip(), base_id=self._current,
            registry=self._registry, store=self._store,
            use_history=self.history_check.isChecked(), examples=list(self._added),
            data=self._data, reserved=self._reserved, parent=self,
        )
        worker.progress.connect(self._on_progress)
        worker.finished_ok.connect(self._on_taught)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_worker_done)
        self._worker = worker
        worker.start()

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        if stage == "embedding" and total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.status.setText(self.tr("Reading examples {d} of {t}…").format(d=done, t=total))
        else:
            self.progress.setRange(0, 0)
            self.status.setText(self.tr("Fitting…"))

    def _on_taught(self, result: Any) -> None:
        self._result = result
        self.progress.setVisible(False)
        lines = [self.tr("Taught {id} from {n} examples in {s:.0f} s.").format(
                     id=result.model_id, n=sum(result.examples.values()), s=result.seconds),
                 self.tr("Right on {a:.0%} of the examples (cross-validated); the current "
                         "model {m}: {b:.0%}.").format(a=result.accuracy, m=result.base_id,
                                                       b=result.base_accuracy)]
        worse = [label_text(c) for c, v in result.per_class.items() if v < 0.8]
        if worse:
            lines.append(self.tr("Weaker classes (add examples): {c}").format(c=", ".join(worse)))
        self.status.setText("\n".join(lines))
        self.promote_button.setEnabled(True)
        self.discard_button.setEnabled(True)

    def _on_failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self.status.setText(self.tr("Teaching failed: {e}").format(e=message))

    def _on_worker_done(self) -> None:
        self._worker = None
        self.teach_button.setEnabled(self.table.rowCount() >= 2)

    def taught(self) -> Any:
        """The last teaching result not yet discarded (a TeachResult), or None."""
        return self._result

    def _promote(self) -> None:
        if self._result is None:
            return
        bins = self.chosen_bins()
        if bins:
            self.bins_chosen.emit(bins)
        self.promote_requested.emit(self._result.model_id)
        text = self.tr("This station now uses {id}.").format(id=self._result.model_id)
        unbinned = [label_text(c) for c in self._result.classes
                    if self._rules.bin_for(c) is None and c not in bins]
        if unbinned:
            text += "\n" + self.tr("No bin for {c}: these items show 'Not sure'.").format(
                c=", ".join(unbinned))
        self.status.setText(text)
        self.promote_button.setEnabled(False)
        self.discard_button.setEnabled(False)

    def _discard(self) -> None:
        if self._result is None:
            return
        try:
            self._result.path.unlink(missing_ok=True)
        except OSError as exc:
            self.status.setText(str(exc))
            return
        self.status.setText(self.tr("Discarded {id}.").format(id=self._result.model_id))
        self._result = None
        self.promote_button.setEnabled(False)
        self.discard_button.setEnabled(False)

    def wait_for_worker(self, timeout_ms: int = 120_000) -> bool:
        return self._worker is None or self._worker.wait(timeout_ms)

    def reject(self) -> None:
        if self._worker is not None:
            self._worker.wait()
        super().reject()
