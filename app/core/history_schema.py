"""History records, filters, schema migrations and error mapping (no connections here).

Times are stored as fixed-width UTC text ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` so text order is time
order. Filters and statistics use the *final* label and bin (the operator's correction when there
is one, else the model's answer); they are stored columns so they can be indexed, and a CHECK
constraint keeps them equal to ``COALESCE(corrected_*, original)``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from app.core.paths import display_path

if TYPE_CHECKING:
    from app.core.bins import BinDecision
    from app.core.classifier import Prediction

SourceKind = Literal["camera", "file", "cli"]
SOURCE_KINDS: tuple[str, ...] = ("camera", "file", "cli")
CSV_COLUMNS: tuple[str, ...] = (
    "id", "time_utc", "time_local", "source", "model_id", "model_version", "label",
    "confidence", "bin", "unsure", "corrected_label", "corrected_bin", "final_label", "top_k",
)  # fmt: skip


def quarter_of(column: str) -> str:
    """SQL for the UTC quarter hour ``'YYYY-MM-DDTHH:MM'`` (MM in 00/15/30/45) of a time column."""
    return (
        f"substr({column}, 1, 14)"
        f" || printf('%02d', CAST(substr({column}, 15, 2) AS INTEGER) / 15 * 15)"
    )


def _rollup(sign: str, row: str) -> str:
    """Trigger statements adding (``+``) or taking away (``-``) row ``row`` (NEW or OLD)."""
    bucket = quarter_of(f"{row}.created_utc")
    key = f"final_label = {row}.final_label AND final_bin = {row}.final_bin"
    return (
        f"INSERT INTO stats_quarter VALUES ({bucket},"  # noqa: S608 (fixed text only)
        f" {row}.final_label, {row}.final_bin, {sign}1, {sign}{row}.confidence, {sign}{row}.unsure,"
        f" {sign}({row}.corrected_label IS NOT NULL))"
        " ON CONFLICT (bucket, final_label, final_bin) DO UPDATE SET"
        " records = records + excluded.records,"
        " confidence_sum = confidence_sum + excluded.confidence_sum,"
        " unsure = unsure + excluded.unsure, corrected = corrected + excluded.corrected;"
        # Drop emptied buckets so deletions and purges do not leave zero rows behind.
        + (
            f" DELETE FROM stats_quarter WHERE bucket = {bucket} AND {key} AND records = 0;"  # noqa: S608
            if sign == "-"
            else ""
        )
    )


# Ordered migrations: entry i takes user_version i to i + 1. Never edit a released entry.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # v1. The thumbnail comes last so reading any other column never walks its overflow pages.
        """CREATE TABLE records (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_utc TEXT NOT NULL,
            source TEXT NOT NULL,
            source_kind TEXT NOT NULL CHECK (source_kind IN ('camera', 'file', 'cli')),
            model_id TEXT NOT NULL,
            model_version TEXT NOT NULL,
            label TEXT NOT NULL,
            confidence REAL NOT NULL,
            top_k TEXT NOT NULL,
            bin_id TEXT NOT NULL,
            unsure INTEGER NOT NULL CHECK (unsure IN (0, 1)),
            corrected_label TEXT,
            corrected_bin TEXT,
            corrected_utc TEXT,
            note TEXT,
            final_label TEXT NOT NULL,
            final_bin TEXT NOT NULL,
            thumbnail BLOB,
            CHECK (final_label = COALESCE(corrected_label, label)
                   AND final_bin = COALESCE(corrected_bin, bin_id))
        )""",
        "CREATE INDEX idx_records_created ON records (created_utc)",
        "CREATE INDEX idx_records_label ON records (final_label, created_utc)",
        "CREATE INDEX idx_records_bin ON records (final_bin, created_utc)",
        "CREATE INDEX idx_records_corrected ON records (corrected_label)"
        " WHERE corrected_label IS NOT NULL",
    ),
    (  # v2. Per-quarter-hour sums kept by triggers, so statistics read a few thousand rows
        # instead of sorting every record of the period (1M rows: 0.27 s -> ms for a month).
        """CREATE TABLE stats_quarter (
            bucket TEXT NOT NULL,
            final_label TEXT NOT NULL,
            final_bin TEXT NOT NULL,
            records INTEGER NOT NULL,
            confidence_sum REAL NOT NULL,
            unsure INTEGER NOT NULL,
            corrected INTEGER NOT NULL,
            PRIMARY KEY (bucket, final_label, final_bin)
        ) WITHOUT ROWID""",
        f"INSERT INTO stats_quarter SELECT {quarter_of('created_utc')}, final_label, final_bin,"  # noqa: S608
        " COUNT(*), SUM(confidence), SUM(unsure), COUNT(corrected_label)"
        " FROM records GROUP BY 1, 2, 3",
        f"CREATE TRIGGER records_stats_insert AFTER INSERT ON records"
        f" BEGIN {_rollup('+', 'NEW')} END",
        f"CREATE TRIGGER records_stats_delete AFTER DELETE ON records"
        f" BEGIN {_rollup('-', 'OLD')} END",
        "CREATE TRIGGER records_stats_update AFTER UPDATE OF created_utc, confidence, unsure,"
        " corrected_label, final_label, final_bin ON records"
        f" BEGIN {_rollup('-', 'OLD')} {_rollup('+', 'NEW')} END",
    ),
    (  # v3. Teaching the station: "confirmed right" marks, and training crops kept in their
        # own table (records stay small to scan; a deleted or purged record takes its crop).
        "ALTER TABLE records ADD COLUMN confirmed_utc TEXT",
        "CREATE TABLE crops (record_id INTEGER PRIMARY KEY, image BLOB NOT NULL)",
        "CREATE TRIGGER records_crop_delete AFTER DELETE ON records"
        " BEGIN DELETE FROM crops WHERE record_id = OLD.id; END",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

SELECT_COLUMNS = (
    "SELECT id, created_utc, source, source_kind, model_id, model_version, label, confidence,"
    " top_k, bin_id, unsure, thumbnail IS NOT NULL, corrected_label, corrected_bin,"
    " corrected_utc, note, confirmed_utc FROM records"
)
INSERT_SQL = (
    "INSERT INTO records (created_utc, source, source_kind, model_id, model_version, label,"
    " confidence, top_k, bin_id, unsure, thumbnail, note, final_label, final_bin)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def aggregate_sql(bucket_minutes: int) -> tuple[str, str]:
    """(rollup, records) queries summing ``[?, ?)`` per bucket ``'YYYY-MM-DDTHH:MM'``, final
    label and final bin: the first reads whole quarter hours of ``stats_quarter`` (bounds as
    ``'YYYY-MM-DDTHH:MM'``), the second reads ``records`` (bounds as stored times)."""
    if bucket_minutes == 15:
        rollup_key, records_key = "bucket", quarter_of("created_utc")
    else:
        rollup_key, records_key = (
            "substr(bucket, 1, 13) || ':00'",
            "substr(created_utc, 1, 13) || ':00'",
        )
    rollup = (
        f"SELECT {rollup_key}, final_label, final_bin, TOTAL(records), TOTAL(confidence_sum),"  # noqa: S608
        " TOTAL(unsure), TOTAL(corrected) FROM stats_quarter WHERE bucket >= ? AND bucket < ?"
        " GROUP BY 1, 2, 3"
    )
    # TOTAL, not SUM: never NULL, and a non-numeric value (a row written by hand) counts as 0
    # instead of turning the sum into text, as the triggers' sums in stats_quarter count it.
    records = (
        f"SELECT {records_key}, final_label, final_bin, COUNT(*), TOTAL(confidence),"  # noqa: S608
        " TOTAL(unsure), COUNT(corrected_label) FROM records"
        " WHERE created_utc >= ? AND created_utc < ? GROUP BY 1, 2, 3"
    )
    return rollup, records


# Primary SQLite result codes (extended codes carry them in the low byte).
BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


class HistoryError(Exception):
    """A history operation failed; ``str(err)`` is fit to show the user, ``kind`` says why."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def to_utc_text(moment: datetime) -> str:
    """Stored form of a time. Naive datetimes are taken as local time (as ``astimezone`` does)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_utc_text(text: str) -> datetime:
    """An aware UTC datetime from a stored time; raises ValueError when it is not one.

    Besides the stored form this accepts the ISO forms SQLite and Python write: a space for
    the ``T``, no fraction, a ``Z`` or ``+HH:MM`` offset, no offset at all (taken as UTC, as
    SQLite's ``CURRENT_TIMESTAMP`` means it).
    """
    if not isinstance(text, str):
        raise ValueError(f"not a time: {text!r}")
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# Rows every read path can turn into a Record: a numeric confidence and a time SQLite can read.
# Part of every WHERE clause, so counts, pages and offsets agree; the rest are reported.
READABLE_ROW_SQL = (
    "typeof(confidence) IN ('integer', 'real')"
    " AND created_utc GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
    " AND julianday(created_utc) IS NOT NULL"
)
# Rows worth a second look at open, in one cheap scan: a time not in the stored form (another
# ISO form is rewritten in the stored one; anything else is unreadable) or a confidence that is
# not a number. ``readable`` says whether READABLE_ROW_SQL lets the row through.
ODD_ROWS_SQL = (
    f"SELECT id, created_utc, ({READABLE_ROW_SQL}) AS readable FROM records"  # noqa: S608
    " WHERE created_utc NOT GLOB '????-??-??T??:??:??.??????Z'"
    " OR typeof(confidence) NOT IN ('integer', 'real') ORDER BY id"
)
# Rows breaking a CHECK constraint (written with ignore_check_constraints or by an older
# schema); looked for only when quick_check reports such rows.
CHECK_BREAKING_SQL = (
    "SELECT id FROM records WHERE source_kind NOT IN ('camera', 'file', 'cli')"
    " OR unsure NOT IN (0, 1) OR final_label IS NOT COALESCE(corrected_label, label)"
    " OR final_bin IS NOT COALESCE(corrected_bin, bin_id) ORDER BY id"
)
# quick_check lines about single rows (constraints), not about the file's structure.
ROW_LEVEL_CHECK = ("CHECK constraint failed in ", "NULL value in ", "non-")


@dataclass(frozen=True)
class NewRecord:
    """A classification to store. ``created_utc`` None means now."""

    source: str
    model_id: str
    model_version: str
    label: str
    confidence: float
    top_k: Sequence[tuple[str, float]]
    bin_id: str
    unsure: bool
    thumbnail: bytes | None = None
    created_utc: datetime | None = None
    source_kind: SourceKind = "file"
    note: str | None = None
    crop: bytes | None = None  # a training crop (privacy setting "crop"), stored in ``crops``

    @classmethod
    def from_prediction(
        cls,
        prediction: Prediction,
        decision: BinDecision,
        *,
        source: str,
        source_kind: SourceKind,
        thumbnail: bytes | None = None,
        crop: bytes | None = None,
    ) -> NewRecord:
        """The row for one classified item (unsure items keep the unsure bin)."""
        return cls(
            source=source,
            model_id=prediction.model_id,
            model_version=prediction.model_version,
            label=prediction.label,
            confidence=prediction.confidence,
            top_k=prediction.top_k,
            bin_id=decision.bin_id,
            unsure=decision.unsure,
            thumbnail=thumbnail,
            source_kind=source_kind,
            crop=crop,
        )


@dataclass(frozen=True)
class Record:
    """A stored row, without its thumbnail (see :meth:`HistoryStore.thumbnail`)."""

    id: int
    created_utc: datetime
    source: str
    source_kind: str
    model_id: str
    model_version: str
    label: str
    confidence: float
    top_k: tuple[tuple[str, float], ...]
    bin_id: str
    unsure: bool
    has_thumbnail: bool
    corrected_label: str | None
    corrected_bin: str | None
    corrected_utc: datetime | None
    note: str | None
    confirmed_utc: datetime | None = None  # the operator said the answer was right

    @property
    def confirmed(self) -> bool:
        return self.confirmed_utc is not None

    @property
    def final_label(self) -> str:
        return self.label if self.corrected_label is None else self.corrected_label

    @property
    def final_bin(self) -> str:
        return self.bin_id if self.corrected_bin is None else self.corrected_bin

    @property
    def corrected(self) -> bool:
        return self.corrected_label is not None


@dataclass(frozen=True)
class RecordFilter:
    """Which records to select. All given conditions must hold; empty ones are ignored.

    ``since`` is inclusive and ``until`` exclusive (naive datetimes are local time);
    ``labels``/``bins`` match the final label/bin; ``text`` is a case-insensitive substring
    of the source, label, corrected label or note.
    """

    since: datetime | None = None
    until: datetime | None = None
    labels: Collection[str] = ()
    bins: Collection[str] = ()
    min_conf: float | None = None
    max_conf: float | None = None
    corrected: bool | None = None
    text: str | None = None
    unsure: bool | None = None


class AggregateRow(NamedTuple):
    """Partial sums for one time bucket, final label and final bin (see ``stats``)."""

    bucket_utc: datetime
    label: str
    bin_id: str
    total: int
    confidence_sum: float
    unsure: int
    corrected: int


def where_clause(flt: RecordFilter) -> tuple[str, list[object]]:
    """WHERE clause built from fixed column names only; every value is a parameter."""
    clauses: list[str] = [READABLE_ROW_SQL]
    params: list[object] = []
    if flt.since is not None:
        clauses.append("created_utc >= ?")
        params.append(to_utc_text(flt.since))
    if flt.until is not None:
        clauses.append("created_utc < ?")
        params.append(to_utc_text(flt.until))
    for column, values in (("final_label", flt.labels), ("final_bin", flt.bins)):
        if values:
            ordered = sorted(set(values))
            clauses.append(f"{column} IN ({', '.join('?' * len(ordered))})")
            params.extend(ordered)
    if flt.min_conf is not None:
        clauses.append("confidence >= ?")
        params.append(float(flt.min_conf))
    if flt.max_conf is not None:
        clauses.append("confidence <= ?")
        params.append(float(flt.max_conf))
    if flt.corrected is not None:
        clauses.append(f"corrected_label IS {'NOT ' if flt.corrected else ''}NULL")
    if flt.unsure is not None:
        clauses.append("unsure = ?")
        params.append(int(flt.unsure))
    if flt.text and flt.text.strip():
        escaped = flt.text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        columns = ("source", "label", "corrected_label", "note")
        clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
        params.extend([f"%{escaped}%"] * len(columns))
    return " WHERE " + " AND ".join(clauses), params


def insert_row(rec: NewRecord) -> tuple[object, ...]:
    """Parameters for :data:`INSERT_SQL`; raises ValueError for an invalid record."""
    if rec.source_kind not in SOURCE_KINDS:
        raise ValueError(f"source_kind must be one of {SOURCE_KINDS}, not {rec.source_kind!r}")
    if not (0.0 <= rec.confidence <= 1.0):  # also rejects NaN
        raise ValueError(f"confidence must be within 0..1, not {rec.confidence!r}")
    created = rec.created_utc if rec.created_utc is not None else datetime.now(UTC)
    top_k = json.dumps([[str(name), round(float(p), 6)] for name, p in rec.top_k])
    return (
        to_utc_text(created),
        display_path(rec.source),  # a non-UTF-8 file name would make SQLite raise
        rec.source_kind,
        rec.model_id,
        rec.model_version,
        rec.label,
        float(rec.confidence),
        top_k,
        rec.bin_id,
        int(rec.unsure),
        rec.thumbnail,
        rec.note,
        rec.label,
        rec.bin_id,
    )


def translate_error(
    exc: sqlite3.Error, action: str, timeout_s: float, path: Path | None = None
) -> HistoryError:
    """A user-readable HistoryError for an SQLite failure (``path``: the database file)."""
    code = sqlite_code(exc)
    if code == CANTOPEN and path is not None:
        folder = path.parent
        if not folder.is_dir():
            return HistoryError(
                f"cannot {action} history: the folder {folder} does not exist", "io"
            )
        if not os.access(folder, os.W_OK):
            return HistoryError(
                f"cannot {action} history: the data folder {folder} is read-only "
                "(the history needs to write there)",
                "readonly",
            )
    if code in (BUSY, LOCKED):
        return HistoryError(
            f"history database is locked by another program (waited {timeout_s:g} s); "
            "close the other program or try again",
            "locked",
        )
    if code == READONLY:
        return HistoryError(f"cannot {action} history: the database is read-only", "readonly")
    if code == FULL:
        return HistoryError(f"cannot {action} history: the disk is full", "full")
    if code in (IOERR, CANTOPEN):
        return HistoryError(f"cannot {action} history: {exc}", "io")
    if code in (CORRUPT, NOTADB):
        return HistoryError(f"history database is damaged ({exc}); restart to recover", "damaged")
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in str(exc):
        return HistoryError("the history store is closed", "closed")
    return HistoryError(f"cannot {action} history: {exc}")


def sqlite_code(exc: BaseException) -> int:
    """The primary SQLite result code of an ``sqlite3.Error`` (0 when unknown)."""
    return (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def move_aside(path: Path) -> Path:
    """Rename a damaged database and its -wal/-shm to ``<name>.corrupt-<local time>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    try:
        path.replace(target)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.replace(target.with_name(target.name + suffix))
    except OSError as exc:
        raise HistoryError(
            f"history database {path} is damaged and could not be moved aside: {exc}",
            "damaged",
        ) from exc
    return target


def has_sqlite_header(path: Path) -> bool:
    """False for a file that is not empty and does not start like an SQLite database.

    Checked before SQLite opens it, because SQLite may delete or rewrite a ``-wal`` file beside
    a file it cannot read, and that evidence should move aside untouched.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError:  # missing (a new database) or unreadable: SQLite reports that better
        return True
    return head in (b"", b"SQLite format 3\x00")
