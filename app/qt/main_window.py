"""The station window: layout, actions, keyboard and drag and drop, nothing else.

Behaviour lives in :mod:`app.qt.controller` and :mod:`app.qt.live_session`; the window only
emits what the operator asked for (signals) and shows what it is told (setters).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSplitter,
    QTabWidget,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.registry import ModelEntry
from app.qt.frame_view import FrameView
from app.qt.result_panel import ResultPanel
from app.qt.sources import accepts_drop, paths_from_mime

LIVE_TAB, HISTORY_TAB, STATS_TAB = 0, 1, 2
NOTICE_COLOURS = {"error": "#C62828", "warning": "#EF6C00", "info": "#1565C0"}
INFO_NOTICE_MS = 8000


class MainWindow(QMainWindow):
    record_requested = Signal()
    model_selected = Signal(str)
    camera_selected = Signal(str)  # device index or file/URL
    resolution_selected = Signal(object)  # (width, height) or None
    open_files_requested = Signal()
    open_folder_requested = Signal()
    paths_dropped = Signal(object)  # list[Path]
    settings_requested = Signal()
    model_info_requested = Signal()
    teach_requested = Signal()
    live_requested = Signal()
    auto_capture_toggled = Signal(bool)
    tab_shown = Signal(int)
    closing = Signal()

    def __init__(
        self,
        result_panel: ResultPanel,
        frame_view: FrameView,
        history_panel: QWidget,
        stats_panel: QWidget,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.result_panel = result_panel
        self.frame_view = frame_view
        self.setAcceptDrops(True)
        self.resize(1200, 760)

        self.splitter = live = QSplitter(Qt.Orientation.Horizontal)
        live.addWidget(frame_view)
        live.addWidget(result_panel)
        # Half the width for the answer: it must be readable from two metres.
        live.setStretchFactor(0, 1)
        live.setStretchFactor(1, 1)
        live.setSizes([1000, 1000])
        self.tabs = QTabWidget()
        self.tabs.addTab(live, "")
        self.tabs.addTab(history_panel, "")
        self.tabs.addTab(stats_panel, "")
        self.tabs.currentChanged.connect(self._on_tab)

        self.notice = QFrame()
        self.notice.setObjectName("notice")
        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        close_notice = QToolButton()
        close_notice.setText("✕")
        close_notice.clicked.connect(self.hide_notice)
        row = QHBoxLayout(self.notice)
        row.addWidget(self.notice_label, 1)
        row.addWidget(close_notice)
        self.notice.setVisible(False)
        self._notice_timer = QTimer(self, singleShot=True)
        self._notice_timer.timeout.connect(self.hide_notice)

        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.notice)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self._build_actions()
        self._build_toolbar()
        self.camera_status = QLabel()
        self.model_status = QLabel()
        self.fps_status = QLabel()
        for label in (self.camera_status, self.model_status, self.fps_status):
            self.statusBar().addPermanentWidget(label)
        self.retranslate_ui()

    # -- construction ---------------------------------------------------------------------

    def _action(self, shortcut: str | QKeySequence | None, slot: object) -> QAction:
        action = QAction(self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        # Window-wide shortcuts keep working when the toolbar and tabs are hidden (kiosk).
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.record_action = self._action("Space", self.record_requested.emit)
        self.open_action = self._action("Ctrl+O", self.open_files_requested.emit)
        self.open_folder_action = self._action("Ctrl+Shift+O", self.open_folder_requested.emit)
        self.settings_action = self._action("Ctrl+,", self.settings_requested.emit)
        self.model_info_action = self._action("Ctrl+I", self.model_info_requested.emit)
        self.teach_action = self._action("Ctrl+T", self.teach_requested.emit)
        self.live_action = self._action("Ctrl+L", self.live_requested.emit)
        self.live_action.setVisible(False)
        self.fullscreen_action = self._action("F11", self.toggle_full_screen)
        self.leave_fullscreen_action = self._action("Esc", self.leave_full_screen)
        self.auto_action = self._action(None, lambda: None)
        self.auto_action.setCheckable(True)
        self.auto_action.setChecked(True)
        self.auto_action.toggled.connect(self.auto_capture_toggled.emit)
        self.tab_actions = [
            self._action(f"Ctrl+{n + 1}", lambda _=False, n=n: self.tabs.setCurrentIndex(n))
            for n in range(3)
        ]

    def _build_toolbar(self) -> None:
        self.toolbar = QToolBar()
        self.toolbar.setObjectName("mainToolbar")
        self.toolbar.setMovable(False)
        self.addToolBar(self.toolbar)
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(24)
        self.model_combo.activated.connect(self._on_model_chosen)
        self.camera_combo = QComboBox()
        self.camera_combo.setMinimumContentsLength(12)
        self.camera_combo.activated.connect(self._on_camera_chosen)
        self.resolution_combo = QComboBox()
        self.resolution_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.resolution_combo.activated.connect(self._on_resolution_chosen)
        self.model_caption, self.camera_caption = QLabel(), QLabel()
        for widget in (self.model_caption, self.model_combo, self.camera_caption):
            self.toolbar.addWidget(widget)
        self.toolbar.addWidget(self.camera_combo)
        self.toolbar.addWidget(self.resolution_combo)
        self.toolbar.addSeparator()
        for action in (self.open_action, self.open_folder_action, self.live_action):
            self.toolbar.addAction(action)
        self.toolbar.addSeparator()
        for action in (self.record_action, self.auto_action):
            self.toolbar.addAction(action)
        self.toolbar.addSeparator()
        for action in (self.model_info_action, self.teach_action, self.settings_action,
                       self.fullscreen_action):
            self.toolbar.addAction(action)

    def retranslate_ui(self) -> None:
        self.setWindowTitle(self.tr("Waste Sorter"))
        for index, text in enumerate((self.tr("Live"), self.tr("History"), self.tr("Statistics"))):
            self.tabs.setTabText(index, text)
        self.model_caption.setText(self.tr("Model "))
        self.camera_caption.setText(self.tr(" Camera "))
        texts = {
            self.record_action: (self.tr("Record"), self.tr("Record the item shown (Space)")),
            self.open_action: (self.tr("Open images…"), self.tr("Classify image files (Ctrl+O)")),
            self.open_folder_action: (self.tr("Open folder…"), self.tr("Classify a folder")),
            self.settings_action: (self.tr("Settings…"), self.tr("Settings (Ctrl+,)")),
            self.model_info_action: (self.tr("Model info"), self.tr("About the active model")),
            self.teach_action: (self.tr("Teach…"), self.tr("Teach this station (Ctrl+T)")),
            self.live_action: (self.tr("Back to camera"), self.tr("Show the live camera again")),
            self.fullscreen_action: (self.tr("Full screen"), self.tr("Kiosk mode (F11, Esc)")),
            self.auto_action: (self.tr("Auto record"), self.tr("Record each item once held still")),
        }
        for action, (text, tip) in texts.items():
            action.setText(text)
            action.setToolTip(tip)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange:
            self.retranslate_ui()
        super().changeEvent(event)

    # -- setters (called by the controller) ------------------------------------------------

    def set_models(self, entries: Sequence[ModelEntry], current: str | None) -> None:
        """Fill the model chooser; broken files are listed disabled with their error."""
        combo = self.model_combo
        combo.blockSignals(True)
        combo.clear()
        for entry in entries:
            name = entry.info.name if entry.info is not None else entry.path.name
            combo.addItem(name, entry.id)
            index = combo.count() - 1
            if entry.error is not None:
                combo.setItemData(index, entry.error, Qt.ItemDataRole.ToolTipRole)
                combo.setItemData(index, 0, Qt.ItemDataRole.UserRole - 1)  # disables the item
            elif entry.info is not None:
                tip = f"{entry.id} {entry.info.version}\n{entry.path}"
                combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        combo.blockSignals(False)
        self.set_current_model(current)

    def set_current_model(self, model_id: str | None) -> None:
        index = self.model_combo.findData(model_id) if model_id is not None else -1
        self.model_combo.setCurrentIndex(index)

    def set_cameras(self, cameras: Sequence[tuple[str, str]], current: str) -> None:
        """(spec, display name) pairs; the current spec is added when it is not listed."""
        combo = self.camera_combo
        combo.clear()
        for spec, name in cameras:
            combo.addItem(name, spec)
        if combo.findData(current) < 0:
            combo.addItem(Path(current).name if not current.isdigit() else current, current)
        combo.setCurrentIndex(combo.findData(current))

    def set_resolutions(
        self, sizes: Sequence[tuple[int, int]], current: tuple[int, int] | None
    ) -> None:
        combo = self.resolution_combo
        combo.clear()
        combo.addItem(self.tr("Default size"), None)
        for width, height in sizes:
            combo.addItem(f"{width}x{height}", f"{width}x{height}")
        wanted = f"{current[0]}x{current[1]}" if current else None
        combo.setCurrentIndex(max(0, combo.findData(wanted)) if wanted else 0)

    def set_status(
        self, *, camera: str | None = None, model: str | None = None, fps: str | None = None
    ) -> None:
        for label, text in (
            (self.camera_status, camera),
            (self.model_status, model),
            (self.fps_status, fps),
        ):
            if text is not None:
                label.setText(text)

    def set_still_mode(self, still: bool) -> None:
        self.live_action.setVisible(still)

    def show_notice(self, text: str, level: str = "info") -> None:
        """A banner above the tabs; info notices hide themselves, errors stay until closed."""
        colour = NOTICE_COLOURS.get(level, NOTICE_COLOURS["info"])
        self.notice.setStyleSheet(
            f"QFrame#notice {{ background: {colour}; border-radius: 6px; }}"
            " QFrame#notice QLabel, QFrame#notice QToolButton { color: white; font-weight: bold; }"
        )
        self.notice_label.setText(text)
        self.notice.setVisible(True)
        if level == "info":
            self._notice_timer.start(INFO_NOTICE_MS)
        else:
            self._notice_timer.stop()

    def hide_notice(self) -> None:
        self.notice.setVisible(False)

    def notice_text(self) -> str:
        return self.notice_label.text() if self.notice.isVisibleTo(self) else ""

    # -- kiosk ----------------------------------------------------------------------------

    def toggle_full_screen(self) -> None:
        if self.isFullScreen():
            self.leave_full_screen()
        else:
            self.tabs.setCurrentIndex(LIVE_TAB)
            self.toolbar.setVisible(False)
            self.tabs.tabBar().setVisible(False)
            self.showFullScreen()

    def leave_full_screen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        self.toolbar.setVisible(True)
        self.tabs.tabBar().setVisible(True)

    # -- events ---------------------------------------------------------------------------

    def _on_tab(self, index: int) -> None:
        # Space records only where the result is on screen.
        self.record_action.setEnabled(index == LIVE_TAB)
        self.tab_shown.emit(index)

    def _on_model_chosen(self, index: int) -> None:
        model_id = self.model_combo.itemData(index)
        if isinstance(model_id, str):
            self.model_selected.emit(model_id)

    def _on_camera_chosen(self, index: int) -> None:
        spec = self.camera_combo.itemData(index)
        if isinstance(spec, str):
            self.camera_selected.emit(spec)

    def _on_resolution_chosen(self, index: int) -> None:
        data = self.resolution_combo.itemData(index)
        size = tuple(int(v) for v in data.split("x")) if isinstance(data, str) else None
        self.resolution_selected.emit(size)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if accepts_drop(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = paths_from_mime(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.tabs.setCurrentIndex(LIVE_TAB)
            self.paths_dropped.emit(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.closing.emit()
        super().closeEvent(event)
