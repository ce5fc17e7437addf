"""Guard against a PySide6 build that loses references to None (6.12.0 on Python 3.11).

Every void-returning method of that build decremented None's reference count; after enough
calls the interpreter aborted with ``Fatal Python error: none_dealloc``. pyproject excludes it;
this test fails loudly if such a build is ever installed again.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_methods_keep_none_refcount(qtbot) -> None:  # type: ignore[no-untyped-def]
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(200):
        label.setText("x")
    assert sys.getrefcount(None) - before > -20
