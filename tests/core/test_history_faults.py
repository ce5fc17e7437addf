"""History store: migrations, damaged files, locks, full or read-only disks, roll-ups."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.history import (
    SCHEMA_VERSION,
    HistoryError,
    HistoryStore,
)
from app.core.history_schema import MIGRATIONS
from tests.core.history_helpers import T0, corrupt_files, rec


def test_migrates_from_schema_1(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO records (created_utc, source, source_kind, model_id, model_version,"
            " label, confidence, top_k, bin_id, unsure, corrected_label, corrected_bin,"
            " final_label, final_bin) VALUES"
            " ('2024-05-01T10:05:00.000000Z', 'cam', 'camera', 'waste', '1', 'glass', 0.8, '[]',"
            "  'glass', 0, NULL, NULL, 'glass', 'glass'),"
            " ('2024-05-01T10:20:00.000000Z', 'cam', 'camera', 'waste', '1', 'paper', 0.4, '[]',"
            "  'paper', 1, 'glass', 'glass', 'glass', 'glass')"
        )
        conn.execute("PRAGMA user_version = 1")
    with HistoryStore(path) as s:
        assert s.count() == 2
        assert s.recovered_from is None
        rows = sorted(s.aggregate(T0 - timedelta(hours=3), T0, bucket_minutes=15))
        s.add(rec(at=datetime(2024, 5, 1, 10, 25, tzinfo=UTC)))  # triggers now keep the sums
        after = s.aggregate(T0 - timedelta(hours=3), T0, bucket_minutes=15)
    assert [(r.bucket_utc.minute, r.label, r.total, r.unsure, r.corrected) for r in rows] == [
        (0, "glass", 1, 0, 0), (15, "glass", 1, 1, 1)]  # fmt: skip
    assert sum(r.total for r in after) == 3
    with closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_empty_file_is_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    path.touch()
    with HistoryStore(path) as s:
        assert s.count() == 0
        assert s.recovered_from is None


def test_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE future (x)")
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(HistoryError, match="newer version") as err:
        HistoryStore(path)
    assert err.value.kind == "newer"
    assert path.exists()
    assert not corrupt_files(path)


# -- damage, locks, full or read-only disks --------------------------------------------------


def test_random_bytes_are_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    junk = os.urandom(64 * 1024)
    path.write_bytes(junk)
    Path(str(path) + "-wal").write_bytes(b"junk wal")
    with HistoryStore(path) as s:
        moved = s.recovered_from
        assert moved is not None
        assert s.count() == 0
        s.add(rec())
    assert re.fullmatch(r"history\.sqlite3\.corrupt-\d{8}-\d{6}", moved.name)
    assert moved.read_bytes() == junk
    assert Path(str(moved) + "-wal").read_bytes() == b"junk wal"
    with HistoryStore(path) as s:  # the new file is healthy
        assert s.count() == 1
        assert s.recovered_from is None


def test_truncated_database_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with HistoryStore(path) as s:
        s.add_many(rec(at=T0 + timedelta(seconds=i), thumbnail=os.urandom(3000))
                   for i in range(300))  # fmt: skip
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2)
    with HistoryStore(path) as s:
        assert s.recovered_from is not None
        assert s.count() == 0
        assert s.recovered_from.stat().st_size == size // 2
    assert len(corrupt_files(path)) == 1


def test_exclusive_lock_at_open_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)  # a rollback-journal database
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        with pytest.raises(HistoryError, match="locked by another program") as err:
            HistoryStore(path, timeout_s=0.3)
        assert time.monotonic() - started < 3
        assert err.value.kind == "locked"
        assert not corrupt_files(path)  # a lock is not damage
    finally:
        other.execute("ROLLBACK")
        other.close()
    with HistoryStore(path) as s:  # fine once the other program lets go
        s.add(rec())


def test_write_lock_held_elsewhere_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with HistoryStore(path, timeout_s=0.3) as s:
        s.add(rec())
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            with pytest.raises(HistoryError) as err:
                s.add(rec())
            assert err.value.kind == "locked"
            assert time.monotonic() - started < 3
            assert s.count() == 1  # WAL: reading still works
        finally:
            other.execute("ROLLBACK")
            other.close()
        s.add(rec())
        assert s.count() == 2


def test_full_disk_is_reported_and_nothing_saved(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "history.sqlite3") as s:
        s.add(rec())
        conn = s._connection()  # simulate a full disk: cap this connection's file size
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(HistoryError, match="disk is full") as err:
            s.add(rec(thumbnail=os.urandom(200_000)))
        assert err.value.kind == "full"
        conn.execute("PRAGMA max_page_count = 1000000")
        assert s.count() == 1
        s.add(rec())
        assert s.count() == 2


def test_read_only_database_is_reported(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "history.sqlite3") as s:
        s.add(rec())
        s._connection().execute("PRAGMA query_only = 1")  # as a read-only file would refuse
        with pytest.raises(HistoryError, match="read-only") as err:
            s.add(rec())
        assert err.value.kind == "readonly"
        assert s.count() == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_read_only_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with HistoryStore(path) as s:
        s.add(rec())
    path.chmod(0o444)
    try:
        with pytest.raises(HistoryError):
            HistoryStore(path).add(rec())
    finally:
        path.chmod(0o644)


# -- the stats roll-up table stays equal to the records ---------------------------------------


def test_rollup_matches_records_after_edits(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with HistoryStore(path) as s:
        ids = s.add_many(rec(["glass", "plastic", "paper", "metal"][i % 4], 0.3 + (i % 7) / 10,
                             at=T0 + timedelta(minutes=7 * i)) for i in range(400))  # fmt: skip
        for rid in ids[::9]:
            s.correct(rid, "metal", "recycling")
        for rid in ids[::18]:
            s.clear_correction(rid)
        s.delete(ids[::5])
        s.purge_older_than(1, now=T0 + timedelta(days=1, hours=3))
    direct = (
        "SELECT substr(created_utc, 1, 14) || printf('%02d', CAST(substr(created_utc, 15, 2)"
        " AS INTEGER) / 15 * 15), final_label, final_bin, COUNT(*), SUM(confidence),"
        " SUM(unsure), COUNT(corrected_label) FROM records GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    rollup = (
        "SELECT bucket, final_label, final_bin, records, confidence_sum, unsure,"
        " corrected FROM stats_quarter ORDER BY 1, 2, 3"
    )
    with closing(sqlite3.connect(path)) as conn:
        expected = conn.execute(direct).fetchall()
        actual = conn.execute(rollup).fetchall()
    assert len(expected) > 50
    assert [r[:4] + r[5:] for r in actual] == [r[:4] + r[5:] for r in expected]
    assert [r[4] for r in actual] == pytest.approx([r[4] for r in expected], abs=1e-9)
