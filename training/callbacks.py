"""Per-epoch bookkeeping: validation macro-F1, early stopping, checkpoints, history, curves.

One callback (:class:`EpochTracker`) does all of it in a fixed order so that what lands on
disk is always consistent: metrics -> history -> best weights -> checkpoint -> state. The
state file is written last and names its checkpoint, so after a kill at any moment
``--resume`` restarts from a checkpoint that is complete.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.metrics import f1_score

from training.run import RunPaths, read_json, write_json

log = logging.getLogger(__name__)

MIN_DELTA = 1e-4  # a macro-F1 gain smaller than this is not an improvement


@dataclass
class TrainState:
    """Where training stands; ``state.json`` in the run directory."""

    phase: int = 1
    epoch: int = 0  # epochs completed in ``phase``
    stopped: bool = False  # ``phase`` ended early (no val macro-F1 gain for ``patience``)
    best_score: float = -1.0
    best_loss: float = float("inf")  # breaks macro-F1 ties (small validation sets saturate)
    best_phase: int = 0
    best_epoch: int = 0
    wait: int = 0
    optimizer_step: int = 0
    checkpoint: str = ""  # file stem in checkpoints/ of the last completed epoch

    @classmethod
    def load(cls, path: Path) -> TrainState:
        return cls(**read_json(path))

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    def start_phase(self, phase: int) -> None:
        self.phase, self.epoch, self.stopped, self.wait, self.checkpoint = phase, 0, False, 0, ""


def val_metrics(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> dict[str, float]:
    """Loss (plain cross-entropy), accuracy and macro-F1 from predicted probabilities."""
    picked = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    pred = probs.argmax(axis=1)
    return {
        "val_loss": float(-np.log(picked).mean()),
        "val_accuracy": float((pred == labels).mean()),
        "val_macro_f1": float(f1_score(labels, pred, labels=list(range(num_classes)),
                                       average="macro", zero_division=0)),
    }


# ------------------------------------------------------------------------- checkpoints


def save_weights(model: keras.Model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.weights.h5")
    model.save_weights(tmp)
    tmp.replace(path)


def load_weights(model: keras.Model, path: Path) -> None:
    """Load model weights only; optimizer slots stored alongside are deliberately not used."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)


def restore_checkpoint(model: keras.Model, paths: RunPaths, state: TrainState) -> None:
    """Load the weights *and* optimizer state (moments, step count) of the last epoch.

    A compiled model's ``.weights.h5`` also holds its optimizer's variables; Keras restores
    them when the optimizer is built first, so the learning-rate schedule and Adam moments
    continue instead of restarting.
    """
    model.optimizer.build(model.trainable_variables)
    model.load_weights(paths.checkpoints / f"{state.checkpoint}.weights.h5")
    step = int(model.optimizer.iterations.numpy())
    if step != state.optimizer_step:
        raise RuntimeError(f"checkpoint {state.checkpoint}: optimizer step {step}, state.json "
                           f"says {state.optimizer_step}; the checkpoint does not match")
    log.info("resumed phase %d after epoch %d (optimizer step %d)", state.phase, state.epoch, step)


# ----------------------------------------------------------------------------- history


class History:
    """Per-epoch records of both phases, kept as JSON (``history.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.phases: dict[str, list[dict[str, Any]]] = {"phase1": [], "phase2": []}
        if path.is_file():
            self.phases.update(read_json(path))

    def truncate(self, phase: int, epochs: int) -> None:
        """Drop records after ``epochs`` (left behind by an epoch whose checkpoint was lost)."""
        key = f"phase{phase}"
        self.phases[key] = [r for r in self.phases[key] if r["epoch"] <= epochs]

    def append(self, phase: int, record: dict[str, Any]) -> None:
        self.phases[f"phase{phase}"].append(record)
        write_json(self.path, self.phases)

    def plot(self, out: Path) -> None:
        """Loss, accuracy and macro-F1 curves of both phases, saved as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        records = self.phases["phase1"] + self.phases["phase2"]
        if not records:
            return
        x = np.arange(1, len(records) + 1)
        fig, axes = plt.subplots(1, 3, figsize=(14, 4))
        panels = (("loss", "loss"), ("accuracy", "accuracy"), ("macro-F1", "macro_f1"))
        for ax, (title, key) in zip(axes, panels, strict=True):
            if key != "macro_f1":
                ax.plot(x, [r.get(key, np.nan) for r in records], "o-", label="train")
            ax.plot(x, [r.get(f"val_{key}", np.nan) for r in records], "o-", label="validation")
            if self.phases["phase2"] and self.phases["phase1"]:
                ax.axvline(len(self.phases["phase1"]) + 0.5, color="grey", ls="--", lw=1)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(title)
            ax.set_xlabel("epoch (phase 1, then phase 2)")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        fig.savefig(out, dpi=100)
        plt.close(fig)


