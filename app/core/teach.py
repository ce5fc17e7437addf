"""Teaching a station: examples in, a new user model out (no TensorFlow; NumPy and ONNX).

:func:`teach` takes :class:`Example` s (from class-per-folder image folders,
:func:`folder_examples`, and/or the station's corrected and confirmed history records,
:func:`history_examples`), computes each image's teaching features with the base model
(cached per base file and image content, :class:`FeatureCache`, so teaching again after a few
more corrections only embeds the new images), picks the head's settings by cross-validation
(:mod:`app.core.teach_head`), fits it on all examples and writes
``<data dir>/models/<name>-v<N>.onnx`` (:mod:`app.core.teach_graph`): a normal user model,
listed by ``models`` and the GUI, usable as ``classify --model <name>`` (the newest version),
copyable to another station. It becomes the station's model only when promoted
(:mod:`app.core.station_model`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from app.core import teach_head
from app.core.classifier import Classifier, FloatArray
from app.core.imaging import RGBArray, decode_image, iter_image_files
from app.core.model_info import ModelError, ModelInfo
from app.core.paths import display_path
from app.core.teach_graph import base_outputs, write_taught_model

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,39}$")
LABEL_MAX = 40
MIN_PER_CLASS = 3
MAX_PER_CLASS = 300  # newest first from history: bounds time and memory
MAX_FILE_BYTES = 50 * 1024 * 1024
FOLDS = 5

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class TeachError(Exception):
    """Teaching cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Example:
    label: str
    source: str  # shown to the user: a path or "history record 12"
    key: str  # sha256 of the image bytes (the feature cache key)
    data: bytes | None = None  # the encoded image, when it is not read from ``path``
    path: Path | None = None

    def image(self) -> RGBArray:
        return decode_image(self.data if self.data is not None else self.path or Path())


@dataclass
class Gathered:
    examples: list[Example] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each: what was skipped, why


def clean_label(text: str) -> str | None:
    """A class name as stored: trimmed, inner spaces as ``_``; None if unusable."""
    label = re.sub(r"\s+", "_", text.strip())
    if not label or len(label) > LABEL_MAX or not label.isprintable():
        return None
    return label


def folder_examples(folders: Iterable[Path]) -> Gathered:
    """Images from class-per-folder examples: each subfolder of a folder is a class (a folder
    holding images directly is one class, its own name)."""
    out = Gathered()
    for folder in folders:
        if not folder.is_dir():
            out.problems.append(f"{display_path(folder)}: not a folder")
            continue
        classes = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.name)
        pairs = [(c, c.name) for c in classes] or [(folder, folder.resolve().name)]
        for where, name in pairs:
            label = clean_label(name)
            if label is None:
                out.problems.append(f"{display_path(where)}: not a usable class name")
                continue

            def on_error(path: Path, message: str) -> None:
                out.problems.append(f"{display_path(path)}: {message}")

            for path in iter_image_files([where], on_error):
                try:
                    if path.stat().st_size > MAX_FILE_BYTES:
                        raise OSError("file is larger than 50 MB")
                    data = path.read_bytes()
                except OSError as exc:
                    out.problems.append(f"{display_path(path)}: {exc.strerror or exc}")
                    continue
                key = hashlib.sha256(data).hexdigest()
                out.examples.append(Example(label, display_path(path), key, None, path))
    return out


def history_examples(store: Any) -> Gathered:
    """The station's corrected and confirmed records that kept an image (a training crop,
    else the thumbnail), at most :data:`MAX_PER_CLASS` per class, newest first."""
    out = Gathered()
    per_class: Counter[str] = Counter()
    skipped = 0
    for record_id, label, image in store.teaching_images():
        clean = clean_label(label)
        if clean is None or per_class[clean] >= MAX_PER_CLASS:
            continue
        if image is None:
            skipped += 1
            continue
        per_class[clean] += 1
        key = hashlib.sha256(image).hexdigest()
        out.examples.append(Example(clean, f"history record {record_id}", key, image))
    if skipped:
        out.problems.append(
            f"{skipped} corrected or confirmed records kept no image (the privacy setting "
            "was 'nothing'); they cannot teach"
        )
    return out


