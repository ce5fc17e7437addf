"""The run directory: what a training run keeps, and how later steps reopen it.

``runs/<name>/`` holds ``config.json`` (the config used), ``manifest.json`` (the split),
``validation.{json,md}`` (the dataset report), ``run.json`` (where the data is, labels,
versions, best score), ``state.json`` + ``checkpoints/`` (for ``--resume``),
``history.json`` + ``curves.png``, ``features/`` (cached backbone features),
``model.weights.h5`` (the final, best-on-validation weights), ``eval/`` and ``export/``.
Caches of decoded images live outside the repository (``~/.cache/waste-sorter`` by default).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.config import Config, resolve_data_path
from training.data import DataError, open_source, prepare, write_report
from training.manifest import (
    SplitData,
    apply_manifest,
    make_manifest,
    read_manifest,
    write_manifest,
)

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$WASTE_SORTER_CACHE`` or ``~/.cache/waste-sorter``: never inside the repository."""
    env = os.environ.get("WASTE_SORTER_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "waste-sorter"


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def info(self) -> Path:
        return self.root / "run.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.weights.h5"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def weights(self) -> Path:
        return self.root / "model.weights.h5"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def export(self) -> Path:
        return self.root / "export"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file + rename) so a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def prepare_split(config: Config, paths: RunPaths, cache_dir: Path, *,
                  data_path: Path | None = None,
                  manifest_path: Path | None = None,
                  write_validation: bool = True) -> tuple[SplitData, dict[str, Any], str]:
    """Validate the dataset, then make (or re-use) the split manifest and map it onto the cache.

    A manifest already in the run directory wins (resume, evaluate, export); else
    ``manifest_path`` is copied in; else a new stratified split is made with the config's seed.
    """
    root = data_path or resolve_data_path(config.data.path)
    source = open_source(root, cache_dir, config.data.name)
    existing = paths.manifest if paths.manifest.is_file() else manifest_path
    manifest = sha = None
    if existing is not None:
        manifest, sha = read_manifest(existing)
        if existing != paths.manifest:
            paths.root.mkdir(parents=True, exist_ok=True)
            paths.manifest.write_bytes(existing.read_bytes())  # same bytes, same sha256
        only: set[str] | None = {item["path"] for item in manifest["items"]}
    else:
        only = None
    d = config.data
    prep = prepare(source, config.input_size, cache_dir, min_side=d.min_side,
                   limit_per_class=d.limit_per_class, seed=d.seed, only=only)
    if write_validation:
        _, md_report = write_report(prep, paths.root)
        skipped = sum(p.reason != "ignored" for p in prep.problems)
        log.info("%s: %d images usable, %d skipped (see %s)", prep.dataset, len(prep.samples),
                 skipped, md_report)
    if manifest is None:
        manifest = make_manifest(prep, val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                                 seed=d.seed, limit_per_class=d.limit_per_class)
        sha = write_manifest(manifest, paths.manifest)
    assert sha is not None
    data = apply_manifest(prep, manifest)
    counts = {name: len(split) for name, split in data.splits.items()}
    log.info("split (manifest sha256 %s…): %s", sha[:12], counts)
    return data, manifest, sha


@dataclass(frozen=True)
class Run:
    """A finished (or running) training run reopened for evaluation, export or comparison."""

    paths: RunPaths
    config: Config
    info: dict[str, Any]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.info["labels"])

    def data(self, cache_dir: Path | None = None, data_path: Path | None = None, *,
             input_size: tuple[int, int] | None = None) -> SplitData:
        """The run's split, decoded at the run's input size or at ``input_size`` (to score a
        model with another input, e.g. a shipped file, on this run's images)."""
        root = data_path or Path(self.info["data"])
        cache = cache_dir or Path(self.info.get("cache_dir") or default_cache_dir())
        config = self.config
        if input_size is not None and tuple(input_size) != tuple(config.input_size):
            config = replace(config, model=replace(config.model, input_size=tuple(input_size)))
        split, _, sha = prepare_split(config, self.paths, cache, data_path=root,
                                      write_validation=False)
        if sha != self.info["manifest_sha256"]:
            raise DataError(f"{self.paths.manifest} changed since training")
        return split

    def model(self) -> Any:
        """The trained Keras model (final weights)."""
        from training.callbacks import load_weights
        from training.models import build_model

        if not self.paths.weights.is_file():
            raise FileNotFoundError(f"{self.paths.weights} not found: has training finished?")
        model = build_model(self.config, len(self.labels), pretrained=False)
        load_weights(model, self.paths.weights)
        return model


def open_run(run_dir: Path) -> Run:
    paths = RunPaths(Path(run_dir))
    if not paths.info.is_file() or not paths.config.is_file():
        raise FileNotFoundError(f"{run_dir}: not a training run directory (no run.json)")
    return Run(paths, Config.load(paths.config), read_json(paths.info))
