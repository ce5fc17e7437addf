"""What the live session keeps of each recorded item: the privacy setting ``keep_images``
("nothing" | "thumbnail" | "crop") and the model's input size for training crops."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pytestqt.qtbot import QtBot

from app.core.bins import BinRules, default_bins_path
from app.core.capture import AutoCapture
from app.core.classifier import Classifier
from app.core.history import HistoryStore
from app.qt.inference_worker import InferenceResult
from app.qt.live_session import LiveSession
from app.qt.recorder import HistoryWriter
from app.qt.sources import ImageResult
from tests.factories import make_onnx_model

CROP_SIZE = (32, 24)  # (width, height): the model's input, not square
RED = np.zeros((48, 64, 3), np.uint8)
RED[..., 0] = 230


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    folder = tmp_path_factory.mktemp("model")
    return Classifier(make_onnx_model(folder / "m.onnx", size=(24, 32), model_id="m"))


@pytest.fixture
def station(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[LiveSession, HistoryStore]]:
    store = HistoryStore(tmp_path / "history.sqlite3")
    writer = HistoryWriter(store)
    session = LiveSession(
        BinRules.load(default_bins_path()), writer, AutoCapture(), auto_capture=False
    )
    writer.start()
    yield session, store
    assert writer.stop()
    store.close()


def save_image(qtbot: QtBot, session: LiveSession, model: Classifier, name: str) -> int:
    """Open one picture, as File > Open does; returns the id of its committed record."""
    with qtbot.waitSignal(session.record_saved, timeout=5000) as saved:
        session.on_image_result(ImageResult(Path(name), RED, model.predict(RED)))
    rid = saved.args[0]
    assert isinstance(rid, int)
    return rid


def test_crop_setting_keeps_a_crop_of_the_models_input_size(
    qtbot: QtBot, station: tuple[LiveSession, HistoryStore], model: Classifier
) -> None:
    session, store = station
    session.keep_images = "crop"
    session.crop_size = CROP_SIZE

    rid = save_image(qtbot, session, model, "a.png")

    crop = store.crop(rid)
    assert crop is not None
    with Image.open(io.BytesIO(crop)) as img:
        assert img.format == "JPEG"
        assert img.size == CROP_SIZE
        pixels = np.asarray(img.convert("RGB"), np.float64)
    assert pixels[..., 0].mean() > 200
    assert pixels[..., 1:].mean() < 30
    assert store.thumbnail(rid) is not None, "the thumbnail is kept too"
    got = store.get(rid)
    assert got is not None
    assert got.label == "red"

    # A camera item recorded by hand (Space) keeps one the same way.
    session.resume_live()
    session.on_live_result(InferenceResult(RED, model.predict(RED), 0.0, 0.0, 1, "camera:0"))
    with qtbot.waitSignal(session.record_saved, timeout=5000) as saved:
        session.record_current()
    live = saved.args[0]
    assert live != rid
    live_crop = store.crop(live)
    assert live_crop is not None
    with Image.open(io.BytesIO(live_crop)) as img:
        assert img.size == CROP_SIZE
    assert store.count_crops() == 2


def test_nothing_keeps_neither_thumbnail_nor_crop(
    qtbot: QtBot, station: tuple[LiveSession, HistoryStore], model: Classifier
) -> None:
    session, store = station
    session.keep_images = "nothing"
    session.crop_size = CROP_SIZE
    rid = save_image(qtbot, session, model, "a.png")
    assert store.thumbnail(rid) is None
    assert store.crop(rid) is None
    got = store.get(rid)
    assert got is not None
    assert not got.has_thumbnail
    assert store.count_crops() == 0


def test_thumbnail_only_and_crop_before_a_model_is_loaded(
    qtbot: QtBot, station: tuple[LiveSession, HistoryStore], model: Classifier
) -> None:
    session, store = station
    session.crop_size = CROP_SIZE
    session.keep_images = "thumbnail"
    thumb_only = save_image(qtbot, session, model, "a.png")
    assert store.thumbnail(thumb_only) is not None
    assert store.crop(thumb_only) is None

    # "crop" while the model's input size is not known yet: the thumbnail alone.
    session.keep_images = "crop"
    session.crop_size = None
    early = save_image(qtbot, session, model, "b.png")
    assert store.thumbnail(early) is not None
    assert store.crop(early) is None
    assert store.count_crops() == 0
