"""A plain, Qt-free wrapper around one ONNX Runtime session.

The model describes itself (labels, input size, layout, colour order, preprocessing, output
kind) in its metadata; :class:`Classifier` reads that once when the session opens, checks it
against the graph, and turns RGB arrays into :class:`Prediction` objects.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.imaging import RGBArray, resize_rgb
from app.core.model_info import ModelError, ModelInfo

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]

# Images per session.run call: bounds memory for long lists (224x224x3 float32 is 0.6 MB each).
MAX_BATCH = 32
# ... and the input tensor of one call: models with large inputs run fewer images at a time
# (a 2048x2048 input, the largest ModelInfo accepts, runs one image per call).
MAX_BATCH_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Prediction:
    """One image's result; ``probabilities`` follow the model's label order and sum to 1."""

    label: str
    confidence: float
    top_k: tuple[tuple[str, float], ...]
    probabilities: tuple[float, ...]
    model_id: str
    model_version: str
    elapsed_ms: float
    # Models with a novelty output (metadata ``novelty``): the score, and whether it is above
    # the model's threshold -- the item looks unlike every class the model knows.
    novelty: float | None = None
    novel: bool = False
    # The confidence threshold the model recommends (metadata ``unsure_threshold``, chosen on
    # its validation risk/coverage curve); None when it gives none.
    model_threshold: float | None = None


class Classifier:
    """One model file, opened once; ``predict`` may be called from several threads at once.

    ONNX Runtime's ``InferenceSession.run`` is thread-safe. The only state that changes after
    construction is ``_one_at_a_time`` (set, under ``_lock``, once a batched run has failed:
    some graphs declare a dynamic batch but only work with batch size 1).
    """

    def __init__(self, path: str | Path, *, intra_op_threads: int = 0) -> None:
        self.path = Path(path)
        self._session = _open_session(self.path, intra_op_threads)
        metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.info: ModelInfo = ModelInfo.from_onnx_metadata(metadata, self.path)
        self._input_name, self._static_batch = self._validate_graph()
        self._output_name: str = self._session.get_outputs()[0].name
        self._novelty_name, self._novelty_threshold = self._novelty_output()
        spec = self.info.input
        self._mean = np.asarray(spec.mean, dtype=np.float32)
        self._std = np.asarray(spec.std, dtype=np.float32)
        self._lock = threading.Lock()
        self._one_at_a_time = self._static_batch == 1

    def __repr__(self) -> str:
        return f"Classifier({self.path.name!r}, id={self.info.id!r}, version={self.info.version!r})"

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def _fail(self, problem: str) -> ModelError:
        return ModelError(f"{self.path.name}: {problem}")

    def _validate_graph(self) -> tuple[str, int | None]:
        """Check the metadata against the graph; return the input name and static batch size."""
        inputs = self._session.get_inputs()
        outputs = self._session.get_outputs()
        if len(inputs) != 1:
            raise self._fail(f"model has {len(inputs)} inputs; exactly one image input expected")
        if not outputs:
            raise self._fail("model has no outputs")
        node = inputs[0]
        if node.type != "tensor(float)":
            raise self._fail(f"input type is {node.type}; float32 expected")
        shape = list(node.shape)
        if len(shape) != 4:
            raise self._fail(f"input rank is {len(shape)} (shape {shape}); 4 expected")
        spec = self.info.input
        if spec.layout == "NHWC":
            dims = {"height": shape[1], "width": shape[2], "channels": shape[3]}
        else:
            dims = {"channels": shape[1], "height": shape[2], "width": shape[3]}
        expected = {"height": spec.height, "width": spec.width, "channels": 3}
        for name, want in expected.items():
            got = dims[name]
            if isinstance(got, int) and got != want:
                raise self._fail(
                    f"input shape {shape} does not match metadata ({spec.layout}, "
                    f"{spec.height}x{spec.width}x3): {name} is {got}, expected {want}"
                )
        batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        if batch is not None and batch != 1:
            raise self._fail(f"static batch size {batch} is not supported (use 1 or dynamic)")
        out_shape = list(outputs[0].shape)
        if len(out_shape) < 2:
            raise self._fail(f"output shape {out_shape} is not (batch, classes)")
        classes = out_shape[-1]
        if isinstance(classes, int) and classes != self.info.num_classes:
            raise self._fail(
                f"model outputs {classes} classes but metadata lists {self.info.num_classes} labels"
            )
        return node.name, batch

    def _novelty_output(self) -> tuple[str | None, float]:
        spec = self.info.novelty
        if spec is None:
            return None, float("inf")
        names = [o.name for o in self._session.get_outputs()]
        if spec["output"] not in names:
            raise self._fail(
                f"metadata names novelty output {spec['output']!r}, but the graph "
                f"has only {', '.join(names)}"
            )
        return str(spec["output"]), float(spec["threshold"])

    def preprocess(self, rgb: RGBArray) -> FloatArray:
        """The exact tensor fed to the model for one image, with a batch dimension of 1.

        Stretch-resize to the declared size with :func:`resize_rgb`, reorder colours if the
        model wants BGR, apply ``((x * scale) - mean) / std`` when preprocessing is external,
        transpose to NCHW if declared, float32.
        """
        spec = self.info.input
        x = resize_rgb(rgb, spec.width, spec.height).astype(np.float32)
        if spec.color == "BGR":
            x = x[:, :, ::-1]
        if spec.preprocessing == "external":
            x = (x * np.float32(spec.scale) - self._mean) / self._std
        if spec.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None, ...], dtype=np.float32)

    def predict(self, rgb: RGBArray, top_k: int = 3) -> Prediction:
        """Classify one ``(H, W, 3) uint8`` RGB image."""
        return self.predict_batch([rgb], top_k=top_k)[0]

    def predict_batch(self, images: Sequence[RGBArray], top_k: int = 3) -> list[Prediction]:
        """Classify several images; raise the first image's :class:`ModelError`, if any.

        See :meth:`predict_each`, which reports each image's failure separately instead.
        """
        results = self.predict_each(images, top_k=top_k)
        for result in results:
            if isinstance(result, ModelError):
                raise result
        return [r for r in results if isinstance(r, Prediction)]

    def predict_each(
        self, images: Sequence[RGBArray], top_k: int = 3
    ) -> list[Prediction | ModelError]:
        """Classify several images; one result per image, in order, a :class:`ModelError` for
        each image the model could not score (NaN or infinite output, a failed run).

        Images run in batches of up to :data:`MAX_BATCH` (fewer for large inputs, see
        :data:`MAX_BATCH_BYTES`). When a batched ``session.run`` fails (or returns the wrong
        number of rows) the batch is retried one image at a time, and every later call of
        this classifier runs one image at a time too. Models with a static batch of 1 always
        do. ``elapsed_ms`` of each prediction is its share of the time for its batch
        (preprocessing included).
        """
        results: list[Prediction | ModelError] = []
        step = self._batch_size()
        for start in range(0, len(images), step):
            began = time.perf_counter()
            tensors = [self.preprocess(img) for img in images[start : start + step]]
            results.extend(self._predict_tensors(tensors, top_k, began))
        return results

    def output_names(self) -> list[str]:
        return [o.name for o in self._session.get_outputs()]

    def output_shapes(self) -> dict[str, list[int | str | None]]:
        return {o.name: list(o.shape) for o in self._session.get_outputs()}

    def run_outputs(self, images: Sequence[RGBArray], names: Sequence[str]) -> list[FloatArray]:
        """The named graph outputs for several images, one ``(n, ...)`` float32 array per
        name (batches of :data:`MAX_BATCH`); raises :class:`ModelError` when a run fails."""
        import onnxruntime as ort

        quiet = ort.RunOptions()
        quiet.log_severity_level = 4
        parts: list[list[FloatArray]] = [[] for _ in names]
        step = self._batch_size()
        for start in range(0, len(images), step):
            tensors = [self.preprocess(img) for img in images[start : start + step]]
            batch = np.concatenate(tensors, axis=0)
            try:
                outputs = self._session.run(list(names), {self._input_name: batch}, quiet)
            except Exception as exc:  # onnxruntime's own exception types
                raise self._fail(f"inference failed ({_first_line(exc)})") from None
            for part, out in zip(parts, outputs, strict=True):
                part.append(np.asarray(out, np.float32).reshape(len(tensors), -1))
        return [np.concatenate(p) if p else np.zeros((0, 0), np.float32) for p in parts]

    def _batch_size(self) -> int:
        if self._single():
            return 1
        per_image = self.info.input.height * self.info.input.width * 3 * 4  # float32
        return max(1, min(MAX_BATCH, MAX_BATCH_BYTES // per_image))

    def _single(self) -> bool:
        with self._lock:
            return self._one_at_a_time

    def _predict_tensors(
        self, tensors: list[FloatArray], top_k: int, began: float
    ) -> list[Prediction | ModelError]:
        batch = tensors[0] if len(tensors) == 1 else np.concatenate(tensors, axis=0)
        try:
            scored = self._run(batch)
        except ModelError as exc:
            if len(tensors) == 1:
                return [exc]
            with self._lock:
                first = not self._one_at_a_time
                self._one_at_a_time = True
            if first:
                log.warning(
                    "%s: a batch of %d images failed; running one at a time from now on",
                    self.path.name,
                    len(tensors),
                )
                log.debug("batch failure: %s", exc)
            results: list[Prediction | ModelError] = []
            for tensor in tensors:
                results.extend(self._predict_tensors([tensor], top_k, time.perf_counter()))
            return results
        elapsed = (time.perf_counter() - began) * 1000.0 / len(tensors)
        return [
            row if isinstance(row, ModelError) else self._prediction(row[0], top_k, elapsed, row[1])
            for row in scored
        ]

    def _run(
        self, batch: FloatArray
    ) -> list[tuple[npt.NDArray[np.float64], float | None] | ModelError]:
        """Run one batch: per image its probabilities and novelty score, or its error.

        Raises :class:`ModelError` when the run as a whole fails (then no row can be trusted).
        """
        n = len(batch)
        names = [self._output_name]
        if self._novelty_name is not None:
            names.append(self._novelty_name)
        import onnxruntime as ort  # already imported by _open_session

        quiet = ort.RunOptions()  # a failed run is reported as a ModelError, not on stderr
        quiet.log_severity_level = 4
        try:
            outputs = self._session.run(names, {self._input_name: batch}, quiet)
        except Exception as exc:  # onnxruntime raises its own pybind11 exception types
            raise self._fail(f"inference failed ({_first_line(exc)})") from None
        raw = np.asarray(outputs[0], dtype=np.float64)
        if n > 1 and (raw.ndim < 1 or raw.shape[0] != n):
            raise self._fail(f"model returned output shape {list(raw.shape)} for {n} images")
        novelty = None
        if self._novelty_name is not None:
            extra = np.asarray(outputs[1], dtype=np.float64)
            if extra.size % n or extra.size == 0:
                raise self._fail(f"model returned novelty shape {list(extra.shape)} for {n} images")
            novelty = extra.reshape(n, -1)[:, 0]
            # A NaN score says nothing about the item: treat it as novel, never as familiar.
            novelty = np.where(np.isfinite(novelty), novelty, np.inf)
        if raw.size % n:
            raise self._fail(f"model returned output shape {list(raw.shape)} for {n} images")
        out = raw.reshape(n, -1)
        if out.shape[1] != self.info.num_classes:
            raise self._fail(
                f"model produced {out.shape[1]} scores but metadata lists "
                f"{self.info.num_classes} labels"
            )
        finite = np.all(np.isfinite(out), axis=1)
        out = np.where(finite[:, None], out, 0.0)  # bad rows are reported, never computed on
        if self.info.output == "logits":
            out = np.exp(out - out.max(axis=1, keepdims=True))
        else:
            out = np.clip(out, 0.0, None)  # tiny negative rounding errors from some exporters
        totals = out.sum(axis=1, keepdims=True)
        rows: list[tuple[npt.NDArray[np.float64], float | None] | ModelError] = []
        for i in range(n):
            if not finite[i]:
                rows.append(self._fail("model produced NaN or infinite scores"))
            elif not totals[i, 0] > 0:
                rows.append(self._fail("model produced all-zero probabilities"))
            else:
                score = None if novelty is None else float(novelty[i])
                rows.append((out[i] / totals[i, 0], score))
        return rows

    def _prediction(
        self,
        probs: npt.NDArray[np.float64],
        top_k: int,
        elapsed_ms: float,
        novelty: float | None = None,
    ) -> Prediction:
        labels = self.info.labels
        k = max(1, min(int(top_k), len(labels)))
        order = np.argsort(-probs, kind="stable")[:k]
        ranked = tuple((labels[i], float(probs[i])) for i in order)
        return Prediction(
            label=ranked[0][0],
            confidence=ranked[0][1],
            top_k=ranked,
            probabilities=tuple(float(p) for p in probs),
            model_id=self.info.id,
            model_version=self.info.version,
            elapsed_ms=elapsed_ms,
            novelty=None if novelty is None else float(novelty),
            novel=novelty is not None and not novelty <= self._novelty_threshold,
            model_threshold=self.info.unsure_threshold,
        )


def _open_session(path: Path, intra_op_threads: int) -> Any:
    """Open an ONNX Runtime CPU session, turning every failure into a :class:`ModelError`."""
    if not path.exists():
        raise ModelError(f"{path.name}: file not found ({path})")
    if path.is_dir():
        raise ModelError(f"{path.name}: is a folder, not a model file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ModelError(f"{path.name}: cannot read file ({exc.strerror or exc})") from None
    if size == 0:
        raise ModelError(f"{path.name}: empty file")
    import onnxruntime as ort  # lazy: keeps start-up fast for commands that need no model

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, int(intra_op_threads))  # 0 = ORT picks (cores)
    options.log_severity_level = 3  # errors only; ORT warnings are noise for users
    # Idle ORT worker threads must not spin: the camera and UI threads share these cores, and
    # under load spinning made a prediction ~3x slower (docs/BENCHMARKS.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # InvalidProtobuf, Fail, InvalidGraph, NoSuchFile, ...
        log.debug("onnxruntime could not open %s: %s", path, exc)
        detail = _first_line(exc).replace(str(path), path.name)
        raise ModelError(f"{path.name}: not a valid ONNX model ({detail})") from None


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
