"""Dataset discovery, validation and the decoded-image cache.

Sources: a class-per-folder tree (TrashNet, or the app's exported corrected-history dataset:
``<root>/<class>/<image>``; files beside the class folders are ignored), a tarball of such a
tree (extracted once into the cache directory, e.g. the shared CIFAR-10 JPEGs), or the
official CIFAR-10 python batches (see :mod:`training.cifar`).

:func:`prepare` hashes every image (sha256 of its bytes), skips empty files and exact
duplicates, decodes the rest with the app's :func:`app.core.imaging.decode_image`, skips
unreadable and tiny images, and stretches each to the model's input size with the app's
:func:`app.core.imaging.resize_rgb` -- the very pixels the app will feed the model. The
resized ``uint8`` images go to a ``.npy`` memmap in the cache directory keyed by the content,
so later runs and later epochs never decode again. Problems never stop a run: they are
listed in a report (JSON + Markdown) and the images skipped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tarfile
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.core.imaging import IMAGE_SUFFIXES, ImageError, decode_image, resize_rgb
from training import cifar
from training.config import UserError

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when decoding/resizing changes so old caches are not reused


class DataError(UserError, ValueError):
    """A dataset that cannot be trained on (the message says what to fix)."""


@dataclass(frozen=True)
class Sample:
    key: str  # POSIX path relative to the dataset root, or "<batch>/<index>" for CIFAR batches
    label: str
    fixed_split: str | None = None  # "test" for CIFAR's official test batch


@dataclass(frozen=True)
class Problem:
    path: str
    label: str
    reason: str  # empty | unreadable | tiny | duplicate | ignored
    detail: str


class Source(ABC):
    """A dataset: its samples, their content bytes (for hashing) and their decoded pixels."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.ignored: list[Problem] = []

    @abstractmethod
    def samples(self) -> list[Sample]:
        """Every candidate image (sorted later); non-image files go to ``ignored``."""

    @abstractmethod
    def content(self, sample: Sample) -> bytes:
        """The bytes whose sha256 identifies the image (file bytes, or raw pixels)."""

    @abstractmethod
    def decode(self, sample: Sample) -> np.ndarray:
        """``(H, W, 3) uint8`` RGB; raises :class:`ImageError` for an unusable image."""


class FolderSource(Source):
    """``root/<class>/**/<image>``; the class is the top-level folder name."""

    def samples(self) -> list[Sample]:
        out: list[Sample] = []
        for class_dir in sorted(p for p in self.root.iterdir() if _visible_dir(p)):
            for dirpath, dirs, files in os.walk(class_dir):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    rel = (Path(dirpath) / name).relative_to(self.root).as_posix()
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                        out.append(Sample(rel, class_dir.name))
                    else:
                        self.ignored.append(
                            Problem(rel, class_dir.name, "ignored", "not an image file type")
                        )
        return out

    def content(self, sample: Sample) -> bytes:
        return (self.root / sample.key).read_bytes()

    def decode(self, sample: Sample) -> np.ndarray:
        return decode_image(self.root / sample.key)


class CifarSource(Source):
    """The official CIFAR-10 batches; ``test_batch`` keeps its role as the test split."""

    def __init__(self, name: str, root: Path) -> None:
        super().__init__(name, root)
        try:
            self._data = cifar.load_official(root)
        except (ValueError, tarfile.TarError) as exc:  # incl. a refused (unsafe) pickle
            raise DataError(f"{root}: not a usable CIFAR-10 python dataset ({exc})") from None
        self._arrays = {b.name: b for b in self._data.batches}

    def samples(self) -> list[Sample]:
        labels = self._data.labels
        return [
            Sample(f"{b.name}/{i:05d}", labels[int(y)],
                   "test" if b.name == cifar.TEST_BATCH else None)
            for b in self._data.batches
            for i, y in enumerate(b.labels)
        ]

    def _array(self, sample: Sample) -> np.ndarray:
        batch, index = sample.key.split("/")
        return self._arrays[batch].images[int(index)]

    def content(self, sample: Sample) -> bytes:
        return self._array(sample).tobytes()

    def decode(self, sample: Sample) -> np.ndarray:
        return self._array(sample)


