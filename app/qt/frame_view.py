"""Showing camera frames: a newest-wins relay into the UI thread and the preview widget."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

RGBArray = npt.NDArray[np.uint8]


class LatestValueRelay(QObject):
    """Carries values from any thread to this object's thread, dropping all but the newest.

    ``push`` may be called at any rate from any thread; ``delivered`` is emitted in the
    relay's thread at most once per event-loop turn with the newest value. A busy UI thus
    skips frames instead of piling them up in its event queue.
    """

    delivered = Signal(object)
    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._value: Any = None
        self._pending = False
        self._wake.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def push(self, value: Any) -> None:
        with self._lock:
            self._value = value
            if self._pending:
                return
            self._pending = True
        self._wake.emit()

    @Slot()
    def _deliver(self) -> None:
        with self._lock:
            value, self._value, self._pending = self._value, None, False
        self.delivered.emit(value)


def rgb_to_qimage(rgb: RGBArray) -> QImage:
    """A QImage that owns a copy of the pixels (the array may be reused afterwards)."""
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()


class FrameView(QWidget):
    """The camera picture, scaled to fit with its aspect ratio, plus an overlay message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FrameView")
        self._image: QImage | None = None
        self._message = ""
        self._caption = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    @property
    def message(self) -> str:
        return self._message

    @property
    def caption(self) -> str:
        return self._caption

    def has_frame(self) -> bool:
        return self._image is not None

    @Slot(object)
    def show_frame(self, frame: RGBArray) -> None:
        self._image = rgb_to_qimage(frame)
        self.update()

    def clear_frame(self) -> None:
        self._image = None
        self.update()

    def set_message(self, text: str) -> None:
        """An overlay (camera missing, video ended…); empty string hides it."""
        if text != self._message:
            self._message = text
            self.update()

    def set_caption(self, text: str) -> None:
        """A small label in the corner naming what is shown (a file name for still images)."""
        if text != self._caption:
            self._caption = text
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#202124"))
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            size = self._image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x = (self.width() - size.width()) / 2
            y = (self.height() - size.height()) / 2
            painter.drawImage(QRectF(x, y, size.width(), size.height()), self._image)
        if self._caption:
            self._draw_box(painter, self._caption, bottom=True)
        if self._message:
            self._draw_box(painter, self._message, bottom=False)
        painter.end()

    def _draw_box(self, painter: QPainter, text: str, *, bottom: bool) -> None:
        font = QFont(self.font())
        font.setPixelSize(max(12, min(self.height() // (22 if bottom else 14), 40)))
        font.setBold(not bottom)
        painter.setFont(font)
        flags = int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap)
        margin = 12
        area = self.rect().adjusted(margin, margin, -margin, -margin)
        bound = painter.boundingRect(area, flags, text).adjusted(-10, -6, 10, 6)
        if bottom:
            bound.moveBottom(self.height() - margin)
        else:
            bound.moveCenter(self.rect().center())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(bound, 8, 8)
        painter.setPen(QColor("#FFFFFF"))
        painter.drawText(bound, flags, text)
