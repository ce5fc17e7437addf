"""Small widget helpers shared by the history, statistics and settings panels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time

from PySide6.QtCore import QDate, QObject, QTimer
from PySide6.QtWidgets import QComboBox, QPushButton


def local_midnight(day: date) -> datetime:
    """Start of ``day`` in the computer's zone, as an aware datetime."""
    return datetime.combine(day, time()).astimezone()


def to_date(day: QDate) -> date:
    return date(day.year(), day.month(), day.day())


def to_qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def debounce_timer(parent: QObject, delay_ms: int, slot: Callable[[], None]) -> QTimer:
    """A single-shot timer that runs ``slot`` ``delay_ms`` after its last ``start()``."""
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(delay_ms)
    timer.timeout.connect(slot)
    return timer


def button(slot: Callable[[], None]) -> QPushButton:
    """A push button wired to ``slot`` (its text is set by ``retranslate_ui``)."""
    widget = QPushButton()
    widget.clicked.connect(slot)
    return widget


def fill_combo(combo: QComboBox, items: Sequence[tuple[object, str]]) -> None:
    """Replace a combo's items, keeping the selected item (by data) when it is still offered."""
    current = combo.currentData()
    combo.blockSignals(True)
    try:
        combo.clear()
        for data, text in items:
            combo.addItem(text, data)
        index = combo.findData(current) if current is not None else 0
        combo.setCurrentIndex(max(0, index))
    finally:
        combo.blockSignals(False)
