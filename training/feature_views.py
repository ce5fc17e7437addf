"""Frozen-backbone features of every image, under several views, cached on disk.

The real-world waste model is a head on frozen ImageNet features (see ``training/README.md``,
"Real-world waste model"): on two CPU cores a backbone forward pass is the whole cost, so it
runs once per (image, view) and every later step (fitting heads, leave-one-source-out and
leave-one-class-out runs, calibration, novelty detection) takes seconds on the cache.

View 0 is the image as the app sees it, view 1 its mirror, views 2.. station augmentations
(:mod:`training.station_augment`). Each (backbone, view) is one ``float16`` ``.npy`` of shape
``(N, D)`` in the folder, rows in the order of ``keys.json``; a file is written under a
temporary name and renamed when complete, so an interrupted run resumes at the missing views.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.data import Prepared

log = logging.getLogger(__name__)

FLIP_VIEW = 1


@dataclass(frozen=True)
class ViewCache:
    folder: Path
    keys: tuple[str, ...]

    def path(self, backbone: str, view: int) -> Path:
        return self.folder / f"{backbone}_v{view}.npy"

    def has(self, backbone: str, view: int) -> bool:
        return self.path(backbone, view).is_file()

    def load(self, backbone: str, view: int) -> np.ndarray:
        return np.load(self.path(backbone, view), mmap_mode="r")

    def views(self, backbone: str) -> list[int]:
        found = [int(p.stem.rsplit("_v", 1)[1]) for p in self.folder.glob(f"{backbone}_v*.npy")]
        return sorted(found)


def open_cache(folder: Path, prep: Prepared) -> ViewCache:
    """The cache for ``prep``'s usable images; a folder made for other images is refused."""
    keys = tuple(s.key for s in prep.samples)
    digest = hashlib.sha256(json.dumps([[k, prep.sha256[k]] for k in keys]).encode()).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    index = folder / "keys.json"
    if index.is_file():
        data = json.loads(index.read_text(encoding="utf-8"))
        if data.get("sha256") != digest:
            raise ValueError(f"{folder} holds features of other images; use another folder")
    else:
        index.write_text(json.dumps({"sha256": digest, "keys": list(keys)}), encoding="utf-8")
    return ViewCache(folder, keys)


def compute(cache: ViewCache, prep: Prepared, backbone: str, views: list[int], *,
            batch_size: int = 64, seed: int = 0,
            weights: str | None = "default", member: Path | None = None) -> dict[int, float]:
    """Fill in the missing views of ``backbone``; returns seconds per computed view.

    ``member``: ``backbone`` is the alias of an exported model whose pooled features are
    used (:mod:`training.onnx_member`), run with ONNX Runtime.
    """
    from training.backbones import build_backbone
    from training.station_augment import StationAugment

    todo = [v for v in views if not cache.has(backbone, v)]
    if not todo:
        return {}
    height, width = prep.images.shape[1:3]
    if member is not None:
        from training.onnx_member import MemberFeatures

        extractor = MemberFeatures(member)
        dim = extractor.dim

        def forward(x: np.ndarray) -> np.ndarray:
            return extractor(x)
    else:
        if weights is None:  # untrained (tests): the same numbers at export time
            import keras

            keras.utils.set_random_seed(0)
        model = build_backbone(backbone, input_shape=(height, width, 3), weights=weights)
        dim = int(model.output_shape[-1])

        def forward(x: np.ndarray) -> np.ndarray:
            return np.asarray(model.predict_on_batch(x))
    rows = np.array([prep.rows[k] for k in cache.keys])
    pool_rows = np.random.default_rng(seed).choice(rows, size=min(512, len(rows)), replace=False)
    augment = StationAugment(np.asarray(prep.images[np.sort(pool_rows)]), seed=seed)
    times: dict[int, float] = {}
    for view in todo:
        began = time.perf_counter()
        out = np.zeros((len(rows), dim), dtype=np.float16)
        for start in tqdm(range(0, len(rows), batch_size), desc=f"{backbone} view {view}",
                          unit="batch", mininterval=5.0):
            index = rows[start: start + batch_size]
            batch = np.asarray(prep.images[index])
            if view == FLIP_VIEW:
                x = batch[:, :, ::-1].astype(np.float32)
            elif view > FLIP_VIEW:
                seeds = [hash_seed(seed, view, int(r)) for r in index]
                x = augment(batch, seeds)
            else:
                x = batch.astype(np.float32)
            out[start: start + len(index)] = forward(x)
        target = cache.path(backbone, view)
        tmp = target.with_name(f"{target.stem}.partial-{os.getpid()}.npy")
        np.save(tmp, out)
        tmp.replace(target)
        times[view] = time.perf_counter() - began
        log.info("%s view %d: %.0f s", backbone, view, times[view])
    return times


def hash_seed(*parts: int) -> int:
    digest = hashlib.sha256(",".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")