class FeatureCache:
    """Teaching features and the base model's own probabilities per image, for one base file.

    One ``.npz`` (no pickle) per base-file digest in ``folder``; written atomically.
    """

    def __init__(self, folder: Path, base_digest: str) -> None:
        self.path = folder / f"{base_digest[:32]}.npz"
        self._rows: dict[str, tuple[FloatArray, FloatArray]] = {}
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, feats, probs = data["keys"], data["features"], data["probabilities"]
                for i, key in enumerate(keys):
                    self._rows[str(key)] = (feats[i], probs[i])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
            # BadZipFile: a truncated or damaged .npz (it is a zip), e.g. a half-copied folder
            self._rows = {}
            log.warning("teaching cache %s unreadable (%s); starting afresh", self.path, exc)

    def get(self, key: str) -> tuple[FloatArray, FloatArray] | None:
        return self._rows.get(key)

    def put(self, key: str, features: FloatArray, probabilities: FloatArray) -> None:
        self._rows[key] = (features, probabilities)

    def save(self) -> None:
        if not self._rows:
            return
        keys = sorted(self._rows)
        if len({(self._rows[k][0].shape, self._rows[k][1].shape) for k in keys}) != 1:
            log.warning("teaching cache %s has rows of different sizes; not saved", self.path)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.stem + ".tmp.npz")
        try:
            np.savez(tmp, keys=np.asarray(keys),
                     features=np.stack([self._rows[k][0] for k in keys]),
                     probabilities=np.stack([self._rows[k][1] for k in keys]))
            tmp.replace(self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning("could not save the teaching cache (%s); teaching still worked", exc)


@dataclass(frozen=True)
class TeachResult:
    model_id: str
    path: Path
    name: str
    version: int
    classes: tuple[str, ...]
    examples: dict[str, int]
    new_classes: tuple[str, ...]  # not among the base model's labels
    accuracy: float  # cross-validated on the examples
    per_class: dict[str, float]
    base_id: str
    base_accuracy: float  # the base model's own answers on the same examples
    unsure_threshold: float
    cached: int  # examples whose features came from the cache
    seconds: float
    problems: tuple[str, ...]
    report: Path

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model_id, "path": str(self.path), "name": self.name,
            "version": self.version, "classes": list(self.classes), "examples": self.examples,
            "new_classes": list(self.new_classes), "accuracy": round(self.accuracy, 4),
            "per_class": {k: round(v, 4) for k, v in self.per_class.items()},
            "base_model": self.base_id, "base_accuracy": round(self.base_accuracy, 4),
            "unsure_threshold": self.unsure_threshold, "cached": self.cached,
            "seconds": round(self.seconds, 1), "problems": list(self.problems),
        }


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def next_version(models_dir: Path, name: str) -> int:
    pattern = re.compile(rf"^{re.escape(name)}-v(\d+)\.onnx$", re.IGNORECASE)
    found = [int(m.group(1)) for p in models_dir.glob("*.onnx") if (m := pattern.match(p.name))]
    return max(found, default=0) + 1


def check_name(name: str, taken: Iterable[str]) -> None:
    if not NAME_PATTERN.match(name):
        raise TeachError(
            f"'{name}' cannot name a model: use 1 to 40 letters, digits or _, starting with a "
            "letter or digit"
        )
    if name.lower() in {t.lower() for t in taken}:
        raise TeachError(f"'{name}' is the name of a shipped model; choose another")


def base_block_width(base: Classifier) -> int:
    """How many base-probability columns end each teaching-feature row."""
    _, probabilities = base_outputs(base.info, base.output_names())
    width = base.output_shapes().get(probabilities, [None])[-1]
    if not isinstance(width, int) or width <= 0:
        raise TeachError(f"model '{base.info.id}' does not declare its class count in the graph")
    return width


def features_for(
    base: Classifier, examples: Sequence[Example], cache: FeatureCache,
    progress: Progress | None = None, problems: list[str] | None = None,
) -> tuple[list[int], FloatArray, FloatArray, int]:
    """(indices of usable examples, teaching features, base probabilities, cached count)."""
    embedding, probabilities = base_outputs(base.info, base.output_names())
    names = [embedding, probabilities]
    own = base.output_names()[0]
    if own != probabilities:
        names.append(own)
    rows: dict[int, tuple[FloatArray, FloatArray]] = {}
    cached = 0
    todo: list[int] = []
    for i, ex in enumerate(examples):
        hit = cache.get(ex.key)
        if hit is not None:
            rows[i] = hit
            cached += 1
        else:
            todo.append(i)
    total = len(todo)
    for start in range(0, total, 16):
        chunk, images = [], []
        for i in todo[start:start + 16]:
            try:
                images.append(examples[i].image())
                chunk.append(i)
            except Exception as exc:  # decode errors of every kind: one line, go on
                if problems is not None:
                    problems.append(f"{examples[i].source}: {exc}")
        if images:
            outs = base.run_outputs(images, names)
            feats = teach_head.teaching_features(outs[0], outs[1])
            mine = outs[2] if len(outs) > 2 else outs[1]
            for j, i in enumerate(chunk):
                if not (np.all(np.isfinite(feats[j])) and np.all(np.isfinite(mine[j]))):
                    if problems is not None:
                        problems.append(f"{examples[i].source}: the model produced NaN")
                    continue
                rows[i] = (feats[j], mine[j])
                cache.put(examples[i].key, feats[j], mine[j])
        if progress is not None:
            progress("embedding", min(start + 16, total), total)
    order = sorted(rows)
    if not order:
        return [], np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), cached
    return (order, np.stack([rows[i][0] for i in order]),
            np.stack([rows[i][1] for i in order]), cached)


