"""Finding model files and choosing one by id or path.

Shipped models live in ``models/`` beside the app, user models in the data directory's
``models/``. Every ``*.onnx`` becomes a :class:`ModelEntry`; a broken file is listed with its
error and never stops the others. Sessions are opened once and cached per file (keyed on
modification time and size, so a replaced file is re-read).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from app.core.classifier import Classifier
from app.core.model_info import ModelError, ModelInfo

log = logging.getLogger(__name__)

USER_PREFIX = "user:"


@dataclass(frozen=True)
class ModelEntry:
    """One model file as listed to the user: either ``info`` or ``error`` is set."""

    id: str
    path: Path
    info: ModelInfo | None
    error: str | None
    shipped: bool

    @property
    def ok(self) -> bool:
        return self.error is None


_CacheKey = tuple[int, int]  # (mtime_ns, size)


class ModelRegistry:
    """Lists shipped and user models and opens them; safe to share between threads."""

    def __init__(self, shipped_dir: str | Path, user_dir: str | Path | None = None) -> None:
        self.shipped_dir = Path(shipped_dir)
        self.user_dir = Path(user_dir) if user_dir is not None else None
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[_CacheKey, Classifier | ModelError]] = {}

    def entries(self) -> list[ModelEntry]:
        """All model files, shipped first, each folder in name order.

        Shipped models keep the id from their metadata. A user model whose id is already taken
        is listed as ``user:<id>``. A file that cannot be opened is listed under its file
        name with ``error`` set.
        """
        entries: list[ModelEntry] = []
        taken: set[str] = set()
        for shipped, folder in ((True, self.shipped_dir), (False, self.user_dir)):
            for path in _onnx_files(folder):
                loaded = self._open(path)
                if isinstance(loaded, Classifier):
                    info: ModelInfo | None = loaded.info
                    error = None
                    base = loaded.info.id
                else:
                    info, error, base = None, str(loaded), path.stem
                model_id = _unique_id(base, path, taken, shipped)
                taken.add(model_id)
                entries.append(ModelEntry(model_id, path, info, error, shipped))
        return entries

    def ids(self) -> list[str]:
        """Ids of the models that open without error."""
        return [e.id for e in self.entries() if e.ok]

    def get(self, model_id: str) -> ModelEntry | None:
        """The entry listed as ``model_id``; else, for the name a station model was taught
        under (``canteen``), its newest version (``canteen-v3``)."""
        entries = self.entries()
        exact = next((e for e in entries if e.id == model_id), None)
        if exact is not None:
            return exact
        versions = [(taught_version(e.info), e) for e in entries
                    if e.info is not None and taught_name(e.info) == model_id]
        return max(versions, key=lambda v: v[0])[1] if versions else None

    def load(self, id_or_path: str | Path) -> Classifier:
        """The classifier for a listed id, or for any ``.onnx`` path.

        Raises :class:`ModelError` for a broken file or an unknown id (the message lists the
        ids that are available).
        """
        if isinstance(id_or_path, str):
            entry = self.get(id_or_path)
            if entry is not None:
                return self._classifier(entry.path)
        path = Path(id_or_path)
        if isinstance(id_or_path, Path) or _looks_like_path(str(id_or_path)) or path.is_file():
            return self._classifier(path.expanduser())
        available = ", ".join(self.ids()) or "none"
        raise ModelError(f"unknown model '{id_or_path}'; available: {available}")

    def _classifier(self, path: Path) -> Classifier:
        loaded = self._open(path)
        if isinstance(loaded, ModelError):
            raise loaded
        return loaded

    def _open(self, path: Path) -> Classifier | ModelError:
        """Open (or fetch from the cache) one file; errors are returned, not raised."""
        try:
            resolved = path.resolve()
            stat = resolved.stat()
            key: _CacheKey = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            resolved, key = path.absolute(), (-1, -1)  # missing: let Classifier name the error
        with self._lock:
            cached = self._cache.get(resolved)
            if cached is not None and cached[0] == key:
                return cached[1]
        try:
            result: Classifier | ModelError = Classifier(resolved)
        except ModelError as exc:
            log.warning("%s", exc)
            result = exc
        if key != (-1, -1):
            with self._lock:
                self._cache[resolved] = (key, result)
        return result


def taught_name(info: ModelInfo) -> str | None:
    """The name a station model was taught under (None for other models)."""
    taught = info.training.get("taught")
    name = taught.get("name") if isinstance(taught, dict) else None
    return name if isinstance(name, str) else None


def taught_version(info: ModelInfo) -> int:
    taught = info.training.get("taught")
    version = taught.get("version") if isinstance(taught, dict) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def _onnx_files(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if p.suffix.lower() == ".onnx" and not p.name.startswith(".")),
        key=lambda p: p.name.lower(),
    )


def _unique_id(base: str, path: Path, taken: set[str], shipped: bool) -> str:
    candidates = [base] if shipped else [base, USER_PREFIX + base, USER_PREFIX + path.stem]
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    stem = candidates[-1]
    n = 2
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}"


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(".onnx") or "/" in text or "\\" in text
