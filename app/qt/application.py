"""Composition root of the window: build every part once and hand each only what it uses.

``run_gui`` shows the window first and then, from the event loop, starts the threads that load
the model and open the camera, so a window is on screen well within two seconds whatever the
model or camera do. SIGINT/SIGTERM close the window like the operator would: threads are
stopped and joined and queued history records are written before the process exits.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from app.core.bins import BinRules, BinRulesError, preset_path
from app.core.capture import AutoCapture, threshold_for_sensitivity
from app.core.history import HistoryError, HistoryStore
from app.core.paths import DataDir, resources_dir, shipped_models_dir
from app.core.registry import ModelRegistry
from app.core.settings import Settings, load_settings
from app.qt.camera_worker import (
    CameraState,
    CameraWorker,
    FrameSource,
    OpenCvSource,
    parse_camera_spec,
)
from app.qt.controller import AppController, Workers
from app.qt.frame_view import FrameView
from app.qt.history_panel import HistoryPanel
from app.qt.i18n import install_translator
from app.qt.inference_worker import InferenceWorker, ModelSource
from app.qt.live_session import LiveSession
from app.qt.main_window import MainWindow
from app.qt.recorder import HistoryWriter
from app.qt.result_panel import ResultPanel
from app.qt.stats_panel import StatsPanel
from app.qt.teach_flow import TeachFlow

log = logging.getLogger(__name__)

EXIT_AFTER_VIDEO_ENV = "WASTE_SORTER_EXIT_AFTER_VIDEO"
EXIT_STARTUP_FAILED = 2
EXIT_POLL_MS = 50
SourceMaker = Callable[[str, "tuple[int, int] | None"], FrameSource]


def app_icon() -> QIcon:
    icons = resources_dir() / "icons"
    icon = QIcon()
    for name in ("app-256.png", "app.svg"):
        if (icons / name).is_file():
            icon.addFile(str(icons / name))
    return icon


def make_rules(data_dir: DataDir) -> Callable[[Settings], BinRules]:
    """Bin rules for some settings: shipped preset, user override file, thresholds."""

    def build(settings: Settings) -> BinRules:
        override = Path(settings.bins_file) if settings.bins_file else data_dir.bins_override
        rules = BinRules.load(preset_path(settings.bin_preset), override)
        return rules.with_thresholds(settings.threshold, settings.class_thresholds)

    return build


def camera_source_name(spec: str) -> str:
    """How a camera source is named in the history ("camera:0", "video:belt.avi")."""
    parsed = parse_camera_spec(spec)
    return f"camera:{parsed}" if isinstance(parsed, int) else f"video:{Path(parsed).name}"


class ExitWhenVideoEnds(QObject):
    """``WASTE_SORTER_EXIT_AFTER_VIDEO=1`` (end-to-end tests, benchmarks): when the video-file
    camera ends, wait until inference and history writes have drained, then ask to quit with
    0; a video file that cannot be opened asks to quit with 1 (it would never end)."""

    quit_requested = Signal(int)

    def __init__(
        self, workers: Workers, session: LiveSession, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._workers, self._session = workers, session
        self._idle_polls = 0
        self._timer = QTimer(self, interval=EXIT_POLL_MS)
        self._timer.timeout.connect(self._poll)
        workers.camera.state_changed.connect(self._on_camera_state)

    @Slot(str, str)
    def _on_camera_state(self, state: str, message: str) -> None:
        if state == CameraState.ENDED.value:
            self._timer.start()
        elif state == CameraState.RETRYING.value:
            log.error("%s", message)
            self.quit_requested.emit(1)

    def _poll(self) -> None:
        busy = not self._workers.inference.is_idle() or self._session.saves_pending() > 0
        self._idle_polls = 0 if busy else self._idle_polls + 1
        # Two idle polls: a result queued just before the worker went idle is handled first.
        if self._idle_polls >= 2:
            self._timer.stop()
            self.quit_requested.emit(0)


@dataclass
class Gui:
    """Everything the window is made of; tests drive these directly."""

    window: MainWindow
    controller: AppController
    session: LiveSession
    workers: Workers
    store: HistoryStore
    result_panel: ResultPanel
    frame_view: FrameView
    history_panel: HistoryPanel
    stats_panel: StatsPanel
    exit_watch: ExitWhenVideoEnds | None = None

    def start(self, *, maximized: bool = False) -> None:
        """Show the window, then start the threads from the event loop."""
        if maximized:
            self.window.showMaximized()
        else:
            self.window.show()
        QTimer.singleShot(0, self.controller.start)

    def shutdown(self) -> None:
        """Stop and join every thread (idempotent); the store stays usable for reading."""
        self.controller.shutdown()


def build_gui(
    *,
    camera: str | None,
    data_dir: DataDir,
    model_id: str | None,
    store: HistoryStore | None = None,
    registry: ModelSource | None = None,
    make_source: SourceMaker = OpenCvSource,
    probe_cameras: bool = True,
    exit_after_video: bool | None = None,
) -> Gui:
    """Build the window and its workers (nothing started). Raises ``HistoryError``."""
    data_dir.ensure()
    settings, setting_warnings = load_settings(data_dir.settings_file)
    app = QApplication.instance()
    if isinstance(app, QApplication):
        install_translator(app, settings.language)
    store = store if store is not None else HistoryStore(data_dir.history_db)
    rules_for = make_rules(data_dir)
    try:
        rules = rules_for(settings)
    except (BinRulesError, ValueError) as exc:  # bins_file setting points at a broken file
        setting_warnings.append(str(exc))
        rules = BinRules.load(preset_path(settings.bin_preset))
    spec = camera if camera is not None else settings.camera

    registry = (
        registry if registry is not None
        else ModelRegistry(shipped_models_dir(), data_dir.user_models)
    )
    workers = Workers(
        camera=CameraWorker(),
        inference=InferenceWorker(registry),
        writer=HistoryWriter(store),
    )
    capture = AutoCapture(
        threshold=threshold_for_sensitivity(settings.capture_sensitivity),
        hold_s=settings.capture_hold_s,
    )
    session = LiveSession(
        rules,
        workers.writer,
        capture,
        auto_capture=settings.auto_capture,
        keep_images=settings.keep_images,
        camera_name=camera_source_name(spec),
    )
    result_panel = ResultPanel()
    frame_view = FrameView()
    history_panel = HistoryPanel(
        store, rules, sorted(rules.class_bins), export_dir=data_dir.exports
    )
    stats_panel = StatsPanel(store, rules, export_dir=data_dir.exports)
    window = MainWindow(result_panel, frame_view, history_panel, stats_panel)
    window.setWindowIcon(app_icon())
    if exit_after_video is None:
        exit_after_video = os.environ.get(EXIT_AFTER_VIDEO_ENV) == "1"
    controller = AppController(
        window=window,
        result_panel=result_panel,
        frame_view=frame_view,
        history_panel=history_panel,
        stats_panel=stats_panel,
        session=session,
        workers=workers,
        settings=settings,
        settings_path=data_dir.settings_file,
        make_source=make_source,
        make_rules=rules_for,
        camera=spec,
        model_id=model_id or settings.model_id,
        probe_cameras=probe_cameras and isinstance(parse_camera_spec(spec), int),
        parent=window,
    )
    window.closing.connect(controller.shutdown)
    teach_flow = TeachFlow(
        controller=controller, data=data_dir, store=store,
        registry=registry, parent=window,
    )
    window.teach_requested.connect(teach_flow.open)
    window.teach_flow = teach_flow  # type: ignore[attr-defined]
    is_file = not isinstance(parse_camera_spec(spec), int)
    exit_watch = (
        ExitWhenVideoEnds(workers, session, window) if exit_after_video and is_file else None
    )

    notices = list(setting_warnings)
    if rules.warning:
        notices.append(rules.warning)
    if store.recovered_from is not None:
        notices.append(
            window.tr(
                "The history database was damaged. It was moved to {path} and a new one was "
                "started."
            ).format(path=store.recovered_from)
        )
    if notices:
        window.show_notice("\n".join(notices), "warning")
    return Gui(
        window,
        controller,
        session,
        workers,
        store,
        result_panel,
        frame_view,
        history_panel,
        stats_panel,
        exit_watch,
    )


def _install_signal_handlers(close: Callable[[], object]) -> Callable[[], None]:
    """Route SIGINT/SIGTERM to a clean close; returns a function restoring the old handlers.

    Python runs signal handlers only between bytecodes, so a timer wakes the interpreter
    regularly while Qt's C++ event loop is waiting.
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: closing", signum)
        QTimer.singleShot(0, close)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    pulse = QTimer(interval=200)
    pulse.timeout.connect(lambda: None)
    pulse.start()

    def restore() -> None:
        pulse.stop()
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def run_gui(
    *,
    camera: str | None,
    data_dir: DataDir,
    model_id: str | None,
    argv: list[str] | None = None,
) -> int:
    """Run the station window until it is closed; returns the process exit code."""
    started = time.monotonic()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or sys.argv[:1])
    app.setApplicationName("Waste Sorter")
    app.setOrganizationName("waste-sorter")
    app.setWindowIcon(app_icon())
    try:
        gui = build_gui(camera=camera, data_dir=data_dir, model_id=model_id)
    except HistoryError as exc:
        log.error("cannot open the history: %s", exc)
        QMessageBox.critical(None, "Waste Sorter", f"Cannot open the history database:\n{exc}")
        return EXIT_STARTUP_FAILED

    exit_code = 0

    def on_quit(code: int) -> None:
        nonlocal exit_code
        exit_code = code
        gui.window.close()
        app.exit(code)

    if gui.exit_watch is not None:
        gui.exit_watch.quit_requested.connect(on_quit)
    restore = _install_signal_handlers(gui.window.close)
    gui.start(maximized=True)
    log.info("window shown %.2f s after start", time.monotonic() - started)
    try:
        result = app.exec()
    finally:
        restore()
        gui.shutdown()
        gui.store.close()
    return exit_code or result
