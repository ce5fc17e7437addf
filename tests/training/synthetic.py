"""Synthetic datasets and tiny configs for the training tests (no shared data needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 50, 220)}
PER_CLASS = 20
SIDE = 32


def colour_image(rgb: tuple[int, int, int], seed: int, side: int = SIDE) -> np.ndarray:
    """A noisy solid colour with a random grey shape on it: trivially separable by colour."""
    rng = np.random.default_rng(seed)
    base = np.clip(np.array(rgb) + rng.integers(-25, 26, size=3), 0, 255)
    img = Image.fromarray(np.full((side, side, 3), base, np.uint8))
    draw = ImageDraw.Draw(img)
    x0, y0 = rng.integers(0, side // 2, size=2)
    grey = int(rng.integers(90, 170))
    draw.ellipse([int(x0), int(y0), int(x0) + side // 3, int(y0) + side // 3], fill=(grey,) * 3)
    arr = np.asarray(img, np.int16) + rng.integers(-8, 9, size=(side, side, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def make_colour_dataset(root: Path, per_class: int = PER_CLASS) -> dict[str, list[str]]:
    """``root/<colour>/NNN.png`` plus one corrupt, one empty, one tiny, one duplicate and one
    non-image file; returns the relative paths of the bad files by expected reason."""
    seed = 0
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            seed += 1
            Image.fromarray(colour_image(rgb, seed)).save(root / name / f"{i:03d}.png")
    (root / "red" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20)
    (root / "green" / "empty.png").write_bytes(b"")
    Image.fromarray(colour_image(COLOURS["blue"], 999, side=8)).save(root / "blue" / "tiny.png")
    (root / "blue" / "copy.png").write_bytes((root / "blue" / "000.png").read_bytes())
    (root / "red" / "notes.txt").write_text("not an image")
    (root / "README.txt").write_text("top-level files are not classes")
    return {"unreadable": ["red/corrupt.jpg"], "empty": ["green/empty.png"],
            "tiny": ["blue/tiny.png"], "duplicate": ["blue/copy.png"],
            "ignored": ["red/notes.txt"]}


def tiny_config(name: str, **overrides: Any) -> dict[str, Any]:
    """The plain-CNN baseline at 32x32, sized to learn the colour task in a few seconds."""
    config: dict[str, Any] = {
        "name": name,
        "display_name": "Colours (test)",
        "data": {"name": "colours", "val_fraction": 0.2, "test_fraction": 0.2, "seed": 3},
        "model": {"architecture": "plain_cnn", "input_size": [32, 32], "cnn_filters": [8, 16],
                  "cnn_dense": 16, "cnn_pooling": "avg", "dropout": 0.1},
        "augment": {"flip": True, "brightness": 0.05},
        "train": {"batch_size": 8, "eval_batch_size": 32, "phase1_cached_features": False,
                  "imbalance": "class_weights", "label_smoothing": 0.05, "seed": 7},
        "phase1": {"epochs": 8, "optimizer": "adamw", "learning_rate": 0.01, "patience": 8},
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config), encoding="utf-8")
    return path
