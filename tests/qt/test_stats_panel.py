"""Statistics panel: numbers and chart series after records are added and after refresh."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from PySide6.QtCharts import QBarSet, QPieSeries
from PySide6.QtGui import QColor, QImage
from pytestqt.qtbot import QtBot

import app.qt.stats_panel as stats_panel_module
from app.core.bins import BinRules, default_bins_path
from app.core.history import HistoryStore, NewRecord
from app.qt.stats_panel import StatsPanel

TODAY = date.today()


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute)).astimezone()


def record(label: str, bin_id: str, when: datetime, confidence: float = 0.9) -> NewRecord:
    return NewRecord(
        source="camera:0",
        model_id="waste",
        model_version="1.0.0",
        label=label,
        confidence=confidence,
        top_k=[(label, confidence)],
        bin_id=bin_id,
        unsure=bin_id == "unsure",
        created_utc=when,
        source_kind="camera",
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "history.sqlite3") as s:
        # Today, all in the first hour so the test holds at any time of day.
        ids = s.add_many(
            [
                record("glass", "glass", at_local(TODAY, 0, 5), 0.9),
                record("glass", "glass", at_local(TODAY, 0, 10), 0.8),
                record("plastic", "packaging", at_local(TODAY, 0, 15), 0.7),
                record("trash", "unsure", at_local(TODAY, 0, 20), 0.4),
            ]
        )
        s.correct(ids[3], "paper", "paper")
        s.add(record("metal", "packaging", at_local(TODAY - timedelta(days=40), 12)))
        yield s


@pytest.fixture
def panel(qtbot: QtBot, store: HistoryStore) -> StatsPanel:
    widget = StatsPanel(store, BinRules.load(default_bins_path()))
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.set_period("day")
    return widget


def bar_values(bar_set: QBarSet) -> list[float]:
    return [bar_set.at(i) for i in range(bar_set.count())]


def test_numbers_and_charts_for_today(panel: StatsPanel) -> None:
    assert panel.total_value.text() == "4"
    assert panel.conf_value.text() == "70.0 %"  # (0.9 + 0.8 + 0.7 + 0.4) / 4
    assert panel.unsure_value.text() == "25.0 % (1/4)"
    assert panel.corrected_value.text() == "25.0 % (1/4)"
    assert "estimate of the model's error rate" in panel.corrected_title.text()
    assert not panel.empty_label.isVisibleTo(panel)

    assert isinstance(panel.class_set, QBarSet)
    assert sorted(bar_values(panel.class_set)) == [1.0, 1.0, 2.0]  # glass 2, paper 1, plastic 1

    assert isinstance(panel.bin_series, QPieSeries)
    markers = panel.bin_view.chart().legend().markers(panel.bin_series)
    names = [m.label() for m in markers]
    slices = {
        n: (s.value(), s.color()) for n, s in zip(names, panel.bin_series.slices(), strict=True)
    }
    assert panel.bin_series.slices()[0].label() == "50 %"  # glass: 2 of 4
    assert slices["Glass: 2"] == (2.0, QColor("#2E7D32"))
    assert slices["Paper & cardboard: 1"][1] == QColor("#1565C0")
    assert "Packaging (metal, plastic & cartons): 1" in slices

    assert panel.time_view.chart().title() == "Items per hour"
    hours = bar_values(panel.time_series)  # type: ignore[arg-type]
    assert len(hours) in (23, 24, 25)  # 24, or a daylight-saving change day
    assert hours[0] == 4.0
    assert sum(hours) == 4.0


def test_refresh_is_debounced_and_picks_up_new_records(
    qtbot: QtBot, panel: StatsPanel, store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    real_compute = stats_panel_module.compute

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real_compute(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(stats_panel_module, "compute", counting)
    for minute in range(30, 35):
        store.add(record("glass", "glass", at_local(TODAY, 0, minute)))
        panel.refresh()
    assert panel.total_value.text() == "4"  # nothing recomputed yet
    qtbot.waitUntil(lambda: panel.total_value.text() == "9", timeout=3000)
    assert len(calls) == 1
    assert max(bar_values(panel.class_set)) == 7.0


def test_custom_range_is_charted_per_day(panel: StatsPanel) -> None:
    start = TODAY - timedelta(days=45)
    panel.set_period("custom", start, TODAY)
    assert panel.total_value.text() == "5"
    assert panel.time_view.chart().title() == "Items per day"
    days = bar_values(panel.time_series)  # type: ignore[arg-type]
    assert len(days) == 46
    assert days[5] == 1.0
    assert days[-1] == 4.0
    panel.set_period("custom", TODAY - timedelta(days=3), TODAY - timedelta(days=1))
    assert panel.total_value.text() == "0"
    assert panel.empty_label.isVisibleTo(panel)
    assert panel.conf_value.text() == "\u2013"


def test_exports_png_and_csv(panel: StatsPanel, tmp_path: Path) -> None:
    png = tmp_path / "stats.png"
    assert panel.export_png(png)
    image = QImage(str(png))
    assert not image.isNull()
    assert image.width() > 300
    out = tmp_path / "stats.csv"
    assert panel.export_csv(out) > 0
    with out.open(newline="", encoding="utf-8") as fh:
        rows = {(r["section"], r["key"]): r["value"] for r in csv.DictReader(fh)}
    assert rows[("summary", "total")] == "4"
    assert rows[("label", "glass")] == "2"
    assert rows[("bin", "paper")] == "1"  # the corrected bin, not the model's "unsure"
