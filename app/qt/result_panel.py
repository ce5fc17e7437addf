"""The big answer: what the item is, which bin, how sure, and the runners-up.

Readable from two metres: every font is sized from the panel's height (and the class name is
shrunk to fit the width), so full screen on a large monitor gives very large letters.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, Qt
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.core.bins import BinDecision
from app.core.classifier import Prediction
from app.qt.i18n import bin_instruction, bin_name, label_text

UNSURE_BG = "#FFB300"  # amber: "look at this" without meaning "error"
UNSURE_FG = "#000000"
STATUS_COLOURS = {
    "ok": ("#2E7D32", "#FFFFFF"),
    "error": ("#C62828", "#FFFFFF"),
    "info": ("#37474F", "#FFFFFF"),
}
TOP_K_ROWS = 3


class ResultPanel(QWidget):
    """``show_prediction(prediction, decision)`` / ``show_message(text)``, plus a status strip
    for "Saved #12" confirmations and a hold-still progress bar for auto-capture."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ResultPanel")
        self._prediction: Prediction | None = None
        self._decision: BinDecision | None = None
        self._message = ""

        self.title_label = QLabel()
        self.title_label.setObjectName("resultTitle")
        self.title_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title_label.setWordWrap(False)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self.bin_block = QFrame()
        self.bin_block.setObjectName("binBlock")
        self.bin_block.setAutoFillBackground(True)
        self.bin_label = QLabel()
        self.bin_label.setObjectName("binName")
        self.bin_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.instruction_label = QLabel()
        self.instruction_label.setObjectName("binInstruction")
        self.instruction_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.instruction_label.setWordWrap(True)
        block_layout = QVBoxLayout(self.bin_block)
        block_layout.addWidget(self.bin_label)
        block_layout.addWidget(self.instruction_label)

        self.confidence_label = QLabel()
        self.confidence_label.setObjectName("confidence")
        self.confidence_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.top_k_box = QWidget()
        grid = QGridLayout(self.top_k_box)
        grid.setContentsMargins(0, 0, 0, 0)
        self.top_k_names: list[QLabel] = []
        self.top_k_bars: list[QProgressBar] = []
        for row in range(TOP_K_ROWS):
            name = QLabel()
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            grid.addWidget(name, row, 0)
            grid.addWidget(bar, row, 1)
            self.top_k_names.append(name)
            self.top_k_bars.append(bar)
        grid.setColumnStretch(1, 1)

        self.capture_bar = QProgressBar()
        self.capture_bar.setObjectName("captureProgress")
        self.capture_bar.setRange(0, 100)
        self.capture_bar.setTextVisible(False)
        self.capture_bar.setMaximumHeight(10)
        self.capture_bar.setVisible(False)

        self.status_label = QLabel()
        self.status_label.setObjectName("statusStrip")
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_label.setWordWrap(True)
        self.status_label.setVisible(False)

        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.title_label)
        layout.addWidget(self.bin_block)
        layout.addWidget(self.confidence_label)
        layout.addWidget(self.top_k_box)
        layout.addStretch(1)
        layout.addWidget(self.capture_bar)
        layout.addWidget(self.status_label)
        self.setMinimumWidth(280)
        self.show_message(self.tr("Starting…"))

    # -- public API -------------------------------------------------------------------------

    @property
    def unsure(self) -> bool:
        return self._decision is not None and self._decision.unsure and not self._message

    @property
    def message(self) -> str:
        return self._message

    def show_prediction(self, prediction: Prediction, decision: BinDecision) -> None:
        """Show a classification; below its threshold, ask the operator to check instead."""
        self._prediction, self._decision, self._message = prediction, decision, ""
        self._render()

    def show_message(self, text: str) -> None:
        """A message instead of a result (no model yet, camera missing, …)."""
        if text == self._message and self._prediction is None:
            return  # unchanged: skip re-layout (called for every frame of an empty scene)
        self._prediction, self._decision, self._message = None, None, text
        self._render()

    def show_status(self, text: str, kind: str = "info") -> None:
        """The strip under the result: "Saved #12" (ok), a save failure (error), hints (info).
        An empty text hides it."""
        bg, fg = STATUS_COLOURS.get(kind, STATUS_COLOURS["info"])
        self.status_label.setText(text)
        self.status_label.setProperty("kind", kind)
        self.status_label.setStyleSheet(
            f"QLabel#statusStrip {{ background: {bg}; color: {fg}; border-radius: 8px;"
            " padding: 6px; }"
        )
        self.status_label.setVisible(bool(text))

    def status_text(self) -> str:
        return self.status_label.text() if self.status_label.isVisibleTo(self) else ""

    def show_capture_progress(self, fraction: float | None) -> None:
        """How long the item has been held still (``None`` hides the bar)."""
        self.capture_bar.setVisible(fraction is not None)
        if fraction is not None:
            self.capture_bar.setValue(round(100 * min(1.0, max(0.0, fraction))))

    # -- rendering ------------------------------------------------------------------------

    def _render(self) -> None:
        prediction, decision = self._prediction, self._decision
        if prediction is None or decision is None:
            self.title_label.setText(self._message)
            self._style_title(None, None)
            self.bin_block.setVisible(False)
            self.confidence_label.setVisible(False)
            self.top_k_box.setVisible(False)
            self._fit_fonts()
            return
        self.bin_block.setVisible(True)
        self.confidence_label.setVisible(True)
        self.top_k_box.setVisible(True)
        percent = f"{prediction.confidence:.0%}"
        if decision.unsure:
            self.title_label.setText(self.tr("Not sure — please check"))
            self._style_title(UNSURE_BG, UNSURE_FG)
            # No bin is named: the block only says what to do.
            self.bin_label.setText("")
            self.bin_label.setVisible(False)
            self.instruction_label.setText(bin_instruction(decision))
            self.confidence_label.setText(
                self.tr("Best guess: {label} ({percent})").format(
                    label=label_text(prediction.label), percent=percent
                )
            )
        else:
            self.title_label.setText(label_text(prediction.label))
            self._style_title(None, None)
            self.bin_label.setText(bin_name(decision))
            self.bin_label.setVisible(True)
            self.instruction_label.setText(bin_instruction(decision))
            self.confidence_label.setText(self.tr("{percent} sure").format(percent=percent))
        self.bin_block.setStyleSheet(
            f"QFrame#binBlock {{ background-color: {decision.colour}; border-radius: 14px; }}"
            f" QFrame#binBlock QLabel {{ color: {decision.text_colour}; background: transparent; }}"
        )
        for row in range(TOP_K_ROWS):
            visible = row < len(prediction.top_k)
            self.top_k_names[row].setVisible(visible)
            self.top_k_bars[row].setVisible(visible)
            if visible:
                label, prob = prediction.top_k[row]
                self.top_k_names[row].setText(label_text(label))
                self.top_k_bars[row].setValue(round(prob * 1000))
                self.top_k_bars[row].setFormat(f"{prob:.0%}")
        self._fit_fonts()

    def _style_title(self, background: str | None, foreground: str | None) -> None:
        if background is None:
            self.title_label.setStyleSheet("")
        else:
            self.title_label.setStyleSheet(
                f"QLabel#resultTitle {{ background: {background}; color: {foreground};"
                " border-radius: 14px; padding: 8px; }"
            )

    def _fit_fonts(self) -> None:
        """Size every font from the panel: letters a third of a metre tall on a big screen."""
        height = max(200, self.height())
        width = max(200, self.width())
        unit = min(height, int(width * 1.4))
        available = max(50, width - 60)  # panel and bin-block margins

        # A class name stays on one line; messages and "not sure" may take two.
        one_line = self._message == "" and not (self._decision and self._decision.unsure)
        big = 0.17 if one_line else 0.1
        self._fit(self.title_label, int(unit * big), available, 1 if one_line else 3, bold=True)
        self._fit(self.bin_label, int(unit * 0.085), available - 20, 2, bold=True)
        self._fit(self.instruction_label, int(unit * 0.04), available - 20, 4)
        self._fit(self.confidence_label, int(unit * 0.045), available, 2)
        for name in self.top_k_names:
            self._fit(name, int(unit * 0.032), available // 2, 1)
        for bar in self.top_k_bars:
            bar.setFont(self._font(int(unit * 0.026)))
            bar.setMinimumHeight(int(unit * 0.04))
        self._fit(self.status_label, int(unit * 0.045), available, 3, bold=True)

    def _font(self, px: int, *, bold: bool = False) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(max(11, px))
        font.setBold(bold)
        return font

    def _fit(
        self, label: QLabel, px: int, width: int, max_lines: int, *, bold: bool = False
    ) -> None:
        """Largest font up to ``px`` showing the label's text in ``max_lines`` lines of
        ``width``; the label's minimum height is set to what the text needs, so layouts never
        clip it."""
        text = label.text() or " "
        flags = int(Qt.TextFlag.TextWordWrap) if max_lines > 1 else 0
        while True:
            font = self._font(px, bold=bold)
            metrics = QFontMetrics(font)
            longest = max(metrics.horizontalAdvance(word) for word in text.split() or [" "])
            box = metrics.boundingRect(QRect(0, 0, width, 100_000), flags, text)
            fits = box.width() <= width and longest <= width
            line = max(metrics.lineSpacing(), metrics.height())
            if (fits and box.height() <= max_lines * line + 2) or px <= 12:
                break
            px = int(px * 0.9)
        label.setFont(font)
        label.setWordWrap(max_lines > 1)
        label.setMinimumHeight(box.height() + 4)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_fonts()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self._render()
        super().changeEvent(event)
