"""Teaching the station from its window: the Teach dialog on a real history and a tiny real
base model, then the whole path in the assembled GUI (promote, bins, roll back)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox
from pytestqt.qtbot import QtBot

from app.core.bins import BinRules, default_bins_path
from app.core.history import HistoryStore, NewRecord
from app.core.imaging import encode_crop
from app.core.paths import DataDir
from app.core.registry import ModelRegistry
from app.core.settings import Settings, load_settings, save_settings
from app.core.station_model import log_path
from app.qt.application import Gui, build_gui
from app.qt.history_model import CONFIRMED_MARK, Column
from app.qt.history_panel import HistoryPanel
from app.qt.teach_dialog import TeachDialog, TeachWorker
from tests.factories import TEACH_COLOURS, YELLOW, make_onnx_model, write_examples

BASE_LABELS = ("red", "green", "blue")
MODEL_SIZE = (24, 32)  # (height, width): not square, so a swapped crop size shows
CROP_SIZE = (32, 24)  # (width, height)
PER_CLASS = 6
TEACH_TIMEOUT_MS = 60_000
# The override the station starts with: bins for the base model's classes, none for yellow.
START_BINS = {"classes": {"red": "glass", "green": "paper", "blue": "general"}}


@dataclass
class Station:
    data: DataDir
    registry: ModelRegistry
    store: HistoryStore
    rules: BinRules


def noisy(colour: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A photo-like picture of one colour: shifted a little, with per-pixel noise."""
    shifted = np.clip(np.asarray(colour) + rng.integers(-30, 31, 3), 0, 255)
    pixels = shifted + rng.integers(-20, 21, (30, 40, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def record(label: str, crop: bytes | None) -> NewRecord:
    return NewRecord(
        source="camera:0", model_id="test", model_version="1.0.0", label=label,
        confidence=0.9, top_k=[(label, 0.9)], bin_id="general", unsure=False,
        source_kind="camera", crop=crop,
    )  # fmt: skip


def fill_history(store: HistoryStore) -> None:
    """Confirmed red/green/blue records and yellow items the model called red, corrected;
    plus records that must not teach: one never marked, one confirmed without a picture."""
    rng = np.random.default_rng(7)
    for _ in range(PER_CLASS):
        for label in BASE_LABELS:
            rid = store.add(
                record(label, encode_crop(noisy(TEACH_COLOURS[label], rng), *CROP_SIZE))
            )
            store.confirm(rid)
        rid = store.add(record("red", encode_crop(noisy(YELLOW, rng), *CROP_SIZE)))
        store.correct(rid, "yellow", "general")
    store.add(record("red", encode_crop(noisy(YELLOW, rng), *CROP_SIZE)))  # not marked
    store.confirm(store.add(record("green", None)))  # privacy "nothing": no picture


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    data = DataDir(tmp_path / "data").ensure()
    make_onnx_model(
        data.user_models / "test.onnx",
        BASE_LABELS,
        model_id="test",
        size=MODEL_SIZE,
        novelty_threshold=200.0,
    )
    data.bins_override.write_text(json.dumps(START_BINS), encoding="utf-8")
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    store = HistoryStore(data.history_db)
    fill_history(store)
    rules = BinRules.load(default_bins_path(), data.bins_override)
    yield Station(data, ModelRegistry(shipped, data.user_models), store, rules)
    store.close()


def make_dialog(qtbot: QtBot, station: Station, **kwargs: Any) -> TeachDialog:
    dialog = TeachDialog(
        data=station.data, registry=station.registry, store=station.store,
        rules=station.rules, current_model="test", reserved=kwargs.pop("reserved", []),
        **kwargs,
    )  # fmt: skip
    qtbot.addWidget(dialog)
    return dialog


def table_rows(dialog: TeachDialog) -> list[tuple[str, str]]:
    table = dialog.table
    out = []
    for row in range(table.rowCount()):
        label = table.item(row, 0)
        count = table.item(row, 1)
        assert label is not None
        assert count is not None
        out.append((str(label.data(Qt.ItemDataRole.UserRole)), count.text()))
    return out


def bin_combo(dialog: TeachDialog, label: str) -> QComboBox:
    for row in range(dialog.table.rowCount()):
        item = dialog.table.item(row, 0)
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == label:
            combo = dialog.table.cellWidget(row, 2)
            assert isinstance(combo, QComboBox)
            return combo
    raise AssertionError(f"no row for {label}")


def teach_and_wait(qtbot: QtBot, dialog: TeachDialog) -> Any:
    qtbot.waitUntil(dialog.teach_button.isEnabled, timeout=5000)
    qtbot.mouseClick(dialog.teach_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.taught() is not None, timeout=TEACH_TIMEOUT_MS)
    assert dialog.wait_for_worker()
    qtbot.waitUntil(dialog.teach_button.isEnabled, timeout=5000)  # the worker has finished
    return dialog.taught()


# --------------------------------------------------------------------------- the dialog


def test_dialog_lists_the_history_classes_and_their_bins(qtbot: QtBot, station: Station) -> None:
    dialog = make_dialog(qtbot, station)
    assert table_rows(dialog) == [("blue", "6"), ("green", "6"), ("red", "6"), ("yellow", "6")]
    assert dialog.counts() == {"blue": 6, "green": 6, "red": 6, "yellow": 6}
    assert dialog.teach_button.isEnabled()
    assert not dialog.promote_button.isEnabled()
    assert not dialog.discard_button.isEnabled()
    # Known classes show their bin; the new class asks for one.
    assert bin_combo(dialog, "red").currentData() == "glass"
    assert bin_combo(dialog, "blue").currentData() == "general"
    yellow = bin_combo(dialog, "yellow")
    assert yellow.currentData() is None
    assert yellow.findData("textile") >= 0
    assert dialog.chosen_bins() == {}
    yellow.setCurrentIndex(yellow.findData("textile"))
    assert dialog.chosen_bins() == {"yellow": "textile"}


def test_dialog_without_history_teaches_from_added_folders(
    qtbot: QtBot, station: Station, tmp_path: Path
) -> None:
    dialog = make_dialog(qtbot, station)
    dialog.history_check.setChecked(False)
    assert table_rows(dialog) == []
    assert not dialog.teach_button.isEnabled()

    root = tmp_path / "examples"
    write_examples(root, {"yellow": YELLOW, "purple": (128, 0, 128)}, 3, seed=3)
    assert dialog.add_folder(root) == 6
    assert table_rows(dialog) == [("purple", "3"), ("yellow", "3")]
    assert dialog.teach_button.isEnabled()
    # A folder of one class, named by the operator.
    single = tmp_path / "single"
    write_examples(single, {"x": (0, 0, 0)}, 2)
    assert dialog.add_folder(single / "x", "black  bag") == 2
    assert dict(table_rows(dialog))["black_bag"] == "2"

    dialog.history_check.setChecked(True)
    assert dialog.counts() == {
        "black_bag": 2,
        "blue": 6,
        "green": 6,
        "purple": 3,
        "red": 6,
        "yellow": 9,
    }


def test_teach_discard_teach_again_and_promote(qtbot: QtBot, station: Station) -> None:
    dialog = make_dialog(qtbot, station)
    first = teach_and_wait(qtbot, dialog)

    assert first.model_id == "station-v1"
    assert first.path == station.data.user_models / "station-v1.onnx"
    assert first.path.is_file()
    assert first.examples == {"blue": 6, "green": 6, "red": 6, "yellow": 6}
    assert first.new_classes == ("yellow",)
    assert first.base_id == "test"
    assert first.base_accuracy == 0.75, "the base never says yellow"
    assert first.accuracy == 1.0
    status = dialog.status.text()
    assert "Taught station-v1 from 24 examples" in status
    assert "Right on 100% of the examples" in status
    assert "test: 75%" in status
    assert "Weaker classes" not in status
    assert dialog.promote_button.isEnabled()
    assert dialog.discard_button.isEnabled()
    assert "station-v1" in station.registry.ids()

    qtbot.mouseClick(dialog.discard_button, Qt.MouseButton.LeftButton)
    assert not first.path.exists()
    assert dialog.taught() is None
    assert "Discarded station-v1" in dialog.status.text()
    assert not dialog.promote_button.isEnabled()
    assert not dialog.discard_button.isEnabled()
    assert "station-v1" not in station.registry.ids()

    second = teach_and_wait(qtbot, dialog)
    assert second.path.is_file()
    assert second.cached == 24, "teaching again reuses every example's features"
    yellow = bin_combo(dialog, "yellow")
    yellow.setCurrentIndex(yellow.findData("textile"))
    with (
        qtbot.waitSignal(dialog.bins_chosen, timeout=2000) as bins,
        qtbot.waitSignal(dialog.promote_requested, timeout=2000) as promoted,
    ):
        qtbot.mouseClick(dialog.promote_button, Qt.MouseButton.LeftButton)
    assert promoted.args == [second.model_id]
    assert bins.args == [{"yellow": "textile"}]
    assert f"This station now uses {second.model_id}." in dialog.status.text()
    assert "No bin" not in dialog.status.text()
    assert not dialog.promote_button.isEnabled()
    assert second.path.is_file(), "promoting keeps the file"


def test_promoting_without_a_bin_for_the_new_class_says_so(qtbot: QtBot, station: Station) -> None:
    dialog = make_dialog(qtbot, station)
    result = teach_and_wait(qtbot, dialog)
    with qtbot.waitSignal(dialog.promote_requested, timeout=2000) as promoted:
        qtbot.mouseClick(dialog.promote_button, Qt.MouseButton.LeftButton)
    assert promoted.args == [result.model_id]
    assert "No bin for Yellow" in dialog.status.text()
    assert "Red" not in dialog.status.text().split("No bin for", 1)[1]


@pytest.mark.parametrize(
    ("name", "reserved", "message"),
    [("bad name!", [], "cannot name a model"), ("waste", ["waste"], "name of a shipped model")],
)
def test_a_refused_name_fails_with_a_message(
    qtbot: QtBot, station: Station, name: str, reserved: list[str], message: str
) -> None:
    dialog = make_dialog(qtbot, station, reserved=reserved)
    dialog.name_edit.setText(name)
    qtbot.mouseClick(dialog.teach_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Teaching failed" in dialog.status.text(), timeout=10_000)
    assert message in dialog.status.text()
    assert dialog.wait_for_worker()
    qtbot.waitUntil(dialog.teach_button.isEnabled, timeout=5000)
    assert dialog.taught() is None
    assert not dialog.promote_button.isEnabled()
    assert list(station.data.user_models.glob("*.onnx")) == [station.data.user_models / "test.onnx"]


def test_records_marked_right_in_the_history_panel_become_examples(
    qtbot: QtBot, station: Station
) -> None:
    store = station.store
    new = [
        store.add(
            record("green", encode_crop(np.full((8, 8, 3), (0, 200, 0), np.uint8), *CROP_SIZE))
        )
        for _ in range(2)
    ]
    panel = HistoryPanel(store, station.rules, ["blue", "green", "red", "yellow"])
    qtbot.addWidget(panel)
    assert not panel.confirm_button.isEnabled()
    panel.select_ids(new)
    assert panel.confirm_button.isEnabled()
    with qtbot.waitSignal(panel.records_changed, timeout=2000):
        qtbot.mouseClick(panel.confirm_button, Qt.MouseButton.LeftButton)

    for rid in new:
        got = store.get(rid)
        assert got is not None
        assert got.confirmed
    texts = [panel.model.index(r, Column.CLASS).data() for r in range(panel.model.rowCount())]
    # Newest first: the two just confirmed, the green one confirmed earlier (no picture),
    # then the yellow item nobody marked, still shown as the model's "red".
    assert texts[:4] == [f"Green {CONFIRMED_MARK}"] * 3 + ["Red"]
    dialog = make_dialog(qtbot, station)
    assert dialog.counts()["green"] == PER_CLASS + 2


# --------------------------------------------------------------------------- the whole GUI


def grey_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (64, 48))
    for _ in range(15):
        writer.write(np.full((48, 64, 3), 200, np.uint8))
    writer.release()
    return path


@pytest.fixture
def gui(qtbot: QtBot, station: Station, tmp_path: Path) -> Iterator[Gui]:
    save_settings(
        station.data.settings_file,
        Settings(model_id="test", auto_capture=False, keep_images="crop"),
    )
    built = build_gui(
        camera=str(grey_video(tmp_path / "belt.avi")), data_dir=station.data, model_id="test",
        store=station.store, registry=station.registry, probe_cameras=False,
        exit_after_video=False,
    )  # fmt: skip
    qtbot.addWidget(built.window)
    built.start()
    qtbot.waitExposed(built.window)
    yield built
    flow = built.window.teach_flow  # type: ignore[attr-defined]
    if flow.dialog is not None:
        flow.dialog.reject()
    built.window.close()
    built.shutdown()
    QApplication.processEvents()


def settings_model(data: DataDir) -> str:
    return load_settings(data.settings_file)[0].model_id


def test_teach_promote_and_roll_back_in_the_running_station(
    qtbot: QtBot, gui: Gui, station: Station
) -> None:
    data, controller = station.data, gui.controller
    qtbot.waitUntil(lambda: controller.model_id == "test", timeout=10_000)
    assert gui.session.crop_size == CROP_SIZE, "crops are the model's input, (width, height)"
    records_before = station.store.count()

    flow = gui.window.teach_flow  # type: ignore[attr-defined]
    dialog = flow.open()
    assert dialog.isVisible()
    assert dict(table_rows(dialog)) == dict.fromkeys(("blue", "green", "red", "yellow"), "6")
    yellow = bin_combo(dialog, "yellow")
    yellow.setCurrentIndex(yellow.findData("textile"))
    result = teach_and_wait(qtbot, dialog)
    taught = result.model_id
    assert taught == "station-v1"
    assert not log_path(data).exists(), "teaching alone changes nothing"
    assert settings_model(data) == "test"

    qtbot.mouseClick(dialog.promote_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controller.model_id == taught, timeout=10_000)
    assert settings_model(data) == taught
    assert controller.settings.model_id == taught
    assert controller.settings.keep_images == "crop", "only the model changed"
    changes = json.loads(log_path(data).read_text(encoding="utf-8"))["changes"]
    assert [(c["from"], c["to"], c["why"]) for c in changes] == [("test", taught, "promoted")]
    qtbot.waitUntil(lambda: gui.window.model_combo.findData(taught) >= 0, timeout=5000)
    assert gui.window.model_combo.currentData() == taught
    # The new class's bin went into the override (the rest of it kept) and the rules.
    override = json.loads(data.bins_override.read_text(encoding="utf-8"))
    assert override["classes"]["yellow"] == {"bin": "textile"}
    assert override["classes"]["red"] == "glass"
    yellow_bin = controller.session.rules.bin_for("yellow")
    assert yellow_bin is not None
    assert yellow_bin.id == "textile"
    red_bin = controller.session.rules.bin_for("red")
    assert red_bin is not None
    assert red_bin.id == "glass"
    assert controller.model_info is not None
    assert controller.model_info.labels == ("blue", "green", "red", "yellow")

    qtbot.mouseClick(dialog.rollback_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controller.model_id == "test", timeout=10_000)
    assert settings_model(data) == "test"
    changes = json.loads(log_path(data).read_text(encoding="utf-8"))["changes"]
    assert [(c["from"], c["to"], c["why"]) for c in changes] == [
        ("test", taught, "promoted"), (taught, "test", "rollback")]  # fmt: skip
    assert result.path.is_file(), "rolling back never deletes a taught model"
    assert controller.session.rules.bin_for("yellow") is not None, "bins stay assigned"

    # Nothing further back: the station says so and stays on its model.
    flow.rollback()
    assert "nothing to roll back" in gui.window.notice_text()
    assert controller.model_id == "test"
    assert len(json.loads(log_path(data).read_text(encoding="utf-8"))["changes"]) == 2
    assert station.store.count() == records_before, "no item was recorded meanwhile"


def test_one_teach_dialog_at_a_time(qtbot: QtBot, gui: Gui) -> None:
    flow = gui.window.teach_flow  # type: ignore[attr-defined]
    first = flow.open()
    assert flow.open() is first, "a second Ctrl+T shows the open dialog"
    first.reject()
    assert not first.isVisible()
    second = flow.open()
    assert second is not first
    assert second.isVisible()
    assert flow.dialog is second


def test_closing_the_window_while_teaching_waits_for_the_teaching_thread(
    qtbot: QtBot, gui: Gui
) -> None:
    qtbot.waitUntil(lambda: gui.controller.model_id == "test", timeout=10_000)
    dialog = gui.window.teach_flow.open()  # type: ignore[attr-defined]
    qtbot.mouseClick(dialog.teach_button, Qt.MouseButton.LeftButton)
    workers = dialog.findChildren(TeachWorker)
    assert len(workers) == 1
    assert workers[0].isRunning()

    gui.window.close()

    # Destroying a running QThread aborts the process; the window's close waited instead.
    assert workers[0].isFinished()
    assert not dialog.isVisible()
