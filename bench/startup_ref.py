"""The start-up reference: the least a program must do to show a window and classify the
first camera frame, without the app (no settings, history, registry, panels or workers).

    QT_QPA_PLATFORM=offscreen python -m bench.startup_ref VIDEO MODEL

Prints ``PROBE <time.monotonic()> window_visible`` at the window's first paint and
``PROBE <t> first_result`` once the first video frame went through a bare ONNX Runtime
session, then exits. Same line format as ``tests.robustness.gui_probe``.
"""

from __future__ import annotations

import sys
import time


def emit(event: str) -> None:
    sys.stdout.write(f"PROBE {time.monotonic():.6f} {event}\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    video, model = args[0], args[1]
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setCentralWidget(QLabel("reference"))
    window.resize(1024, 700)

    class Painted(QObject):
        seen = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if not self.seen and event.type() == QEvent.Type.Paint:
                self.seen = True
                emit("window_visible")
                QTimer.singleShot(0, classify)
            return False

    def classify() -> None:
        import cv2
        import numpy as np
        import onnxruntime as ort

        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        shape = session.get_inputs()[0].shape
        cap = cv2.VideoCapture(video)
        ok, bgr = cap.read()
        cap.release()
        if not ok:
            raise SystemExit("cannot read the video")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        x = cv2.resize(rgb, (int(shape[2]), int(shape[1])), interpolation=cv2.INTER_AREA)
        session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)[None]})
        emit("first_result")
        app.quit()

    painted = Painted()
    window.installEventFilter(painted)
    window.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
