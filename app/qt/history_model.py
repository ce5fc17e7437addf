"""Table model over the history store that pages from SQLite instead of loading every row.

Rows arrive a page at a time through ``canFetchMore``/``fetchMore`` (the view asks as the user
scrolls). Paging by offset is only stable while the result set does not move, so each load
freezes an upper time bound; new records are then added on top by :meth:`refresh_head`
without disturbing the rows, selection or scroll position below them.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QColor, QFont, QImage, QPixmap

from app.core.bins import UNSURE_ID, BinRules
from app.core.history import HistoryStore, Record, RecordFilter
from app.qt.i18n import bin_name, label_text

PAGE_SIZE = 200
THUMB_SIZE = 40
THUMB_CACHE = 512
RECORD_ROLE = Qt.ItemDataRole.UserRole + 1
CORRECTED_MARK = "\u270e"  # a pencil: the operator changed this class
CONFIRMED_MARK = "\u2713"  # a tick: the operator confirmed the model's class
_AnyIndex = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    TIME = 0
    THUMB = 1
    CLASS = 2
    CONFIDENCE = 3
    BIN = 4
    SOURCE = 5
    MODEL = 6


class HistoryTableModel(QAbstractTableModel):
    """Read-only view of ``store`` for one :class:`RecordFilter`, newest first."""

    def __init__(
        self,
        store: HistoryStore,
        rules: BinRules,
        parent: QObject | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._rules = rules
        self._page = page_size
        self._filter = RecordFilter()
        self._frozen = RecordFilter()  # _filter with the upper time bound used for paging
        self._rows: list[Record] = []
        self._ids: set[int] = set()
        self._total = 0  # matching records now
        self._frozen_total = 0  # matching records under the frozen bound (what paging sees)
        self._thumbs: OrderedDict[int, QPixmap | None] = OrderedDict()
        self._swatches: dict[str, QPixmap] = {}

    # -- loading ---------------------------------------------------------------------------

    @property
    def record_filter(self) -> RecordFilter:
        return self._filter

    @property
    def total(self) -> int:
        """How many records match the filter (loaded or not)."""
        return self._total

    def set_filter(self, flt: RecordFilter) -> None:
        self._filter = flt
        self.reload()

    def reload(self, keep_loaded: bool = False) -> None:
        """Reset to the first page (or as many rows as were loaded, after an edit)."""
        wanted = max(self._page, len(self._rows)) if keep_loaded else self._page
        self.beginResetModel()
        self._freeze()
        self._rows = self._store.query(self._frozen, limit=wanted, offset=0)
        self._ids = {r.id for r in self._rows}
        self._frozen_total = self._store.count(self._frozen)
        self._total = self._frozen_total
        self.endResetModel()

    def _freeze(self) -> None:
        # A bound just past now keeps records added later out of the offset arithmetic; it
        # moves past the newest match so a record stamped by a clock ahead of ours still shows.
        bound = datetime.now(UTC)
        newest = self._store.query(self._filter, limit=1)
        if newest and newest[0].created_utc > bound:
            bound = newest[0].created_utc
        bound += timedelta(microseconds=1)
        until = self._filter.until
        if until is None or until.astimezone(UTC) > bound:
            until = bound
        self._frozen = dataclasses.replace(self._filter, until=until)

    def canFetchMore(self, parent: _AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        if parent.isValid():
            return False
        # Counted once per load: the view asks this on every scroll step.
        return len(self._rows) < self._frozen_total

    def fetchMore(self, parent: _AnyIndex = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid():
            return
        batch = self._store.query(self._frozen, limit=self._page, offset=len(self._rows))
        batch = [r for r in batch if r.id not in self._ids]
        if not batch:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(batch) - 1)
        self._rows.extend(batch)
        self._ids.update(r.id for r in batch)
        self.endInsertRows()

    def refresh_head(self) -> int:
        """Add records newer than the loaded ones at the top; returns how many were added.

        Falls back to a full reload when the store changed in other ways (deleted or
        back-dated records), which the counts reveal.
        """
        if not self._rows:
            self.reload()
            return len(self._rows)
        newest = self._rows[0].created_utc
        self._freeze()
        head_filter = dataclasses.replace(self._frozen, since=newest)
        if self._filter.since is not None and self._filter.since.astimezone(UTC) > newest:
            head_filter = self._frozen
        fresh = [
            r
            for r in self._store.query(head_filter, limit=self._page + 1, offset=0)
            if r.id not in self._ids
        ]
        total = self._store.count(self._filter)
        if len(fresh) > self._page or self._total + len(fresh) != total:
            self.reload(keep_loaded=True)
            return -1
        self._total = total
        self._frozen_total += len(fresh)
        if fresh:
            self.beginInsertRows(QModelIndex(), 0, len(fresh) - 1)
            self._rows[:0] = fresh
            self._ids.update(r.id for r in fresh)
            self.endInsertRows()
        return len(fresh)

    def remove_ids(self, ids: set[int]) -> None:
        """Drop deleted records from the loaded rows without reloading the others."""
        rows = [row for row, rec in enumerate(self._rows) if rec.id in ids]
        # Remove from the bottom up so earlier row numbers stay valid.
        for row in reversed(rows):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()
        self._ids.difference_update(ids)
        for rid in ids:
            self._thumbs.pop(rid, None)
        self._total = max(0, self._total - len(rows))
        self._frozen_total = max(0, self._frozen_total - len(rows))

    def head(self, n: int) -> list[Record]:
        """The newest ``n`` loaded records."""
        return self._rows[:n]

    def set_rules(self, rules: BinRules) -> None:
        self._rules = rules
        self.retranslate()  # bin names and colours are drawn from the rules

    def record(self, row: int) -> Record | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, record_id: int) -> int:
        for row, rec in enumerate(self._rows):
            if rec.id == record_id:
                return row
        return -1

    def forget_thumbnails(self) -> None:
        self._thumbs.clear()

    def retranslate(self) -> None:
        """Texts depend on the UI language: tell the views to fetch them again."""
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(Column) - 1)
        if self._rows:
            last = self.index(len(self._rows) - 1, len(Column) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    # -- Qt model interface ------------------------------------------------------------------

    def rowCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        titles = {
            Column.TIME: self.tr("Time"),
            Column.THUMB: self.tr("Image"),
            Column.CLASS: self.tr("Class"),
            Column.CONFIDENCE: self.tr("Confidence"),
            Column.BIN: self.tr("Bin"),
            Column.SOURCE: self.tr("Source"),
            Column.MODEL: self.tr("Model"),
        }
        return titles.get(Column(section)) if 0 <= section < len(Column) else None

    def data(self, index: _AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        rec = self.record(index.row()) if index.isValid() else None
        if rec is None:
            return None
        col = Column(index.column())
        if role == RECORD_ROLE:
            return rec
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(rec, col)
        if role == Qt.ItemDataRole.DecorationRole:
            if col == Column.THUMB:
                return self._thumbnail(rec)
            if col == Column.BIN:
                return self._swatch(self._bin_colour(rec.final_bin))
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(rec, col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col == Column.CONFIDENCE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and col == Column.CLASS and rec.corrected:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole and col == Column.CONFIDENCE and rec.unsure:
            return QColor("#B26A00")  # below its threshold: the station asked for a check
        return None

    def _display(self, rec: Record, col: Column) -> str | None:
        if col == Column.TIME:
            return rec.created_utc.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        if col == Column.CLASS:
            text = label_text(rec.final_label)
            if rec.corrected:
                return f"{text} {CORRECTED_MARK}"
            return f"{text} {CONFIRMED_MARK}" if rec.confirmed else text
        if col == Column.CONFIDENCE:
            return f"{rec.confidence * 100:.1f} %"
        if col == Column.BIN:
            return self.bin_name(rec.final_bin)
        if col == Column.SOURCE:
            return _short_source(rec)
        if col == Column.MODEL:
            return f"{rec.model_id} {rec.model_version}"
        return None

    def _tooltip(self, rec: Record, col: Column) -> str | None:
        if col == Column.CLASS:
            lines = [label_text(rec.final_label)]
            if rec.corrected:
                lines.append(
                    self.tr(
                        "Corrected by an operator; the model said {label} ({conf:.0f} %)"
                    ).format(label=label_text(rec.label), conf=rec.confidence * 100)
                )
                if rec.corrected_utc is not None:
                    when = rec.corrected_utc.astimezone().strftime("%Y-%m-%d %H:%M")
                    lines.append(self.tr("Corrected at {time}").format(time=when))
            lines += [f"{label_text(n)}: {p * 100:.1f} %" for n, p in rec.top_k]
            return "\n".join(lines)
        if col == Column.CONFIDENCE and rec.unsure:
            return self.tr("Below the class threshold: the operator was asked to check")
        if col == Column.SOURCE:
            return rec.source
        if col == Column.BIN and rec.corrected_bin is not None and rec.corrected_bin != rec.bin_id:
            return self.tr("Model's bin: {bin}").format(bin=self.bin_name(rec.bin_id))
        return None

    # -- helpers -----------------------------------------------------------------------------

    def bin_name(self, bin_id: str) -> str:
        if bin_id == UNSURE_ID:
            return bin_name(self._rules.unsure)
        b = self._rules.bins.get(bin_id)
        return bin_name(b) if b is not None else bin_id

    def _bin_colour(self, bin_id: str) -> str:
        if bin_id == UNSURE_ID:
            return self._rules.unsure.colour
        b = self._rules.bins.get(bin_id)
        return b.colour if b is not None else "#BDBDBD"

    def _swatch(self, colour: str) -> QPixmap:
        pix = self._swatches.get(colour)
        if pix is None:
            pix = QPixmap(12, 12)
            pix.fill(QColor(colour))
            self._swatches[colour] = pix
        return pix

    def _thumbnail(self, rec: Record) -> QPixmap | None:
        """Decoded on first display and kept in a small LRU cache (only visible rows ask)."""
        if not rec.has_thumbnail:
            return None
        if rec.id in self._thumbs:
            self._thumbs.move_to_end(rec.id)
            return self._thumbs[rec.id]
        data = self._store.thumbnail(rec.id)
        pix: QPixmap | None = None
        if data:
            image = QImage.fromData(QByteArray(data))
            if not image.isNull():
                pix = QPixmap.fromImage(
                    image.scaled(
                        THUMB_SIZE,
                        THUMB_SIZE,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                )
        self._thumbs[rec.id] = pix
        if len(self._thumbs) > THUMB_CACHE:
            self._thumbs.popitem(last=False)
        return pix


def _short_source(rec: Record) -> str:
    if rec.source_kind == "camera":
        return rec.source
    return Path(rec.source).name or rec.source
