"""The assembled window: record once with Space, model switching, camera loss, shutdown."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.history import HistoryError, HistoryStore
from app.core.paths import DataDir
from app.core.registry import ModelRegistry
from app.qt.application import Gui, build_gui
from app.qt.camera_worker import CameraError, OpenCvSource
from app.qt.main_window import HISTORY_TAB, LIVE_TAB, STATS_TAB
from tests.factories import make_onnx_model, write_image

# make_onnx_model's default labels; a red picture is "red" with high confidence.
RED_FRAME = np.zeros((48, 64, 3), np.uint8)
RED_FRAME[..., 0] = 255


class Plug:
    def __init__(self) -> None:
        self.plugged = True


class FakeCamera:
    """A steady red scene; unplugging makes reads fail and opening impossible."""

    is_file = False
    fps = None
    resolution = (64, 48)
    description = "Fake camera"

    def __init__(self, plug: Plug) -> None:
        self.plug = plug

    def open(self) -> None:
        if not self.plug.plugged:
            raise CameraError("Cannot open camera Fake camera")

    def read(self) -> np.ndarray | None:
        time.sleep(0.02)
        return RED_FRAME.copy() if self.plug.plugged else None

    def close(self) -> None:
        pass


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    make_onnx_model(folder / "colours.onnx", model_id="colours")
    make_onnx_model(folder / "other.onnx", model_id="other", labels=("a", "b", "c"))
    (folder / "broken.onnx").write_bytes(b"this is not onnx")
    return folder


@pytest.fixture
def gui_factory(
    qtbot: QtBot, tmp_path: Path, models: Path
) -> Iterator[tuple[list[Gui], Plug, DataDir]]:
    plug = Plug()
    data = DataDir(tmp_path / "data").ensure()
    # The tiny test model's classes, given bins through the user override file.
    data.bins_override.write_text(
        json.dumps({"classes": {"red": "glass", "green": "paper", "blue": "general"}})
    )
    made: list[Gui] = []
    yield made, plug, data
    for gui in made:
        gui.window.close()
        gui.shutdown()
        gui.store.close()


def make_gui(
    qtbot: QtBot,
    factory: tuple[list[Gui], Plug, DataDir],
    models: Path,
    *,
    camera: str = "0",
    store: HistoryStore | None = None,
    real_camera: bool = False,
    exit_after_video: bool = False,
) -> Gui:
    made, plug, data = factory
    gui = build_gui(
        camera=camera,
        data_dir=data,
        model_id="colours",
        store=store,
        registry=ModelRegistry(models),
        make_source=(lambda spec, res: OpenCvSource(spec, res))
        if real_camera
        else (lambda spec, res: FakeCamera(plug)),
        probe_cameras=False,
        exit_after_video=exit_after_video,
    )
    made.append(gui)
    qtbot.addWidget(gui.window)
    gui.start()
    qtbot.waitExposed(gui.window)
    gui.window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is gui.window, timeout=2000)
    return gui


def wait_for_result(qtbot: QtBot, gui: Gui) -> None:
    qtbot.waitUntil(lambda: gui.controller.model_id == "colours", timeout=4000)
    qtbot.waitUntil(lambda: gui.result_panel.title_label.text() == "Red", timeout=4000)


def test_space_records_exactly_one_item_and_confirms(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path
) -> None:
    gui = make_gui(qtbot, gui_factory, models)
    wait_for_result(qtbot, gui)
    assert gui.frame_view.has_frame()
    assert gui.store.count() == 0  # a steady scene is "empty": auto-capture stays quiet

    qtbot.keyClick(gui.window, Qt.Key.Key_Space)

    qtbot.waitUntil(lambda: gui.result_panel.status_text().startswith("Saved #"), timeout=3000)
    records = gui.store.query(None, limit=10, offset=0)
    assert len(records) == 1
    assert gui.result_panel.status_text().startswith(f"Saved #{records[0].id}")
    assert records[0].label == "red"
    assert records[0].source == "camera:0"
    assert records[0].source_kind == "camera"
    assert gui.store.thumbnail(records[0].id)  # thumbnails on by default
    qtbot.wait(300)  # nothing else gets recorded afterwards
    assert gui.store.count() == 1


def test_failed_save_is_reported_and_not_claimed(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path
) -> None:
    store = HistoryStore(":memory:")

    def locked(_rec: object) -> int:
        raise HistoryError("the history database is locked by another program", "locked")

    store.add = locked  # type: ignore[method-assign]
    gui = make_gui(qtbot, gui_factory, models, store=store)
    wait_for_result(qtbot, gui)
    gui.window.record_action.trigger()
    qtbot.waitUntil(lambda: "NOT saved" in gui.result_panel.status_text(), timeout=3000)
    assert "locked" in gui.result_panel.status_text()
    assert "Saved #" not in gui.result_panel.status_text()
    assert gui.result_panel.status_label.property("kind") == "error"


def test_model_that_fails_to_load_keeps_the_previous(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path
) -> None:
    gui = make_gui(qtbot, gui_factory, models)
    wait_for_result(qtbot, gui)
    combo = gui.window.model_combo
    qtbot.waitUntil(lambda: combo.count() == 3, timeout=3000)
    broken = combo.findData("broken")
    assert not combo.model().item(broken).isEnabled()
    assert "broken.onnx" in combo.itemData(broken, Qt.ItemDataRole.ToolTipRole)

    # Between listing and loading, the file went bad: the load fails.
    (models / "other.onnx").write_bytes(b"garbage now")
    gui.window.model_selected.emit("other")
    qtbot.waitUntil(lambda: "Could not load model other" in gui.window.notice_text(), timeout=3000)
    assert gui.controller.model_id == "colours"
    assert combo.currentData() == "colours"
    predictor = gui.workers.inference.predictor
    assert predictor is not None
    assert predictor.info.id == "colours"
    gui.result_panel.show_message("")  # results keep coming from the previous model
    qtbot.waitUntil(lambda: gui.result_panel.title_label.text() == "Red", timeout=3000)


def test_camera_loss_is_shown_and_recovers(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path
) -> None:
    gui = make_gui(qtbot, gui_factory, models)
    wait_for_result(qtbot, gui)
    gui.workers.camera.fail_after_s = 0.2
    gui.workers.camera.retry_s = 0.2
    _, plug, _ = gui_factory
    plug.plugged = False
    qtbot.waitUntil(lambda: "stopped delivering" in gui.frame_view.message, timeout=3000)
    assert "retrying" in gui.frame_view.message
    assert gui.result_panel.title_label.text() == "Camera unavailable"
    assert "Camera:" in gui.window.camera_status.text()
    # The rest of the app still works.
    gui.window.tabs.setCurrentIndex(HISTORY_TAB)
    gui.window.tabs.setCurrentIndex(LIVE_TAB)

    plug.plugged = True
    qtbot.waitUntil(lambda: gui.frame_view.message == "", timeout=3000)
    qtbot.waitUntil(lambda: gui.result_panel.title_label.text() == "Red", timeout=3000)


def test_keyboard_tabs_and_kiosk(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path
) -> None:
    gui = make_gui(qtbot, gui_factory, models)
    window = gui.window
    qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == HISTORY_TAB
    assert not window.record_action.isEnabled()  # Space records only on the Live tab
    qtbot.keyClick(window, Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == STATS_TAB
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.tabs.currentIndex() == LIVE_TAB
    assert window.record_action.isEnabled()

    window.tabs.setCurrentIndex(STATS_TAB)
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.tabs.currentIndex() == LIVE_TAB
    assert not window.toolbar.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.toolbar.isVisible()
    assert not window.isFullScreen()


def test_opened_images_are_recorded_once_each(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path, tmp_path: Path
) -> None:
    gui = make_gui(qtbot, gui_factory, models)
    wait_for_result(qtbot, gui)
    folder = tmp_path / "photos"
    folder.mkdir()
    green = write_image(folder / "green.png", "png", color=(0, 255, 0))
    write_image(folder / "blue.jpg", "jpeg", color=(0, 0, 255))
    bad = folder / "bad.jpg"
    bad.write_bytes(b"not an image")
    # The folder and one file inside it: that file still counts once.
    gui.window.paths_dropped.emit([folder, green])
    qtbot.waitUntil(lambda: "classified" in gui.window.notice_text(), timeout=4000)
    assert "2 image(s) classified" in gui.window.notice_text()
    assert "bad.jpg" in gui.window.notice_text()
    qtbot.waitUntil(lambda: gui.store.count() == 2, timeout=3000)
    sources = sorted(Path(r.source).name for r in gui.store.query(None, limit=10, offset=0))
    assert sources == ["blue.jpg", "green.png"]
    assert gui.session.still_mode
    assert gui.window.live_action.isVisible()
    assert gui.frame_view.caption in ("blue.jpg", "green.png")
    # Space on the image already saved does not save it again.
    qtbot.waitUntil(lambda: gui.session.saves_pending() == 0, timeout=2000)
    assert gui.result_panel.status_text().startswith("Saved #")
    gui.window.record_action.trigger()
    assert gui.result_panel.status_text().startswith("Already saved #")
    qtbot.wait(200)
    assert gui.store.count() == 2
    gui.window.live_action.trigger()
    assert not gui.session.still_mode
    qtbot.waitUntil(lambda: gui.result_panel.title_label.text() == "Red", timeout=3000)


def test_closing_leaves_no_thread_running(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path
) -> None:
    before = set(threading.enumerate())
    gui = make_gui(qtbot, gui_factory, models)
    wait_for_result(qtbot, gui)
    gui.window.record_action.trigger()
    qtbot.waitUntil(lambda: gui.result_panel.status_text().startswith("Saved #"), timeout=3000)
    workers = [gui.workers.camera, gui.workers.inference, gui.workers.writer]
    assert all(w.isRunning() for w in workers)

    gui.window.close()

    assert not any(w.isRunning() for w in workers)
    qtbot.waitUntil(
        lambda: (
            not [
                t
                for t in threading.enumerate()
                if t not in before and t.is_alive() and not t.name.startswith("Dummy-")
            ]
        ),
        timeout=2000,
    )
    assert gui.store.count() == 1  # history intact after shutdown


def test_exit_after_video_quits_with_zero_after_the_last_record(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path, tmp_path: Path
) -> None:
    video = tmp_path / "belt.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (64, 48))
    for i in range(45):  # 0.5 s empty, 1 s of a blue item (BGR), then the end
        frame = np.full((48, 64, 3), 200, np.uint8)
        if i >= 15:
            frame[:] = (255, 0, 0)
        writer.write(frame)
    writer.release()
    gui = make_gui(
        qtbot, gui_factory, models, camera=str(video), real_camera=True, exit_after_video=True
    )
    gui.session.capture.configure(hold_s=0.3)
    assert gui.exit_watch is not None
    with qtbot.waitSignal(gui.exit_watch.quit_requested, timeout=4500) as quit_signal:
        pass
    assert quit_signal.args == [0]
    records = gui.store.query(None, limit=10, offset=0)
    assert [r.label for r in records] == ["blue"]  # auto-capture: one item, one record
    assert records[0].source == "video:belt.avi"
    QApplication.processEvents()


def test_settings_dialog_changes_apply_live_and_are_saved(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path
) -> None:
    from app.core.settings import load_settings
    from app.qt.settings_dialog import SettingsDialog

    gui = make_gui(qtbot, gui_factory, models)
    wait_for_result(qtbot, gui)
    _, _, data = gui_factory

    def accept_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SettingsDialog)
        # No threshold chosen: the test model recommends none, so the rules' default shows.
        assert dialog.recommended_check.isChecked()
        assert dialog.recommended_check.text() == "Use the model's recommendation (60 %)"
        dialog.accept()

    QTimer.singleShot(100, accept_dialog)
    qtbot.keyClick(gui.window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    # Unchanged settings: still confident.
    assert gui.result_panel.title_label.text() == "Red"

    stricter = dataclasses.replace(
        gui.controller.settings,
        threshold=0.999,
        class_thresholds={"red": 1.0},
        keep_images="nothing",
        capture_hold_s=2.5,
    )
    gui.controller.apply_settings(stricter)
    # The steady scene now gives unsure answers (shown as "ready" for an empty scene).
    qtbot.waitUntil(
        lambda: gui.session.current is not None and gui.session.current[1].unsure, timeout=3000
    )
    assert gui.session.capture.hold_s == 2.5
    saved, warnings = load_settings(data.settings_file)
    assert warnings == []
    assert saved.class_thresholds == {"red": 1.0}
    assert saved.keep_images == "nothing"
    gui.window.record_action.trigger()
    qtbot.waitUntil(lambda: gui.result_panel.status_text().startswith("Saved #"), timeout=3000)
    record = gui.store.query(None, limit=1, offset=0)[0]
    assert record.unsure
    assert gui.store.thumbnail(record.id) is None  # privacy: no picture kept


def test_bin_preset_and_language_chosen_in_settings_apply_live(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path
) -> None:
    from app.core.settings import load_settings
    from app.qt.i18n import install_translator
    from app.qt.settings_dialog import SettingsDialog

    _, _, data = gui_factory
    # "organic" is a bin of every preset, so this override suits all of them.
    data.bins_override.write_text(json.dumps({"classes": {"red": "organic"}}))
    gui = make_gui(qtbot, gui_factory, models)
    wait_for_result(qtbot, gui)
    panel = gui.result_panel
    assert panel.bin_label.text() == "Food & garden waste"

    def choose() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SettingsDialog)
        dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("vietnam"))
        dialog.language_combo.setCurrentIndex(dialog.language_combo.findData("vi"))
        dialog.accept()

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    try:
        QTimer.singleShot(100, choose)
        qtbot.keyClick(gui.window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: panel.bin_label.text() == "Chất thải thực phẩm", timeout=3000)
        assert panel.instruction_label.text().startswith("Thức ăn thừa")
        saved, _ = load_settings(data.settings_file)
        assert (saved.bin_preset, saved.language) == ("vietnam", "vi")
    finally:
        install_translator(app, "en")
    qtbot.waitUntil(lambda: panel.bin_label.text() == "Food waste", timeout=3000)


def test_model_info_dialog_and_drop_helpers(
    qtbot: QtBot, gui_factory: tuple[list[Gui], Plug, DataDir], models: Path, tmp_path: Path
) -> None:
    from PySide6.QtCore import QMimeData, QUrl

    from app.qt.model_info_dialog import ModelInfoDialog
    from app.qt.sources import accepts_drop, paths_from_mime

    gui = make_gui(qtbot, gui_factory, models)
    wait_for_result(qtbot, gui)
    seen: list[ModelInfoDialog] = []

    def close_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, ModelInfoDialog)
        seen.append(dialog)
        assert dialog.classes.count() == 3
        assert "Red" in dialog.classes.item(0).text() or "red" in dialog.classes.item(0).text()
        dialog.reject()

    QTimer.singleShot(100, close_dialog)
    qtbot.keyClick(gui.window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert len(seen) == 1

    image = write_image(tmp_path / "x.png", "png")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image)), QUrl("https://example.com/a.png")])
    assert paths_from_mime(mime) == [image]
    assert accepts_drop(mime)
    text_only = QMimeData()
    text_only.setUrls([QUrl.fromLocalFile(str(tmp_path / "notes.txt"))])
    assert not accepts_drop(text_only)
