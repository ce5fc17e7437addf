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


# -- a history with rows written by hand (issue 15) -------------------------------------------

_RAW_COLUMNS = (
    "created_utc", "source", "source_kind", "model_id", "model_version", "label", "confidence",
    "top_k", "bin_id", "unsure", "final_label", "final_bin",
)  # fmt: skip


def write_odd_history(path: Path, now: datetime) -> tuple[dict[str, int], dict[str, int]]:
    """A history file with two sound rows at ``now`` and one bad row of each kind, written
    with raw sqlite3 (CHECK violations under ``ignore_check_constraints``).

    Returns ``(shown, skipped)``: the ids, by kind, of rows reads return (sound ones, ones in
    another ISO time form, ones with a field blanked or breaking a CHECK) and of rows no read
    can show (no usable time or confidence).
    """
    import sqlite3
    from contextlib import closing
    from datetime import timedelta, timezone

    from app.core.history import HistoryStore

    with HistoryStore(path) as store:
        good = store.add_many([rec("glass", 0.9, at=now), rec("paper", 0.8, at=now)])
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    odd: dict[str, dict[str, object]] = {
        "bad_top_k": {"top_k": "{not json"},
        "offset_time": {
            "created_utc": now.astimezone(timezone(timedelta(hours=2))).isoformat(),
        },
        "sqlite_time": {"created_utc": now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")},
        "unsure_7": {"unsure": 7},
        "robot_kind": {"source_kind": "robot"},
        "final_mismatch": {"final_label": "metal"},
        "literal_time": {"created_utc": "CURRENT_TIMESTAMP"},
        "text_confidence": {"confidence": "high"},
    }
    ids: dict[str, int] = {"good_glass": good[0], "good_paper": good[1]}
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        for name, fields in odd.items():
            row: dict[str, object] = {
                "created_utc": stamp, "source": f"hand:{name}", "source_kind": "file",
                "model_id": "waste", "model_version": "1.0.0", "label": "glass",
                "confidence": 0.7, "top_k": '[["glass", 0.7]]', "bin_id": "glass", "unsure": 0,
                "final_label": "glass", "final_bin": "glass",
            }  # fmt: skip
            row.update(fields)
            marks = ", ".join("?" * len(_RAW_COLUMNS))
            cur = conn.execute(
                f"INSERT INTO records ({', '.join(_RAW_COLUMNS)}) VALUES ({marks})",
                [row[c] for c in _RAW_COLUMNS],
            )
            assert cur.lastrowid is not None
            ids[name] = cur.lastrowid
    skipped = {k: ids.pop(k) for k in ("literal_time", "text_confidence")}
    return ids, skipped
