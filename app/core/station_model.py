"""Which model is this station's, and how it changed: promote a taught model, roll back.

The station's model is the ``model_id`` of the settings. Every promotion is appended to
``<data dir>/teach/station.json`` (``{"changes": [{"from", "to", "utc", "why"}]}``), so
:func:`rollback` can go back one step at a time, to earlier taught versions or to the shipped
model. Taught model files are never deleted by either: rolling back only changes the setting.
Writes are atomic (a crash leaves the old or the new file).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.paths import DataDir
from app.core.settings import load_settings, save_settings

log = logging.getLogger(__name__)


class StationError(Exception):
    """The station's model could not be changed; the message says why."""


@dataclass(frozen=True)
class Change:
    before: str
    after: str
    utc: str
    why: str


def log_path(data: DataDir) -> Path:
    return data.root / "teach" / "station.json"


def changes(data: DataDir) -> list[Change]:
    """The recorded promotions and rollbacks, oldest first (an unreadable log reads empty)."""
    try:
        raw = json.loads(log_path(data).read_text(encoding="utf-8"))
        items = raw["changes"] if isinstance(raw, dict) else []
        return [Change(str(c["from"]), str(c["to"]), str(c["utc"]), str(c.get("why", "")))
                for c in items if isinstance(c, dict)]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s unreadable (%s); rollback has no earlier models", log_path(data), exc)
        return []


def current(data: DataDir) -> str:
    settings, _ = load_settings(data.settings_file)
    return settings.model_id


def promote(data: DataDir, model_id: str, why: str = "promoted") -> Change:
    """Make ``model_id`` the station's model and record the change."""
    settings, _ = load_settings(data.settings_file)
    if settings.model_id == model_id:
        raise StationError(f"'{model_id}' is already this station's model")
    change = Change(settings.model_id, model_id, _now(), why)
    _apply(data, settings, change, [*changes(data), change])
    return change


def rollback_target(data: DataDir) -> str:
    """The model the station used before its last promotion not yet rolled back."""
    stack: list[Change] = []  # promotions not yet undone, replayed from the log
    for c in changes(data):
        if c.why == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(c)
    if not stack:
        raise StationError("nothing to roll back to: this station's model was never changed")
    return stack[-1].before


def rollback(data: DataDir) -> Change:
    """Go back to the model the station used before its last promotion."""
    settings, _ = load_settings(data.settings_file)
    change = Change(settings.model_id, rollback_target(data), _now(), "rollback")
    _apply(data, settings, change, [*changes(data), change])
    return change


def record(data: DataDir, before: str, after: str, why: str) -> Change:
    """Log a change whose setting the caller saves itself (the GUI, which holds the settings)."""
    change = Change(before, after, _now(), why)
    _write_log(data, [*changes(data), change])
    return change


def _apply(data: DataDir, settings: Any, change: Change, history: list[Change]) -> None:
    _write_log(data, history)
    try:
        save_settings(data.settings_file, replace(settings, model_id=change.after))
    except OSError as exc:
        # The change did not happen: take it out of the log again, or rollback would undo it.
        with contextlib.suppress(StationError):
            _write_log(data, history[:-1])
        reason = exc.strerror or exc
        raise StationError(f"could not change the station's model ({reason})") from None


def _write_log(data: DataDir, history: list[Change]) -> None:
    payload = {"changes": [{"from": c.before, "to": c.after, "utc": c.utc, "why": c.why}
                           for c in history]}
    path = log_path(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".station.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except OSError as exc:
        reason = exc.strerror or exc
        raise StationError(f"could not change the station's model ({reason})") from None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
