"""The self-description every model carries in its ONNX metadata.

The training exporter writes it with :meth:`ModelInfo.to_metadata`; the app reads it with
:meth:`ModelInfo.from_onnx_metadata` when a session opens. One schema, one module.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

METADATA_KEY = "waste_sorter"
SCHEMA_VERSION = 2  # 2 added the optional embedding, novelty and unsure_threshold entries
SUPPORTED_SCHEMAS = (1, 2)
LAYOUTS = ("NHWC", "NCHW")
COLORS = ("RGB", "BGR")
PREPROCESSING = ("in_graph", "external")
OUTPUTS = ("probabilities", "logits")
# Input pixels a model may declare (2048 x 2048): one image is then 48 MB of float32, and the
# graph's activations scale with it; a 4096 x 4096 input took 6.4 GB in a batch of 32.
MAX_INPUT_PIXELS = 2048 * 2048


class ModelError(Exception):
    """A model file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class InputSpec:
    height: int
    width: int
    layout: str = "NHWC"
    color: str = "RGB"
    dtype: str = "float32"
    preprocessing: str = "in_graph"
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: str = "stretch"


@dataclass(frozen=True)
class ModelInfo:
    id: str
    name: str
    version: str
    labels: tuple[str, ...]
    input: InputSpec
    output: str = "probabilities"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    # Optional (schema 2): a second output with pooled features {"output", "dim", ...}; a
    # third with a novelty score {"output", "threshold", ...} (above it: unlike every class);
    # and the confidence threshold chosen for this model from its risk/coverage curve.
    embedding: dict[str, Any] | None = None
    novelty: dict[str, Any] | None = None
    unsure_threshold: float | None = None
    source: Path | None = None

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("source")
        data["schema"] = SCHEMA_VERSION
        return json.dumps(data, sort_keys=True)

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` entries an exporter writes into the ONNX file."""
        return {METADATA_KEY: self.to_json()}

    @classmethod
    def from_onnx_metadata(cls, metadata: dict[str, str], source: Path) -> ModelInfo:
        """Parse and validate; raise :class:`ModelError` naming ``source`` on any problem."""
        raw = metadata.get(METADATA_KEY)
        if raw is None:
            raise ModelError(
                f"{source.name}: not a Waste Sorter model (no '{METADATA_KEY}' metadata)"
            )
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{source.name}: model metadata is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{source.name}: model metadata must be a JSON object")
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: Path) -> ModelInfo:
        def fail(problem: str) -> ModelError:
            return ModelError(f"{source.name}: {problem}")

        schema = data.get("schema", 1)
        if schema not in SUPPORTED_SCHEMAS:
            raise fail(
                f"metadata schema {schema!r} is not supported (expected one of "
                f"{', '.join(map(str, SUPPORTED_SCHEMAS))})"
            )
        for key in ("id", "version", "labels", "input"):
            if key not in data:
                raise fail(f"metadata has no '{key}'")
        labels = data["labels"]
        if (
            not isinstance(labels, list)
            or len(labels) < 2
            or not all(isinstance(x, str) and x for x in labels)
        ):
            raise fail("'labels' must be a list of at least two non-empty strings")
        if len(set(labels)) != len(labels):
            raise fail("'labels' contains duplicates")
        spec = data["input"]
        if not isinstance(spec, dict):
            raise fail("'input' must be an object")
        try:
            inp = InputSpec(
                height=int(spec["height"]),
                width=int(spec["width"]),
                layout=str(spec.get("layout", "NHWC")),
                color=str(spec.get("color", "RGB")),
                dtype=str(spec.get("dtype", "float32")),
                preprocessing=str(spec.get("preprocessing", "in_graph")),
                scale=float(spec.get("scale", 1.0)),
                mean=_triple(spec.get("mean", (0.0, 0.0, 0.0))),
                std=_triple(spec.get("std", (1.0, 1.0, 1.0))),
                resize=str(spec.get("resize", "stretch")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise fail(f"'input' is malformed ({exc})") from None
        if not (8 <= inp.height <= 4096 and 8 <= inp.width <= 4096):
            raise fail(f"input size {inp.height}x{inp.width} is out of range")
        if inp.height * inp.width > MAX_INPUT_PIXELS:
            raise fail(
                f"input size {inp.height}x{inp.width} is too large (at most "
                f"{MAX_INPUT_PIXELS:,} pixels, such as 2048x2048)"
            )
        if inp.layout not in LAYOUTS:
            raise fail(f"input layout {inp.layout!r} is not one of {LAYOUTS}")
        if inp.color not in COLORS:
            raise fail(f"input colour order {inp.color!r} is not one of {COLORS}")
        if inp.preprocessing not in PREPROCESSING:
            raise fail(f"input preprocessing {inp.preprocessing!r} is not one of {PREPROCESSING}")
        if inp.dtype != "float32":
            raise fail(f"input dtype {inp.dtype!r} is not supported (float32 only)")
        if inp.resize != "stretch":
            raise fail(f"resize mode {inp.resize!r} is not supported")
        if any(s == 0 for s in inp.std):
            raise fail("input std must not contain zero")
        output = str(data.get("output", "probabilities"))
        if output not in OUTPUTS:
            raise fail(f"output {output!r} is not one of {OUTPUTS}")
        embedding = _optional_output(data.get("embedding"), "embedding", fail)
        novelty = _optional_output(data.get("novelty"), "novelty", fail)
        if novelty is not None:
            threshold = novelty.get("threshold")
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, int | float)
                or not math.isfinite(threshold)
            ):
                raise fail("'novelty.threshold' must be a finite number")
        unsure = data.get("unsure_threshold")
        if unsure is not None and (
            isinstance(unsure, bool)
            or not isinstance(unsure, int | float)
            or not 0.0 <= float(unsure) <= 1.0
        ):
            raise fail("'unsure_threshold' must be a number between 0 and 1")
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", data["id"])),
            version=str(data["version"]),
            labels=tuple(labels),
            input=inp,
            output=output,
            training=dict(data.get("training") or {}),
            metrics=dict(data.get("metrics") or {}),
            embedding=embedding,
            novelty=novelty,
            unsure_threshold=None if unsure is None else float(unsure),
            source=source,
        )


def _optional_output(value: Any, key: str, fail: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("output"), str):
        raise fail(f"'{key}' must be an object naming its 'output'")
    return dict(value)


def _triple(value: Any) -> tuple[float, float, float]:
    items = [float(v) for v in value]
    if len(items) != 3:
        raise ValueError("mean/std need three values")
    return (items[0], items[1], items[2])
