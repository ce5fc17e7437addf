"""The history's CSV export, mixed into :class:`app.core.history.HistoryStore`."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TextIO

from app.core.history_schema import (
    CSV_COLUMNS,
    SELECT_COLUMNS,
    HistoryError,
    Record,
    RecordFilter,
    to_utc_text,
    where_clause,
)


class CsvExport:
    """Methods over the store's connections (``_reading`` / ``_decode``)."""

    _reading: Callable[..., AbstractContextManager[sqlite3.Connection]]
    _decode: Callable[[Iterable[Sequence[object]]], Iterator[Record]]

    def export_csv(self, dest: Path | TextIO, flt: RecordFilter | None = None) -> int:
        """Write matching records, oldest first, as CSV (:data:`CSV_COLUMNS`); returns rows.

        A path is written to a temporary file first and moved into place when complete.
        """
        if not isinstance(dest, Path):
            return self._write_csv(dest, flt or RecordFilter())
        partial = dest.with_name(dest.name + ".part")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("w", newline="", encoding="utf-8") as fh:
                rows = self._write_csv(fh, flt or RecordFilter())
            partial.replace(dest)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise HistoryError(f"cannot write {dest}: {exc.strerror or exc}", "io") from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return rows

    def _write_csv(self, fh: TextIO, flt: RecordFilter) -> int:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        where, params = where_clause(flt)
        sql = f"{SELECT_COLUMNS}{where} ORDER BY created_utc, id"
        rows = 0
        with self._reading() as conn:
            for rec in self._decode(conn.execute(sql, params)):
                writer.writerow(
                    [
                        rec.id,
                        to_utc_text(rec.created_utc),
                        rec.created_utc.astimezone().isoformat(timespec="seconds"),
                        rec.source,
                        rec.model_id,
                        rec.model_version,
                        rec.label,
                        f"{rec.confidence:.6f}",
                        rec.bin_id,
                        int(rec.unsure),
                        rec.corrected_label or "",
                        rec.corrected_bin or "",
                        rec.final_label,
                        json.dumps([[name, round(p, 6)] for name, p in rec.top_k]),
                    ]
                )
                rows += 1
        return rows
