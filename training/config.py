"""Training configuration: one JSON file holds every hyper-parameter of a run.

The file is read into frozen dataclasses; an unknown or misspelt key is an error (a typo must
never silently fall back to a default). The run directory keeps a copy of the resolved config
so a run can be resumed, evaluated and exported without the original file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURES = ("backbone", "plain_cnn", "small_resnet")
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant")
IMBALANCE = ("none", "class_weights", "focal")


class UserError(Exception):
    """A problem the user can fix (bad config, dataset, run directory); the CLI prints it."""


class ConfigError(UserError, ValueError):
    """A config file that cannot be used; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    path: str = ""  # folder, CIFAR archive/folder, or JPEG tarball; "{shared}" = shared data root
    name: str = ""  # dataset name recorded in the model metadata (defaults to the folder name)
    val_fraction: float = 0.15
    test_fraction: float = 0.15  # ignored when the source has its own test set (CIFAR batches)
    seed: int = 42
    min_side: int = 16  # images smaller than this (either side) are skipped as "tiny"
    limit_per_class: int | None = None  # smoke tests: use at most N images per class


@dataclass(frozen=True)
class ModelConfig:
    architecture: str = "backbone"
    backbone: str = "mobilenet_v2"
    # "default" (ported: ../shared/pretrained .npz; keras_*: Keras downloads ImageNet weights),
    # a weights file, or null (random init)
    backbone_weights: str | None = "default"
    input_size: tuple[int, int] = (224, 224)  # (height, width) of the exported model's input
    backbone_size: tuple[int, int] | None = None  # in-graph resize target; null = input_size
    dropout: float = 0.2
    # Baselines (architecture "plain_cnn" / "small_resnet") only:
    cnn_filters: tuple[int, ...] = (32, 64, 128)
    cnn_dense: int = 128
    cnn_pooling: str = "flatten"  # "flatten" (the seeds' CNN) or "avg"
    resnet_blocks_per_stage: int = 3  # 3 -> ResNet-20
    resnet_width: int = 16


@dataclass(frozen=True)
class AugmentConfig:
    flip: bool | str = True  # true/"horizontal", "horizontal_and_vertical", or false
    rotation: float = 0.0  # fraction of a full turn, e.g. 0.05 = +-18 degrees
    zoom: float = 0.0  # random resized crop: zoom in by up to this fraction
    translation: float = 0.0  # fraction of height/width
    brightness: float = 0.0  # fraction of the 0..255 range
    contrast: float = 0.0
    blur_sigma: float = 0.0  # >0: Gaussian blur with sigma up to this (on half the images)
    mixup_alpha: float = 0.0  # >0 enables MixUp (Beta(alpha, alpha))
    cutmix_alpha: float = 0.0  # >0 enables CutMix
    mix_probability: float = 0.5  # chance a batch is mixed when MixUp/CutMix are enabled


@dataclass(frozen=True)
class PhaseConfig:
    epochs: int = 10
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD only
    schedule: str = "cosine"
    warmup_epochs: int = 0
    min_lr_fraction: float = 0.01  # cosine decays to learning_rate * this
    patience: int = 4  # early stopping on validation macro-F1
    unfreeze_blocks: int = 0  # phase 2 only: top N backbone blocks made trainable
    # phase 2 only: train the top blocks on cached activations of the frozen lower blocks
    # (several times faster on a CPU; augmentation limited to mirror images + MixUp/CutMix)
    cached_lower: bool = False


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    eval_batch_size: int = 64
    label_smoothing: float = 0.0
    imbalance: str = "class_weights"
    focal_gamma: float = 2.0
    phase1_cached_features: bool = True
    seed: int = 1234
    # A finished run directory: its final weights start this run and its split manifest is
    # re-used (so its test images stay unseen). With it, phase1.epochs may be 0.
    init_from: str | None = None


