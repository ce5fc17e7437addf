"""HistoryStore against real SQLite files and shared in-memory databases."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from app.core.history import (
    CSV_COLUMNS,
    SCHEMA_VERSION,
    HistoryError,
    HistoryStore,
    RecordFilter,
)
from tests.core.history_helpers import T0, rec


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    target = tmp_path / "history.sqlite3" if request.param == "file" else ":memory:"
    s = HistoryStore(target)
    yield s
    s.close()


def test_add_get_round_trip(store: HistoryStore) -> None:
    rid = store.add(rec("plastic", 0.5, source="/photos/a b.jpg", source_kind="file",
                        thumbnail=b"\xff\xd8jpeg", note="dented"))  # fmt: skip
    got = store.get(rid)
    assert got is not None
    assert (got.label, got.bin_id, got.source, got.source_kind) == (
        "plastic", "recycling", "/photos/a b.jpg", "file")  # fmt: skip
    assert got.created_utc == T0
    assert got.created_utc.tzinfo is not None
    assert got.confidence == 0.5
    assert got.unsure is True
    assert got.top_k == (("plastic", 0.5), ("trash", 0.5))
    assert got.has_thumbnail
    assert store.thumbnail(rid) == b"\xff\xd8jpeg"
    assert got.note == "dented"
    assert got.final_label == "plastic"
    assert not got.corrected
    assert store.get(rid + 1000) is None
    assert store.thumbnail(rid + 1000) is None


def test_record_without_time_gets_now_and_no_thumbnail(store: HistoryStore) -> None:
    before = datetime.now(UTC)
    rid = store.add(rec(at=None, created_utc=None))
    got = store.get(rid)
    assert got is not None
    assert before <= got.created_utc <= datetime.now(UTC)
    assert not got.has_thumbnail
    assert store.thumbnail(rid) is None


def test_stored_time_is_sortable_utc_text(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as s:
        s.add(rec(at=datetime(2024, 5, 1, 14, 0, 0, 5, tzinfo=UTC).astimezone()))
    with closing(sqlite3.connect(path)) as conn, conn:
        (text,) = conn.execute("SELECT created_utc FROM records").fetchone()
    assert text == "2024-05-01T14:00:00.000005Z"


def test_invalid_records_rejected(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="source_kind"):
        store.add(rec(source_kind="scanner"))
    with pytest.raises(ValueError, match="confidence"):
        store.add(rec(conf=1.5))
    with pytest.raises(ValueError, match="confidence"):
        store.add(rec(conf=float("nan")))
    assert store.count() == 0


def test_add_many_returns_ids_in_order(store: HistoryStore) -> None:
    store.add(rec())
    ids = store.add_many([rec(label, at=T0 + timedelta(minutes=i))
                          for i, label in enumerate(["glass", "paper", "metal"])])  # fmt: skip
    assert len(ids) == 3
    assert ids == sorted(ids)
    assert [store.get(i).label for i in ids] == ["glass", "paper", "metal"]  # type: ignore[union-attr]
    assert store.add_many([]) == []


def test_schema_version_columns_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with HistoryStore(path) as s:
        conn = s._connection()  # the store's own connection: per-connection pragmas
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    with closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        cols = [r[1] for r in conn.execute("PRAGMA table_info(records)")]
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(records)")}
    for name in ("id", "created_utc", "source", "source_kind", "model_id", "model_version",
                 "label", "confidence", "top_k", "bin_id", "unsure", "thumbnail",
                 "corrected_label", "corrected_bin", "corrected_utc", "note",
                 "final_label", "final_bin"):  # fmt: skip
        assert name in cols
    assert {"idx_records_created", "idx_records_label", "idx_records_bin",
            "idx_records_corrected"} <= indexes  # fmt: skip


def test_filters_use_indexes(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as s:
        conn = s._connection()
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM records WHERE final_label = 'a'"
            " AND created_utc >= 'x' ORDER BY created_utc DESC"))  # fmt: skip
    assert "idx_records_label" in plan
    assert "SCAN records" not in plan


# -- threads --------------------------------------------------------------------------------


def test_many_threads_add_concurrently(store: HistoryStore) -> None:
    ids: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            for i in range(40):
                rid = store.add(rec(at=T0 + timedelta(seconds=n * 100 + i)))
                with lock:
                    ids.append(rid)
            store.count()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 160
    assert store.count() == 160


def test_memory_stores_are_separate() -> None:
    with HistoryStore(":memory:") as a, HistoryStore(":memory:") as b:
        a.add(rec())
        assert (a.count(), b.count()) == (1, 0)


def test_closed_store_raises() -> None:
    s = HistoryStore(":memory:")
    s.close()
    s.close()  # twice is fine
    with pytest.raises(HistoryError) as err:
        s.add(rec())
    assert err.value.kind == "closed"


# -- corrections, filters, paging ------------------------------------------------------------


def test_correction_keeps_original(store: HistoryStore) -> None:
    rid = store.add(rec("plastic", 0.7))
    store.correct(rid, "metal", "metal-bin")
    got = store.get(rid)
    assert got is not None
    assert (got.label, got.bin_id) == ("plastic", "recycling")
    assert (got.corrected_label, got.corrected_bin) == ("metal", "metal-bin")
    assert (got.final_label, got.final_bin, got.corrected) == ("metal", "metal-bin", True)
    assert got.corrected_utc is not None
    assert store.count(RecordFilter(labels=["metal"])) == 1
    assert store.count(RecordFilter(labels=["plastic"])) == 0
    assert store.count(RecordFilter(corrected=True)) == 1
    assert store.distinct_labels() == ["metal"]
    assert store.distinct_bins() == ["metal-bin"]
    store.clear_correction(rid)
    got = store.get(rid)
    assert got is not None
    assert got.corrected_label is None
    assert got.final_label == "plastic"
    assert store.count(RecordFilter(corrected=False)) == 1
    with pytest.raises(HistoryError) as err:
        store.correct(rid + 99, "glass", "glass")
    assert err.value.kind == "missing"


@pytest.fixture
def seeded(store: HistoryStore) -> HistoryStore:
    """30 records one hour apart: labels cycle glass/plastic/paper, confidence 0.30..0.88."""
    labels = ["glass", "plastic", "paper"]
    store.add_many(
        rec(labels[i % 3], round(0.30 + 0.02 * i, 2), at=T0 + timedelta(hours=i),
            source=f"/img/{i:02d}.jpg", source_kind="file")
        for i in range(30)
    )  # fmt: skip
    return store


def test_time_filter_is_inclusive_exclusive(seeded: HistoryStore) -> None:
    flt = RecordFilter(since=T0 + timedelta(hours=5), until=T0 + timedelta(hours=10))
    assert [r.source for r in seeded.query(flt, order="asc")] == [
        f"/img/{i:02d}.jpg" for i in range(5, 10)
    ]
    # Other time zones mean the same instants.
    local = RecordFilter(since=(T0 + timedelta(hours=5)).astimezone(timezone(timedelta(hours=-7))))
    assert seeded.count(local) == 25


def test_label_bin_conf_unsure_filters(seeded: HistoryStore) -> None:
    assert seeded.count(RecordFilter(labels=["glass", "paper"])) == 20
    assert seeded.count(RecordFilter(bins=["recycling"])) == 10
    assert seeded.count(RecordFilter(min_conf=0.5, max_conf=0.6)) == 6  # 0.50 .. 0.60
    assert seeded.count(RecordFilter(unsure=True)) == 15  # 0.30 .. 0.58
    combined = RecordFilter(labels=["glass"], min_conf=0.5, since=T0 + timedelta(hours=12))
    assert [r.confidence for r in seeded.query(combined, order="asc")] == [
        0.54, 0.60, 0.66, 0.72, 0.78, 0.84]  # fmt: skip


def test_text_search_escapes_wildcards(store: HistoryStore) -> None:
    store.add(rec(source="/img/100%_real.jpg"))
    store.add(rec(source="/img/1000_real.jpg"))
    rid = store.add(rec(source="camera:0"))
    store.set_note(rid, "Broken Bottle")
    store.add(rec("paper", source="camera:0"))
    assert store.count(RecordFilter(text="100%_")) == 1
    assert store.count(RecordFilter(text="_real")) == 2
    assert store.count(RecordFilter(text="bottle")) == 1  # note, case-insensitive
    assert store.count(RecordFilter(text="PAPER")) == 1  # label
    assert store.count(RecordFilter(text="'; DROP TABLE records; --")) == 0
    assert store.count() == 4


def test_paging_covers_everything_once(seeded: HistoryStore) -> None:
    pages = [seeded.query(limit=7, offset=o) for o in range(0, 35, 7)]
    flat = [r.id for page in pages for r in page]
    assert len(flat) == 30
    assert len(set(flat)) == 30
    times = [r.created_utc for page in pages for r in page]
    assert times == sorted(times, reverse=True)
    asc = seeded.query(limit=3, order="asc")
    assert [r.created_utc for r in asc] == [T0 + timedelta(hours=i) for i in range(3)]
    assert seeded.query(limit=10, offset=30) == []
    assert all(not r.has_thumbnail for r in pages[0])
    with pytest.raises(ValueError, match="order"):
        seeded.query(order="sideways")  # type: ignore[arg-type]


def test_delete_and_purge(seeded: HistoryStore) -> None:
    first = seeded.query(limit=2, order="asc")
    assert seeded.delete([first[0].id, first[1].id, 999_999]) == 2
    assert seeded.count() == 28
    now = T0 + timedelta(days=10, hours=10)  # records are T0 .. T0+29h
    assert seeded.purge_older_than(10, now=now) == 8  # T0+2h .. T0+9h
    assert seeded.count() == 20
    assert min(r.created_utc for r in seeded.query(limit=100)) == T0 + timedelta(hours=10)
    with pytest.raises(ValueError, match="at least 1"):
        seeded.purge_older_than(0)


# -- CSV -------------------------------------------------------------------------------------


def test_export_csv_round_trip(store: HistoryStore, tmp_path: Path) -> None:
    store.add(rec("plastic", 0.55, source='/img/with, comma "and" quotes\nnewline.jpg'))
    rid = store.add(rec("glass", 0.91, at=T0 + timedelta(hours=1)))
    store.correct(rid, "paper", "paper")
    dest = tmp_path / "out" / "history.csv"
    assert store.export_csv(dest) == 2
    with dest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["source"] == '/img/with, comma "and" quotes\nnewline.jpg'
    assert rows[0]["time_utc"] == "2024-05-01T12:00:00.000000Z"
    assert datetime.fromisoformat(rows[0]["time_local"]) == T0
    assert (rows[0]["label"], rows[0]["bin"], rows[0]["unsure"]) == ("plastic", "recycling", "1")
    assert float(rows[0]["confidence"]) == pytest.approx(0.55)
    assert rows[0]["corrected_label"] == ""
    assert rows[0]["final_label"] == "plastic"
    assert (rows[1]["label"], rows[1]["corrected_label"], rows[1]["corrected_bin"],
            rows[1]["final_label"]) == ("glass", "paper", "paper", "paper")  # fmt: skip
    assert rows[1]["top_k"] == '[["glass", 0.91], ["trash", 0.09]]'
    assert not list(dest.parent.glob("*.part"))

    buffer = io.StringIO()
    assert store.export_csv(buffer, RecordFilter(labels=["paper"])) == 1
    assert [r["id"] for r in csv.DictReader(io.StringIO(buffer.getvalue()))] == [str(rid)]


# -- migrations ------------------------------------------------------------------------------
