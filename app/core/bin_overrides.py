"""Adding class -> bin entries to the user's bins override (for classes a station taught).

The override file (``bins.json`` in the data directory, or the settings' ``bins_file``) is
read as JSON, given ``classes[label] = {"bin": id}`` for each new entry, and written back
atomically; everything else in it is kept. :class:`app.core.bins.BinRules` merges it onto the
chosen preset as always.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.core.bins import SCHEMA_VERSION, UNSURE_ID, BinRules


class BinAssignmentError(Exception):
    """The assignment could not be made; the message says why."""


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``["shoes=textile", "tray=residual,cup=recyclable"]`` -> ``{label: bin}``."""
    out: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            label, sep, bin_id = part.partition("=")
            if not sep or not label.strip() or not bin_id.strip():
                raise BinAssignmentError(f"'{part}' is not CLASS=BIN")
            out[label.strip()] = bin_id.strip()
    return out


def assign(override: Path, rules: BinRules, assignments: Mapping[str, str]) -> None:
    """Map each label to a bin of ``rules`` in the override file."""
    for label, bin_id in assignments.items():
        if bin_id not in rules.bins or bin_id == UNSURE_ID:
            known = ", ".join(sorted(b for b in rules.bins if b != UNSURE_ID))
            raise BinAssignmentError(f"'{bin_id}' (for {label}) is not a bin; bins: {known}")
    data: dict[str, Any] = {"schema": SCHEMA_VERSION}
    if override.exists():
        try:
            loaded = json.loads(override.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BinAssignmentError(
                f"{override.name} cannot be read ({exc}); fix it first"
            ) from None
        if not isinstance(loaded, dict):
            raise BinAssignmentError(f"{override.name} is not a JSON object; fix it first")
        data = loaded
    classes = data.get("classes")
    if not isinstance(classes, dict):
        classes = {}
    for label, bin_id in assignments.items():
        entry = classes.get(label)
        classes[label] = {**entry, "bin": bin_id} if isinstance(entry, dict) else {"bin": bin_id}
    data["classes"] = classes
    override.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{override.name}.", suffix=".tmp", dir=override.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(override)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise BinAssignmentError(f"could not write {override} ({exc.strerror or exc})") from None
