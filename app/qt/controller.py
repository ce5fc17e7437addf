"""The window's behaviour: what happens when the operator or a worker does something.

:class:`AppController` connects the workers (camera, inference, history writer) with the
window, the panels and :class:`~app.qt.live_session.LiveSession`, applies settings, opens
images and dialogs, and stops every thread on shutdown. It receives everything it uses from
the composition root (:mod:`app.qt.application`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, Qt, Slot
from PySide6.QtWidgets import QApplication, QDialog

from app.core.bins import BinRules, BinRulesError
from app.core.capture import threshold_for_sensitivity
from app.core.model_info import ModelInfo
from app.core.registry import ModelEntry
from app.core.settings import Settings, save_settings
from app.qt.camera_worker import (
    CameraInfo,
    CameraProbe,
    CameraState,
    CameraWorker,
    FrameSource,
    parse_camera_spec,
)
from app.qt.frame_view import FrameView, LatestValueRelay
from app.qt.i18n import install_translator
from app.qt.inference_worker import InferenceWorker
from app.qt.live_session import LiveSession
from app.qt.main_window import HISTORY_TAB, STATS_TAB, MainWindow
from app.qt.model_info_dialog import ModelInfoDialog
from app.qt.recorder import HistoryWriter
from app.qt.result_panel import ResultPanel
from app.qt.settings_dialog import SettingsDialog
from app.qt.sources import BatchProgress, ImageBatchWorker, ask_image_files, ask_image_folder

log = logging.getLogger(__name__)

SourceMaker = Callable[[str, "tuple[int, int] | None"], FrameSource]
RulesMaker = Callable[[Settings], BinRules]


class StatsView(Protocol):
    """What the controller uses of ``app.qt.stats_panel.StatsPanel``."""

    def refresh(self) -> None: ...

    def set_rules(self, rules: BinRules) -> None: ...


class HistoryView(Protocol):
    """What the controller uses of ``app.qt.history_panel.HistoryPanel``."""

    records_changed: Any  # Signal

    def refresh(self) -> None: ...

    def set_labels(self, labels: Sequence[str]) -> None: ...

    def set_rules(self, rules: BinRules) -> None: ...


@dataclass
class Workers:
    camera: CameraWorker
    inference: InferenceWorker
    writer: HistoryWriter


class AppController(QObject):
    """Wires and drives the window; see the module docstring."""

    def __init__(
        self,
        *,
        window: MainWindow,
        result_panel: ResultPanel,
        frame_view: FrameView,
        history_panel: HistoryView,
        stats_panel: StatsView,
        session: LiveSession,
        workers: Workers,
        settings: Settings,
        settings_path: Path | None,
        make_source: SourceMaker,
        make_rules: RulesMaker,
        camera: str,
        model_id: str,
        probe_cameras: bool = True,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.window, self.result_panel, self.frame_view = window, result_panel, frame_view
        self.history_panel, self.stats_panel = history_panel, stats_panel
        self.session, self.workers = session, workers
        self.settings, self._settings_path = settings, settings_path
        self._make_source, self._make_rules = make_source, make_rules
        self.camera_spec, self._start_model = camera, model_id
        self._probe_enabled = probe_cameras
        self.model_id: str | None = None
        self.model_info: ModelInfo | None = None
        self.entries: list[ModelEntry] = []
        self.cameras: list[CameraInfo] = []
        self._batch: ImageBatchWorker | None = None
        self._probe: CameraProbe | None = None
        self._camera_fps = 0.0
        self._rate = (0.0, 0.0)
        self._shut_down = False
        self._relay = LatestValueRelay(self)
        self._connect()

    # -- wiring ---------------------------------------------------------------------------

    def _connect(self) -> None:
        camera, inference, writer = self.workers.camera, self.workers.inference, self.workers.writer
        # Direct: runs on the camera thread; both receivers are thread-safe and cheap.
        camera.frame_ready.connect(self._on_frame, Qt.ConnectionType.DirectConnection)
        self._relay.delivered.connect(self._show_live_frame)
        camera.state_changed.connect(self._on_camera_state)
        camera.fps_changed.connect(self._on_camera_fps)
        inference.result_ready.connect(self.session.on_live_result)
        inference.error.connect(lambda text: self.window.show_notice(text, "warning"))
        inference.models_listed.connect(self._on_models_listed)
        inference.model_loaded.connect(self._on_model_loaded)
        inference.model_failed.connect(self._on_model_failed)
        writer.purged.connect(self._on_purged)
        writer.purge_failed.connect(lambda text: self.window.show_notice(text, "warning"))

        s = self.session
        s.result_shown.connect(self.result_panel.show_prediction)
        s.idle.connect(lambda: self.result_panel.show_message(self.tr("Ready for the next item")))
        s.status.connect(self.result_panel.show_status)
        s.capture_progress.connect(self.result_panel.show_capture_progress)
        s.still_shown.connect(self._show_still)
        s.still_mode_changed.connect(self._on_still_mode)
        s.throughput.connect(self._on_throughput)
        s.record_saved.connect(self._on_record_saved)

        w = self.window
        w.record_requested.connect(s.record_current)
        w.model_selected.connect(self.select_model)
        w.camera_selected.connect(self.select_camera)
        w.resolution_selected.connect(self.select_resolution)
        w.open_files_requested.connect(lambda: self.open_paths(ask_image_files(w)))
        w.open_folder_requested.connect(lambda: self.open_paths(ask_image_folder(w)))
        w.paths_dropped.connect(self.open_paths)
        w.settings_requested.connect(self.open_settings)
        w.model_info_requested.connect(self.show_model_info)
        w.live_requested.connect(s.resume_live)
        w.auto_capture_toggled.connect(self._on_auto_toggled)
        w.tab_shown.connect(self._on_tab)
        self.history_panel.records_changed.connect(self.stats_panel.refresh)

    def start(self) -> None:
        """Start the threads and the slow work; call once the window is visible."""
        camera, inference, writer = self.workers.camera, self.workers.inference, self.workers.writer
        self.window.auto_action.setChecked(self.settings.auto_capture)
        self.window.set_cameras([], self.camera_spec)
        self.window.set_resolutions([], self.settings.resolution)
        self.window.set_status(camera=self.tr("Camera: starting"), model=self.tr("Model: loading"))
        self.result_panel.show_message(self.tr("Loading model…"))
        writer.start()
        inference.start()
        inference.request_models()
        inference.load_model(self._start_model)
        camera.set_source(self._source_factory(self.camera_spec))
        camera.start()
        if self.settings.retention_days > 0:
            writer.purge_older_than(self.settings.retention_days)
        if self._probe_enabled:
            self._start_probe()

    def shutdown(self) -> None:
        """Stop and join every thread; queued history writes are finished first."""
        if self._shut_down:
            return
        self._shut_down = True
        if self._batch is not None:
            self._batch.cancel()
            # It stops after the image in hand (decoding is bounded, app.core.image_guards);
            # destroying it while it runs would abort the process before history is flushed.
            self._batch.wait()
        if self._probe is not None:
            self._probe.wait(10_000)
        self.workers.camera.stop()
        self.workers.inference.stop()
        self.workers.writer.stop(timeout_s=30.0)

    # -- camera ---------------------------------------------------------------------------

    def _source_factory(self, spec: str) -> Callable[[], FrameSource]:
        resolution = self.settings.resolution
        return lambda: self._make_source(spec, resolution)

    def _on_frame(self, frame: np.ndarray, captured_at: float) -> None:
        """Camera thread: offer the frame to the model and to the screen (newest wins)."""
        if self.session.still_mode:
            return
        self.workers.inference.submit(frame, captured_at, self.session.camera_name)
        self._relay.push(frame)

    @Slot(object)
    def _show_live_frame(self, frame: np.ndarray) -> None:
        if not self.session.still_mode:
            self.frame_view.show_frame(frame)

    @Slot(str, str)
    def _on_camera_state(self, state: str, message: str) -> None:
        self.window.set_status(camera=self.tr("Camera: {m}").format(m=message))
        live = state == CameraState.LIVE.value
        self.frame_view.set_message("" if live else message)
        if state == CameraState.LIVE.value:
            self.session.capture.reset()
        elif state == CameraState.RETRYING.value and not self.session.still_mode:
            self.frame_view.clear_frame()
            if self.model_id is not None:
                self.result_panel.show_message(self.tr("Camera unavailable"))

    @Slot(float)
    def _on_camera_fps(self, fps: float) -> None:
        self._camera_fps = fps
        self._update_fps()

    @Slot(float, float)
    def _on_throughput(self, rate: float, latency_ms: float) -> None:
        self._rate = (rate, latency_ms)
        self._update_fps()

    def _update_fps(self) -> None:
        rate, latency = self._rate
        self.window.set_status(
            fps=self.tr("Camera {c:.0f} fps · Model {r:.1f}/s · {l:.0f} ms").format(
                c=self._camera_fps, r=rate, l=latency
            )
        )

    @Slot(str)
    def select_camera(self, spec: str) -> None:
        if spec == self.camera_spec:
            return
        self.camera_spec = spec
        self.session.resume_live()
        self.workers.camera.set_source(self._source_factory(spec))
        self._save(dataclasses.replace(self.settings, camera=spec))
        self._fill_resolutions()

    @Slot(object)
    def select_resolution(self, size: tuple[int, int] | None) -> None:
        if size == self.settings.resolution:
            return
        self._save(dataclasses.replace(self.settings, resolution=size))
        self.workers.camera.set_source(self._source_factory(self.camera_spec))

    def _start_probe(self) -> None:
        spec = parse_camera_spec(self.camera_spec)
        self._probe = CameraProbe(in_use=spec if isinstance(spec, int) else None, parent=self)
        self._probe.found.connect(self._on_cameras_found)
        self._probe.start()

    @Slot(object)
    def _on_cameras_found(self, cameras: list[CameraInfo]) -> None:
        self.cameras = cameras
        self.window.set_cameras([(str(c.index), c.name) for c in cameras], self.camera_spec)
        self._fill_resolutions()

    def _fill_resolutions(self) -> None:
        spec = parse_camera_spec(self.camera_spec)
        info = next((c for c in self.cameras if c.index == spec), None)
        sizes = list(info.resolutions) if info is not None else []
        self.window.set_resolutions(sizes, self.settings.resolution)
        self.window.resolution_combo.setEnabled(isinstance(spec, int))

    # -- models ---------------------------------------------------------------------------

    @Slot(object)
    def _on_models_listed(self, entries: list[ModelEntry]) -> None:
        self.entries = entries
        self.window.set_models(entries, self.model_id or self._start_model)
        labels = sorted({lab for e in entries if e.info for lab in e.info.labels})
        self.history_panel.set_labels(labels)

    @Slot(str)
    def select_model(self, model_id: str) -> None:
        if model_id == self.model_id:
            return
        self.window.set_status(model=self.tr("Model: loading {id}…").format(id=model_id))
        self.workers.inference.load_model(model_id)

    @Slot(str, object)
    def _on_model_loaded(self, model_id: str, info: ModelInfo) -> None:
        self.model_id, self.model_info = model_id, info
        self.session.crop_size = (info.input.width, info.input.height)
        self.window.set_current_model(model_id)
        self.window.set_status(
            model=self.tr("Model: {name} {v}").format(name=info.name, v=info.version)
        )
        if self.result_panel.message and not self.session.still_mode:
            self.result_panel.show_message(self.tr("Show an item to the camera"))
        if model_id != self.settings.model_id:
            self._save(dataclasses.replace(self.settings, model_id=model_id))

    @Slot(str, str)
    def _on_model_failed(self, model_id: str, message: str) -> None:
        self.window.set_current_model(self.model_id)
        if self.model_id is not None:
            self.window.show_notice(
                self.tr("Could not load model {id}: {error}. Still using {current}.").format(
                    id=model_id, error=message, current=self.model_id
                ),
                "error",
            )
            self.window.set_status(model=self.tr("Model: {id}").format(id=self.model_id))
            return
        fallback = next((e.id for e in self.entries if e.ok and e.id != model_id), None)
        self.window.show_notice(
            self.tr("Could not load model {id}: {error}").format(id=model_id, error=message),
            "error",
        )
        if fallback is not None and model_id == self._start_model:
            self._start_model = fallback
            self.workers.inference.load_model(fallback)
        else:
            self.result_panel.show_message(self.tr("No model loaded"))
            self.window.set_status(model=self.tr("Model: none"))

    @Slot()
    def show_model_info(self) -> None:
        if self.model_info is None:
            self.window.show_notice(self.tr("No model is loaded yet"), "info")
            return
        dialog = ModelInfoDialog(self.model_info, self.session.rules, self.window)
        dialog.exec()
        dialog.deleteLater()

    # -- still images ---------------------------------------------------------------------

    @Slot(object)
    def open_paths(self, paths: Sequence[Path]) -> None:
        if not paths:
            return
        predictor = self.workers.inference.predictor
        if predictor is None:
            self.window.show_notice(self.tr("No model is loaded yet"), "warning")
            return
        if self._batch is not None:
            self.window.show_notice(self.tr("Still classifying the previous images"), "info")
            return
        batch = ImageBatchWorker(list(paths), predictor, parent=self)
        failures: list[str] = []
        batch.item_done.connect(self.session.on_image_result)
        batch.item_failed.connect(
            lambda path, error: failures.append(f"{Path(path).name}: {error}")
        )
        batch.batch_finished.connect(
            lambda ok, bad, cancelled: self._on_batch_finished(ok, bad, cancelled, failures)
        )
        BatchProgress(batch, self.window)
        self._batch = batch
        batch.start()

    def _on_batch_finished(self, ok: int, bad: int, cancelled: bool, failures: list[str]) -> None:
        if self._batch is not None:
            self._batch.wait()
            self._batch.deleteLater()
            self._batch = None
        parts = [self.tr("{n} image(s) classified").format(n=ok)]
        if cancelled:
            parts.append(self.tr("cancelled"))
        if bad:
            parts.append(self.tr("{n} could not be read: {first}").format(n=bad, first=failures[0]))
        self.window.show_notice(", ".join(parts), "warning" if bad else "info")

    @Slot(object, str)
    def _show_still(self, frame: np.ndarray, caption: str) -> None:
        self.frame_view.set_message("")
        self.frame_view.show_frame(frame)
        self.frame_view.set_caption(caption)

    @Slot(bool)
    def _on_still_mode(self, still: bool) -> None:
        self.window.set_still_mode(still)
        if not still:
            self.frame_view.set_caption("")
            self.workers.inference.clear_pending()
            self.result_panel.show_message(self.tr("Show an item to the camera"))

    # -- history --------------------------------------------------------------------------

    @Slot(int)
    def _on_record_saved(self, _record_id: int) -> None:
        index = self.window.tabs.currentIndex()
        if index == HISTORY_TAB:
            self.history_panel.refresh()
        elif index == STATS_TAB:
            self.stats_panel.refresh()

    @Slot(int)
    def _on_tab(self, index: int) -> None:
        # Panels read the database only when looked at.
        if index == HISTORY_TAB:
            self.history_panel.refresh()
        elif index == STATS_TAB:
            self.stats_panel.refresh()

    @Slot(int)
    def _on_purged(self, removed: int) -> None:
        if removed:
            self.window.show_notice(
                self.tr("Removed {n} history records older than {d} days").format(
                    n=removed, d=self.settings.retention_days
                ),
                "info",
            )

    # -- settings -------------------------------------------------------------------------

    @Slot(bool)
    def _on_auto_toggled(self, enabled: bool) -> None:
        self.session.auto_capture = enabled
        if enabled != self.settings.auto_capture:
            self._save(dataclasses.replace(self.settings, auto_capture=enabled))

    @Slot()
    def open_settings(self) -> None:
        cameras = [str(c.index) for c in self.cameras]
        if self.camera_spec not in cameras:
            cameras.append(self.camera_spec)
        dialog = SettingsDialog(
            self.settings, cameras, self.entries, self.window, rules=self._rules_alone()
        )
        try:
            if dialog.exec() == QDialog.DialogCode.Accepted:
                self.apply_settings(dialog.settings())
        finally:
            dialog.deleteLater()  # a child of the window: would otherwise live until exit

    def _rules_alone(self) -> BinRules | None:
        """The bin rules without the settings' thresholds: what the settings dialog shows an
        unticked class would get from the rules file."""
        plain = dataclasses.replace(self.settings, threshold=None, class_thresholds={})
        try:
            return self._make_rules(plain)
        except (BinRulesError, ValueError):  # a bins_file that cannot be read
            return None

    def apply_settings(self, new: Settings) -> None:
        """Apply what changed and save; the camera and model switch in the background."""
        old = self.settings
        self._save(new)
        if (new.camera, new.resolution) != (old.camera, old.resolution):
            self.camera_spec = new.camera
            self.session.resume_live()
            self.workers.camera.set_source(self._source_factory(new.camera))
            self.window.set_cameras([(str(c.index), c.name) for c in self.cameras], new.camera)
            self._fill_resolutions()
        if new.model_id != old.model_id:
            self.select_model(new.model_id)
        if (new.threshold, new.class_thresholds, new.bin_preset, new.bins_file) != (
            old.threshold,
            old.class_thresholds,
            old.bin_preset,
            old.bins_file,
        ):
            self._set_rules(self._make_rules(new))
        self.session.capture.configure(
            threshold=threshold_for_sensitivity(new.capture_sensitivity), hold_s=new.capture_hold_s
        )
        self.session.keep_images = new.keep_images
        self.window.auto_action.setChecked(new.auto_capture)
        if new.retention_days > 0 and new.retention_days != old.retention_days:
            self.workers.writer.purge_older_than(new.retention_days)
        if new.language != old.language:
            app = QCoreApplication.instance()
            if isinstance(app, QApplication):
                install_translator(app, new.language)

    def reload_rules(self) -> None:
        """Read the bin rules again (the override file changed)."""
        self._set_rules(self._make_rules(self.settings))

    def _set_rules(self, rules: BinRules) -> None:
        self.session.set_rules(rules)
        self.history_panel.set_rules(rules)
        self.stats_panel.set_rules(rules)

    def _save(self, settings: Settings) -> None:
        self.settings = settings
        if self._settings_path is None:
            return
        try:
            save_settings(self._settings_path, settings)
        except OSError as exc:
            self.window.show_notice(self.tr("Settings not saved: {e}").format(e=exc), "error")