@dataclass(frozen=True)
class Config:
    name: str
    display_name: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    phase1: PhaseConfig = field(default_factory=PhaseConfig)
    phase2: PhaseConfig = field(default_factory=lambda: PhaseConfig(epochs=0))

    @property
    def uses_backbone(self) -> bool:
        return self.model.architecture == "backbone"

    @property
    def input_size(self) -> tuple[int, int]:
        return self.model.input_size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    def with_epochs(self, phase1: int | None, phase2: int | None) -> Config:
        """A copy with the epoch counts replaced (None keeps the configured value)."""
        p1 = self.phase1 if phase1 is None else dataclasses.replace(self.phase1, epochs=phase1)
        p2 = self.phase2 if phase2 is None else dataclasses.replace(self.phase2, epochs=phase2)
        return dataclasses.replace(self, phase1=p1, phase2=p2)

    def with_data(self, path: str | None, limit_per_class: int | None) -> Config:
        data = self.data
        if path is not None:
            data = dataclasses.replace(data, path=path)
        if limit_per_class is not None:
            data = dataclasses.replace(data, limit_per_class=limit_per_class)
        return dataclasses.replace(self, data=data)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Config:
        if not isinstance(raw, dict):
            raise ConfigError("config must be a JSON object")
        sections = {
            "data": DataConfig,
            "model": ModelConfig,
            "augment": AugmentConfig,
            "train": TrainConfig,
            "phase1": PhaseConfig,
            "phase2": PhaseConfig,
        }
        _check_keys("config", raw, {f.name for f in dataclasses.fields(cls)})
        if "name" not in raw:
            raise ConfigError("config has no 'name'")
        kwargs: dict[str, Any] = {"name": str(raw["name"])}
        kwargs["display_name"] = str(raw.get("display_name") or raw["name"])
        for key, kind in sections.items():
            if key in raw:
                kwargs[key] = _section(kind, key, raw[key])
        if "phase2" not in raw:
            kwargs["phase2"] = PhaseConfig(epochs=0)
        config = cls(**kwargs)
        config.validate()
        return config

    @classmethod
    def load(cls, path: Path) -> Config:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from None
        try:
            return cls.from_dict(raw)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def validate(self) -> None:
        m, t = self.model, self.train
        _choice("model.architecture", m.architecture, ARCHITECTURES)
        if self.uses_backbone:
            from training.backbones import BACKBONES

            _choice("model.backbone", m.backbone, BACKBONES)
        if not all(8 <= s <= 4096 for s in m.input_size):
            raise ConfigError(f"model.input_size {m.input_size} out of range")
        if self.uses_backbone and min(m.backbone_size or m.input_size) < 32:
            raise ConfigError("the backbone needs at least 32x32 pixels: set model.backbone_size "
                              "to resize inside the graph")
        if m.backbone_size is not None and not all(32 <= s <= 4096 for s in m.backbone_size):
            raise ConfigError(f"model.backbone_size {m.backbone_size} out of range")
        _choice("model.cnn_pooling", m.cnn_pooling, ("flatten", "avg"))
        _fraction("model.dropout", m.dropout, upper_open=True)
        _fraction("data.val_fraction", self.data.val_fraction, upper_open=True)
        _fraction("data.test_fraction", self.data.test_fraction, upper_open=True)
        if self.data.val_fraction + self.data.test_fraction >= 0.9 or self.data.val_fraction <= 0:
            raise ConfigError("data.val_fraction must be > 0 and val + test below 0.9")
        if self.data.limit_per_class is not None and self.data.limit_per_class < 3:
            raise ConfigError("data.limit_per_class must be at least 3")
        _choice("train.imbalance", t.imbalance, IMBALANCE)
        if t.batch_size < 1 or t.eval_batch_size < 1:
            raise ConfigError("train.batch_size and train.eval_batch_size must be positive")
        _fraction("train.label_smoothing", t.label_smoothing, upper_open=True)
        if t.phase1_cached_features and not self.uses_backbone:
            raise ConfigError("train.phase1_cached_features needs model.architecture 'backbone'")
        for name, phase in (("phase1", self.phase1), ("phase2", self.phase2)):
            _choice(f"{name}.optimizer", phase.optimizer, OPTIMIZERS)
            _choice(f"{name}.schedule", phase.schedule, SCHEDULES)
            if phase.epochs < 0 or phase.learning_rate <= 0 or phase.patience < 1:
                raise ConfigError(f"{name}: epochs >= 0, learning_rate > 0, patience >= 1")
        if self.phase1.epochs < 1 and not t.init_from:
            raise ConfigError("phase1.epochs must be at least 1 (0 only with train.init_from)")
        if self.phase2.epochs and not self.uses_backbone:
            raise ConfigError("phase2 (fine-tuning) needs model.architecture 'backbone'")
        if self.phase2.epochs and self.phase2.unfreeze_blocks < 0:
            raise ConfigError("phase2.unfreeze_blocks must be >= 0")
        if self.phase1.cached_lower:
            raise ConfigError("phase1.cached_lower: only phase 2 can train on cached activations")
        if self.phase2.cached_lower:
            self._validate_cached_lower()
        a = self.augment
        _fraction("augment.mix_probability", a.mix_probability)
        for key in ("rotation", "zoom", "translation", "brightness", "contrast"):
            _fraction(f"augment.{key}", getattr(a, key), upper_open=True)
        if min(a.blur_sigma, a.mixup_alpha, a.cutmix_alpha) < 0:
            raise ConfigError("augment: blur_sigma, mixup_alpha and cutmix_alpha must be >= 0")

    def _validate_cached_lower(self) -> None:
        from training.backbones import PORTED, block_count

        if not self.uses_backbone or self.model.backbone not in PORTED:
            raise ConfigError(f"phase2.cached_lower needs a ported backbone ({', '.join(PORTED)})")
        total = block_count(self.model.backbone)
        if not 0 < self.phase2.unfreeze_blocks < total:
            raise ConfigError(f"phase2.cached_lower needs 0 < phase2.unfreeze_blocks < {total} "
                              "(some blocks frozen below the cut, some trained above it)")


