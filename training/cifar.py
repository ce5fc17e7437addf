"""CIFAR-10 readers: the official pickled batches and the shared JPEG tarball.

The official ``cifar-10-python.tar.gz`` (or its extracted ``cifar-10-batches-py/``) stores each
batch as a Python pickle. The project bans pickle for its own data because unpickling can run
arbitrary code; these third-party files are only readable as pickles, so they go through
:class:`RestrictedUnpickler`, which resolves nothing but the few NumPy globals an ``ndarray``
needs and refuses every other global (``os.system``, ``builtins.eval``, ...). The shared JPEG
tarball is plain images and is extracted (safely) to a cache directory outside the repository.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

log = logging.getLogger(__name__)

BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
SIDE = 32
LABELS = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    # ``np.ndarray.__reduce__`` names the reconstruction function whatever NumPy calls its
    # module (numpy.core in 1.x, numpy._core in 2.x); files written by either refer to it.
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                           ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
    return allowed


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """The pickle asked for a global that is not on the allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only; any other global is refused."""

    _ALLOWED = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name} from a CIFAR batch file"
            ) from None


def restricted_load(stream: BinaryIO) -> Any:
    """Unpickle ``stream`` with :class:`RestrictedUnpickler` (bytes keys, as the files have)."""
    return RestrictedUnpickler(stream, encoding="bytes").load()


@dataclass(frozen=True)
class CifarBatch:
    name: str
    images: np.ndarray  # (N, 32, 32, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64 in 0..9


def _parse_batch(name: str, obj: Any) -> CifarBatch:
    if not isinstance(obj, dict):
        raise ValueError(f"{name}: not a CIFAR batch (expected a dict)")
    data, labels = obj.get(b"data"), obj.get(b"labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ValueError(f"{name}: 'data' is not a uint8 (N, 3072) array")
    if data.shape[1] != 3 * SIDE * SIDE or not isinstance(labels, list | np.ndarray):
        raise ValueError(f"{name}: unexpected shape {data.shape} or missing labels")
    label_arr = np.asarray(labels, dtype=np.int64)
    if label_arr.shape != (data.shape[0],) or label_arr.min() < 0 or label_arr.max() > 9:
        raise ValueError(f"{name}: labels do not match the images or are outside 0..9")
    # Rows are channel-planar (1024 R, 1024 G, 1024 B), each plane row-major.
    images = data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)
    return CifarBatch(name, np.ascontiguousarray(images), label_arr)


def _parse_meta(obj: Any) -> tuple[str, ...]:
    names = obj.get(b"label_names") if isinstance(obj, dict) else None
    if not isinstance(names, list) or len(names) != len(LABELS):
        raise ValueError("batches.meta: no list of 10 label names")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names)


def is_official_archive(path: Path) -> bool:
    """True for a tar archive that contains ``cifar-10-batches-py/data_batch_1``."""
    if not path.is_file() or not tarfile.is_tarfile(path):
        return False
    with tarfile.open(path) as tar:
        # The official archive has eight members; looking at the first few is enough and
        # avoids walking a 50,000-file image tarball.
        for count, member in enumerate(tar):
            if member.name.endswith(f"{BATCH_DIR}/data_batch_1"):
                return True
            if count >= 16:
                break
    return False


def find_batch_dir(path: Path) -> Path | None:
    """The folder holding the official batch files, if ``path`` is it or contains it."""
    for candidate in (path, path / BATCH_DIR):
        if (candidate / "data_batch_1").is_file() and (candidate / META).is_file():
            return candidate
    return None


def _iter_raw(path: Path) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of each batch and the meta file, from an archive or a folder."""
    wanted = {*TRAIN_BATCHES, TEST_BATCH, META}
    if path.is_file():
        with tarfile.open(path) as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    stream = tar.extractfile(member)
                    if stream is not None:
                        yield base, stream.read()
        return
    folder = find_batch_dir(path)
    if folder is None:
        raise FileNotFoundError(f"{path}: no CIFAR-10 batch files found")
    for base in sorted(wanted):
        if (folder / base).is_file():
            yield base, (folder / base).read_bytes()


@dataclass(frozen=True)
class CifarData:
    labels: tuple[str, ...]
    batches: tuple[CifarBatch, ...]  # train batches first, then test_batch when present


def load_official(path: Path) -> CifarData:
    """Read the official python-version CIFAR-10 from a ``.tar.gz`` or a batch folder."""
    batches: dict[str, CifarBatch] = {}
    labels: tuple[str, ...] | None = None
    for base, raw in _iter_raw(path):
        try:
            obj = restricted_load(io.BytesIO(raw))
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError) as exc:
            raise ValueError(f"{base}: damaged batch file ({exc})") from None
        if base == META:
            labels = _parse_meta(obj)
        else:
            batches[base] = _parse_batch(base, obj)
    missing = [b for b in TRAIN_BATCHES if b not in batches]
    if missing or labels is None:
        raise FileNotFoundError(f"{path}: incomplete CIFAR-10 ({', '.join(missing) or META})")
    order = [*TRAIN_BATCHES, TEST_BATCH]
    return CifarData(labels, tuple(batches[b] for b in order if b in batches))


# ----------------------------------------------------------------------- JPEG tarball


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def extract_archive(archive: Path, cache_dir: Path) -> Path:
    """Extract an image tarball once into ``cache_dir/extracted/<name>-<sha>`` and return it.

    The archive's sha256 names the folder, so a changed archive is extracted afresh and an
    unchanged one is reused. Extraction goes to a temporary folder renamed at the end, so an
    interrupted run never leaves a half-extracted dataset that looks complete. Tar's ``data``
    filter refuses absolute paths, ``..``, links out of the tree and device files.
    """
    digest = _file_sha256(archive)[:16]
    stem = archive.name.split(".")[0]
    target = cache_dir / "extracted" / f"{stem}-{digest}"
    if target.is_dir():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log.info("extracting %s to %s", archive, target)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(partial, filter="data")
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise ValueError(f"{archive}: cannot extract ({exc})") from None
    partial.rename(target)
    return target
