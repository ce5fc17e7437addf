"""History panel: rows from a real store, filters, paging, corrections, deletion, CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox
from pytestqt.qtbot import QtBot

from app.core.bins import BinRules, default_bins_path
from app.core.history import HistoryStore, NewRecord
from app.core.imaging import encode_jpeg
from app.qt.correction_dialog import CorrectionDialog
from app.qt.history_model import CORRECTED_MARK, Column
from app.qt.history_panel import HistoryPanel

LABELS = ["cardboard", "glass", "metal", "paper", "plastic", "trash"]
NOW = datetime.now(UTC)


def new_record(
    label: str,
    minutes_ago: float,
    *,
    confidence: float = 0.9,
    source: str = "/photos/item.jpg",
    thumbnail: bytes | None = None,
) -> NewRecord:
    return NewRecord(
        source=source,
        model_id="waste",
        model_version="1.0.0",
        label=label,
        confidence=confidence,
        top_k=[(label, confidence)],
        bin_id="glass" if label == "glass" else "paper",
        unsure=confidence < 0.6,
        thumbnail=thumbnail,
        created_utc=NOW - timedelta(minutes=minutes_ago),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "history.sqlite3") as s:
        yield s


@pytest.fixture
def rules() -> BinRules:
    return BinRules.load(default_bins_path())


@pytest.fixture
def seeded(store: HistoryStore) -> list[int]:
    """Five records, newest first in the panel: ids[0] is the oldest (3 days ago)."""
    thumb = encode_jpeg(np.full((30, 40, 3), 200, np.uint8))
    return store.add_many(
        [
            new_record("paper", 3 * 24 * 60, source="/photos/old-box.jpg"),
            new_record("glass", 50, source="/photos/bottle.jpg", thumbnail=thumb),
            new_record("plastic", 40, confidence=0.45, source="camera:0"),
            new_record("glass", 30, source="/photos/jar.jpg"),
            new_record("metal", 20, source="/photos/can.jpg", thumbnail=thumb),
        ]
    )


def make_panel(qtbot: QtBot, store: HistoryStore, rules: BinRules) -> HistoryPanel:
    panel = HistoryPanel(store, rules, LABELS)
    qtbot.addWidget(panel)
    panel.resize(1100, 600)
    return panel


def column_texts(panel: HistoryPanel, column: Column) -> list[str]:
    model = panel.model
    return [model.index(r, column).data() for r in range(model.rowCount())]


def choose(combo: object, data: object) -> None:
    index = combo.findData(data)  # type: ignore[attr-defined]
    assert index >= 0, f"{data!r} is not offered"
    combo.setCurrentIndex(index)  # type: ignore[attr-defined]


def test_rows_show_records_newest_first(
    qtbot: QtBot, store: HistoryStore, rules: BinRules, seeded: list[int]
) -> None:
    panel = make_panel(qtbot, store, rules)
    assert panel.model.rowCount() == 5
    assert column_texts(panel, Column.CLASS) == ["Metal", "Glass", "Plastic", "Glass", "Paper"]
    assert column_texts(panel, Column.SOURCE)[0] == "can.jpg"
    assert column_texts(panel, Column.SOURCE)[2] == "camera:0"
    assert column_texts(panel, Column.BIN)[1] == "Glass"
    assert column_texts(panel, Column.CONFIDENCE)[2] == "45.0 %"
    local = (NOW - timedelta(minutes=20)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert column_texts(panel, Column.TIME)[0] == local
    thumb = panel.model.index(0, Column.THUMB).data(Qt.ItemDataRole.DecorationRole)
    assert isinstance(thumb, QPixmap)
    assert not thumb.isNull()
    assert panel.model.index(2, Column.THUMB).data(Qt.ItemDataRole.DecorationRole) is None
    assert panel.status_label.text() == "Matching records: 5"


def test_filters_narrow_the_rows(
    qtbot: QtBot, store: HistoryStore, rules: BinRules, seeded: list[int]
) -> None:
    panel = make_panel(qtbot, store, rules)
    bar = panel.filters
    choose(bar.class_combo, "glass")
    assert column_texts(panel, Column.CLASS) == ["Glass", "Glass"]
    bar.class_combo.setCurrentIndex(0)
    choose(bar.preset_combo, "today")  # the record from three days ago drops out
    assert panel.model.rowCount() == 4
    choose(bar.bin_combo, "glass")
    assert panel.model.rowCount() == 2
    bar.bin_combo.setCurrentIndex(0)
    bar.conf_spin.setValue(50)
    assert "Plastic" not in column_texts(panel, Column.CLASS)
    bar.clear()
    assert panel.model.rowCount() == 5

    store.correct(seeded[3], "trash", "general")
    panel.refresh_now()
    choose(bar.corrected_combo, True)
    assert column_texts(panel, Column.CLASS) == [f"Trash {CORRECTED_MARK}"]
    choose(bar.corrected_combo, False)
    assert panel.model.rowCount() == 4

    bar.clear()
    bar.search_edit.setText("JAR")  # debounced: nothing happens until the timer fires
    assert panel.model.rowCount() == 5
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=2000)
    assert column_texts(panel, Column.SOURCE) == ["jar.jpg"]


def test_table_pages_instead_of_loading_everything(
    qtbot: QtBot, store: HistoryStore, rules: BinRules
) -> None:
    store.add_many([new_record(LABELS[i % 6], i / 10) for i in range(2500)])
    panel = make_panel(qtbot, store, rules)
    model = panel.model
    assert model.total == 2500
    assert model.rowCount() == 200
    assert model.canFetchMore()
    # A record arriving mid-scroll must not shift the pages (no duplicates, none skipped).
    newest = store.add(new_record("glass", -1))
    model.fetchMore()
    assert model.rowCount() == 400
    while model.canFetchMore():
        model.fetchMore()
    ids = [model.record(r).id for r in range(model.rowCount())]  # type: ignore[union-attr]
    assert len(ids) == len(set(ids)) == 2500
    assert newest not in ids
    panel.refresh_now()
    assert model.record(0).id == newest  # type: ignore[union-attr]
    assert model.rowCount() == 2501
    assert model.total == 2501


def test_refresh_adds_new_records_on_top_keeping_the_selection(
    qtbot: QtBot, store: HistoryStore, rules: BinRules, seeded: list[int]
) -> None:
    panel = make_panel(qtbot, store, rules)
    panel.select_ids([seeded[2]])
    added = store.add(new_record("paper", 0))
    panel.refresh()  # debounced: the rows arrive a moment later
    assert panel.model.rowCount() == 5
    qtbot.waitUntil(lambda: panel.model.rowCount() == 6, timeout=2000)
    assert panel.model.record(0).id == added  # type: ignore[union-attr]
    assert panel.selected_ids() == [seeded[2]]


def test_correcting_through_the_dialog_keeps_the_original(
    qtbot: QtBot, store: HistoryStore, rules: BinRules, seeded: list[int]
) -> None:
    panel = make_panel(qtbot, store, rules)
    target = seeded[2]  # plastic, 45 %
    panel.select_ids([target])

    def pick() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, CorrectionDialog)
        assert dialog.label() == "plastic"  # the current class is preselected
        assert dialog.select_label("metal")
        dialog.accept()

    corrected: list[tuple[int, str]] = []
    panel.record_corrected.connect(lambda rid, label: corrected.append((rid, label)))
    QTimer.singleShot(0, pick)
    with qtbot.waitSignal(panel.records_changed, timeout=2000):
        panel.correct_selected()
    assert corrected == [(target, "metal")]
    rec = store.get(target)
    assert rec is not None
    assert (rec.label, rec.corrected_label, rec.final_bin) == ("plastic", "metal", "packaging")
    row = panel.model.row_of(target)
    index = panel.model.index(row, Column.CLASS)
    assert index.data() == f"Metal {CORRECTED_MARK}"
    assert "Plastic" in index.data(Qt.ItemDataRole.ToolTipRole)
    assert panel.selected_ids() == [target]

    panel.restore_selected()
    assert store.get(target).corrected_label is None  # type: ignore[union-attr]


def test_delete_asks_first_then_removes(
    qtbot: QtBot,
    store: HistoryStore,
    rules: BinRules,
    seeded: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    panel = make_panel(qtbot, store, rules)
    panel.select_ids([seeded[1], seeded[3]])
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    panel.delete_selected()  # "No": nothing happens
    assert store.count() == 5
    with qtbot.waitSignal(panel.records_changed):
        panel.delete_selected()
    assert store.count() == 3
    assert panel.model.rowCount() == 3
    assert store.get(seeded[1]) is None
    assert "Glass" not in column_texts(panel, Column.CLASS)


def test_csv_export_writes_the_filtered_records(
    qtbot: QtBot, store: HistoryStore, rules: BinRules, seeded: list[int], tmp_path: Path
) -> None:
    panel = make_panel(qtbot, store, rules)
    choose(panel.filters.class_combo, "glass")
    out = tmp_path / "export.csv"
    assert panel.export_csv(out) == 2
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [str(seeded[1]), str(seeded[3])]
    assert {r["final_label"] for r in rows} == {"glass"}
    assert str(out) in panel.status_label.text()


def test_dataset_export_from_the_panel_says_images_are_thumbnails(
    qtbot: QtBot, store: HistoryStore, rules: BinRules, seeded: list[int], tmp_path: Path
) -> None:
    panel = make_panel(qtbot, store, rules)
    panel.correct_records([seeded[1], seeded[2]], "glass")
    report = panel.export_dataset(tmp_path / "set")
    assert report is not None
    assert (report.images, report.without_image) == (1, 1)
    assert (tmp_path / "set" / "glass" / f"{seeded[1]}.jpg").is_file()
    message = panel.dataset_message(report)
    assert "thumbnails" in message
    assert "manifest.csv" in message


def test_hand_written_bad_rows_leave_the_good_ones_showing(
    qtbot: QtBot, tmp_path: Path, rules: BinRules
) -> None:
    """Issue 15: the panel loads every readable row of a history with bad rows in it."""
    from tests.core.history_helpers import corrupt_files, write_odd_history

    path = tmp_path / "odd.sqlite3"
    shown, _skipped = write_odd_history(path, NOW - timedelta(minutes=1))
    with HistoryStore(path) as odd:
        assert odd.recovered_from is None
        panel = make_panel(qtbot, odd, rules)
        model = panel.model
        assert model.rowCount() == len(shown)
        for row in range(model.rowCount()):  # every cell renders, bad fields included
            for column in Column:
                for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                    model.index(row, column).data(role)
        assert "Paper" in column_texts(panel, Column.CLASS)
        assert panel.status_label.text() == f"Matching records: {len(shown)}"
    assert corrupt_files(path) == []
