"""Entry point of the frozen app (PyInstaller runs this file as ``__main__``).

It is the same composition root as ``python -m app``; onnxruntime is imported first, before
anything can load Qt, because on Windows the Qt wheels carry an older C++ runtime DLL that
breaks onnxruntime when it is loaded first (see ``app/__main__.py``).
"""

from __future__ import annotations

import sys

import onnxruntime  # noqa: F401  # must stay the first third-party import

from app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
