"""Two-phase transfer learning (keras-io style), resumable after a kill.

Phase 1 trains only the head on the frozen backbone. With ``phase1_cached_features`` the frozen
backbone runs once over the training images (plus a horizontally flipped copy) and the
validation images; the features are stored as float16 ``.npy`` in the run directory and the
head is fitted on them in seconds, then copied into the full model. Phase 2 unfreezes the top
``unfreeze_blocks`` backbone blocks (BatchNorm stays frozen, the backbone still runs with
``training=False``) and fine-tunes with a lower, cosine-decayed learning rate. The baselines
(plain CNN, small ResNet) train all their layers in phase 1 and have no phase 2.

Every epoch leaves a checkpoint and ``state.json``; ``--resume`` continues from there. The
final weights are the best on validation macro-F1 across both phases.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from training import backbones, lower_cache
from training.callbacks import (
    EpochTracker,
    History,
    StepLogger,
    TrainState,
    load_weights,
    restore_checkpoint,
    save_weights,
)
from training.config import Config, PhaseConfig, UserError, resolve_data_path
from training.manifest import SplitData
from training.models import backbone_layer, build_head, build_model, copy_head, feature_extractor
from training.pipeline import balanced_class_weights, predict, train_dataset
from training.run import RunPaths, now_iso, prepare_split, read_json, write_json

log = logging.getLogger(__name__)


class RunExistsError(UserError):
    """The run directory already holds a run and ``--resume`` was not given."""


def make_optimizer(phase: PhaseConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """AdamW or SGD with momentum; cosine decay (optional linear warm-up) over the phase."""
    total = max(1, phase.epochs * steps_per_epoch)
    warmup = min(phase.warmup_epochs * steps_per_epoch, total - 1)
    lr: Any = phase.learning_rate
    if phase.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else phase.learning_rate, decay_steps=total - warmup,
            alpha=phase.min_lr_fraction,
            warmup_target=phase.learning_rate if warmup else None, warmup_steps=warmup)
    if phase.optimizer == "sgd":
        opt: keras.optimizers.Optimizer = keras.optimizers.SGD(
            lr, momentum=phase.momentum, nesterov=True, weight_decay=phase.weight_decay or None)
    else:
        opt = keras.optimizers.AdamW(lr, weight_decay=phase.weight_decay)
    # Decaying BatchNorm scales/offsets and biases only fights the data: decay kernels only.
    opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return opt


def make_loss(config: Config) -> keras.losses.Loss:
    t = config.train
    if t.imbalance == "focal":
        return keras.losses.CategoricalFocalCrossentropy(
            alpha=1.0, gamma=t.focal_gamma, label_smoothing=t.label_smoothing)
    return keras.losses.CategoricalCrossentropy(label_smoothing=t.label_smoothing)


def _class_weights(config: Config, data: SplitData) -> np.ndarray | None:
    if config.train.imbalance != "class_weights":
        return None
    weights = balanced_class_weights(data.splits["train"].labels, len(data.classes))
    log.info("class weights: %s", dict(zip(data.classes, np.round(weights, 3).tolist(),
                                           strict=True)))
    return weights


def _verbose() -> int:
    # A progress bar where it can redraw; in a log file, StepLogger lines instead.
    return 1 if sys.stdout.isatty() else 0


def _progress(steps: int, phase: int) -> list[keras.callbacks.Callback]:
    return [] if sys.stdout.isatty() else [StepLogger(steps, phase)]


# ------------------------------------------------------------------ cached features


def cached_features(model: keras.Model, config: Config, data: SplitData, paths: RunPaths,
                    manifest_sha: str) -> dict[str, np.ndarray]:
    """Frozen-backbone features of train (+ flipped copy) and val, computed once per run.

    With ``phase2.cached_lower`` they come from phase 2's cached lower-block activations, so
    the lower blocks run once per image for both phases."""
    m = config.model
    key = {"manifest_sha256": manifest_sha, "backbone": m.backbone,
           "weights": m.backbone_weights, "input_size": list(m.input_size),
           "backbone_size": list(m.backbone_size or m.input_size)}
    if config.phase2.cached_lower:
        key["source"] = f"lower_b{lower_cache.first_trainable_block(config)}"
    folder, meta = paths.features, paths.features / "features.json"
    names = ("train", "train_flipped", "val")
    if meta.is_file() and read_json(meta) == key and all(
            (folder / f"{n}.npy").is_file() for n in names):
        log.info("using cached backbone features in %s", folder)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        if config.phase2.cached_lower:
            computed = lower_cache.pooled_features(model, config, data, paths, manifest_sha)
        else:
            extractor = feature_extractor(model)
            batch = config.train.eval_batch_size
            train_x, _ = data.arrays("train")
            val_x, _ = data.arrays("val")
            computed = {name: predict(extractor, images, batch, desc=f"features {name}")
                        for name, images in (("train", train_x),
                                             ("train_flipped", train_x[:, :, ::-1]),
                                             ("val", val_x))}
        for name in names:
            np.save(folder / f"{name}.npy", computed[name].astype(np.float16))
        write_json(meta, key)  # written last: marks the set complete
    return {n: np.load(folder / f"{n}.npy").astype(np.float32) for n in names}


def _phase1_cached(model: keras.Model, config: Config, data: SplitData, paths: RunPaths,
                   state: TrainState, history: History, manifest_sha: str,
                   callbacks: Sequence[keras.callbacks.Callback]) -> None:
    feats = cached_features(model, config, data, paths, manifest_sha)
    num_classes = len(data.classes)
    train_y = np.concatenate([data.splits["train"].labels] * 2)
    x = np.concatenate([feats["train"], feats["train_flipped"]])
    weights = _class_weights(config, data)
    sample_w = weights[train_y] if weights is not None else np.ones(len(train_y), np.float32)
    batch = config.train.batch_size
    head = build_head(config, num_classes)
    head.compile(make_optimizer(config.phase1, math.ceil(len(x) / batch)), make_loss(config),
                 metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    if state.epoch:
        restore_checkpoint(head, paths, state)
    val_x = feats["val"]

    def save_best() -> None:
        copy_head(head, model)
        save_weights(model, paths.best)

    tracker = EpochTracker(
        phase=1, epochs=config.phase1.epochs, patience=config.phase1.patience, state=state,
        paths=paths, history=history, val_labels=data.splits["val"].labels,
        predict_val=lambda: np.asarray(head.predict(val_x, batch_size=1024, verbose=0)),
        num_classes=num_classes, save_best=save_best)
    head.fit(x, keras.ops.one_hot(train_y, num_classes), sample_weight=sample_w,
             batch_size=batch, epochs=config.phase1.epochs, initial_epoch=state.epoch,
             shuffle=True, callbacks=[tracker, *callbacks], verbose=_verbose())


# ------------------------------------------------------------------------ image phases


def _phase_on_images(model: keras.Model, phase: int, config: Config, data: SplitData,
                     paths: RunPaths, state: TrainState, history: History,
                     callbacks: Sequence[keras.callbacks.Callback]) -> None:
    pcfg = config.phase1 if phase == 1 else config.phase2
    if config.uses_backbone:
        backbone = backbone_layer(model, config)
        if phase == 1:
            backbone.trainable = False
        else:
            n = backbones.set_trainable_top(backbone, pcfg.unfreeze_blocks)
            log.info("phase 2: top %d blocks unfrozen (%d trainable backbone tensors)",
                     pcfg.unfreeze_blocks, n)
    ds, steps = train_dataset(data, batch_size=config.train.batch_size,
                              seed=config.train.seed + 1000 * phase, start_epoch=state.epoch,
                              augment=config.augment, class_weights=_class_weights(config, data))
    val_x, _ = data.arrays("val")
    _fit(model, model, phase, config, data, paths, state, history, callbacks, ds, steps,
         lambda: predict(model, val_x, config.train.eval_batch_size))


def _phase2_cached_lower(model: keras.Model, config: Config, data: SplitData, paths: RunPaths,
                         state: TrainState, history: History, manifest_sha: str,
                         callbacks: Sequence[keras.callbacks.Callback]) -> None:
    """Phase 2 on the frozen lower blocks' cached activations (see training/lower_cache.py)."""
    acts = lower_cache.lower_activations(model, config, data, paths, manifest_sha)
    n = backbones.set_trainable_top(backbone_layer(model, config), config.phase2.unfreeze_blocks)
    log.info("phase 2 on cached activations %s: top %d blocks unfrozen (%d trainable backbone "
             "tensors)", acts["train"].shape[1:], config.phase2.unfreeze_blocks, n)
    top = lower_cache.split_model(model, config)[1]
    ds, steps = lower_cache.activation_batches(
        acts, data.splits["train"].labels, len(data.classes),
        batch_size=config.train.batch_size, seed=config.train.seed + 2000,
        start_epoch=state.epoch, config=config, class_weights=_class_weights(config, data))
    _fit(top, model, 2, config, data, paths, state, history, callbacks, ds, steps,
         lambda: predict(top, acts["val"], config.train.eval_batch_size))


