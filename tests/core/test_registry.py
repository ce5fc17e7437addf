"""ModelRegistry: ids, collisions, broken files listed with errors, loading by id or path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.core.classifier import Classifier
from app.core.model_info import ModelError
from app.core.paths import shipped_models_dir
from app.core.registry import ModelEntry, ModelRegistry
from tests.factories import RED, make_onnx_model, solid_rgb

WASTE = ("cardboard", "glass", "metal", "paper", "plastic", "trash")
CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    shipped = tmp_path / "shipped"
    user = tmp_path / "user"
    make_onnx_model(shipped / "waste.onnx", WASTE, model_id="waste")
    make_onnx_model(shipped / "cifar10.onnx", CIFAR, model_id="cifar10")
    make_onnx_model(user / "my_waste.onnx", WASTE, model_id="waste", version="9.9.9")
    make_onnx_model(user / "colours.onnx", ("red", "green", "blue"), model_id="colours")
    (user / "empty.onnx").write_bytes(b"")
    (user / "garbage.onnx").write_bytes(b"\x00\x01not a protobuf" * 50)
    make_onnx_model(user / "nometa.onnx", WASTE, raw_metadata={})
    (user / "readme.txt").write_text("not a model")
    return shipped, user


def _by_id(entries: list[ModelEntry]) -> dict[str, ModelEntry]:
    return {e.id: e for e in entries}


def test_entries_list_shipped_then_user_with_errors(dirs: tuple[Path, Path]) -> None:
    shipped, user = dirs
    entries = ModelRegistry(shipped, user).entries()
    ids = [e.id for e in entries]
    assert ids == ["cifar10", "waste", "colours", "empty", "garbage", "user:waste", "nometa"]
    by_id = _by_id(entries)
    assert by_id["waste"].shipped
    assert by_id["waste"].path == shipped / "waste.onnx"
    assert by_id["waste"].info is not None
    assert by_id["waste"].info.labels == WASTE
    assert not by_id["user:waste"].shipped
    assert by_id["user:waste"].info is not None
    assert by_id["user:waste"].info.version == "9.9.9"
    for broken in ("empty", "garbage", "nometa"):
        entry = by_id[broken]
        assert not entry.ok
        assert entry.info is None
        assert entry.error is not None
        assert entry.error.startswith(f"{broken}.onnx: ")
    assert by_id["colours"].ok
    assert by_id["colours"].error is None


def test_load_by_id_and_path(dirs: tuple[Path, Path]) -> None:
    shipped, user = dirs
    registry = ModelRegistry(shipped, user)
    waste = registry.load("waste")
    assert isinstance(waste, Classifier)
    assert waste.info.version == "1.0.0"
    assert registry.load("user:waste").info.version == "9.9.9"
    assert registry.load("colours").predict(solid_rgb(RED)).label == "red"
    assert registry.load(user / "colours.onnx").info.id == "colours"
    assert registry.load(str(user / "colours.onnx")).info.id == "colours"
    assert registry.load("waste") is waste, "sessions are cached"


def test_load_a_path_outside_the_folders(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    other = make_onnx_model(tmp_path / "elsewhere" / "x.onnx", ("a", "b"), model_id="x")
    assert ModelRegistry(*dirs).load(other).labels == ("a", "b")
    with pytest.raises(ModelError, match=r"^missing\.onnx: file not found"):
        ModelRegistry(*dirs).load(tmp_path / "missing.onnx")


def test_unknown_id_lists_available(dirs: tuple[Path, Path]) -> None:
    with pytest.raises(ModelError) as info:
        ModelRegistry(*dirs).load("nonsense")
    message = str(info.value)
    assert "unknown model 'nonsense'" in message
    assert "available: cifar10, waste, colours, user:waste" in message
    assert "garbage" not in message


def test_loading_a_broken_entry_raises_its_error(dirs: tuple[Path, Path]) -> None:
    registry = ModelRegistry(*dirs)
    with pytest.raises(ModelError, match=r"^nometa\.onnx: .*metadata"):
        registry.load("nometa")
    assert registry.load("cifar10").info.num_classes == 10, "others still load"


def test_replaced_file_is_reread(dirs: tuple[Path, Path]) -> None:
    shipped, user = dirs
    registry = ModelRegistry(shipped, user)
    first = registry.load("colours")
    path = user / "colours.onnx"
    make_onnx_model(path, ("red", "green", "blue"), model_id="colours", version="2.0.0")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = registry.load("colours")
    assert second is not first
    assert second.info.version == "2.0.0"


def test_new_user_model_appears(dirs: tuple[Path, Path]) -> None:
    shipped, user = dirs
    registry = ModelRegistry(shipped, user)
    assert "fresh" not in registry.ids()
    make_onnx_model(user / "fresh.onnx", ("a", "b"), model_id="fresh")
    assert "fresh" in registry.ids()


def test_missing_folders_are_fine(tmp_path: Path) -> None:
    assert ModelRegistry(tmp_path / "none", tmp_path / "nothing").entries() == []
    assert ModelRegistry(tmp_path / "none", None).entries() == []
    with pytest.raises(ModelError, match="available: none"):
        ModelRegistry(tmp_path / "none").load("waste")


def test_user_ids_that_collide_twice(tmp_path: Path) -> None:
    shipped, user = tmp_path / "s", tmp_path / "u"
    make_onnx_model(shipped / "w.onnx", ("a", "b"), model_id="waste")
    make_onnx_model(user / "a.onnx", ("a", "b"), model_id="waste")
    make_onnx_model(user / "b.onnx", ("a", "b"), model_id="waste")
    ids = [e.id for e in ModelRegistry(shipped, user).entries()]
    assert ids == ["waste", "user:waste", "user:b"]
    assert len(set(ids)) == len(ids)


def test_shipped_models_open_if_present() -> None:
    folder = shipped_models_dir()
    files = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    if not files:
        pytest.skip(f"no shipped models in {folder} yet")
    entries = ModelRegistry(folder, None).entries()
    assert [e.error for e in entries if not e.ok] == []
    assert {"waste", "cifar10"} <= {e.id for e in entries}