def _visible_dir(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")


def find_class_root(path: Path) -> Path:
    """Walk down single-folder chains (``cifar10/train/<class>``) to the class folders."""
    current = path
    while True:
        subdirs = [p for p in current.iterdir() if _visible_dir(p)]
        has_images = any(
            p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in current.iterdir()
        )
        if len(subdirs) == 1 and not has_images:
            current = subdirs[0]
            continue
        if len(subdirs) < 2:
            raise DataError(f"{path}: expected one folder per class (at least two) inside")
        return current


def open_source(path: Path, cache_dir: Path, name: str = "") -> Source:
    """Recognise what ``path`` holds and return the matching :class:`Source`."""
    if not path.exists():
        raise DataError(f"dataset not found: {path}")
    default_name = path.name.split(".")[0]
    if path.is_file():
        if cifar.is_official_archive(path):
            return CifarSource(name or "cifar10", path)
        try:
            extracted = cifar.extract_archive(path, cache_dir)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        return FolderSource(name or default_name, find_class_root(extracted))
    if cifar.find_batch_dir(path) is not None:
        return CifarSource(name or "cifar10", path)
    return FolderSource(name or default_name, find_class_root(path))


@dataclass
class Prepared:
    """Usable images (decoded, resized, cached) and what was skipped."""

    dataset: str
    root: Path
    classes: tuple[str, ...]
    samples: list[Sample]  # usable ones, sorted by key
    sha256: dict[str, str]  # key -> sha256 of its bytes
    rows: dict[str, int]  # key -> row in ``images``
    images: np.ndarray  # (N, H, W, 3) uint8 memmap
    problems: list[Problem] = field(default_factory=list)
    total: int = 0


def _limit(samples: list[Sample], limit: int | None, seed: int) -> list[Sample]:
    if limit is None:
        return samples
    by_class: dict[str, list[Sample]] = {}
    for s in samples:
        by_class.setdefault(s.label, []).append(s)
    rng = random.Random(seed)
    kept = [s for group in by_class.values() for s in rng.sample(group, min(limit, len(group)))]
    return sorted(kept, key=lambda s: s.key)


def _hash_all(source: Source, samples: list[Sample]) -> tuple[dict[str, str], list[Problem]]:
    """sha256 of every sample; empty files and exact duplicates become problems."""
    hashes: dict[str, str] = {}
    first: dict[str, Sample] = {}
    problems: list[Problem] = []
    for s in tqdm(samples, desc="hashing", unit="img", leave=False, mininterval=1.0):
        try:
            raw = source.content(s)
        except OSError as exc:
            problems.append(Problem(s.key, s.label, "unreadable", exc.strerror or str(exc)))
            continue
        if not raw:
            problems.append(Problem(s.key, s.label, "empty", "file has no bytes"))
            continue
        digest = hashlib.sha256(raw).hexdigest()
        if digest in first:
            other = first[digest]
            note = "" if other.label == s.label else f" (labelled {other.label!r} there)"
            problems.append(
                Problem(s.key, s.label, "duplicate", f"same bytes as {other.key}{note}"))
            continue
        first[digest] = s
        hashes[s.key] = digest
    return hashes, problems


def prepare(
    source: Source,
    size: tuple[int, int],
    cache_dir: Path,
    *,
    min_side: int = 16,
    limit_per_class: int | None = None,
    seed: int = 42,
    only: set[str] | None = None,
) -> Prepared:
    """Validate every image and cache the usable ones resized to ``size`` (height, width).

    ``only`` restricts the work to the files a manifest lists (instead of ``limit_per_class``).
    """
    samples = sorted(source.samples(), key=lambda s: s.key)
    if only is not None:
        samples = [s for s in samples if s.key in only]
    else:
        samples = _limit(samples, limit_per_class, seed)
    hashes, problems = _hash_all(source, samples)
    candidates = [s for s in samples if s.key in hashes]
    found = _find_cache(cache_dir / "arrays", candidates, hashes, size, min_side)
    if found is None:
        found = _decode_to_cache(source, candidates, hashes, size, min_side, cache_dir / "arrays")
    npy, rows, decode_problems = found
    images = np.load(npy, mmap_mode="r")
    usable = [s for s in candidates if s.key in rows]
    problems = sorted([*source.ignored, *problems, *decode_problems], key=lambda p: p.path)
    classes = tuple(sorted({s.label for s in samples}))
    return Prepared(source.name, source.root, classes, usable,
                    {s.key: hashes[s.key] for s in usable}, rows, images, problems, len(samples))


def _cache_meta(size: tuple[int, int], min_side: int) -> dict[str, object]:
    return {"v": CACHE_VERSION, "size": list(size), "min_side": min_side}


def _find_cache(folder: Path, candidates: list[Sample], hashes: dict[str, str],
                size: tuple[int, int], min_side: int,
                ) -> tuple[Path, dict[str, int], list[Problem]] | None:
    """A complete cache holding every candidate with the same bytes (it may hold more:
    evaluating a run re-opens exactly the manifest's files, a subset of what training saw)."""
    if not folder.is_dir():
        return None
    meta = _cache_meta(size, min_side)
    wanted = {s.key: hashes[s.key] for s in candidates}
    for index in sorted(folder.glob("*.json")):
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        npy = index.with_suffix(".npy")
        if {k: data.get(k) for k in meta} != meta or not npy.is_file():
            continue
        rows = {k: r for k, sha, r in data["items"] if wanted.get(k) == sha}
        bad = {p["path"]: p for p in data["problems"] if wanted.get(p["path"]) == p["sha256"]}
        if len(rows) + len(bad) == len(wanted):
            log.info("using cached images %s", npy)
            return npy, rows, [Problem(**{k: v for k, v in p.items() if k != "sha256"})
                               for p in bad.values()]
    return None


def _decode_to_cache(source: Source, candidates: list[Sample], hashes: dict[str, str],
                     size: tuple[int, int], min_side: int,
                     folder: Path) -> tuple[Path, dict[str, int], list[Problem]]:
    """Decode + resize into a new memmap; its index JSON, written last, marks it complete."""
    height, width = size
    listing = json.dumps([[s.key, hashes[s.key]] for s in candidates])
    name = hashlib.sha256(f"{_cache_meta(size, min_side)}{listing}".encode()).hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True)
    npy, index = folder / f"{name}.npy", folder / f"{name}.json"
    tmp = npy.with_name(f"{name}.partial-{os.getpid()}.npy")  # two runs may race
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                    shape=(len(candidates), height, width, 3))

    def work(sample: Sample) -> np.ndarray | Problem:
        try:
            rgb = source.decode(sample)
        except ImageError as exc:
            return Problem(sample.key, sample.label, "unreadable", str(exc))
        if min(rgb.shape[:2]) < min_side:
            return Problem(sample.key, sample.label, "tiny",
                           f"{rgb.shape[1]}x{rgb.shape[0]} px, under {min_side} px")
        return resize_rgb(rgb, width, height)

    problems: list[Problem] = []
    rows: dict[str, int] = {}
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(work, candidates)
        for row, (sample, result) in enumerate(tqdm(zip(candidates, results, strict=True),
                                                    total=len(candidates), desc="decoding",
                                                    unit="img", mininterval=1.0)):
            if isinstance(result, Problem):
                problems.append(result)
            else:
                out[row] = result
                rows[sample.key] = row
    out.flush()
    del out
    tmp.replace(npy)
    items = [[k, hashes[k], r] for k, r in rows.items()]
    tmp_index = index.with_name(index.name + ".tmp")
    tmp_index.write_text(json.dumps({**_cache_meta(size, min_side), "items": items,
                                     "problems": [asdict(p) | {"sha256": hashes[p.path]}
                                                  for p in problems]}),
                         encoding="utf-8")
    tmp_index.replace(index)
    return npy, rows, problems


# --------------------------------------------------------------------------- report


def write_report(prep: Prepared, out_dir: Path) -> tuple[Path, Path]:
    """``validation.json`` and ``validation.md``: counts per class and every skipped file."""
    per_class = dict.fromkeys(prep.classes, 0)
    for s in prep.samples:
        per_class[s.label] += 1
    skipped = [asdict(p) for p in prep.problems]
    data = {"dataset": prep.dataset, "root": str(prep.root), "files": prep.total,
            "usable": len(prep.samples), "per_class": per_class, "skipped": skipped}
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "validation.json", out_dir / "validation.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Dataset validation: {prep.dataset}", "",
             f"Source `{prep.root}`: {prep.total} image files, {len(prep.samples)} usable, "
             f"{sum(p.reason != 'ignored' for p in prep.problems)} skipped.", "",
             "| class | usable |", "|---|---|"]
    lines += [f"| {c} | {n} |" for c, n in per_class.items()]
    if prep.problems:
        lines += ["", "## Skipped", "", "| file | class | reason | detail |", "|---|---|---|---|"]
        lines += [f"| `{p.path}` | {p.label} | {p.reason} | {p.detail.replace('|', '/')} |"
                  for p in prep.problems]
    md_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return json_path, md_path
