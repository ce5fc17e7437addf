"""``classify --record`` keeps what the privacy setting says: a training crop of the model's
input size only when ``keep_images`` is "crop" (run in-process, on a tiny real model)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import cli
from app.core.history import HistoryStore
from app.core.paths import DataDir
from app.core.settings import Settings, save_settings
from tests.factories import BLUE, make_onnx_model, write_image

MODEL_SIZE = (24, 40)  # (height, width): not square, so a swapped crop size shows


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model")
    return make_onnx_model(folder / "tiny.onnx", size=MODEL_SIZE, model_id="tiny")


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pictures")
    return write_image(folder / "blue item.png", "png", size=(90, 60), color=BLUE)


def classify_and_record(
    tmp_path: Path, model: Path, picture: Path, keep: str, capsys: pytest.CaptureFixture[str]
) -> tuple[HistoryStore, int]:
    data = DataDir(tmp_path / "data").ensure()
    save_settings(data.settings_file, Settings(keep_images=keep))
    rc = cli.main(
        ["classify", "--record", "--data-dir", str(data.root), "--model", str(model), str(picture)]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "blue" in out.out.lower()
    store = HistoryStore(data.history_db)
    records = store.query()
    assert len(records) == 1
    assert records[0].label == "blue"
    assert records[0].source_kind == "cli"
    return store, records[0].id


def test_classify_record_keeps_a_crop_of_the_models_input_size(
    tmp_path: Path, model: Path, picture: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, rid = classify_and_record(tmp_path, model, picture, "crop", capsys)
    with store:
        crop = store.crop(rid)
        assert crop is not None
        with Image.open(io.BytesIO(crop)) as img:
            assert img.format == "JPEG"
            assert img.size == (MODEL_SIZE[1], MODEL_SIZE[0])  # (width, height)
            pixels = np.asarray(img.convert("RGB"), np.float64)
        assert pixels[..., 2].mean() > 230
        assert pixels[..., :2].mean() < 25
        assert store.thumbnail(rid) is not None
        assert store.count_crops() == 1
        assert list(store.teaching_images()) == [], "recorded, not yet corrected or confirmed"


@pytest.mark.parametrize(("keep", "thumbnail"), [("thumbnail", True), ("nothing", False)])
def test_classify_record_without_crop_setting_keeps_none(
    tmp_path: Path,
    model: Path,
    picture: Path,
    capsys: pytest.CaptureFixture[str],
    keep: str,
    thumbnail: bool,
) -> None:
    store, rid = classify_and_record(tmp_path, model, picture, keep, capsys)
    with store:
        assert store.crop(rid) is None
        assert store.count_crops() == 0
        assert (store.thumbnail(rid) is not None) is thumbnail
