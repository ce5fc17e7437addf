"""Where the app finds its shipped files and where it keeps user data."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "waste-sorter"
DATA_DIR_ENV = "WASTE_SORTER_DATA_DIR"


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` as valid Unicode text, for output, JSON, Qt strings and the history database.

    On POSIX a file name may hold bytes that are not UTF-8; Python carries them as lone
    surrogates (``b"\\xff"`` becomes ``"\\udcff"``), which cannot be encoded and crash a
    print, a ``json`` line written to a strict stream, or an SQLite insert. Such bytes become
    the visible escape ``\\xff``; any other text is returned unchanged.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def resource_root() -> Path:
    """The folder holding ``models/`` and ``resources/``: the bundle when frozen, else the repo."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root)
    return Path(__file__).resolve().parents[2]


def shipped_models_dir() -> Path:
    return resource_root() / "models"


def resources_dir() -> Path:
    return resource_root() / "resources"


def default_data_dir() -> Path:
    """``$WASTE_SORTER_DATA_DIR`` if set, else the per-user application data directory."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class DataDir:
    """The per-user data directory: the only place the app writes."""

    root: Path

    @classmethod
    def resolve(cls, override: str | Path | None = None) -> DataDir:
        root = Path(override).expanduser() if override else default_data_dir()
        return cls(root)

    def ensure(self) -> DataDir:
        self.root.mkdir(parents=True, exist_ok=True)
        self.user_models.mkdir(exist_ok=True)
        return self

    @property
    def history_db(self) -> Path:
        return self.root / "history.sqlite3"

    @property
    def settings_file(self) -> Path:
        return self.root / "settings.json"

    @property
    def bins_override(self) -> Path:
        return self.root / "bins.json"

    @property
    def user_models(self) -> Path:
        return self.root / "models"

    @property
    def exports(self) -> Path:
        return self.root / "exports"
