"""Still images as a source: file/folder pickers, drag and drop, and the batch worker.

Decoding and classifying run on :class:`ImageBatchWorker`'s thread; the UI shows a progress
dialog with Cancel (for more than one image) and receives one signal per image.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QCoreApplication, QMimeData, QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from app.core.classifier import Prediction
from app.core.imaging import IMAGE_SUFFIXES, ImageError, decode_image, iter_image_files
from app.core.paths import display_path
from app.qt.inference_worker import Predictor

log = logging.getLogger(__name__)

RGBArray = npt.NDArray[np.uint8]


def image_filter() -> str:
    """A QFileDialog name filter listing the suffixes the app decodes."""
    patterns = " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES))
    images = QCoreApplication.translate("Sources", "Images ({patterns})")
    everything = QCoreApplication.translate("Sources", "All files (*)")
    return images.format(patterns=patterns) + ";;" + everything


def ask_image_files(parent: QWidget | None, start_dir: str = "") -> list[Path]:
    """Ask for one or more image files (empty list when cancelled)."""
    title = QCoreApplication.translate("Sources", "Open images")
    names, _ = QFileDialog.getOpenFileNames(parent, title, start_dir, image_filter())
    return [Path(n) for n in names]


def ask_image_folder(parent: QWidget | None, start_dir: str = "") -> list[Path]:
    """Ask for a folder of images (empty list when cancelled)."""
    title = QCoreApplication.translate("Sources", "Open a folder of images")
    name = QFileDialog.getExistingDirectory(parent, title, start_dir)
    return [Path(name)] if name else []


def paths_from_mime(mime: QMimeData) -> list[Path]:
    """Local files and folders in a drag; remote URLs are ignored."""
    if not mime.hasUrls():
        return []
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def accepts_drop(mime: QMimeData) -> bool:
    """True when the drag holds at least one folder or image file."""
    return any(p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES for p in paths_from_mime(mime))


def unique_paths(paths: Iterable[Path]) -> list[Path]:
    """Each file once, in first-seen order (a file also inside a chosen folder counts once)."""
    seen: set[Path] = set()
    out: list[Path] = []
    for path in paths:
        key = path.resolve() if path.exists() else path.absolute()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


@dataclass(frozen=True)
class ImageResult:
    """One classified image (``frame`` is the decoded RGB picture)."""

    path: Path
    frame: RGBArray
    prediction: Prediction


class ImageBatchWorker(QThread):
    """Expands, decodes and classifies a list of files/folders on its own thread."""

    progress = Signal(int, int)  # done, total
    item_done = Signal(object)  # ImageResult
    item_failed = Signal(str, str)  # path, message
    batch_finished = Signal(int, int, bool)  # succeeded, failed, cancelled

    def __init__(
        self,
        paths: Sequence[Path],
        predictor: Predictor,
        *,
        top_k: int = 3,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ImageBatchWorker")
        self._paths = list(paths)
        self._predictor = predictor
        self._top_k = top_k
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        ok = failed = 0
        unreadable: list[tuple[Path, str]] = []  # folders that could not be listed, broken links
        try:
            files = unique_paths(
                iter_image_files(self._paths, on_error=lambda p, m: unreadable.append((p, m)))
            )
            for where, message in unreadable:
                failed += 1
                self.item_failed.emit(display_path(where), message)
            total = len(files)
            self.progress.emit(0, total)
            for done, path in enumerate(files, start=1):
                if self._cancel.is_set():
                    break
                try:
                    frame = decode_image(path)
                    prediction = self._predictor.predict(frame, top_k=self._top_k)
                except ImageError as exc:
                    failed += 1
                    self.item_failed.emit(display_path(path), display_path(str(exc)))
                except Exception as exc:  # a model error must not end the batch silently
                    log.warning("classifying %s failed: %s", path, exc)
                    failed += 1
                    self.item_failed.emit(display_path(path), display_path(str(exc)))
                else:
                    ok += 1
                    self.item_done.emit(ImageResult(path, frame, prediction))
                self.progress.emit(done, total)
        except Exception as exc:  # e.g. an unreadable folder while listing
            log.exception("image batch failed")
            failed += 1
            self.item_failed.emit("", str(exc))
        self.batch_finished.emit(ok, failed, self._cancel.is_set())


class BatchProgress(QObject):
    """A progress dialog with Cancel bound to one :class:`ImageBatchWorker`.

    Shown only when the batch takes a moment (``minimumDuration``), so opening a single
    picture does not flash a dialog.
    """

    def __init__(self, worker: ImageBatchWorker, parent: QWidget | None) -> None:
        super().__init__(parent)
        self._worker = worker
        self.dialog = QProgressDialog(
            self.tr("Classifying images…"), self.tr("Cancel"), 0, 0, parent
        )
        self.dialog.setWindowTitle(self.tr("Open images"))
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(400)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(worker.cancel)
        worker.progress.connect(self._on_progress)
        worker.batch_finished.connect(self._on_finished)

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        self.dialog.setMaximum(max(1, total))
        self.dialog.setValue(done)
        self.dialog.setLabelText(
            self.tr("Classifying images… {done} of {total}").format(done=done, total=total)
        )

    @Slot(int, int, bool)
    def _on_finished(self, *_: object) -> None:
        self.dialog.reset()
        self.dialog.hide()
        self.dialog.deleteLater()
        self.deleteLater()
