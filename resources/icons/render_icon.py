"""Render ``app.svg`` to ``app-256.png`` (run after editing the SVG).

QT_QPA_PLATFORM=offscreen python resources/icons/render_icon.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SIZE = 256


def main() -> None:
    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - QPainter needs an application
    renderer = QSvgRenderer(str(HERE / "app.svg"))
    if not renderer.isValid():
        raise SystemExit("app.svg is not a valid SVG")
    image = QImage(SIZE, SIZE, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(HERE / f"app-{SIZE}.png")):
        raise SystemExit("could not write the PNG")


if __name__ == "__main__":
    main()