T = TypeVar("T")


def _section(kind: type[T], name: str, raw: Any) -> T:
    if not isinstance(raw, dict):
        raise ConfigError(f"'{name}' must be an object")
    fields = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    _check_keys(name, raw, set(fields))
    values: dict[str, Any] = {}
    for key, value in raw.items():
        # JSON has no tuples: sizes and filter lists come back as lists.
        values[key] = tuple(value) if isinstance(value, list) else value
    return kind(**values)


def _check_keys(where: str, raw: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed - {"comment", "_comment"})
    if unknown:
        raise ConfigError(f"unknown key(s) in '{where}': {', '.join(unknown)}")


def _choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} is {value!r}; choose one of {', '.join(allowed)}")


def _fraction(key: str, value: float, *, upper_open: bool = False) -> None:
    if not isinstance(value, int | float) or value < 0 or value > 1 or (upper_open and value == 1):
        raise ConfigError(f"{key} must be a number in [0, 1{')' if upper_open else ']'}")


def shared_root() -> Path:
    """``$WASTE_SORTER_SHARED`` if set, else ``<repo>/../shared`` (the team's read-only data)."""
    env = os.environ.get("WASTE_SORTER_SHARED")
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared"


def resolve_data_path(text: str) -> Path:
    """Expand ``{shared}`` and ``~``; a relative path is taken from the current directory,
    else from the repository root (so the shipped configs work from either)."""
    if not text:
        raise ConfigError("no dataset given: set data.path in the config or pass --data")
    path = Path(text.replace("{shared}", str(shared_root()))).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (REPO_ROOT / path).resolve()


def parse_epochs(text: str) -> tuple[int, int | None]:
    """``"N"`` sets both phases' epochs; ``"P1,P2"`` sets each (for --epochs-override)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"--epochs-override wants N or P1,P2, got {text!r}") from None
    if len(numbers) == 1:
        return numbers[0], numbers[0]
    if len(numbers) == 2:
        return numbers[0], numbers[1]
    raise ConfigError(f"--epochs-override wants N or P1,P2, got {text!r}")
