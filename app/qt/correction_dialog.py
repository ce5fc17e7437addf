"""Dialog where an operator picks the right class for one or more history records."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.history import Record
from app.qt.i18n import label_text


class CorrectionDialog(QDialog):
    """Lists the model's labels; ``label()`` is the chosen one after ``exec()`` accepts.

    ``record`` (the first selected record) is used to show what the model said and to
    preselect the current class.
    """

    def __init__(
        self,
        labels: Sequence[str],
        count: int,
        record: Record | None,
        parent: QWidget | None = None,
        picture: QPixmap | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Correct class"))
        self.setMinimumWidth(380)
        if count == 1:
            intro = self.tr("Choose the right class for this record.")
        else:
            intro = self.tr("Choose the right class for the selected records ({n}).").format(
                n=count
            )
        if record is not None and count == 1:
            intro += "\n" + self.tr("The model said {label} ({conf:.0f} %).").format(
                label=label_text(record.label), conf=record.confidence * 100
            )
        intro += "\n" + self.tr("The model's answer stays in the history beside your correction.")
        self.intro = QLabel(intro)
        self.intro.setWordWrap(True)
        self.intro.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.list = QListWidget()
        for label in labels:
            item = QListWidgetItem(label_text(label))
            item.setData(Qt.ItemDataRole.UserRole, label)
            self.list.addItem(item)
            if record is not None and label == record.final_label:
                self.list.setCurrentItem(item)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        # Qt ships no Vietnamese catalogue for its standard buttons, so name them here.
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(self.tr("OK"))
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setText(self.tr("Cancel"))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        self.list.currentItemChanged.connect(self._update_ok)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        if picture is not None and not picture.isNull():  # the operator needs to see the item
            self.picture = QLabel()
            self.picture.setPixmap(picture)
            top.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.intro, 1)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.buttons)
        self._update_ok()

    def select_label(self, label: str) -> bool:
        """Select ``label`` in the list (for keyboard-free use and tests); False if absent."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == label:
                self.list.setCurrentItem(item)
                return True
        return False

    def label(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def _update_ok(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(self.list.currentItem() is not None)
