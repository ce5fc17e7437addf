"""Write a taught station model: the base model's graph with a new head, one ONNX file.

The base graph is cut back to what computes its ``embedding`` and its class probabilities
(the base's own head stays: its probabilities are half the features, see
:mod:`app.core.teach_head`); the new head is five operators on top::

    logp = Log(Clip(base_probabilities, 1e-4, 1))
    probabilities = Softmax(Concat(embedding, logp) @ W + b)

The file has three outputs: ``probabilities`` (the taught classes, first, as the app reads
it), ``embedding`` and ``base_probabilities``, so a taught model can itself be the base of the
next teaching and sees the same features. Any detector of the base (``novelty``) is dropped:
it measured distance to the base's classes, not to the taught ones. The file is a normal
user model; it needs the ``onnx`` package only to be written, never to be run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from app.core.model_info import ModelInfo
from app.core.teach_head import LOG_FLOOR, Head

BASE_PROBABILITIES = "base_probabilities"
PREFIX = "teach/"


def base_outputs(info: ModelInfo, output_names: list[str]) -> tuple[str, str]:
    """(embedding, base probabilities) output names of a model teaching can start from."""
    if info.embedding is None:
        raise ValueError(
            f"model '{info.id}' has no embedding output; teaching needs a model that "
            "describes one in its metadata (the shipped waste model 2.0.0 or later)"
        )
    if info.output != "probabilities":
        raise ValueError(f"model '{info.id}' outputs {info.output}; teaching needs probabilities")
    probabilities = BASE_PROBABILITIES if BASE_PROBABILITIES in output_names else output_names[0]
    return str(info.embedding["output"]), probabilities


def write_taught_model(base_path: Path, info: ModelInfo, head: Head, dest: Path) -> None:
    """Write ``dest`` (atomically) from the base file, the fitted head and its metadata."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(base_path))
    graph = proto.graph
    base_info = ModelInfo.from_onnx_metadata(
        {p.key: p.value for p in proto.metadata_props}, base_path
    )
    embedding, probabilities = base_outputs(base_info, [o.name for o in graph.output])
    emb_shape = _output_type(graph, embedding)
    base_shape = _output_type(graph, probabilities)
    if probabilities != BASE_PROBABILITIES:
        _rename(graph, probabilities, BASE_PROBABILITIES)
    _prune(graph, {embedding, BASE_PROBABILITIES})

    w, b = head.folded()
    consts = {"w": w, "b": b, "floor": np.array(np.exp(LOG_FLOOR), np.float32),
              "one": np.array(1.0, np.float32)}
    graph.initializer.extend(numpy_helper.from_array(v, PREFIX + k) for k, v in consts.items())
    p = PREFIX
    graph.node.extend([
        helper.make_node("Clip", [BASE_PROBABILITIES, p + "floor", p + "one"], [p + "clipped"],
                         name=p + "clip"),
        helper.make_node("Log", [p + "clipped"], [p + "logp"], name=p + "log"),
        helper.make_node("Concat", [embedding, p + "logp"], [p + "features"], axis=1,
                         name=p + "concat"),
        helper.make_node("MatMul", [p + "features", p + "w"], [p + "scores"], name=p + "matmul"),
        helper.make_node("Add", [p + "scores", p + "b"], [p + "logits"], name=p + "add"),
        helper.make_node("Softmax", [p + "logits"], ["probabilities"], axis=1, name=p + "softmax"),
    ])
    del graph.output[:]
    graph.output.extend([
        helper.make_tensor_value_info("probabilities", onnx.TensorProto.FLOAT,
                                      ["batch", int(w.shape[1])]),
        _value_info(embedding, emb_shape),
        _value_info(BASE_PROBABILITIES, base_shape),
    ])
    del proto.metadata_props[:]
    helper.set_model_props(proto, info.to_metadata())
    onnx.checker.check_model(proto)
    _save_atomically(proto, dest)


def _output_type(graph: Any, name: str) -> Any:
    for out in graph.output:
        if out.name == name:
            return out.type
    raise ValueError(f"the base graph has no output named {name!r}")


def _value_info(name: str, type_proto: Any) -> Any:
    from onnx import ValueInfoProto

    value = ValueInfoProto()
    value.name = name
    value.type.CopyFrom(type_proto)
    return value


def _rename(graph: Any, old: str, new: str) -> None:
    for node in graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
        node.input[:] = [new if i == old else i for i in node.input]


def _prune(graph: Any, needed_outputs: set[str]) -> None:
    """Keep only the nodes (and initializers) that the named tensors depend on."""
    producer = {o: i for i, node in enumerate(graph.node) for o in node.output}
    keep: set[int] = set()
    stack = [producer[t] for t in needed_outputs if t in producer]
    while stack:
        i = stack.pop()
        if i in keep:
            continue
        keep.add(i)
        stack.extend(producer[t] for t in graph.node[i].input if t in producer)
    kept = [graph.node[i] for i in sorted(keep)]
    used = {t for node in kept for t in node.input}
    inits = [init for init in graph.initializer if init.name in used]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    values = [v for v in graph.value_info if v.name in used or v.name in needed_outputs]
    del graph.value_info[:]
    graph.value_info.extend(values)


def _save_atomically(proto: Any, dest: Path) -> None:
    import onnx

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".teach-", suffix=".onnx.tmp", dir=dest.parent)
    os.close(fd)
    try:
        onnx.save(proto, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        Path(tmp).replace(dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
