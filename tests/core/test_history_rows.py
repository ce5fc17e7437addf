"""One bad history row never breaks the rest (issue 15): real SQLite files, rows by hand."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime, timedelta

import pytest

from app.core import stats
from app.core.history import HistoryStore, RecordFilter, from_utc_text
from app.core.history_rows import decode_row
from app.core.history_schema import SELECT_COLUMNS
from tests.core.history_helpers import corrupt_files, write_odd_history

NOW = datetime.now(UTC).replace(microsecond=0)
SHOWN_IN_PART = ("bad_top_k", "unsure_7", "robot_kind", "final_mismatch")


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03T10:00:00.000000Z",
        "2026-12-03T10:00:00Z",
        "2026-12-03T12:00:00+02:00",
        "2026-12-03 10:00:00",
        "2026-12-03T10:00:00",
        "2026-12-03 10:00:00.000",
    ],
)
def test_every_iso_form_sqlite_and_python_write_is_read_as_utc(text: str) -> None:
    assert from_utc_text(text) == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["CURRENT_TIMESTAMP", "", "now", "2026-13-40", None, 12.5])
def test_a_time_that_is_no_time_raises_value_error(text: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        from_utc_text(text)  # type: ignore[arg-type]


def test_the_decoder_never_raises() -> None:
    sound = (1, "2026-12-03T10:00:00Z", "s", "file", "m", "1", "glass", 0.5, '[["glass", 0.5]]',
             "glass", 0, 0, None, None, None, None, None)  # fmt: skip
    record, problem = decode_row(sound)
    assert record is not None
    assert problem is None
    assert record.top_k == (("glass", 0.5),)
    for index, value in [(1, "CURRENT_TIMESTAMP"), (7, "high"), (7, None), (0, "x")]:
        row = list(sound)
        row[index] = value
        assert decode_row(row)[0] is None
        assert decode_row(row)[1]
    for index, value in [(8, "{bad"), (8, "[1, 2]"), (8, "null"), (14, "soon"), (3, "robot"),
                         (16, "later")]:
        row = list(sound)
        row[index] = value
        record, problem = decode_row(row)
        assert record is not None
        assert problem
    assert decode_row(("too", "short"))[0] is None


def test_bad_rows_are_skipped_or_shown_in_part_and_reported_never_moved_aside(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.sqlite3"
    shown, skipped = write_odd_history(path, NOW)
    with caplog.at_level(logging.WARNING, logger="app.core.history"):
        store = HistoryStore(path)
    with store:
        assert store.recovered_from is None
        assert corrupt_files(path) == []
        assert path.exists()
        reported = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
        assert len(reported) == 1
        # Open reports the rows no read can show and those breaking a CHECK constraint ...
        at_open = {*skipped.values(), *(shown[k] for k in SHOWN_IN_PART if k != "bad_top_k")}
        assert set(store.unreadable) == at_open
        for rid in store.unreadable:
            assert str(rid) in reported[0]

        records = store.query(limit=100)
        # ... and reads add the rows shown with a field blanked.
        assert set(store.unreadable) == {*at_open, shown["bad_top_k"]}
        assert sorted(r.id for r in records) == sorted(shown.values())
        assert store.count() == len(shown)
        by_id = {r.id: r for r in records}
        assert by_id[shown["bad_top_k"]].top_k == ()
        assert by_id[shown["offset_time"]].created_utc == NOW
        assert by_id[shown["sqlite_time"]].created_utc == NOW
        with store._reading() as conn:  # other ISO forms are rewritten in the stored form
            texts = dict(conn.execute("SELECT id, created_utc FROM records").fetchall())
        stored = NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert texts[shown["offset_time"]] == texts[shown["sqlite_time"]] == stored
        assert texts[skipped["literal_time"]] == "CURRENT_TIMESTAMP"  # the rest is kept as is
        assert by_id[shown["good_glass"]].top_k[0][0] == "glass"
        assert by_id[shown["final_mismatch"]].final_label == "glass"
        # Paging stays consistent: every shown row exactly once, one row per page.
        paged = [r.id for n in range(len(shown) + 2) for r in store.query(limit=1, offset=n)]
        assert sorted(paged) == sorted(shown.values())

        for rid in skipped.values():
            assert store.get(rid) is None
        assert store.get(shown["bad_top_k"]) is not None

        # Time-filtered queries skip the row whose time cannot be read, and do not crash.
        recent = store.query(RecordFilter(since=NOW - timedelta(hours=1)), limit=100)
        assert {shown["good_glass"], shown["good_paper"], shown["bad_top_k"]} <= {
            r.id for r in recent
        }
        assert not {r.id for r in recent} & set(skipped.values())
        assert store.query(RecordFilter(since=NOW + timedelta(days=1))) == []

        out = io.StringIO()
        assert store.export_csv(out, RecordFilter()) == len(shown)
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert sorted(int(r["id"]) for r in rows) == sorted(shown.values())

        since, until = NOW - timedelta(days=1), NOW + timedelta(days=1)
        result = stats.compute(store, since, until)
        # Every row with a readable time counts (a non-numeric confidence as 0, as the
        # trigger-kept roll-up counts it); the literal CURRENT_TIMESTAMP row cannot.
        assert result.total == len(shown) + 1
        assert 0.0 <= result.mean_confidence <= 1.0
        assert dict(result.by_label)["paper"] == 1
        wide = stats.compute(
            store, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
        assert wide.total >= result.total

        # The sound rows stay writable beside the bad ones.
        store.correct(shown["good_paper"], "glass", "glass")
        assert store.get(shown["good_paper"]).final_label == "glass"  # type: ignore[union-attr]

    with HistoryStore(path) as again:  # reopening keeps the file and reports again
        assert again.recovered_from is None
        assert again.count() == len(shown)


def test_rows_other_programs_add_later_are_reported_when_read(tmp_path) -> None:
    path = tmp_path / "history.sqlite3"
    with HistoryStore(path) as store:
        assert store.unreadable == {}
        shown, skipped = write_odd_history(path, NOW)  # while the store is open
        assert {r.id for r in store.query(limit=100)} == set(shown.values())
        assert shown["bad_top_k"] in store.unreadable
        with store._reading() as conn:  # the raw row still fails the decoder, not the store
            raw = conn.execute(f"{SELECT_COLUMNS} WHERE id = ?", (skipped["literal_time"],))
            assert decode_row(raw.fetchone())[0] is None


def test_a_file_sqlite_cannot_read_is_still_moved_aside(tmp_path) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not a database at all" * 100)
    with HistoryStore(path) as store:
        assert store.recovered_from is not None
        assert store.count() == 0
    assert len(corrupt_files(path)) == 1
