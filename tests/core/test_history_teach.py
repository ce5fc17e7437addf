"""The history's part in teaching: training crops kept beside records, "confirmed right"
marks, the teaching examples read back, the schema-3 migration, and history_examples."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.history import SCHEMA_VERSION, HistoryError, HistoryStore
from app.core.history_schema import MIGRATIONS
from app.core.teach import history_examples
from tests.core.history_helpers import T0, rec

CROP_A = b"\xff\xd8crop-a"
CROP_B = b"\xff\xd8crop-b"
THUMB = b"\xff\xd8thumb"


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    target = tmp_path / "history.sqlite3" if request.param == "file" else ":memory:"
    with HistoryStore(target) as s:
        yield s


def test_add_and_add_many_store_crops(store: HistoryStore) -> None:
    one = store.add(rec("glass", crop=CROP_A, thumbnail=THUMB))
    none = store.add(rec("paper", thumbnail=THUMB))
    many = store.add_many(
        [rec("metal", crop=CROP_B), rec("paper"), rec("plastic", crop=CROP_A + b"2")]
    )

    assert store.crop(one) == CROP_A
    assert store.thumbnail(one) == THUMB, "the crop is kept beside the thumbnail, not instead"
    assert store.crop(none) is None
    assert [store.crop(i) for i in many] == [CROP_B, None, CROP_A + b"2"]
    assert store.count_crops() == 3
    assert store.crop(max(many) + 100) is None
    # A crop never makes a record look as if it had a thumbnail.
    got = store.get(many[0])
    assert got is not None
    assert not got.has_thumbnail


def test_add_many_after_deletions_still_pairs_crops_with_their_records(
    store: HistoryStore,
) -> None:
    first = store.add_many([rec("glass", crop=CROP_A), rec("paper", crop=CROP_B)])
    store.delete(first)
    assert store.count_crops() == 0
    again = store.add_many([rec("metal"), rec("plastic", crop=b"late")])
    assert min(again) > max(first), "ids are never reused"
    assert store.crop(again[0]) is None
    assert store.crop(again[1]) == b"late"
    assert store.count_crops() == 1


def test_deleting_or_purging_a_record_takes_its_crop(store: HistoryStore) -> None:
    now = datetime.now(UTC)
    old = store.add(rec("glass", at=now - timedelta(days=40), crop=CROP_A))
    mid = store.add(rec("paper", at=now - timedelta(days=20), crop=CROP_B))
    new = store.add(rec("metal", at=now, crop=b"new"))
    assert store.count_crops() == 3

    assert store.delete([mid]) == 1
    assert store.count_crops() == 2
    assert store.crop(mid) is None
    assert store.crop(new) == b"new"

    assert store.purge_older_than(30, now=now) == 1
    assert store.crop(old) is None
    assert store.count_crops() == 1
    assert store.crop(new) == b"new"


def test_confirm_and_clear_confirmation_round_trip(store: HistoryStore) -> None:
    rid = store.add(rec("glass"))
    other = store.add(rec("paper"))
    got = store.get(rid)
    assert got is not None
    assert not got.confirmed
    assert got.confirmed_utc is None

    before = datetime.now(UTC)
    store.confirm(rid)
    got = store.get(rid)
    assert got is not None
    assert got.confirmed
    assert got.confirmed_utc is not None
    assert before - timedelta(seconds=1) <= got.confirmed_utc <= datetime.now(UTC)
    assert got.final_label == "glass", "confirming keeps the model's answer"
    assert not got.corrected
    other_rec = store.get(other)
    assert other_rec is not None
    assert not other_rec.confirmed
    assert [r.id for r in store.query() if r.confirmed] == [rid]

    store.clear_confirmation(rid)
    got = store.get(rid)
    assert got is not None
    assert not got.confirmed
    assert got.confirmed_utc is None


def test_confirming_a_missing_record_is_an_error(store: HistoryStore) -> None:
    with pytest.raises(HistoryError) as err:
        store.confirm(12345)
    assert err.value.kind == "missing"
    with pytest.raises(HistoryError):
        store.clear_confirmation(12345)


def test_teaching_images_are_corrected_and_confirmed_records_newest_first(
    store: HistoryStore,
) -> None:
    ids = store.add_many(
        [
            rec("glass", at=T0, crop=CROP_A, thumbnail=THUMB),  # confirmed: crop wins
            rec("paper", at=T0 + timedelta(minutes=1), thumbnail=THUMB),  # plain: left out
            rec("metal", at=T0 + timedelta(minutes=2), thumbnail=b"metal-thumb"),  # corrected
            rec("plastic", at=T0 + timedelta(minutes=3)),  # confirmed, no image
            rec("paper", at=T0 + timedelta(minutes=4), crop=CROP_B),  # corrected, crop only
            rec("glass", at=T0 + timedelta(minutes=5), crop=b"unmarked"),  # plain: left out
        ]
    )
    store.confirm(ids[0])
    store.correct(ids[2], "glass", "glass")
    store.confirm(ids[3])
    store.correct(ids[4], "cardboard", "paper")

    got = list(store.teaching_images())

    assert got == [
        (ids[4], "cardboard", CROP_B),
        (ids[3], "plastic", None),
        (ids[2], "glass", b"metal-thumb"),
        (ids[0], "glass", CROP_A),
    ]
    # Taking the mark or the correction back takes the record out again.
    store.clear_confirmation(ids[3])
    store.clear_correction(ids[2])
    assert [rid for rid, _, _ in store.teaching_images()] == [ids[4], ids[0]]


def test_teaching_images_of_an_empty_history(store: HistoryStore) -> None:
    assert list(store.teaching_images()) == []
    assert store.count_crops() == 0


def test_migrating_schema_2_keeps_rows_and_adds_teaching(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with closing(sqlite3.connect(path)) as conn, conn:
        for migration in MIGRATIONS[:2]:
            for statement in migration:
                conn.execute(statement)
        conn.execute(
            "INSERT INTO records (created_utc, source, source_kind, model_id, model_version,"
            " label, confidence, top_k, bin_id, unsure, corrected_label, corrected_bin,"
            " final_label, final_bin, thumbnail) VALUES"
            " ('2024-05-01T10:05:00.000000Z', 'cam', 'camera', 'waste', '1', 'glass', 0.8,"
            "  '[[\"glass\", 0.8]]', 'glass', 0, 'paper', 'paper', 'paper', 'paper', x'ffd8')"
        )
        conn.execute("PRAGMA user_version = 2")
        columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
        assert "confirmed_utc" not in columns

    with HistoryStore(path) as s:
        assert s.recovered_from is None
        records = s.query()
        assert len(records) == 1
        old = records[0]
        assert (old.label, old.final_label, old.confidence) == ("glass", "paper", 0.8)
        assert old.has_thumbnail
        assert old.confirmed_utc is None
        assert s.count_crops() == 0
        # The old corrected row is already a teaching example, with its thumbnail.
        assert list(s.teaching_images()) == [(old.id, "paper", b"\xff\xd8")]
        # The new parts work on the migrated file.
        s.confirm(old.id)
        confirmed = s.get(old.id)
        assert confirmed is not None
        assert confirmed.confirmed
        rid = s.add(rec("metal", crop=CROP_A))
        assert s.crop(rid) == CROP_A
        s.delete([rid])
        assert s.count_crops() == 0

    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
        assert "confirmed_utc" in columns
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"crops", "records_crop_delete"} <= tables


def test_history_examples_skip_records_without_an_image(store: HistoryStore) -> None:
    ids = store.add_many(
        [
            rec("glass", crop=b"glass-crop"),
            rec("glass"),  # confirmed but kept no picture (privacy "nothing")
            rec("paper", thumbnail=b"paper-thumb"),
            rec("metal"),  # corrected, no picture
            rec("metal", crop=b"never-marked"),
        ]
    )
    for rid in ids[:3]:
        store.confirm(rid)
    store.correct(ids[3], "bottle cap", "packaging")

    gathered = history_examples(store)

    assert [(e.label, e.data, e.source) for e in gathered.examples] == [
        ("paper", b"paper-thumb", f"history record {ids[2]}"),
        ("glass", b"glass-crop", f"history record {ids[0]}"),
    ]
    assert all(e.path is None for e in gathered.examples)
    assert len(gathered.problems) == 1
    assert gathered.problems[0].startswith("2 corrected or confirmed records kept no image")
    # Identical image bytes give the same cache key; different ones do not.
    keys = [e.key for e in gathered.examples]
    assert len(set(keys)) == 2
    assert all(len(k) == 64 for k in keys)


def test_history_examples_clean_labels_and_report_nothing_when_all_have_images(
    store: HistoryStore,
) -> None:
    rid = store.add(rec("glass", thumbnail=THUMB))
    store.correct(rid, "  milk  carton ", "packaging")
    gathered = history_examples(store)
    assert [e.label for e in gathered.examples] == ["milk_carton"]
    assert gathered.problems == []
