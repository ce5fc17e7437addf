"""Which models to benchmark, how much arithmetic they need, and what this CPU can do.

* :func:`discover` lists ``models/waste.onnx`` and ``models/cifar10.onnx`` (noting which are
  missing), any other ``models/*.onnx``, and quantised siblings (``X.int8.onnx``,
  ``X_int8.onnx``, ``X-int8.onnx``, ``X.quant.onnx``). With no waste model it falls back to the
  MobileNetV2 stand-in (:mod:`bench.standin`) when TensorFlow can build it.
* :func:`count_macs` multiplies out Conv / ConvTranspose / Gemm / MatMul from the ONNX graph
  after shape inference with the ``onnx`` package.
* :func:`sustained_gflops` times a large float32 matmul with numpy on the same threads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import REPO

SHIPPED = ("waste", "cifar10")
INT8_PATTERNS = ("{stem}.int8.onnx", "{stem}_int8.onnx", "{stem}-int8.onnx", "{stem}.quant.onnx")


@dataclass(frozen=True)
class BenchModel:
    key: str  # "waste", "cifar10", "standin", or the file stem
    path: Path
    int8: Path | None
    note: str = ""


def _is_quantised(path: Path) -> bool:
    name = path.name.lower()
    return any(tag in name for tag in (".int8.", "_int8.", "-int8.", ".quant."))


def int8_sibling(path: Path) -> Path | None:
    for pattern in INT8_PATTERNS:
        candidate = path.with_name(pattern.format(stem=path.stem))
        if candidate.is_file():
            return candidate
    return None


def discover(models_dir: Path = REPO / "models", *, allow_standin: bool = True) -> tuple[
    list[BenchModel], list[str]
]:  # fmt: skip
    """Models to benchmark and notes about the ones that are missing."""
    found: list[BenchModel] = []
    notes: list[str] = []
    for key in SHIPPED:
        path = models_dir / f"{key}.onnx"
        if path.is_file():
            found.append(BenchModel(key, path, int8_sibling(path)))
        else:
            notes.append(f"models/{key}.onnx is not there yet: skipped")
    known = {m.path for m in found}
    for path in sorted(models_dir.glob("*.onnx")):
        if path not in known and not _is_quantised(path):
            found.append(BenchModel(path.stem, path, int8_sibling(path), "other model in models/"))
    if not any(m.key == "waste" for m in found) and allow_standin:
        try:
            from bench.standin import build

            path = build()
        except Exception as exc:
            notes.append(f"no stand-in for the waste model either ({type(exc).__name__}: {exc})")
        else:
            note = "stand-in for waste: MobileNetV2 224, random head"
            found.insert(0, BenchModel("standin", path, int8_sibling(path), note))
            notes.append(
                "numbers for 'standin' come from a MobileNetV2-224 with the ImageNet backbone the "
                "trainer uses and a random 6-way head (bench/standin.py): same cost as the waste "
                "model will have, meaningless predictions"
            )
    if not any(m.int8 for m in found):
        notes.append("no quantised model (models/*.int8.onnx or similar): FP32 vs INT8 skipped")
    return found, notes


# --------------------------------------------------------------------------- arithmetic


def count_macs(path: Path, batch: int = 1) -> dict[str, int]:
    """Multiply-accumulates per op type for one forward pass of ``batch`` images."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = batch
    model = shape_inference.infer_shapes(model, data_prop=True)  # sizes of in-graph Resize
    shapes: dict[str, list[int]] = {}
    for value in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    totals: dict[str, int] = {}

    def add(op: str, n: int) -> None:
        totals[op] = totals.get(op, 0) + max(0, int(n))

    for node in model.graph.node:
        out = shapes.get(node.output[0], [])
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            w = shapes.get(node.input[1], [])
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            if len(w) == 4 and len(out) == 4 and min(out) > 0:
                cin_per_group = w[1] if node.op_type == "Conv" else w[0] // group
                add(node.op_type, int(np.prod(out)) * cin_per_group * w[2] * w[3])
        elif node.op_type == "Gemm":
            a = shapes.get(node.input[0], [])
            trans_a = next((x.i for x in node.attribute if x.name == "transA"), 0)
            k = a[0] if trans_a else a[-1] if a else -1
            if out and min(out) > 0 and k > 0:
                add("Gemm", int(np.prod(out)) * k)
        elif node.op_type == "MatMul":
            a = shapes.get(node.input[0], [])
            if out and a and min(out) > 0 and a[-1] > 0:
                add("MatMul", int(np.prod(out)) * a[-1])
    return totals


def sustained_gflops(size: int = 2048, seconds: float = 1.5) -> tuple[float, float]:
    """(median, best) GFLOP/s of float32 ``size`` x ``size`` matmuls with numpy's BLAS,
    using the threads numpy uses by default (all usable cores, like ONNX Runtime)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm up: thread pool, page faults
    rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(rates) < 3:
        began = time.perf_counter()
        a @ b
        rates.append(2.0 * size**3 / (time.perf_counter() - began) / 1e9)
    return float(np.median(rates)), float(max(rates))
