"""User settings, kept as JSON in the data directory.

Loading never fails: a missing file gives the defaults, a broken one is moved aside (so the user
can still recover it) and replaced by the defaults, and a field of the wrong type or out of range
falls back to that field's default; each such event is returned as a warning. Unknown keys are
ignored so that an older app can read a newer file. Saving is atomic (temp file, fsync, replace).

Files carry ``"schema"``; an older one is upgraded step by step on load (:data:`_UPGRADES`)
and written back in the current schema the next time the settings are saved. A file without
``schema`` was written by hand and is read as current.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from app.core.bins import DEFAULT_PRESET, PRESETS

log = logging.getLogger(__name__)

SETTINGS_SCHEMA = 3  # 2: threshold None = the model's recommendation; 3: keep_images
#: What each history record keeps of the item's picture (privacy): nothing, a small thumbnail
#: (to check and correct results), or also a training crop at the model's input size (what
#: teaching the station learns from; see app.core.teach).
KEEP_IMAGES = ("nothing", "thumbnail", "crop")


@dataclass(frozen=True)
class Settings:
    """Everything the user can change. Frozen: use ``dataclasses.replace`` to edit."""

    camera: str = "0"  # a device index ("0") or a video file/URL
    resolution: tuple[int, int] | None = None  # (width, height); None = camera default
    model_id: str = "waste"
    # Below it a prediction is "unsure". None = the model's recommendation (its metadata
    # ``unsure_threshold``), else the bin rules' default_threshold.
    threshold: float | None = None
    class_thresholds: dict[str, float] = field(default_factory=dict)  # label -> threshold
    auto_capture: bool = True
    capture_sensitivity: float = 0.5  # 0..1; higher captures on smaller changes
    capture_hold_s: float = 1.0  # how long the scene must be still before a capture
    keep_images: str = "thumbnail"  # one of KEEP_IMAGES
    retention_days: int = 0  # 0 = keep history forever
    bin_preset: str = DEFAULT_PRESET  # shipped bin rules: "generic", "vietnam" or "eu"
    bins_file: str | None = None  # None = bins.json in the data dir, else this file
    language: str = "system"


def _probability(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if 0.0 <= number <= 1.0 else None
    return None


def _camera(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    # A hand-edited file may hold the index as a number.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return None


def _resolution(value: Any) -> tuple[int, int] | None:
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 16384 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    return None


def _class_thresholds(value: Any) -> dict[str, float] | None:
    if not isinstance(value, dict):
        return None
    cleaned = {str(k): p for k, v in value.items() if (p := _probability(v)) is not None}
    return cleaned if len(cleaned) == len(value) else None


def _boolean(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _keep_images(value: Any) -> str | None:
    return value if isinstance(value, str) and value in KEEP_IMAGES else None


def _hold(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) and 0.0 < number <= 60.0 else None
    return None


def _days(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _preset(value: Any) -> str | None:
    return value if isinstance(value, str) and value in PRESETS else None


# field -> (validator returning the clean value or None when invalid, whether None is allowed)
_FIELDS: dict[str, tuple[Callable[[Any], Any], bool]] = {
    "camera": (_camera, False),
    "resolution": (_resolution, True),
    "model_id": (_text, False),
    "threshold": (_probability, True),
    "class_thresholds": (_class_thresholds, False),
    "auto_capture": (_boolean, False),
    "capture_sensitivity": (_probability, False),
    "capture_hold_s": (_hold, False),
    "keep_images": (_keep_images, False),
    "retention_days": (_days, False),
    "bin_preset": (_preset, False),
    "bins_file": (_text, True),
    "language": (_text, False),
}
assert set(_FIELDS) == {f.name for f in dataclasses.fields(Settings)}


def _move_aside(path: Path) -> Path | None:
    target = path.with_name(f"{path.name}.broken-{datetime.now():%Y%m%d-%H%M%S}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.broken-{datetime.now():%Y%m%d-%H%M%S}-{n}")
        n += 1
    try:
        path.replace(target)
    except OSError:
        return None
    return target


def _from_schema_1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 always stored an overall threshold; 0.6 was its default, which the user most
    likely never chose, so it becomes "the model's recommendation". Other values were chosen."""
    upgraded = {**data, "schema": 2}
    old = data.get("threshold")
    if isinstance(old, int | float) and not isinstance(old, bool) and old == 0.6:
        upgraded["threshold"] = None
    return upgraded


def _from_schema_2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 had ``store_thumbnails`` (true/false); it becomes ``keep_images``."""
    upgraded = {k: v for k, v in data.items() if k != "store_thumbnails"}
    upgraded["schema"] = 3
    if data.get("store_thumbnails") is False:
        upgraded["keep_images"] = "nothing"
    return upgraded


# schema -> step that returns the data in the next schema
_UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _from_schema_1,
    2: _from_schema_2,
}


def _upgrade(data: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """``data`` in :data:`SETTINGS_SCHEMA`; a newer schema is read as it is (unknown keys are
    ignored), an unreadable one as current with a warning."""
    schema = data.get("schema", SETTINGS_SCHEMA)
    if isinstance(schema, bool) or not isinstance(schema, int) or schema < 1:
        warnings.append(f"setting 'schema' has an invalid value {schema!r}; reading it as current")
        return data
    while schema < SETTINGS_SCHEMA:
        data = _UPGRADES[schema](data)
        schema = data["schema"]
    return data


def load_settings(path: Path) -> tuple[Settings, list[str]]:
    """The settings stored at ``path`` and user-readable warnings about what was wrong."""
    defaults = Settings()
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        return defaults, []
    except OSError as exc:
        return defaults, [f"could not read settings from {path} ({exc}); using defaults"]
    try:
        data = json.loads(raw_bytes)  # bad UTF-8 raises UnicodeDecodeError, a ValueError
        if not isinstance(data, dict):
            raise ValueError("the top level is not a JSON object")
    except ValueError as exc:
        moved = _move_aside(path)
        where = f"moved to {moved.name}" if moved else "could not be moved aside"
        warning = f"settings file {path} is broken ({exc}); it was {where}, using defaults"
        log.warning(warning)
        return defaults, [warning]

    warnings: list[str] = []
    data = _upgrade(data, warnings)
    values: dict[str, Any] = {}
    for name, (validate, nullable) in _FIELDS.items():
        if name not in data:
            continue
        raw = data[name]
        if raw is None and nullable:
            values[name] = None
        elif (clean := validate(raw)) is not None:
            values[name] = clean
        else:
            default = getattr(defaults, name)
            warnings.append(f"setting {name!r} has an invalid value {raw!r}; using {default!r}")
    for warning in warnings:
        log.warning("%s: %s", path, warning)
    return Settings(**values), warnings


def settings_to_json(settings: Settings) -> dict[str, Any]:
    data: dict[str, Any] = {"schema": SETTINGS_SCHEMA}
    data.update(dataclasses.asdict(settings))
    if settings.resolution is not None:
        data["resolution"] = list(settings.resolution)
    return data


def save_settings(path: Path, settings: Settings) -> None:
    """Write ``settings`` atomically: a crash leaves either the old or the new file.

    Raises ``OSError`` when the file cannot be written (the old file is then unchanged).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(settings_to_json(settings), indent=2, sort_keys=True) + "\n"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # Make the rename itself durable; directories cannot be opened on Windows.
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
