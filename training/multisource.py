"""Several class-per-folder datasets trained as one, each image tagged with its source group.

The real-world waste model learns from TrashNet (studio photos) and ``waste-wild`` (photos
from seven public sources with a ``manifest.csv`` naming each file's ``group``). Keys are
``<dataset>/<relative path>`` so two datasets never collide; :attr:`MultiSource.groups` maps
every key to its group (a dataset without a manifest is one group named after the dataset),
which is what leave-one-source-out evaluation holds out and what balancing weighs.

:func:`split_by_class_and_group` makes the stratified train/val/test split per
(class, group) cell, so every source is represented in validation and test.
"""

from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from training.data import DataError, FolderSource, Sample, Source, find_class_root

MANIFEST = "manifest.csv"


class MultiSource(Source):
    """Datasets ``(name, root)`` read as one; labels are the class folder names."""

    def __init__(self, parts: Sequence[tuple[str, Path]]) -> None:
        if not parts:
            raise DataError("no datasets given")
        names = [n for n, _ in parts]
        if len(set(names)) != len(names):
            raise DataError(f"dataset names must differ: {names}")
        super().__init__("+".join(names), Path(parts[0][1]))
        self.parts: dict[str, FolderSource] = {}
        self.groups: dict[str, str] = {}
        self._group_of_file: dict[str, dict[str, str]] = {}
        for name, root in parts:
            root = Path(root)
            if not root.is_dir():
                raise DataError(f"dataset not found: {root}")
            self.parts[name] = FolderSource(name, find_class_root(root))
            self._group_of_file[name] = read_groups(root / MANIFEST)

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        for name, part in self.parts.items():
            by_file = self._group_of_file[name]
            for s in part.samples():
                key = f"{name}/{s.key}"
                self.groups[key] = by_file.get(s.key, name)
                out.append(Sample(key, s.label))
            self.ignored.extend(part.ignored)
        return out

    def _split(self, sample: Sample) -> tuple[FolderSource, Sample]:
        name, _, rel = sample.key.partition("/")
        return self.parts[name], Sample(rel, sample.label)

    def content(self, sample: Sample) -> bytes:
        part, inner = self._split(sample)
        return part.content(inner)

    def decode(self, sample: Sample) -> np.ndarray:
        part, inner = self._split(sample)
        return part.decode(inner)


def read_groups(path: Path) -> dict[str, str]:
    """``file -> group`` from a dataset's ``manifest.csv`` (empty when there is none)."""
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"file", "group"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: manifest lacks column(s) {sorted(missing)}")
        return {row["file"]: row["group"] for row in reader}


def split_by_class_and_group(
    keys: Sequence[str], labels: Sequence[str], groups: Sequence[str],
    val_fraction: float, test_fraction: float, seed: int,
) -> dict[str, str]:
    """``key -> "train"|"val"|"test"``, stratified per (class, group) cell with a fixed seed.

    A cell too small for all three splits keeps its images in train (val/test first get one
    each once the cell has three or more).
    """
    cells: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key, label, group in zip(keys, labels, groups, strict=True):
        cells[(label, group)].append(key)
    rng = random.Random(seed)
    split: dict[str, str] = {}
    for cell in sorted(cells):
        members = sorted(cells[cell])
        rng.shuffle(members)
        n = len(members)
        n_test = round(n * test_fraction) if n >= 3 else 0
        n_val = round(n * val_fraction) if n >= 3 else 0
        if n >= 3:
            n_test, n_val = max(1, n_test), max(1, n_val)
        for i, key in enumerate(members):
            split[key] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return split


def balance_weights(labels: Iterable[str], groups: Iterable[str],
                    source_power: float = 0.5) -> np.ndarray:
    """Per-image weights: every class weighs the same; within a class each source's share
    grows as ``count ** source_power`` (0: all sources equal, 1: by image count).

    Equal shares would give smartwaste's 7 glass close-ups the weight of garbage12's 372
    glass photos; the square root (the default) lets no single source dominate a class
    without letting a handful of images outweigh hundreds. The mean weight is 1.
    """
    labels, groups = list(labels), list(groups)
    cell = Counter(zip(labels, groups, strict=True))
    class_mass: Counter[str] = Counter()
    for (label, _), n in cell.items():
        class_mass[label] += n ** source_power
    n_classes = len(class_mass)
    w = np.array([(cell[(y, g)] ** source_power / class_mass[y]) / (n_classes * cell[(y, g)])
                  for y, g in zip(labels, groups, strict=True)], dtype=np.float64)
    return w * (len(w) / w.sum())
