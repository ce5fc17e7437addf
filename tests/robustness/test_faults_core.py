"""Faults under the core: full or read-only disk, a database locked by another process,
model files deleted or damaged while in use, a camera that disappears and comes back.

The app must say what happened (a HistoryError/ModelError/camera message with a clear
one-line text), keep working, and never lose a record it reported as saved.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from app.core.history import HistoryError, HistoryStore, NewRecord
from app.core.model_info import ModelError
from app.core.registry import ModelRegistry
from tests.factories import make_onnx_model
from tests.robustness import faults
from tests.robustness.harness import clear_message


def record(i: int, thumbnail_kib: int = 0) -> NewRecord:
    rng = np.random.default_rng(i)
    return NewRecord(
        source=f"fault-test-{i}",
        model_id="waste",
        model_version="1.0.0",
        label="glass",
        confidence=0.9,
        top_k=[("glass", 0.9), ("metal", 0.1)],
        bin_id="glass",
        unsure=False,
        thumbnail=rng.bytes(thumbnail_kib * 1024) if thumbnail_kib else None,
    )


def assert_all_kept(path: Path, confirmed: dict[int, str]) -> None:
    """Every confirmed id is stored with its source, and SQLite finds no damage."""
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with HistoryStore(path) as store:
        assert store.recovered_from is None
        for rid, source in confirmed.items():
            rec = store.get(rid)
            assert rec is not None, f"record {rid} was confirmed but is gone"
            assert rec.source == source


def assert_clear(exc: Exception) -> None:
    assert clear_message(str(exc)) is None, str(exc)


@pytest.fixture
def small_disk(tmp_path: Path):
    try:
        with faults.tmpfs(tmp_path / "mnt", "2m") as mnt:
            yield mnt
    except faults.MountUnavailable as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")


def test_full_disk_refuses_writes_clearly_and_keeps_every_saved_record(small_disk: Path) -> None:
    ballast = small_disk / "ballast.bin"
    ballast.write_bytes(b"\0" * 256 * 1024)  # freed later, to show the store recovers
    db = small_disk / "history.sqlite3"
    confirmed: dict[int, str] = {}
    store = HistoryStore(db)

    def fill_until_it_fails() -> None:
        for i in range(10_000):
            rid = store.add(record(i, thumbnail_kib=24))
            confirmed[rid] = f"fault-test-{i}"

    with pytest.raises(HistoryError) as info:
        fill_until_it_fails()
    faults.count("disk full (2 MB tmpfs)")
    assert info.value.kind == "full"
    assert_clear(info.value)
    assert len(confirmed) > 10
    assert store.count() == len(confirmed)  # still readable, nothing half-written
    ballast.unlink()
    rid = store.add(record(99_999))  # the same store works again once there is room
    confirmed[rid] = "fault-test-99999"
    store.close()
    assert_all_kept(db, confirmed)


def _open_or_error(db: Path) -> tuple[HistoryStore | None, HistoryError | None]:
    try:
        return HistoryStore(db), None
    except HistoryError as exc:
        return None, exc


def test_read_only_data_dir_is_reported_clearly_and_recovers(small_disk: Path) -> None:
    """The data dir is read-only when the app starts (a full remount needs the files
    closed, so "goes read-only while running" is covered by the GUI-level test)."""
    db = small_disk / "history.sqlite3"
    with HistoryStore(db) as store:
        confirmed = {store.add(record(i)): f"fault-test-{i}" for i in range(5)}
    faults.remount(small_disk, read_only=True)
    faults.count("data dir read-only")
    try:
        store, refusal = _open_or_error(db)
        if refusal is not None:  # refusing to open is fine, if it says why
            assert refusal.kind in ("readonly", "io"), refusal.kind
            assert_clear(refusal)
        else:
            assert store is not None
            with store:
                assert {r.id for r in store.query(limit=10)} == set(confirmed)
                with pytest.raises(HistoryError) as info:
                    store.add(record(5))
                assert info.value.kind in ("readonly", "io")
                assert_clear(info.value)
        with pytest.raises(HistoryError) as fresh:  # no database there yet
            HistoryStore(small_disk / "other.sqlite3")
        assert fresh.value.kind in ("readonly", "io")
        assert_clear(fresh.value)
    finally:
        faults.remount(small_disk, read_only=False)
    with HistoryStore(db) as store:
        confirmed[store.add(record(6))] = "fault-test-6"
    assert_all_kept(db, confirmed)


def test_database_locked_by_another_process(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    store = HistoryStore(db, timeout_s=0.3)
    confirmed = {store.add(record(i)): f"fault-test-{i}" for i in range(3)}
    with faults.database_locked(db):
        with pytest.raises(HistoryError) as info:
            store.add(record(3))
        assert info.value.kind == "locked"
        assert_clear(info.value)
        assert "another program" in str(info.value)
        assert len(store.query(limit=10)) == 3  # WAL: reading goes on under the lock
    confirmed[store.add(record(4))] = "fault-test-4"
    store.close()
    assert_all_kept(db, confirmed)


def test_lock_released_while_waiting_is_not_an_error(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite3"
    store = HistoryStore(db, timeout_s=10.0)
    store.add(record(0))
    with faults.database_locked(db) as holder:
        assert holder.stdin is not None
        threading.Timer(0.5, lambda: (holder.stdin.write("\n"), holder.stdin.flush())).start()
        rid = store.add(record(1))  # waits in busy_timeout, then succeeds
    store.close()
    assert_all_kept(db, {rid: "fault-test-1"})


@pytest.mark.parametrize("how", ["delete", "truncate", "garbage"])
def test_model_file_damaged_while_classifying(tmp_path: Path, how: str) -> None:
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    make_onnx_model(shipped / "spare.onnx", ("a", "b", "c"), model_id="spare")
    victim = make_onnx_model(user / "victim.onnx", ("red", "green", "blue"), model_id="victim")
    registry = ModelRegistry(shipped, user)
    classifier = registry.load("victim")
    frame = np.full((48, 64, 3), (255, 0, 0), np.uint8)
    errors: list[BaseException] = []
    labels: list[str] = []
    stop = threading.Event()

    def classify_forever() -> None:
        while not stop.is_set():
            try:
                labels.append(classifier.predict(frame).label)
            except BaseException as exc:
                errors.append(exc)
                return

    worker = threading.Thread(target=classify_forever, name="fault-classifier")
    worker.start()
    try:
        while len(labels) < 5:
            worker.join(0.01)
        faults.corrupt_file(victim, how)
        before = len(labels)
        while len(labels) < before + 20 and worker.is_alive():
            worker.join(0.01)
    finally:
        stop.set()
        worker.join(10)
    assert errors == []  # the open session keeps working from memory
    assert set(labels) == {"red"}

    with pytest.raises(ModelError) as info:
        registry.load("victim")
    assert_clear(info.value)
    if how != "delete":
        assert "victim.onnx" in str(info.value)
    entries = {e.id: e for e in registry.entries()}
    assert entries["spare"].ok  # the other model is unaffected
    broken = [e for e in entries.values() if e.path == victim]
    assert all(not e.ok and e.error for e in broken)
    assert registry.load("spare").predict(frame).label in ("a", "b", "c")


def test_model_file_restored_is_picked_up_again(tmp_path: Path) -> None:
    user = tmp_path / "user"
    model = make_onnx_model(user / "m.onnx", ("red", "green", "blue"), model_id="m")
    backup = shutil.copy(model, tmp_path / "backup.onnx")
    registry = ModelRegistry(tmp_path / "none", user)
    assert registry.load("m").info.id == "m"
    faults.corrupt_file(model, "garbage")
    with pytest.raises(ModelError, match=r"m\.onnx: not a valid ONNX model"):
        registry.load("m")
    shutil.copy(backup, model)
    faults.count("model file restored")
    assert registry.load("m").info.id == "m"


def test_camera_disappears_and_comes_back(qtbot) -> None:
    from app.qt.camera_worker import CameraState, CameraWorker

    state: dict[str, int] = {}
    worker = CameraWorker(lambda: faults.FlakyCamera(state), fail_after_s=0.3, retry_s=0.2)
    states: list[tuple[str, str]] = []
    frames: list[float] = []
    worker.state_changed.connect(lambda s, text: states.append((s, text)))
    worker.frame_ready.connect(lambda _frame, t: frames.append(t))
    worker.start()
    try:
        qtbot.waitUntil(lambda: state.get("delivered", 0) >= 30, timeout=15_000)
    finally:
        assert worker.stop()
    seen = [s for s, _ in states]
    live = CameraState.LIVE.value
    retrying = CameraState.RETRYING.value
    first_retry = seen.index(retrying)
    assert live in seen[:first_retry], seen
    assert live in seen[first_retry:], "the camera never came back"
    assert all(text for _, text in states)
    assert any("unplugged" in text or "stopped delivering" in text for _, text in states)
    assert any("Cannot open" in text for _, text in states)
    assert state["refused"] == 2
    assert len(frames) >= 30


def test_read_only_data_dir_message_names_the_cause(small_disk: Path) -> None:
    (small_disk / "data").mkdir()
    faults.remount(small_disk, read_only=True)
    try:
        with pytest.raises(HistoryError) as info:
            HistoryStore(small_disk / "data" / "history.sqlite3")
    finally:
        faults.remount(small_disk, read_only=False)
    assert "read-only" in str(info.value)
