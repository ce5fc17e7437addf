"""What the active model is: name, version, classes, training data and measured quality,
the confidence threshold it recommends and whether it can tell unfamiliar items."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.bins import BinRules
from app.core.model_info import ModelInfo
from app.qt.i18n import bin_name, label_text


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        # Metrics in 0..1 read best as percentages; other numbers as they are.
        return f"{value:.1%}" if 0.0 <= value <= 1.0 else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_format_value(v) for v in value)
    return str(value)


def _fill_tree(parent: QTreeWidget | QTreeWidgetItem, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, Mapping):
            item = QTreeWidgetItem([str(key), ""])
            _fill_tree(item, value)
        else:
            item = QTreeWidgetItem([str(key), _format_value(value)])
        if isinstance(parent, QTreeWidget):
            parent.addTopLevelItem(item)
        else:
            parent.addChild(item)


class ModelInfoDialog(QDialog):
    """Read-only facts about one model (its metadata, as shipped in the ONNX file)."""

    def __init__(
        self, info: ModelInfo, rules: BinRules | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Model: {name}").format(name=info.name))
        self.resize(560, 620)
        form = QFormLayout()
        form.addRow(self.tr("Name"), QLabel(info.name))
        form.addRow(self.tr("Id"), QLabel(info.id))
        form.addRow(self.tr("Version"), QLabel(info.version))
        if info.source is not None:
            path = QLabel(str(info.source))
            path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            path.setWordWrap(True)
            form.addRow(self.tr("File"), path)
        spec = info.input
        form.addRow(
            self.tr("Input"),
            QLabel(f"{spec.width}x{spec.height} {spec.color} {spec.layout}, {spec.preprocessing}"),
        )
        recommended = info.unsure_threshold
        self.threshold_label = QLabel(
            self.tr("Not given") if recommended is None else f"{round(recommended * 100)} %"
        )
        self.threshold_label.setToolTip(
            self.tr(
                "The confidence threshold chosen for this model from its measured errors on "
                "validation images; Settings use it unless you set your own"
            )
        )
        form.addRow(self.tr("Recommended threshold"), self.threshold_label)
        self.novelty_label = QLabel(self.tr("Yes") if info.novelty is not None else self.tr("No"))
        self.novelty_label.setToolTip(
            self.tr(
                "A model that detects unfamiliar items answers “Not sure” for things unlike "
                "every class it knows, however confident it is"
            )
        )
        form.addRow(self.tr("Detects unfamiliar items"), self.novelty_label)

        self.classes = QListWidget()
        for label in info.labels:
            target = rules.bin_for(label) if rules is not None else None
            suffix = f"  →  {bin_name(target)}" if target is not None else ""
            self.classes.addItem(f"{label_text(label)}{suffix}")

        self.details = QTreeWidget()
        self.details.setHeaderLabels([self.tr("Item"), self.tr("Value")])
        sections: dict[str, Any] = {}
        if info.training:
            sections[self.tr("Training")] = info.training
        if info.metrics:
            sections[self.tr("Metrics")] = info.metrics
        _fill_tree(self.details, sections)
        self.details.expandAll()
        self.details.resizeColumnToContents(0)
        if not sections:
            self.details.addTopLevelItem(
                QTreeWidgetItem([self.tr("No training data or metrics recorded"), ""])
            )

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel(self.tr("Classes ({n})").format(n=info.num_classes)))
        layout.addWidget(self.classes, 1)
        layout.addWidget(QLabel(self.tr("Training data and metrics")))
        layout.addWidget(self.details, 2)
        layout.addWidget(buttons)
