"""The operator's history: one row per classification, kept in SQLite.

A record is durable when ``add`` returns: WAL journal, ``synchronous=FULL``, commit before
return. Records, filters and the schema live in :mod:`app.core.history_schema` and are
re-exported here, so callers import everything from ``app.core.history``.

Every SQLite failure leaves as :class:`HistoryError` with a user-readable message and a
``kind`` ("locked", "readonly", "full", "io", "damaged", "newer", "missing", "closed", "error").
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from app.core.history_csv import CsvExport
from app.core.history_rows import decode_row
from app.core.history_schema import (
    CHECK_BREAKING_SQL,
    CORRUPT,
    CSV_COLUMNS,
    INSERT_SQL,
    MIGRATIONS,
    NOTADB,
    ODD_ROWS_SQL,
    ROW_LEVEL_CHECK,
    SCHEMA_VERSION,
    SELECT_COLUMNS,
    SOURCE_KINDS,
    AggregateRow,
    HistoryError,
    NewRecord,
    Record,
    RecordFilter,
    SourceKind,
    aggregate_sql,
    from_utc_text,
    has_sqlite_header,
    insert_row,
    move_aside,
    sqlite_code,
    to_utc_text,
    translate_error,
    where_clause,
)
from app.core.history_teach import TeachingRecords

__all__ = [  # re-exported: callers import the history API from this module only
    "CSV_COLUMNS", "SCHEMA_VERSION", "SOURCE_KINDS", "AggregateRow", "HistoryError",
    "HistoryStore", "NewRecord", "Record", "RecordFilter", "SourceKind", "from_utc_text",
    "to_utc_text",
]  # fmt: skip

log = logging.getLogger(__name__)
CROP_SQL = "INSERT INTO crops (record_id, image) VALUES (?, ?)"


def _quarter_floor(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


class _Damaged(Exception):
    pass


class HistoryStore(TeachingRecords, CsvExport):
    """Classification history over SQLite; safe to share between threads.

    ``path`` is a file (its folder is created) or ``":memory:"`` (a private shared-cache
    database all threads of this store see, gone when the store closes). ``timeout_s`` is how
    long to wait for another program's lock before raising ``HistoryError(kind="locked")``.
    A damaged file is moved aside at open and ``recovered_from`` names where it went.
    """

    def __init__(self, path: Path | str, *, timeout_s: float = 5.0) -> None:
        self._timeout_s = timeout_s
        self._memory = str(path) == ":memory:"
        self.path: Path | None = None if self._memory else Path(path)
        self._target = (
            f"file:memdb-{uuid.uuid4().hex}?mode=memory&cache=shared"
            if self._memory
            else str(self.path)
        )
        self.recovered_from: Path | None = None
        # Rows that could not be read in full, by id: skipped by every read (no usable time or
        # confidence) or shown with a field blanked. Filled at open and as reads meet them.
        self.unreadable: dict[int, str] = {}
        self._local = threading.local()
        self._registry = threading.Lock()
        self._conns: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._closed = False
        # Shared-cache memory databases report table locks at once instead of waiting for them,
        # so threads take turns there; files rely on SQLite's own locking and busy_timeout.
        self._serial: AbstractContextManager[object] = (
            threading.RLock() if self._memory else nullcontext()
        )
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(
                    f"cannot create {self.path.parent}: {exc.strerror}", "io"
                ) from exc
        try:
            try:
                self._prepare()
            except _Damaged as exc:
                assert self.path is not None
                self._close_connections()
                self.recovered_from = move_aside(self.path)
                log.warning(
                    "history database %s was damaged (%s); moved to %s, starting a new one",
                    self.path,
                    exc,
                    self.recovered_from,
                )
                self._prepare()
        except _Damaged as exc:  # the fresh file too: nothing sensible left to try
            self.close()
            raise HistoryError(
                f"history database {self.path} is damaged: {exc}", "damaged"
            ) from exc
        except BaseException:
            self.close()
            raise

    # -- connections ---------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._registry:
            if self._closed:
                raise HistoryError("the history store is closed", "closed")
            try:
                conn = None
                conn = sqlite3.connect(
                    self._target,
                    timeout=self._timeout_s,
                    uri=self._memory,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                if conn is not None:
                    conn.close()
                raise translate_error(exc, "open", self._timeout_s, self.path) from exc
            # Close the connections of finished threads (after opening the new one, so a
            # memory database always keeps at least one connection).
            alive = []
            for thread, old in self._conns:
                if thread.is_alive():
                    alive.append((thread, old))
                else:
                    old.close()
            self._conns = [*alive, (threading.current_thread(), conn)]
        self._local.conn = conn
        return conn

    def _close_connections(self, *, final: bool = False) -> None:
        with self._registry:
            self._closed = self._closed or final
            for _, conn in self._conns:
                conn.close()
            self._conns = []
            self._local = threading.local()

    def close(self) -> None:
        """Close every thread's connection; later calls raise ``HistoryError(kind="closed")``."""
        self._close_connections(final=True)

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _reading(self, *, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        """The thread's connection; ``snapshot`` runs several SELECTs in one read transaction."""
        conn = self._connection()
        with self._serial:
            try:
                if snapshot:
                    conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    if conn.in_transaction:
                        conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise translate_error(exc, "read", self._timeout_s) from exc

    @contextmanager
    def _writing(self, action: str = "save to") -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (durably) on exit, rolled back on any error."""
        conn = self._connection()
        with self._serial:
            try:
                # IMMEDIATE takes the write lock up front, so a busy database waits in
                # busy_timeout instead of failing later on a read-to-write upgrade.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise translate_error(exc, action, self._timeout_s) from exc

    # -- opening, checking, migrating ------------------------------------------------------

    def _prepare(self) -> None:
        """Check the file (raising _Damaged when it is), switch to WAL and migrate."""
        if self.path is not None and not has_sqlite_header(self.path):
            raise _Damaged("file is not a database")
        try:
            conn = self._connection()
            rows_break_checks = False
            if not self._memory:
                result = conn.execute("PRAGMA quick_check").fetchall()
                # Constraint reports are about single rows (kept and reported below), not
                # about a file SQLite cannot read.
                structural = [
                    str(r[0]) for r in result if not str(r[0]).startswith(ROW_LEVEL_CHECK)
                ]
                rows_break_checks = len(structural) < len(result)
                if structural != ["ok"] and structural:
                    raise _Damaged("; ".join(structural[:3]))
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode != "wal":
                    log.warning("history database %s is in %s mode, not WAL", self.path, mode)
            self._migrate(conn)
            self._check_rows(conn, rows_break_checks)
        except sqlite3.DatabaseError as exc:
            if sqlite_code(exc) in (CORRUPT, NOTADB):
                raise _Damaged(str(exc)) from exc
            raise translate_error(exc, "open", self._timeout_s, self.path) from exc
        except HistoryError as exc:
            if exc.kind == "damaged":
                raise _Damaged(str(exc.__cause__ or exc)) from exc
            raise

    def _check_rows(self, conn: sqlite3.Connection, rows_break_checks: bool) -> None:
        """Report unreadable rows and rewrite times in other ISO forms, at open.

        Time filters, ordering and the statistics roll-up compare stored text, which only
        works for the one fixed-width form, so a time in another form (same instant) is
        rewritten in it. A row that cannot be rewritten (it breaks a CHECK constraint, the file
        is read-only) is left as it is and still shown; nothing is ever deleted.
        """
        problems: dict[int, str] = {}
        rewrite: list[tuple[str, int]] = []
        for rid, text, readable in conn.execute(ODD_ROWS_SQL).fetchall():
            try:
                stored = to_utc_text(from_utc_text(text)) if readable else None
            except (ValueError, TypeError, OverflowError):
                stored = None
            if stored is None:
                problems[int(rid)] = f"unreadable time or confidence (time {text!r})"
            elif stored != text:
                rewrite.append((stored, int(rid)))
        if rows_break_checks:
            for (rid,) in conn.execute(CHECK_BREAKING_SQL).fetchall():
                problems.setdefault(int(rid), "breaks a CHECK constraint")
        if rewrite:
            fixed = 0
            try:
                with self._writing("repair") as wconn:
                    for stored, rid in rewrite:
                        try:
                            wconn.execute(
                                "UPDATE records SET created_utc = ? WHERE id = ?", (stored, rid)
                            )
                            fixed += 1
                        except sqlite3.IntegrityError:
                            continue
                log.info("history: %d time(s) in other ISO forms rewritten", fixed)
            except HistoryError as exc:
                log.warning("history times in other ISO forms left as they are: %s", exc)
        self._note_unreadable(problems)

    def _note_unreadable(self, problems: dict[int, str]) -> None:
        """Remember and log (once per id) rows that could not be read in full."""
        new = {rid: why for rid, why in problems.items() if rid not in self.unreadable}
        if not new:
            return
        self.unreadable.update(new)
        ids = sorted(new)
        shown = ", ".join(map(str, ids[:50])) + (", ..." if len(ids) > 50 else "")
        log.warning(
            "history database %s: %d row(s) could not be read in full and are skipped or shown "
            "in part (kept in the file); ids %s",
            self.path or ":memory:",
            len(ids),
            shown,
            extra={"history_rows": True},
        )
        for rid in ids[:10]:
            log.info("history row %d: %s", rid, new[rid])

    def _decode(self, rows: Iterable[Sequence[object]]) -> Iterator[Record]:
        """The records of ``rows``, skipping (and reporting) those that cannot be read."""
        problems: dict[int, str] = {}
        try:
            for row in rows:
                record, problem = decode_row(row)
                if problem is not None:
                    rid = row[0] if row and isinstance(row[0], int) else -1
                    problems[rid] = problem
                if record is not None:
                    yield record
        finally:
            self._note_unreadable(problems)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._writing("upgrade"):
            # Read again under the write lock: another process may have just migrated.
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    f"history database {self.path} was written by a newer version of the app "
                    f"(schema {version}, this version reads up to {SCHEMA_VERSION})",
                    "newer",
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    conn.execute(statement)
                log.info("history database migrated to schema %d", step + 1)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    # -- writing -------------------------------------------------------------------------

    def add(self, rec: NewRecord) -> int:
        """Store one record and return its id; it is on disk when this returns."""
        row = insert_row(rec)
        with self._writing() as conn:
            rowid = conn.execute(INSERT_SQL, row).lastrowid
            assert rowid is not None
            if rec.crop is not None:
                conn.execute(CROP_SQL, (rowid, rec.crop))
        return rowid

    def add_many(self, records: Iterable[NewRecord]) -> list[int]:
        """Store several records in one transaction; returns their ids in order."""
        items = list(records)
        rows = [insert_row(rec) for rec in items]
        if not rows:
            return []
        crops = [rec.crop for rec in items]
        with self._writing() as conn:
            conn.executemany(INSERT_SQL, rows)
            # Under the write lock AUTOINCREMENT ids of one executemany are consecutive.
            last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
            ids = list(range(last - len(rows) + 1, last + 1))
            conn.executemany(CROP_SQL, [(i, c) for i, c in zip(ids, crops, strict=True)
                                        if c is not None])
        return ids

    def correct(self, record_id: int, label: str, bin_id: str) -> None:
        """Record the operator's label and bin; the model's original answer is kept."""
        now = to_utc_text(datetime.now(UTC))
        self._update(
            record_id,
            "corrected_label = ?, corrected_bin = ?, corrected_utc = ?, "
            "final_label = ?, final_bin = ?",
            (label, bin_id, now, label, bin_id),
        )

    def clear_correction(self, record_id: int) -> None:
        self._update(
            record_id,
            "corrected_label = NULL, corrected_bin = NULL, "
            "corrected_utc = NULL, final_label = label, final_bin = bin_id",
            (),
        )

    def set_note(self, record_id: int, note: str | None) -> None:
        self._update(record_id, "note = ?", (note or None,))

    def _update(self, record_id: int, assignments: str, params: tuple[object, ...]) -> None:
        sql = f"UPDATE records SET {assignments} WHERE id = ?"  # noqa: S608 (fixed text only)
        with self._writing("update") as conn:
            if conn.execute(sql, (*params, record_id)).rowcount == 0:
                raise HistoryError(f"history record {record_id} does not exist", "missing")

    def delete(self, ids: Iterable[int]) -> int:
        """Delete records by id; returns how many existed."""
        wanted = sorted({int(i) for i in ids})
        deleted = 0
        with self._writing("delete from") as conn:
            for start in range(0, len(wanted), 500):  # stay under SQLite's parameter limit
                chunk = wanted[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                sql = f"DELETE FROM records WHERE id IN ({marks})"  # noqa: S608 (placeholders)
                deleted += conn.execute(sql, chunk).rowcount
        return deleted

    def purge_older_than(self, days: int, *, now: datetime | None = None) -> int:
        """Delete records older than ``days`` days (at least 1); returns how many went."""
        if days < 1:
            raise ValueError("days must be at least 1 (0 means keep forever: do not purge)")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        with self._writing("purge") as conn:
            count = conn.execute(
                "DELETE FROM records WHERE created_utc < ?", (to_utc_text(cutoff),)
            ).rowcount
        return int(count)

    # -- reading -------------------------------------------------------------------------

    def get(self, record_id: int) -> Record | None:
        with self._reading() as conn:
            row = conn.execute(f"{SELECT_COLUMNS} WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else next(self._decode([row]), None)

    def query(
        self,
        flt: RecordFilter | None = None,
        limit: int = 100,
        offset: int = 0,
        order: Literal["asc", "desc"] = "desc",
    ) -> list[Record]:
        """One page of records, newest first by default (ties broken by id)."""
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', not {order!r}")
        where, params = where_clause(flt or RecordFilter())
        way = order.upper()
        sql = f"{SELECT_COLUMNS}{where} ORDER BY created_utc {way}, id {way} LIMIT ? OFFSET ?"
        with self._reading() as conn:
            rows = conn.execute(sql, [*params, max(0, limit), max(0, offset)]).fetchall()
        return list(self._decode(rows))

    def count(self, flt: RecordFilter | None = None) -> int:
        where, params = where_clause(flt or RecordFilter())
        with self._reading() as conn:
            sql = f"SELECT COUNT(*) FROM records{where}"  # noqa: S608 (fixed columns only)
            return int(conn.execute(sql, params).fetchone()[0])

    def thumbnail(self, record_id: int) -> bytes | None:
        with self._reading() as conn:
            row = conn.execute(
                "SELECT thumbnail FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def distinct_labels(self) -> list[str]:
        """Final labels present, sorted."""
        with self._reading() as conn:
            rows = conn.execute("SELECT DISTINCT final_label FROM records ORDER BY 1").fetchall()
        return [str(r[0]) for r in rows]

    def distinct_bins(self) -> list[str]:
        """Final bins present, sorted."""
        with self._reading() as conn:
            rows = conn.execute("SELECT DISTINCT final_bin FROM records ORDER BY 1").fetchall()
        return [str(r[0]) for r in rows]

    def aggregate(
        self, since: datetime, until: datetime, *, bucket_minutes: Literal[15, 60] = 60
    ) -> list[AggregateRow]:
        """Sums per UTC hour (or quarter hour), final label and final bin over [since, until).

        Whole quarter hours come from the trigger-kept ``stats_quarter`` table, the partial
        ones at either end from ``records``. A key may appear twice: add the rows up.
        """
        start, end = since.astimezone(UTC), until.astimezone(UTC)
        inner_start, inner_end = _quarter_floor(start), _quarter_floor(end)
        if inner_start < start:
            inner_start += timedelta(minutes=15)
        rollup_sql, records_sql = aggregate_sql(bucket_minutes)
        if inner_start >= inner_end:
            parts = [(records_sql, start, end)]
        else:
            parts = [(rollup_sql, inner_start, inner_end)]
            parts += [
                (records_sql, a, b) for a, b in ((start, inner_start), (inner_end, end)) if a < b
            ]
        rows: list[AggregateRow] = []
        skipped = 0
        with self._reading(snapshot=True) as conn:
            for sql, a, b in parts:
                bounds = (to_utc_text(a), to_utc_text(b))
                if sql is rollup_sql:
                    bounds = (bounds[0][:16], bounds[1][:16])  # 'YYYY-MM-DDTHH:MM'
                for key, label, bin_id, n, conf_sum, unsure, corrected in conn.execute(sql, bounds):
                    try:
                        bucket = datetime.fromisoformat(f"{key}:00+00:00")
                    except (TypeError, ValueError):  # a time no read path can show
                        skipped += int(n)
                        continue
                    rows.append(
                        AggregateRow(
                            bucket,
                            str(label),
                            str(bin_id),
                            int(n),
                            float(conf_sum),
                            int(unsure),
                            int(corrected),
                        )
                    )
        if skipped:
            log.warning("history statistics: %d record(s) with unreadable times left out", skipped)
        return rows
