"""The station's model: promote, roll back step by step, the change log and its damage."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from app.core.paths import DataDir
from app.core.settings import Settings, load_settings, save_settings
from app.core.station_model import (
    Change,
    StationError,
    changes,
    current,
    log_path,
    promote,
    record,
    rollback,
    rollback_target,
)


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data").ensure()


def _saved_model(data: DataDir) -> str:
    """The model id as written in settings.json (not a default filled in on reading)."""
    raw = json.loads(data.settings_file.read_text(encoding="utf-8"))
    return str(raw["model_id"])


def _log(data: DataDir) -> list[tuple[str, str, str]]:
    raw = json.loads(log_path(data).read_text(encoding="utf-8"))
    return [(c["from"], c["to"], c["why"]) for c in raw["changes"]]


def test_promote_and_roll_back_through_several_versions(data: DataDir) -> None:
    assert current(data) == "waste"
    first = promote(data, "canteen-v1")
    assert (first.before, first.after, first.why) == ("waste", "canteen-v1", "promoted")
    assert _saved_model(data) == "canteen-v1"
    promote(data, "canteen-v2", why="better on 40 examples")
    assert current(data) == "canteen-v2"
    assert rollback_target(data) == "canteen-v1"

    back = rollback(data)
    assert (back.before, back.after, back.why) == ("canteen-v2", "canteen-v1", "rollback")
    assert _saved_model(data) == "canteen-v1"
    assert rollback_target(data) == "waste"

    promote(data, "canteen-v3")  # a promotion after a rollback
    assert current(data) == "canteen-v3"
    assert rollback(data).after == "canteen-v1", "v2 was already rolled back"
    assert current(data) == "canteen-v1"
    assert rollback(data).after == "waste"
    assert _saved_model(data) == "waste"

    with pytest.raises(StationError, match="nothing to roll back to"):
        rollback(data)
    assert current(data) == "waste"
    assert _log(data) == [
        ("waste", "canteen-v1", "promoted"),
        ("canteen-v1", "canteen-v2", "better on 40 examples"),
        ("canteen-v2", "canteen-v1", "rollback"),
        ("canteen-v1", "canteen-v3", "promoted"),
        ("canteen-v3", "canteen-v1", "rollback"),
        ("canteen-v1", "waste", "rollback"),
    ]
    assert [c.after for c in changes(data)] == [
        "canteen-v1",
        "canteen-v2",
        "canteen-v1",
        "canteen-v3",
        "canteen-v1",
        "waste",
    ]
    assert all(c.utc.endswith("Z") and "T" in c.utc for c in changes(data))


def test_promote_keeps_every_other_setting(data: DataDir) -> None:
    before = Settings(
        threshold=0.7,
        bin_preset="eu",
        language="vi",
        retention_days=30,
        class_thresholds={"yellow": 0.4},
    )
    save_settings(data.settings_file, before)
    promote(data, "canteen-v1")
    after, warnings = load_settings(data.settings_file)
    assert warnings == []
    assert after.model_id == "canteen-v1"
    assert (after.threshold, after.bin_preset, after.language, after.retention_days) == (
        0.7,
        "eu",
        "vi",
        30,
    )
    assert after.class_thresholds == {"yellow": 0.4}
    rollback(data)
    again, _ = load_settings(data.settings_file)
    assert again == before


def test_promote_the_current_model_is_refused(data: DataDir) -> None:
    with pytest.raises(StationError, match="'waste' is already this station's model"):
        promote(data, "waste")
    assert not log_path(data).exists()
    assert not data.settings_file.exists()


def test_rollback_with_no_history(data: DataDir) -> None:
    with pytest.raises(StationError, match="never changed"):
        rollback(data)
    with pytest.raises(StationError, match="never changed"):
        rollback_target(data)
    assert changes(data) == []
    assert not data.settings_file.exists(), "a failed rollback writes nothing"


def test_record_logs_a_change_the_caller_applied(data: DataDir) -> None:
    save_settings(data.settings_file, Settings(model_id="canteen-v1"))
    change = record(data, "waste", "canteen-v1", "promoted")
    assert isinstance(change, Change)
    assert current(data) == "canteen-v1", "record does not touch the settings"
    assert rollback_target(data) == "waste"
    assert rollback(data).after == "waste"
    assert current(data) == "waste"


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"changes": 5}',
        b'{"changes": "abc"}',
        b'{"other": []}',
        b'{"changes": [{"from": "waste"}]}',
        b"",
    ],
)
def test_a_damaged_log_reads_as_empty(
    data: DataDir, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = log_path(data)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="app.core.station_model"):
        assert changes(data) == []
    with pytest.raises(StationError, match="nothing to roll back"):
        rollback(data)
    promote(data, "canteen-v1")  # a damaged log never blocks a promotion ...
    assert _log(data) == [("waste", "canteen-v1", "promoted")]  # ... and is replaced
    assert rollback(data).after == "waste"


def test_entries_that_are_not_objects_are_skipped(data: DataDir) -> None:
    path = log_path(data)
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "changes": [
                    1,
                    "x",
                    None,
                    {"from": "waste", "to": "canteen-v1", "utc": "2026-01-01T00:00:00Z"},
                ]
            }
        ),
        encoding="utf-8",
    )
    assert changes(data) == [Change("waste", "canteen-v1", "2026-01-01T00:00:00Z", "")]
    assert rollback_target(data) == "waste"


def test_a_change_that_cannot_be_written_changes_nothing(data: DataDir) -> None:
    (data.root / "teach").write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(StationError, match="could not change the station's model"):
        promote(data, "canteen-v1")
    assert current(data) == "waste"
    assert not data.settings_file.exists()


def test_settings_that_cannot_be_saved_leave_the_log_as_it_was(data: DataDir) -> None:
    promote(data, "canteen-v1")
    data.settings_file.unlink()
    data.settings_file.mkdir()  # settings.json cannot be replaced now
    with pytest.raises(StationError, match="could not change the station's model"):
        promote(data, "canteen-v2")
    assert _log(data) == [("waste", "canteen-v1", "promoted")], "no change that did not happen"
    data.settings_file.rmdir()
    save_settings(data.settings_file, Settings(model_id="canteen-v1"))
    assert rollback(data).after == "waste"
