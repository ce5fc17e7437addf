"""CIFAR-10 readers: restricted unpickling of the official batches and the JPEG tarball."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.training
pytest.importorskip("tensorflow")

from training import cifar  # noqa: E402
from training.data import CifarSource, DataError, FolderSource, open_source, prepare  # noqa: E402


def _batch_bytes(n: int, seed: int) -> tuple[bytes, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    # The official layout: each row is the R plane, then G, then B (1024 bytes each).
    data = images.transpose(0, 3, 1, 2).reshape(n, 3072)
    obj = {b"batch_label": b"test", b"labels": labels, b"data": data,
           b"filenames": [f"{i}.png".encode() for i in range(n)]}
    # Protocol 3: like the official (Python 2) files, arrays go through _reconstruct only.
    return pickle.dumps(obj, protocol=3), images, labels


def _meta_bytes() -> bytes:
    return pickle.dumps({b"label_names": [n.encode() for n in cifar.LABELS],
                         b"num_cases_per_batch": 4}, protocol=3)


def _write_official(folder: Path, n: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder.mkdir(parents=True)
    truth = {}
    for seed, name in enumerate([*cifar.TRAIN_BATCHES, cifar.TEST_BATCH]):
        raw, images, labels = _batch_bytes(n, seed)
        (folder / name).write_bytes(raw)
        truth[name] = (images, labels)
    (folder / cifar.META).write_bytes(_meta_bytes())
    return truth


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_code_execution(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(marker)}, protocol=3)
    with pytest.raises(cifar.UnsafePickleError, match=r"posix\.system|os\.system"):
        cifar.restricted_load(io.BytesIO(payload))
    assert not marker.exists()
    with pytest.raises(cifar.UnsafePickleError, match=r"builtins?__\.eval|builtins\.eval"):
        cifar.restricted_load(io.BytesIO(pickle.dumps(eval, protocol=2)))


def test_malicious_batch_in_archive_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, raw in (("data_batch_1", pickle.dumps(_Evil(marker), protocol=2)),
                          (cifar.META, _meta_bytes())):
            info = tarfile.TarInfo(f"{cifar.BATCH_DIR}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    assert cifar.is_official_archive(archive)
    with pytest.raises(cifar.UnsafePickleError):
        cifar.load_official(archive)
    with pytest.raises(DataError, match="refusing to load global"):  # what the CLI reports
        open_source(archive, tmp_path / "cache")
    assert not marker.exists()


def test_official_batches_from_folder_and_archive(tmp_path: Path) -> None:
    folder = tmp_path / "src" / cifar.BATCH_DIR
    truth = _write_official(folder)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=cifar.BATCH_DIR)
    for path in (folder.parent, archive):
        data = cifar.load_official(path)
        assert data.labels == cifar.LABELS
        assert [b.name for b in data.batches] == [*cifar.TRAIN_BATCHES, cifar.TEST_BATCH]
        for batch in data.batches:
            images, labels = truth[batch.name]
            np.testing.assert_array_equal(batch.images, images)  # channel order and layout
            assert batch.labels.tolist() == labels


def test_official_source_keeps_the_test_batch(tmp_path: Path) -> None:
    _write_official(tmp_path / cifar.BATCH_DIR, n=3)
    source = open_source(tmp_path, tmp_path / "cache")
    assert isinstance(source, CifarSource)
    samples = source.samples()
    assert len(samples) == 18
    assert {s.fixed_split for s in samples if s.key.startswith("test_batch/")} == {"test"}
    prep = prepare(source, (40, 40), tmp_path / "cache")
    assert prep.images.shape[1:] == (40, 40, 3)  # upsampled with the app's resize


def _jpeg(rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), rgb).save(buf, format="JPEG")
    return buf.getvalue()


def test_jpeg_tarball_is_extracted_once_outside_the_repo(tmp_path: Path) -> None:
    archive = tmp_path / "cifar10-train.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for cls, rgb in (("cat", (200, 10, 10)), ("dog", (10, 10, 200))):
            for i in range(3):
                raw = _jpeg((rgb[0], rgb[1] + 40 * i, rgb[2]))
                info = tarfile.TarInfo(f"cifar10/train/{cls}/{i:04d}.jpg")
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    cache = tmp_path / "cache"
    source = open_source(archive, cache, "cifar10")
    assert isinstance(source, FolderSource)
    assert source.root.parts[-2:] == ("cifar10", "train")
    assert source.root.is_relative_to(cache)
    assert {s.label for s in source.samples()} == {"cat", "dog"}
    mtime = source.root.stat().st_mtime_ns
    assert open_source(archive, cache).root.stat().st_mtime_ns == mtime  # not re-extracted


def test_archive_with_path_traversal_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(ValueError, match="cannot extract"):
        cifar.extract_archive(archive, tmp_path / "cache")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "cache" / "escaped.txt").exists()