def teach(
    *, name: str, base: Classifier, examples: Sequence[Example], models_dir: Path,
    cache_dir: Path, reports_dir: Path, reserved: Iterable[str] = (),
    problems: Sequence[str] = (), progress: Progress | None = None,
) -> TeachResult:
    """Fit and write a taught model; raise :class:`TeachError` when it cannot be done."""
    began = time.perf_counter()
    check_name(name, reserved)
    try:
        base_outputs(base.info, base.output_names())  # a clear error before any work
    except ValueError as exc:  # no embedding, or not probabilities: a usage error, not a crash
        raise TeachError(str(exc)) from None
    issues = list(problems)
    digest = file_digest(base.path)
    cache = FeatureCache(cache_dir, digest)
    kept, feats, own_probs, cached = features_for(base, examples, cache, progress, issues)
    cache.save()
    used = [examples[i] for i in kept]
    counts = Counter(ex.label for ex in used)
    thin = sorted(label for label, n in counts.items() if n < MIN_PER_CLASS)
    if thin:
        raise TeachError(
            f"too few examples for {', '.join(thin)}: each class needs at least "
            f"{MIN_PER_CLASS} (20 or more teach well)"
        )
    if len(counts) < 2:
        raise TeachError("teaching needs examples of at least two classes")
    classes = tuple(sorted(counts))
    labels = np.asarray([classes.index(ex.label) for ex in used], np.int64)
    base_dims = base_block_width(base)
    own_labels = base.info.labels
    folds = min(FOLDS, min(counts.values()))
    if progress is not None:
        progress("fitting", 0, 1)
    # One BLAS thread: the matrices are small, and with another busy process on a 2-core
    # station two OpenBLAS threads made fitting 6 to 14 times slower (bench/teach_bench.py).
    with threadpool_limits(limits=1, user_api="blas"):
        chosen = teach_head.select(feats, labels, len(classes), base_dims=base_dims, k=folds)
        head = teach_head.fit(feats, labels, len(classes), base_dims=base_dims,
                              base_weight=chosen.base_weight, c=chosen.c)
    if progress is not None:
        progress("fitting", 1, 1)
    predicted = chosen.probabilities.argmax(axis=1)
    per_class = {c: float((predicted[labels == i] == i).mean()) for i, c in enumerate(classes)}
    base_answers = [own_labels[j] for j in own_probs.argmax(axis=1)]
    base_acc = float(np.mean([a == ex.label for a, ex in zip(base_answers, used, strict=True)]))
    threshold = teach_head.unsure_threshold(chosen.probabilities, labels)
    version = next_version(models_dir, name)
    model_id = f"{name}-v{version}"
    dest = models_dir / f"{model_id}.onnx"
    new_classes = tuple(c for c in classes if c not in own_labels)
    info = ModelInfo(
        id=model_id,
        name=f"{name} (taught at this station, version {version})",
        version=str(version),
        labels=classes,
        input=base.info.input,
        output="probabilities",
        training={
            "dataset": "station examples",
            "taught": {
                "name": name, "version": version,
                "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "base": {"id": base.info.id, "version": base.info.version, "sha256": digest},
                "examples": dict(sorted(counts.items())), "new_classes": list(new_classes),
                "head": {"kind": "softmax regression on embedding + log base probabilities",
                         "base_weight": chosen.base_weight, "c": chosen.c},
            },
        },
        metrics={"cross_validation": {"folds": folds, "accuracy": round(chosen.accuracy, 4),
                                      "base_accuracy": round(base_acc, 4)}},
        embedding=base.info.embedding,
        novelty=None,
        unsure_threshold=threshold,
    )
    try:
        write_taught_model(base.path, info, head, dest)
    except OSError as exc:
        raise TeachError(f"could not write {dest} ({exc.strerror or exc})") from None
    _check_written(dest, head, used[:4], feats[:4])
    result = TeachResult(
        model_id=model_id, path=dest, name=name, version=version, classes=classes,
        examples=dict(sorted(counts.items())), new_classes=new_classes,
        accuracy=chosen.accuracy, per_class=per_class, base_id=base.info.id,
        base_accuracy=base_acc, unsure_threshold=threshold, cached=cached,
        seconds=time.perf_counter() - began, problems=tuple(issues),
        report=reports_dir / f"{model_id}.json",
    )
    _write_report(result)
    return result


def _check_written(dest: Path, head: teach_head.Head, examples: Sequence[Example],
                   feats: FloatArray) -> None:
    """The written file must give the head's probabilities on a few of its examples."""
    try:
        model = Classifier(dest)
        got = model.run_outputs([ex.image() for ex in examples], ["probabilities"])[0]
    except (ModelError, OSError, ValueError) as exc:
        dest.unlink(missing_ok=True)
        raise TeachError(f"the taught model failed its check and was removed ({exc})") from None
    want = head.probabilities(feats)
    if got.shape != want.shape or float(np.abs(got - want).max()) > 2e-3:
        dest.unlink(missing_ok=True)
        raise TeachError("the taught model does not reproduce its head; it was removed")


def _write_report(result: TeachResult) -> None:
    try:
        result.report.parent.mkdir(parents=True, exist_ok=True)
        result.report.write_text(json.dumps(result.summary(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        log.warning("could not write the teaching report %s (%s)", result.report, exc)
