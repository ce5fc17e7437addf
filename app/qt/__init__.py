"""PySide6 user interface: widgets, workers and the window's composition root.

Only this package imports Qt; it calls into :mod:`app.core` for everything else.
"""
