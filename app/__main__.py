"""Composition root for the command line: ``python -m app`` is ``waste-sorter``."""

from __future__ import annotations

import sys


def main() -> int:
    # onnxruntime must load before any Qt module: Qt wheels ship an older C++ runtime DLL on
    # Windows that breaks onnxruntime when it is loaded first.
    import onnxruntime  # noqa: F401

    from app.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
