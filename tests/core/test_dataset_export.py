"""Exporting corrected history records as a class-per-folder dataset of their thumbnails."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.core.dataset_export import export_dataset, folder_name, iter_records
from app.core.history import HistoryStore, NewRecord, RecordFilter
from app.core.imaging import encode_jpeg

NOW = datetime.now(UTC)


def thumb(value: int) -> bytes:
    return encode_jpeg(np.full((120, 160, 3), value, np.uint8))


def new_record(label: str, minutes_ago: int, thumbnail: bytes | None) -> NewRecord:
    return NewRecord(
        source=f"/photos/{label}-{minutes_ago}.jpg",
        model_id="waste",
        model_version="1.0.0",
        label=label,
        confidence=0.7,
        top_k=[(label, 0.7)],
        bin_id="paper",
        unsure=False,
        thumbnail=thumbnail,
        created_utc=NOW - timedelta(minutes=minutes_ago),
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "history.sqlite3") as s:
        yield s


def test_only_corrected_records_are_exported_under_their_final_label(
    store: HistoryStore, tmp_path: Path
) -> None:
    ids = store.add_many(
        [
            new_record("plastic", 50, thumb(10)),  # corrected to glass
            new_record("paper", 40, thumb(20)),  # corrected to cardboard
            new_record("metal", 30, None),  # corrected, but no thumbnail was kept
            new_record("glass", 20, thumb(30)),  # never corrected: not exported
        ]
    )
    store.correct(ids[0], "glass", "glass")
    store.correct(ids[1], "cardboard", "paper")
    store.correct(ids[2], "trash", "general")
    dest = tmp_path / "dataset"
    seen: list[int] = []
    report = export_dataset(store, dest, progress=seen.append)

    assert (report.images, report.without_image, report.records) == (2, 1, 3)
    assert report.per_class == {"glass": 1, "cardboard": 1}
    assert seen == [1, 2, 3]
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.jpg"))
    assert files == [f"cardboard/{ids[1]}.jpg", f"glass/{ids[0]}.jpg"]
    assert (dest / "glass" / f"{ids[0]}.jpg").read_bytes() == store.thumbnail(ids[0])
    with Image.open(dest / "glass" / f"{ids[0]}.jpg") as image:
        assert max(image.size) <= 160  # thumbnails, as the README says

    with (dest / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [str(i) for i in ids[:3]]  # oldest first
    assert rows[0]["label"] == "glass"
    assert rows[0]["model_label"] == "plastic"
    assert rows[2]["file"] == ""
    assert rows[2]["label"] == "trash"
    readme = (dest / "README.txt").read_text(encoding="utf-8")
    assert "thumbnails" in readme
    assert "without a stored thumbnail" in readme


def test_base_filter_narrows_and_uncorrected_can_be_included(
    store: HistoryStore, tmp_path: Path
) -> None:
    ids = store.add_many([new_record("glass", 10, thumb(1)), new_record("paper", 5, thumb(2))])
    store.correct(ids[0], "plastic", "packaging")
    report = export_dataset(
        store, tmp_path / "a", RecordFilter(labels=("paper",)), corrected_only=False
    )
    assert report.per_class == {"paper": 1}
    none = export_dataset(store, tmp_path / "b", RecordFilter(labels=("paper",)))
    assert none.records == 0
    assert (tmp_path / "b" / "README.txt").is_file()


def test_paging_visits_every_record_once(store: HistoryStore) -> None:
    store.add_many([new_record("glass", i, None) for i in range(25)])
    ids = [r.id for r in iter_records(store, RecordFilter(), page=7)]
    assert len(ids) == len(set(ids)) == 25
    assert ids == sorted(ids, reverse=True)  # oldest first: the last added is 0 minutes ago


@pytest.mark.parametrize(
    ("label", "expected"),
    [("glass", "glass"), ("a/b", "a_b"), ("../x", "x"), ("  ", "unnamed"), ("giấy", "giấy")],
)
def test_folder_names_are_safe(label: str, expected: str) -> None:
    assert folder_name(label) == expected
