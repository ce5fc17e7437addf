"""An exported Waste Sorter model used as a frozen feature extractor.

The real-world head can read, beside the ImageNet backbones, the pooled features of an
earlier shipped model (waste 1.0.0, EfficientNet-Lite0 fine-tuned on TrashNet): it knows
TrashNet's studio photos better than any ImageNet feature. The member is named on the command
line as ``ALIAS=PATH.onnx``; its features are the input of the graph's last ``MatMul`` (the
classifier's dense layer), found by walking back from the softmax.

:func:`truncated` returns the member's graph cut at that tensor, every name prefixed with
the alias, so it can be merged into the exported model next to the other backbones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np


def parse(spec: str) -> tuple[str, Path]:
    alias, sep, path = spec.partition("=")
    if not sep or not alias.isidentifier():
        raise ValueError(f"a member is ALIAS=PATH.onnx (alias a plain name), got {spec!r}")
    return alias, Path(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def feature_tensor(model: Any) -> str:
    """The input of the last MatMul before the output: the pooled features."""
    matmuls = [n for n in model.graph.node if n.op_type in ("MatMul", "Gemm")]
    if not matmuls:
        raise ValueError("the member graph has no MatMul/Gemm (no dense classifier to cut)")
    return str(matmuls[-1].input[0])


def with_feature_output(path: Path) -> tuple[bytes, str]:
    """The member's bytes with its feature tensor added as an output, and that tensor's name."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    name = feature_tensor(model)
    model.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return model.SerializeToString(), name


class MemberFeatures:
    """``__call__(batch float32 NHWC 0..255) -> (N, D)`` features from the member."""

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        data, self.output = with_feature_output(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run([self.output], {self.input: batch.astype(np.float32)})[0]
        return np.asarray(out, dtype=np.float32).reshape(len(batch), -1)

    @property
    def dim(self) -> int:
        return int(self(np.zeros((1, *self.session.get_inputs()[0].shape[1:]),
                                 dtype=np.float32)).shape[1])


def truncated(path: Path, alias: str, image_input: str = "image") -> tuple[Any, str]:
    """The member graph cut at its feature tensor, names prefixed ``alias/``, reading the
    shared input ``image_input``; returns (GraphProto, name of the feature tensor)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    target = feature_tensor(model)
    producers = {o: n for n in graph.node for o in n.output}
    needed_ids: set[int] = set()
    todo = [target]
    while todo:
        tensor = todo.pop()
        node = producers.get(tensor)
        if node is None or id(node) in needed_ids:
            continue
        needed_ids.add(id(node))
        todo += list(node.input)
    original_input = graph.input[0].name

    def rename(name: str) -> str:
        if name == original_input:
            return image_input
        return f"{alias}/{name}" if name else name

    keep = [n for n in graph.node if id(n) in needed_ids]
    used = {i for n in keep for i in n.input}
    nodes = [helper.make_node(n.op_type, [rename(i) for i in n.input],
                              [rename(o) for o in n.output], name=f"{alias}/{n.name or i}",
                              domain=n.domain) for i, n in enumerate(keep)]
    for old, new in zip(keep, nodes, strict=True):
        new.attribute.extend(old.attribute)
    inits = []
    for init in graph.initializer:
        if init.name in used:
            copy = onnx.TensorProto()
            copy.CopyFrom(init)
            copy.name = rename(init.name)
            inits.append(copy)
    sub = helper.make_graph(nodes, alias, [], [], initializer=inits)
    return sub, rename(target)
