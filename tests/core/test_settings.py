"""Settings: defaults, round trip, upgrades from older schemas, broken files, wrong types,
atomic save."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app.core.settings import SETTINGS_SCHEMA, Settings, load_settings, save_settings


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    settings, warnings = load_settings(tmp_path / "settings.json")
    assert settings == Settings()
    assert warnings == []
    assert (settings.camera, settings.model_id) == ("0", "waste")
    assert settings.threshold is None, "the model's recommendation"
    assert settings.retention_days == 0
    assert settings.auto_capture is True
    assert settings.bin_preset == "generic"


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "settings.json"
    custom = Settings(
        camera="/dev/video2",
        resolution=(1280, 720),
        model_id="user:waste",
        threshold=0.45,
        class_thresholds={"glass": 0.8, "trash": 0.3},
        auto_capture=False,
        capture_sensitivity=0.25,
        capture_hold_s=2.5,
        keep_images="crop",
        retention_days=90,
        bin_preset="vietnam",
        bins_file="/etc/bins.json",
        language="de",
    )
    save_settings(path, custom)
    loaded, warnings = load_settings(path)
    assert loaded == custom
    assert warnings == []
    assert json.loads(path.read_text(encoding="utf-8"))["resolution"] == [1280, 720]
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp files left


def test_no_threshold_round_trips_as_null(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    save_settings(path, Settings(class_thresholds={"glass": 0.8}))
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert (stored["schema"], stored["threshold"]) == (SETTINGS_SCHEMA, None)
    assert load_settings(path) == (Settings(class_thresholds={"glass": 0.8}), [])


# A schema-1 file as the previous app wrote it (every field, threshold always a number).
SCHEMA_1 = {
    "schema": 1,
    "camera": "1",
    "resolution": [1280, 720],
    "model_id": "waste",
    "threshold": 0.6,
    "class_thresholds": {"trash": 0.5},
    "auto_capture": True,
    "capture_sensitivity": 0.5,
    "capture_hold_s": 1.0,
    "store_thumbnails": True,
    "retention_days": 30,
    "bin_preset": "vietnam",
    "bins_file": None,
    "language": "vi",
}


@pytest.mark.parametrize(
    ("stored", "loaded"),
    [
        (0.6, None),  # the old default: the user never chose it, so follow the model
        (0.45, 0.45),  # chosen by the user: kept
        (0.8, 0.8),
        (0, 0.0),
    ],
)
def test_schema_1_file_is_upgraded(tmp_path: Path, stored: float, loaded: float | None) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({**SCHEMA_1, "threshold": stored}), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert warnings == []
    assert settings == Settings(
        camera="1",
        resolution=(1280, 720),
        threshold=loaded,
        class_thresholds={"trash": 0.5},  # per-class values were always the user's own
        retention_days=30,
        bin_preset="vietnam",
        language="vi",
    )
    assert json.loads(path.read_text(encoding="utf-8"))["schema"] == 1, "loading writes nothing"
    save_settings(path, settings)
    assert json.loads(path.read_text(encoding="utf-8"))["schema"] == SETTINGS_SCHEMA
    assert load_settings(path) == (settings, [])  # not upgraded a second time


def test_current_and_hand_written_files_keep_0_6(tmp_path: Path) -> None:
    """Only schema 1 had 0.6 as a default; in a newer or schema-less (hand-written) file
    it was chosen."""
    path = tmp_path / "settings.json"
    for data in ({"schema": SETTINGS_SCHEMA, "threshold": 0.6}, {"threshold": 0.6}):
        path.write_text(json.dumps(data), encoding="utf-8")
        assert load_settings(path) == (Settings(threshold=0.6), [])
    path.write_text(json.dumps({"schema": 99, "threshold": 0.6}), encoding="utf-8")
    assert load_settings(path) == (Settings(threshold=0.6), []), "a newer file is read as is"


@pytest.mark.parametrize("schema", ["1", True, 0, None])
def test_unreadable_schema_is_read_as_current(tmp_path: Path, schema: object) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"schema": schema, "threshold": 0.6}), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings == Settings(threshold=0.6)
    assert len(warnings) == 1
    assert "schema" in warnings[0]


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().threshold = 0.1  # type: ignore[misc]
    assert dataclasses.replace(Settings(), threshold=0.1).threshold == 0.1


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2]", '"just a string"', "\udcff"])
def test_broken_file_is_moved_aside(tmp_path: Path, text: str) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    settings, warnings = load_settings(path)
    assert settings == Settings()
    assert len(warnings) == 1
    assert "broken" in warnings[0]
    moved = list(tmp_path.glob("settings.json.broken-*"))
    assert len(moved) == 1
    assert moved[0].name in warnings[0]
    assert moved[0].read_bytes() == text.encode("utf-8", "surrogateescape")
    assert not path.exists()
    # A second broken file in the same second gets its own name.
    path.write_text("{", encoding="utf-8")
    load_settings(path)
    assert len(list(tmp_path.glob("settings.json.broken-*"))) == 2


def test_unknown_keys_ignored(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"threshold": 0.7, "from_the_future": {"x": 1}}), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings == Settings(threshold=0.7)
    assert warnings == []


def test_wrong_types_fall_back_per_field(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    data = {
        "camera": 1,  # a bare index is accepted
        "resolution": [640, "480"],
        "model_id": "",
        "threshold": True,  # a bool is not a number here
        "class_thresholds": {"glass": 0.9, "paper": 7},
        "auto_capture": "yes",
        "capture_sensitivity": 1.5,
        "capture_hold_s": 0,
        "keep_images": "nothing",
        "retention_days": -3,
        "bin_preset": "mars",  # not a shipped preset
        "bins_file": None,
        "language": "fr",
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings == Settings(camera="1", keep_images="nothing", language="fr")
    bad = {w.split("'")[1] for w in warnings}
    assert bad == {
        "resolution", "model_id", "threshold", "class_thresholds", "auto_capture",
        "capture_sensitivity", "capture_hold_s", "retention_days", "bin_preset",
    }  # fmt: skip
    assert path.exists()  # a readable file with bad values is not moved


def test_null_allowed_only_where_optional(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"resolution": None, "camera": None}), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings.resolution is None
    assert settings.camera == "0"
    assert len(warnings) == 1
    assert "camera" in warnings[0]


def test_failed_save_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "settings.json"
    save_settings(path, Settings(language="en"))
    before = path.read_bytes()

    def refuse(self: Path, target: Path) -> Path:
        raise OSError("disk on fire")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(OSError, match="disk on fire"):
        save_settings(path, Settings(language="de"))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


@pytest.mark.parametrize(("stored", "kept"), [(True, "thumbnail"), (False, "nothing"),
                                              (None, "thumbnail")])
def test_schema_2_thumbnail_switch_becomes_keep_images(
    tmp_path: Path, stored: bool | None, kept: str
) -> None:
    path = tmp_path / "settings.json"
    data: dict[str, object] = {"schema": 2, "model_id": "waste"}
    if stored is not None:
        data["store_thumbnails"] = stored
    path.write_text(json.dumps(data), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert (settings.keep_images, warnings) == (kept, [])


def test_an_unknown_keep_images_value_falls_back_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"keep_images": "everything"}), encoding="utf-8")
    settings, warnings = load_settings(path)
    assert settings.keep_images == "thumbnail"
    assert any("keep_images" in w for w in warnings)
