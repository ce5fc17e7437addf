"""Child process for the robustness suite: decode files with the app's open-image path.

Reads file paths (hex of their bytes, one per line) from stdin and, for each, runs
``app.core.imaging.decode_image`` and prints one JSON line::

    {"i": 0, "ok": true, "error": null, "shape": [120, 160, 3], "elapsed_s": 0.004}

``--classify MODEL`` also runs the decoded pixels through ``Classifier.predict`` (the whole
open-image path). Run in a child so that a crash, a hang or a memory blow-up is observed
from outside instead of taking the test runner down; a "start" line is printed before each
file, so the file that hung is the one after the last result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classify", type=Path, help="also classify with this .onnx model")
    args = parser.parse_args(argv)

    import onnxruntime  # noqa: F401  (the app imports it first; keep the same order)

    from app.core.imaging import ImageError, decode_image

    classifier = None
    if args.classify is not None:
        from app.core.classifier import Classifier

        classifier = Classifier(args.classify, intra_op_threads=1)
    out = sys.stdout
    for i, line in enumerate(sys.stdin):
        path = Path(os.fsdecode(bytes.fromhex(line.strip())))
        out.write(json.dumps({"start": i}) + "\n")
        out.flush()
        began = time.perf_counter()
        row: dict[str, object] = {"i": i, "ok": False, "error": None, "shape": None}
        try:
            rgb = decode_image(path)
            row["shape"] = list(rgb.shape)
            if classifier is not None:
                row["label"] = classifier.predict(rgb).label
            row["ok"] = True
        except ImageError as exc:
            row["error"] = str(exc)
        except Exception as exc:  # the contract says only ImageError escapes: report it
            row["error"] = f"ESCAPED {type(exc).__name__}: {exc}"
        row["elapsed_s"] = round(time.perf_counter() - began, 4)
        out.write(json.dumps(row) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
