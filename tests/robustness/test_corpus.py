"""Hostile image files through every way the app opens images: no crash, no hang, bounded
memory, and exactly one clear one-line error for each file that cannot be used.

The ~60-file subset runs in ``make test``; the 500+ corpus in ``make stress``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.core.paths import display_path
from tests.robustness import harness
from tests.robustness.corpus import EXPECTATIONS, CorpusFile, summarise
from tests.robustness.harness import CorpusReport, Outcome

REQUIRED_FAMILIES = (
    "truncated-jpeg", "truncated-png", "truncated-webp-lossy", "truncated-tiff-raw",
    "truncated-gif", "bitflip-jpeg", "huge-dimensions", "zero-size", "wrong-extension",
    "tiff-structure", "animated", "awkward-path", "not-an-image",
)  # fmt: skip


def assert_clean(report: CorpusReport) -> None:
    report.log()
    problems = report.problems()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    assert all(o.lines == 1 for o in report.outcomes)


def test_corpus_is_large_and_covers_every_family(
    corpus: list[CorpusFile], fast_corpus: list[CorpusFile]
) -> None:
    assert len(corpus) >= 500
    assert len({f.path for f in corpus}) == len(corpus)
    assert all(f.expect in EXPECTATIONS for f in corpus)
    assert all(f.path.exists() or f.path.is_symlink() for f in corpus)
    families = summarise(corpus)
    for family in REQUIRED_FAMILIES:
        assert families.get(family, 0) >= 1, family
    assert sum(f.expect == "error" for f in corpus) >= 250
    assert 45 <= len(fast_corpus) <= 75
    assert set(summarise(fast_corpus)) >= set(REQUIRED_FAMILIES)


def test_fast_subset_through_decode_image(fast_corpus: list[CorpusFile]) -> None:
    report = harness.decode_corpus(fast_corpus)
    assert_clean(report)
    assert report.max_rss_mb < 400  # the subset leaves out the 49-megapixel file
    assert report.counts()["refused"] >= 30


def test_fast_subset_through_cli_json(
    fast_corpus: list[CorpusFile], tiny_model: Path, tmp_path: Path
) -> None:
    report = harness.cli_corpus(fast_corpus, model=tiny_model, data_dir=tmp_path / "data")
    assert_clean(report)
    assert report.runs[0].returncode == 2


def test_fast_subset_through_cli_text(
    fast_corpus: list[CorpusFile], tiny_model: Path, tmp_path: Path
) -> None:
    report = harness.cli_corpus(
        fast_corpus, model=tiny_model, data_dir=tmp_path / "data", as_json=False
    )
    assert_clean(report)


def open_images_in_qt(qtbot, files: list[CorpusFile], model: Path) -> CorpusReport:
    """The GUI's open-images path: ``ImageBatchWorker`` decoding and classifying on its thread."""
    from app.core.classifier import Classifier
    from app.qt.sources import ImageBatchWorker

    wanted = [f for f in files if not f.path.is_dir()]  # a folder is expanded, not reported
    report = CorpusReport("qt open images", [Outcome(f) for f in wanted])
    lock = threading.Lock()
    last = [time.monotonic()]
    cursor = [0]

    def record(path: str, error: str | None) -> None:
        # Files come back in the order given; match by position, then check the name.
        with lock:
            now = time.monotonic()
            if cursor[0] >= len(wanted):
                report.extra.append(f"signal for a file never asked about: {path!r}")
                return
            o = report.outcomes[cursor[0]]
            cursor[0] += 1
            if path != display_path(o.file.path):
                note = f"{harness.relative(o.file)!r} reported as {path!r}"
                if harness.undecodable_name(o.file):
                    report.known.append(note)
                else:
                    report.extra.append(note)
            o.lines += 1
            o.ok, o.error, o.elapsed_s = error is None, error, now - last[0]
            last[0] = now

    worker = ImageBatchWorker([f.path for f in wanted], Classifier(model, intra_op_threads=1))
    direct = Qt.ConnectionType.DirectConnection
    worker.item_done.connect(lambda item: record(display_path(item.path), None), direct)
    worker.item_failed.connect(lambda path, error: record(path, error), direct)
    with qtbot.waitSignal(worker.batch_finished, timeout=60_000 + 5_000 * len(wanted)) as done:
        worker.start()
    assert worker.wait(10_000)
    ok, bad, cancelled = done.args
    assert not cancelled
    assert ok + bad == len(wanted)
    return report


def test_fast_subset_through_qt_open_images(
    qtbot, fast_corpus: list[CorpusFile], tiny_model: Path
) -> None:
    assert_clean(open_images_in_qt(qtbot, fast_corpus, tiny_model))


# --------------------------------------------------------------------------- make stress


@pytest.mark.slow
def test_full_corpus_through_decode_and_classify(
    corpus: list[CorpusFile], tiny_model: Path
) -> None:
    report = harness.decode_corpus(corpus, model=tiny_model)
    assert_clean(report)
    assert report.max_rss_mb < harness.RSS_LIMIT_MB


@pytest.mark.slow
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_full_corpus_through_cli(
    corpus: list[CorpusFile], tiny_model: Path, tmp_path: Path, as_json: bool
) -> None:
    report = harness.cli_corpus(corpus, model=tiny_model, data_dir=tmp_path, as_json=as_json)
    assert_clean(report)


@pytest.mark.slow
def test_full_corpus_through_qt_open_images(
    qtbot, corpus: list[CorpusFile], tiny_model: Path
) -> None:
    assert_clean(open_images_in_qt(qtbot, corpus, tiny_model))


@pytest.mark.slow
@pytest.mark.parametrize("rel", sorted(harness.KNOWN_ISSUES))
@pytest.mark.xfail(strict=True, reason="known contract breach, see harness.KNOWN_ISSUES")
def test_known_issue_is_still_present(corpus: list[CorpusFile], rel: str) -> None:
    """Fails (XPASS, strict) once the app is fixed: then drop the KNOWN_ISSUES entry."""
    item = next(f for f in corpus if harness.relative(f) == rel)
    report = harness.decode_corpus([item])
    assert report.problems(include_known=True) == []


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="Pillow UserWarnings (corrupt EXIF, tag data) and libtiff messages reach stderr",
)
def test_cli_stderr_carries_nothing_but_errors(
    corpus: list[CorpusFile], tiny_model: Path, tmp_path: Path
) -> None:
    report = harness.cli_corpus(corpus, model=tiny_model, data_dir=tmp_path)
    assert report.runs[0].stderr == ""
