"""Config files: the shipped ones are valid, mistakes are named, paths resolve."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow")

from tests.training.synthetic import tiny_config, write_config  # noqa: E402
from training.__main__ import main  # noqa: E402
from training.config import (  # noqa: E402
    REPO_ROOT,
    AugmentConfig,
    Config,
    ConfigError,
    DataConfig,
    PhaseConfig,
    TrainConfig,
    parse_epochs,
    resolve_data_path,
)

SHIPPED = sorted((REPO_ROOT / "training" / "configs").glob("*.json"))


def test_shipped_configs_are_complete_and_valid() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"waste", "cifar10", "waste_cnn", "cifar10_cnn", "cifar10_resnet"} <= names
    for path in SHIPPED:
        raw = json.loads(path.read_text())
        config = Config.load(path)
        assert config.name == path.stem
        assert config.data.path.startswith("{shared}/data/")
        # Every hyper-parameter is written out, none left to a silent default.
        for section, kind in (("data", DataConfig), ("augment", AugmentConfig),
                              ("train", TrainConfig)):
            assert set(raw[section]) == {f.name for f in fields(kind)}, (path.name, section)
        optional = {"momentum", "unfreeze_blocks", "cached_lower"}  # defaults apply
        phase_keys = {f.name for f in fields(PhaseConfig)} - optional
        for phase in ("phase1", "phase2"):
            if phase in raw:
                assert set(raw[phase]) >= phase_keys, (path.name, phase)
        if config.uses_backbone:
            assert config.train.phase1_cached_features
            assert config.phase2.epochs > 0
            assert config.phase2.unfreeze_blocks > 0
            assert config.phase2.learning_rate < config.phase1.learning_rate
    cifar = Config.load(REPO_ROOT / "training" / "configs" / "cifar10.json")
    assert cifar.input_size == (32, 32)
    assert cifar.model.backbone_size == (160, 160)  # upsampled inside the graph


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"architecture": "backbone", "backbone": "resnet152"}}, "model.backbone"),
        ({"train": {"bacth_size": 8}}, "bacth_size"),
        ({"phase1": {"optimizer": "adam"}}, "phase1.optimizer"),
        ({"data": {"val_fraction": 0.6, "test_fraction": 0.4}}, "val_fraction"),
        ({"phase2": {"epochs": 3}}, "phase2"),  # the plain CNN has nothing to fine-tune
        ({"train": {"phase1_cached_features": True}}, "phase1_cached_features"),
        ({"augment": {"zoom": 1.5}}, "augment.zoom"),
    ],
)
def test_mistakes_are_named(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(tiny_config("bad", **change))


def test_cli_reports_a_bad_config_without_a_traceback(tmp_path: Path, capsys) -> None:
    path = write_config(tmp_path / "bad.json", tiny_config("bad", model={"colour": "red"}))
    assert main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "bad.json" in err
    assert "colour" in err
    assert not (tmp_path / "run").exists()


def test_epoch_override_parsing() -> None:
    assert parse_epochs("3") == (3, 3)
    assert parse_epochs("5,2") == (5, 2)
    with pytest.raises(ConfigError):
        parse_epochs("five")
    config = Config.from_dict(tiny_config("e")).with_epochs(2, None)
    assert config.phase1.epochs == 2
    assert config.phase2.epochs == 0


def test_data_paths_resolve_against_the_shared_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WASTE_SORTER_SHARED", str(tmp_path))
    assert resolve_data_path("{shared}/data/trashnet") == tmp_path / "data" / "trashnet"
    assert resolve_data_path("training/configs") == REPO_ROOT / "training" / "configs"
    with pytest.raises(ConfigError, match="--data"):
        resolve_data_path("")