# ---------------------------------------------------------------------------- tracker


class EpochTracker(keras.callbacks.Callback):
    """Validation metrics, early stopping on macro-F1, best/last checkpoints, timing, history.

    ``predict_val`` returns validation probabilities for the model being trained (the full
    model, or the stand-alone head on cached features); ``save_best`` stores the *full*
    model's weights whenever macro-F1 improves.
    """

    def __init__(self, *, phase: int, epochs: int, patience: int, state: TrainState,
                 paths: RunPaths, history: History, predict_val: Callable[[], np.ndarray],
                 val_labels: np.ndarray, num_classes: int,
                 save_best: Callable[[], None]) -> None:
        super().__init__()
        self.phase, self.epochs, self.patience = phase, epochs, patience
        self.state, self.paths, self.history = state, paths, history
        self.predict_val, self.val_labels, self.num_classes = predict_val, val_labels, num_classes
        self.save_best = save_best
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        train_seconds = time.perf_counter() - self._started
        logs.update(val_metrics(self.predict_val(), self.val_labels, self.num_classes))
        optimizer = self.model.optimizer
        record = {
            "epoch": epoch + 1,
            "loss": float(logs.get("loss", np.nan)),
            "accuracy": float(logs.get("accuracy", np.nan)),
            **{k: logs[k] for k in ("val_loss", "val_accuracy", "val_macro_f1")},
            "learning_rate": float(np.asarray(optimizer.learning_rate)),
            "seconds": round(time.perf_counter() - self._started, 2),
            "train_seconds": round(train_seconds, 2),
        }
        self.history.append(self.phase, record)
        st = self.state
        score, loss = record["val_macro_f1"], record["val_loss"]
        improved = score > st.best_score + MIN_DELTA or (
            score >= st.best_score - MIN_DELTA and loss < st.best_loss)
        if improved:
            st.best_score, st.best_loss = score, loss
            st.best_phase, st.best_epoch, st.wait = self.phase, epoch + 1, 0
            self.save_best()
        else:
            st.wait += 1
        previous = st.checkpoint
        st.checkpoint = f"phase{self.phase}_epoch{epoch + 1:03d}"
        self.paths.checkpoints.mkdir(parents=True, exist_ok=True)
        stem = self.paths.checkpoints / st.checkpoint
        save_weights(self.model, stem.with_suffix(".weights.h5"))
        st.epoch, st.optimizer_step = epoch + 1, int(optimizer.iterations.numpy())
        if st.wait >= self.patience and epoch + 1 < self.epochs:
            st.stopped = True
            self.model.stop_training = True
        st.save(self.paths.state)
        if previous and previous != st.checkpoint:  # only once the new state names the new one
            (self.paths.checkpoints / f"{previous}.weights.h5").unlink(missing_ok=True)
        log.info(
            "phase %d epoch %d/%d: loss %.4f acc %.4f | val loss %.4f acc %.4f macro-F1 %.4f"
            " | lr %.2e | %.1f s%s%s", self.phase, epoch + 1, self.epochs, record["loss"],
            record["accuracy"], record["val_loss"], record["val_accuracy"],
            record["val_macro_f1"], record["learning_rate"], record["seconds"],
            " *best" if improved else "",
            f" | early stop (no gain for {st.wait} epochs)" if st.stopped else "")


class StepLogger(keras.callbacks.Callback):
    """Progress inside long epochs when there is no terminal for a progress bar (log files)."""

    def __init__(self, steps: int, phase: int, every: float = 0.1) -> None:
        super().__init__()
        self.steps, self.phase = steps, phase
        self.every = max(1, round(steps * every))
        self._started, self._epoch = 0.0, 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started, self._epoch = time.perf_counter(), epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        done = batch + 1
        if done % self.every or done == self.steps:
            return
        elapsed = time.perf_counter() - self._started
        eta = elapsed / done * (self.steps - done)
        loss = (logs or {}).get("loss", float("nan"))
        log.info("phase %d epoch %d: %d/%d steps, %.0f s, about %.0f s left, loss %.4f",
                 self.phase, self._epoch, done, self.steps, elapsed, eta, float(loss))