def _fit(fit_model: keras.Model, model: keras.Model, phase: int, config: Config,
         data: SplitData, paths: RunPaths, state: TrainState, history: History,
         callbacks: Sequence[keras.callbacks.Callback], ds: Any, steps: int,
         predict_val: Callable[[], np.ndarray]) -> None:
    """Compile and fit ``fit_model`` (the full model, or one sharing its layers) for a phase;
    the best weights saved are always the full ``model``'s."""
    pcfg = config.phase1 if phase == 1 else config.phase2
    fit_model.compile(make_optimizer(pcfg, steps), make_loss(config),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    if state.epoch:
        restore_checkpoint(fit_model, paths, state)
    tracker = EpochTracker(
        phase=phase, epochs=pcfg.epochs, patience=pcfg.patience, state=state, paths=paths,
        history=history, predict_val=predict_val, val_labels=data.splits["val"].labels,
        num_classes=len(data.classes), save_best=lambda: save_weights(model, paths.best))
    log.info("phase %d: %d images, %d steps of %d per epoch", phase, len(data.splits["train"]),
             steps, config.train.batch_size)
    fit_model.fit(ds, epochs=pcfg.epochs, initial_epoch=state.epoch, steps_per_epoch=steps,
                  shuffle=False, callbacks=[*_progress(steps, phase), tracker, *callbacks],
                  verbose=_verbose())


# ------------------------------------------------------------------------------ driver


def _phase_pending(state: TrainState, phase: int, config: Config) -> bool:
    epochs = (config.phase1 if phase == 1 else config.phase2).epochs
    return state.phase == phase and not state.stopped and state.epoch < epochs


def train(config: Config, run_dir: Path, *, cache_dir: Path, resume: bool = False,
          data_path: Path | None = None, manifest_path: Path | None = None,
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> Path:
    """Train (or resume) a run; returns the path of the final weights."""
    paths = RunPaths(run_dir)
    if paths.config.is_file() and not resume:
        raise RunExistsError(f"{run_dir} already holds a run: pass --resume to continue it, "
                             "or choose another --run-dir")
    state = TrainState.load(paths.state) if resume and paths.state.is_file() else TrainState()
    if data_path is not None:  # recorded in the run's config.json: --resume needs no --data
        config = config.with_data(str(data_path.expanduser().resolve()), None)
    keras.utils.set_random_seed(config.train.seed)
    data_root = resolve_data_path(config.data.path)
    init = _init_run(config)
    if init is not None and manifest_path is None:
        manifest_path = init.manifest
    data, manifest, manifest_sha = prepare_split(config, paths, cache_dir, data_path=data_root,
                                                 manifest_path=manifest_path)
    if init is not None:
        _check_same_split(init, manifest_sha)
    # Saved once the data is usable: a dataset error leaves no run to --resume, just the report.
    paths.checkpoints.mkdir(parents=True, exist_ok=True)
    config.save(paths.config)
    info = read_json(paths.info) if paths.info.is_file() else {"created": now_iso()}
    info.update({
        "name": config.name, "dataset": manifest["dataset"],
        "data": str(data_root), "cache_dir": str(cache_dir),
        "manifest_sha256": manifest_sha, "labels": list(data.classes),
        "input_size": list(config.input_size), "tensorflow": _tf_version(),
        "keras": keras.__version__})
    write_json(paths.info, info)

    model = build_model(config, len(data.classes),
                        pretrained=init is None and not paths.best.is_file())
    if paths.best.is_file():  # resuming: the backbone (and head) as last saved
        load_weights(model, paths.best)
    elif init is not None:  # continuing a finished run: its weights are the one to beat
        load_weights(model, init.weights)
        save_weights(model, paths.best)
        state.best_score = float(read_json(init.info)["best"]["val_macro_f1"])
        state.save(paths.state)
        info["init_from"] = {"run": str(init.root), "val_macro_f1": state.best_score}
        write_json(paths.info, info)
        log.info("starting from %s (validation macro-F1 %.4f to beat)", init.weights,
                 state.best_score)
    history = History(paths.history)
    history.truncate(state.phase, state.epoch)
    if state.phase == 1 and _phase_pending(state, 1, config):
        if config.train.phase1_cached_features:
            _phase1_cached(model, config, data, paths, state, history, manifest_sha, callbacks)
        else:
            _phase_on_images(model, 1, config, data, paths, state, history, callbacks)
    if state.phase == 1 and config.phase2.epochs > 0:
        finished = paths.checkpoints / f"{state.checkpoint}.weights.h5"
        state.start_phase(2)
        state.save(paths.state)
        finished.unlink(missing_ok=True)  # phase 1 lives on in best.weights.h5
    if _phase_pending(state, 2, config):
        load_weights(model, paths.best)  # fine-tune from the best head, not the last epoch
        if config.phase2.cached_lower:
            _phase2_cached_lower(model, config, data, paths, state, history, manifest_sha,
                                 callbacks)
        else:
            _phase_on_images(model, 2, config, data, paths, state, history, callbacks)

    load_weights(model, paths.best)
    save_weights(model, paths.weights)
    history.plot(paths.curves)
    info["best"] = {"phase": state.best_phase, "epoch": state.best_epoch,
                    "val_macro_f1": state.best_score}
    info["finished"] = now_iso()
    write_json(paths.info, info)
    log.info("best validation macro-F1 %.4f (phase %d, epoch %d); weights in %s",
             state.best_score, state.best_phase, state.best_epoch, paths.weights)
    return paths.weights


def _init_run(config: Config) -> RunPaths | None:
    """The finished run named by ``train.init_from`` (None when not set)."""
    if not config.train.init_from:
        return None
    init = RunPaths(Path(config.train.init_from).expanduser())
    for needed in (init.weights, init.manifest, init.info):
        if not needed.is_file():
            raise UserError(f"train.init_from: {needed} is missing (is {init.root} a "
                            "finished run?)")
    return init


def _check_same_split(init: RunPaths, manifest_sha: str) -> None:
    """A run that starts from another run's weights must keep that run's test images unseen."""
    if read_json(init.info).get("manifest_sha256") != manifest_sha:
        raise UserError(f"train.init_from: {init.root} was trained on another split; "
                        "continue it with its own manifest (leave --manifest out)")


def _tf_version() -> str:
    import tensorflow as tf

    return str(tf.__version__)
