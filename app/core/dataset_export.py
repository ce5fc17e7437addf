"""Export operator-corrected history records as a class-per-folder image dataset.

The history keeps only a small JPEG thumbnail per record (and none when the site turned thumbnail
storage off), never the full camera frame. So the dataset holds those thumbnails, named by record
id: ``<dest>/<class>/<id>.jpg``. Records without a thumbnail are counted and listed in the
manifest but have no image. ``manifest.csv`` and ``README.txt`` beside the class folders say
where every image came from, so the set can be reviewed before it is used for training.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app.core.history import HistoryStore, Record, RecordFilter

PAGE = 500
MANIFEST = "manifest.csv"
README = "README.txt"
_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)


@dataclass
class DatasetExportReport:
    """What an export wrote, for the message shown to the user."""

    dest: Path
    images: int = 0
    without_image: int = 0
    per_class: dict[str, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return self.images + self.without_image


def folder_name(label: str) -> str:
    """A file-system-safe folder name for a class label (labels come from model metadata)."""
    cleaned = _UNSAFE.sub("_", label.strip()).strip("._")
    return cleaned or "unnamed"


def iter_records(store: HistoryStore, flt: RecordFilter, page: int = PAGE) -> Iterator[Record]:
    """Every record matching ``flt``, oldest first, fetched a page at a time."""
    offset = 0
    while True:
        batch = store.query(flt, limit=page, offset=offset, order="asc")
        yield from batch
        if len(batch) < page:
            return
        offset += len(batch)


def export_dataset(
    store: HistoryStore,
    dest: Path,
    base_filter: RecordFilter | None = None,
    *,
    corrected_only: bool = True,
    progress: Callable[[int], None] | None = None,
) -> DatasetExportReport:
    """Write ``dest/<final label>/<record id>.jpg`` for the matching records.

    ``base_filter`` narrows the records (e.g. the history panel's current filter);
    ``corrected_only`` (the default) keeps only records an operator corrected, whose label is
    the most trustworthy. ``progress`` is called with the number of records handled so far.
    """
    flt = base_filter if base_filter is not None else RecordFilter()
    if corrected_only:
        flt = dataclasses.replace(flt, corrected=True)
    dest.mkdir(parents=True, exist_ok=True)
    report = DatasetExportReport(dest=dest)
    with (dest / MANIFEST).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["id", "file", "label", "model_label", "corrected", "created_utc", "source", "model"]
        )
        for rec in iter_records(store, flt):
            label = rec.final_label
            thumb = store.thumbnail(rec.id)
            rel = ""
            if thumb:
                rel = f"{folder_name(label)}/{rec.id}.jpg"
                target = dest / rel
                target.parent.mkdir(exist_ok=True)
                target.write_bytes(thumb)
                report.images += 1
                report.per_class[label] = report.per_class.get(label, 0) + 1
            else:
                report.without_image += 1
            writer.writerow(
                [
                    rec.id,
                    rel,
                    label,
                    rec.label,
                    int(rec.corrected_label is not None),
                    rec.created_utc.isoformat(),
                    rec.source,
                    f"{rec.model_id} {rec.model_version}",
                ]
            )
            if progress is not None:
                progress(report.records)
    (dest / README).write_text(_readme(report), encoding="utf-8")
    return report


def _readme(report: DatasetExportReport) -> str:
    lines = [
        "Waste Sorter dataset export",
        "",
        "One folder per class; each image is named by its history record id.",
        "The history stores only small JPEG thumbnails (longest side about 160 px), so these",
        "images are thumbnails, not the original camera frames or files.",
        f"Records exported: {report.records}; with an image: {report.images}; "
        f"without a stored thumbnail (listed in {MANIFEST} only): {report.without_image}.",
        "",
    ]
    lines += [f"{label}: {n}" for label, n in sorted(report.per_class.items())]
    return "\n".join(lines) + "\n"
