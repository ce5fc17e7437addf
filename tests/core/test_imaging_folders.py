"""Folder walking reports what it cannot use instead of skipping it silently (issue 15)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from app.core.imaging import iter_image_files
from tests.factories import make_too_deep_folder

AS_ROOT = os.name == "posix" and os.geteuid() == 0


def walk(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    errors: list[tuple[Path, str]] = []
    files = list(iter_image_files(paths, on_error=lambda p, m: errors.append((p, m))))
    return files, errors


def test_broken_link_to_a_folder_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (root / "a.png").write_bytes(b"x")
    (root / "old shots").symlink_to(tmp_path / "moved away")  # a folder that is gone
    (root / "notes.txt").write_bytes(b"x")  # an ordinary non-image file stays silent
    files, errors = walk([root])
    assert files == [root / "a.png"]
    assert errors == [(root / "old shots", "broken symbolic link (its target does not exist)")]


def test_folder_too_deep_to_list_is_reported_even_as_root(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (root / "a.png").write_bytes(b"x")
    make_too_deep_folder(root)
    files, errors = walk([root])
    assert files == [root / "a.png"]
    assert len(errors) == 1
    where, message = errors[0]
    assert where.is_relative_to(root / "deep")
    assert len(os.fsencode(where)) > 4096
    assert message == "cannot read folder (file name too long)"


@pytest.mark.skipif(os.name != "posix" or AS_ROOT, reason="needs a non-root POSIX user")
def test_unreadable_subfolder_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "locked").mkdir(parents=True)
    (root / "locked" / "b.png").write_bytes(b"x")
    (root / "a.png").write_bytes(b"x")
    (root / "locked").chmod(0)
    try:
        files, errors = walk([root])
    finally:
        (root / "locked").chmod(0o755)
    assert files == [root / "a.png"]
    assert errors == [(root / "locked", "cannot read folder (permission denied)")]


def test_without_a_handler_problems_are_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    with caplog.at_level(logging.WARNING, logger="app.core.imaging"):
        assert list(iter_image_files([tmp_path])) == []
    assert "broken symbolic link" in caplog.text
    assert str(tmp_path / "gone") in caplog.text
