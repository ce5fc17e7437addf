"""The train/validation/test split, frozen in a manifest JSON.

The manifest lists every usable image (relative path, sha256 of its bytes, class, split). Its
own sha256 goes into the exported model's metadata, so a model names the exact images it was
trained and measured on. Re-using a manifest (``--manifest`` or ``--resume``) reproduces the
split exactly and fails loudly if any listed image is missing or its bytes changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from training.data import DataError, Prepared

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SCHEMA = 1
MIN_PER_CLASS = 3  # one each for train, validation and test


def _stratified(keys: list[str], labels: list[str], fraction: float,
                seed: int) -> tuple[list[str], list[str]]:
    if fraction <= 0:
        return keys, []
    try:
        rest, taken = train_test_split(keys, test_size=fraction, stratify=labels,
                                       random_state=seed, shuffle=True)
    except ValueError as exc:  # too few images for a stratified split of that size
        raise DataError(f"cannot make a stratified split: {exc}") from None
    return list(rest), list(taken)


def make_manifest(prep: Prepared, *, val_fraction: float, test_fraction: float, seed: int,
                  limit_per_class: int | None = None) -> dict[str, Any]:
    """Split the usable images (stratified by class, fixed seed) and describe the result."""
    counts = Counter(s.label for s in prep.samples)
    thin = [f"{c} ({counts[c]})" for c in prep.classes if counts[c] < MIN_PER_CLASS]
    if thin:
        raise DataError(f"classes with fewer than {MIN_PER_CLASS} usable images: "
                        f"{', '.join(thin)}")
    label_of = {s.key: s.label for s in prep.samples}
    fixed = {s.key: s.fixed_split for s in prep.samples if s.fixed_split}
    pool = sorted(k for k in label_of if k not in fixed)
    split = dict(fixed)
    has_test = any(v == "test" for v in fixed.values())
    if has_test:
        log.info("the source has its own test set; data.test_fraction is not used")
        rest = pool
    else:
        rest, test = _stratified(pool, [label_of[k] for k in pool], test_fraction, seed)
        split.update(dict.fromkeys(test, "test"))
    val_share = val_fraction if has_test else val_fraction / (1.0 - test_fraction)
    train, val = _stratified(rest, [label_of[k] for k in rest], val_share, seed)
    split.update(dict.fromkeys(train, "train"))
    split.update(dict.fromkeys(val, "val"))
    items = [{"path": k, "sha256": prep.sha256[k], "label": label_of[k], "split": split[k]}
             for k in sorted(label_of)]
    return {
        "schema": SCHEMA,
        "dataset": prep.dataset,
        "classes": list(prep.classes),
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": 0.0 if has_test else test_fraction,
        "limit_per_class": limit_per_class,
        "counts": {name: dict(sorted(Counter(i["label"] for i in items
                                             if i["split"] == name).items()))
                   for name in SPLITS},
        "items": items,
    }


def write_manifest(manifest: dict[str, Any], path: Path) -> str:
    """Write canonical JSON (stable bytes for a given split) and return its sha256."""
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(path: Path) -> tuple[dict[str, Any], str]:
    """The manifest and the sha256 of its file."""
    try:
        raw = path.read_bytes()
        manifest = json.loads(raw)
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise DataError(f"{path}: not a split manifest (schema {SCHEMA})")
    return manifest, hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Split:
    """One split's images as rows into the cached memmap, with integer labels."""

    name: str
    keys: tuple[str, ...]
    rows: np.ndarray  # int64
    labels: np.ndarray  # int64 indices into the class list

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class SplitData:
    classes: tuple[str, ...]
    images: np.ndarray  # the cached (N, H, W, 3) uint8 memmap
    splits: dict[str, Split]

    def arrays(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images (loaded into memory, in manifest order) and labels of one split."""
        split = self.splits[name]
        return np.asarray(self.images[split.rows]), split.labels


def apply_manifest(prep: Prepared, manifest: dict[str, Any]) -> SplitData:
    """Map the manifest onto the prepared images, checking every file is present and intact."""
    classes = tuple(manifest["classes"])
    missing, changed = [], []
    for item in manifest["items"]:
        have = prep.sha256.get(item["path"])
        if have is None:
            missing.append(item["path"])
        elif have != item["sha256"]:
            changed.append(item["path"])
    if missing or changed:
        detail = "; ".join(
            f"{what}: {', '.join(paths[:5])}{' ...' if len(paths) > 5 else ''}"
            for what, paths in (("missing or unusable", missing), ("changed", changed)) if paths)
        raise DataError(f"the dataset does not match the manifest ({detail})")
    listed = {i["path"] for i in manifest["items"]}
    extra = len(prep.sha256) - len(listed)
    if extra > 0:
        log.warning("%d usable images are not in the manifest and are not used", extra)
    index = {c: i for i, c in enumerate(classes)}
    splits = {}
    for name in SPLITS:
        items = [i for i in manifest["items"] if i["split"] == name]
        splits[name] = Split(
            name,
            tuple(i["path"] for i in items),
            np.array([prep.rows[i["path"]] for i in items], dtype=np.int64),
            np.array([index[i["label"]] for i in items], dtype=np.int64),
        )
    return SplitData(classes, prep.images, splits)
