"""File names that are not UTF-8 become visible escapes wherever they are shown or stored."""

from __future__ import annotations

import os
from pathlib import Path

from app.core.history import HistoryStore, RecordFilter
from app.core.paths import display_path
from tests.core.history_helpers import rec


def test_display_path_escapes_only_undecodable_bytes() -> None:
    assert display_path(Path("/tmp/ordinary ü.png")) == "/tmp/ordinary ü.png"
    assert display_path(os.fsdecode(b"/tmp/caf\xe9 \xff.png")) == "/tmp/caf\\xe9 \\xff.png"
    assert display_path("plain text") == "plain text"
    display_path(os.fsdecode(b"\xff")).encode("utf-8")  # always encodable


def test_history_stores_a_non_utf8_source_as_valid_text(tmp_path: Path) -> None:
    raw = os.fsdecode(b"/photos/caf\xe9.png")
    with HistoryStore(tmp_path / "history.sqlite3") as store:
        store.add(rec(source=raw, source_kind="file"))
        store.add_many([rec(source=raw, source_kind="file")])
        records = store.query(RecordFilter(), limit=10, offset=0, order="asc")
    assert [r.source for r in records] == ["/photos/caf\\xe9.png"] * 2
