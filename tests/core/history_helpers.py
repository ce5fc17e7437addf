"""Record builders and file helpers shared by the history tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.history import (
    NewRecord,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BINS = {"glass": "glass", "plastic": "recycling", "metal": "recycling", "paper": "paper"}


def rec(
    label: str = "glass", conf: float = 0.9, at: datetime | None = None, **kw: Any
) -> NewRecord:
    fields: dict[str, Any] = {
        "source": "camera:0",
        "model_id": "waste",
        "model_version": "1.0.0",
        "label": label,
        "confidence": conf,
        "top_k": [(label, conf), ("trash", round(1 - conf, 3))],
        "bin_id": BINS.get(label, "residual"),
        "unsure": conf < 0.6,
        "created_utc": at or T0,
    }
    fields.update(kw)
    return NewRecord(**fields)


def corrupt_files(path: Path) -> list[Path]:
    """Damaged databases moved aside (not counting their -wal/-shm companions)."""
    return sorted(
        p for p in path.parent.glob(path.name + ".corrupt-*") if p.name[-4:] not in ("-wal", "-shm")
    )


# -- basics ---------------------------------------------------------------------------------
