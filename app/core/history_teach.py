"""The history's part in teaching the station: "confirmed right" marks and training crops.

Mixed into :class:`app.core.history.HistoryStore`. A record is a teaching example when the
operator corrected it (its final label is theirs) or confirmed the model's answer; its image is
its training crop when the privacy setting kept one, else its thumbnail.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from app.core.history_schema import to_utc_text

TEACHING_SQL = (
    "SELECT r.id, r.final_label, COALESCE(c.image, r.thumbnail) FROM records r"
    " LEFT JOIN crops c ON c.record_id = r.id"
    " WHERE r.corrected_label IS NOT NULL OR r.confirmed_utc IS NOT NULL"
    " ORDER BY r.id DESC"
)


class TeachingRecords:
    """Methods over the store's connections (``_reading`` / ``_writing`` / ``_update``)."""

    _reading: Callable[..., AbstractContextManager[sqlite3.Connection]]
    _update: Callable[[int, str, tuple[object, ...]], None]

    def confirm(self, record_id: int) -> None:
        """Mark the model's answer as right (teaching learns from it)."""
        self._update(record_id, "confirmed_utc = ?", (to_utc_text(datetime.now(UTC)),))

    def clear_confirmation(self, record_id: int) -> None:
        self._update(record_id, "confirmed_utc = NULL", ())

    def crop(self, record_id: int) -> bytes | None:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT image FROM crops WHERE record_id = ?", (record_id,)
            ).fetchone()
        return None if row is None or not isinstance(row[0], bytes) else row[0]

    def count_crops(self) -> int:
        with self._reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM crops").fetchone()[0])

    def teaching_counts(self) -> dict[str, int]:
        """How many corrected or confirmed records per final label kept an image (counted in
        SQL, no image is read)."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT r.final_label, COUNT(*) FROM records r"
                " LEFT JOIN crops c ON c.record_id = r.id"
                " WHERE (r.corrected_label IS NOT NULL OR r.confirmed_utc IS NOT NULL)"
                " AND (c.record_id IS NOT NULL OR r.thumbnail IS NOT NULL)"
                " GROUP BY r.final_label"
            ).fetchall()
        return {label: int(n) for label, n in rows if isinstance(label, str)}

    def teaching_images(self) -> Iterator[tuple[int, str, bytes | None]]:
        """``(id, final label, image bytes or None)`` of corrected and confirmed records,
        newest first (read in one snapshot, so a concurrent write cannot reorder them)."""
        with self._reading(snapshot=True) as conn:
            rows = conn.execute(TEACHING_SQL).fetchall()
        for rid, label, image in rows:
            if isinstance(rid, int) and isinstance(label, str):
                yield rid, label, image if isinstance(image, bytes) else None
