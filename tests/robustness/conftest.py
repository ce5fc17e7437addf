"""Fixtures for the robustness suite: the hostile corpus, a tiny model, a station video."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.factories import make_onnx_model
from tests.robustness.corpus import CorpusFile, build_corpus, fast_subset

REPO = Path(__file__).resolve().parents[2]
LABELS = ("red", "green", "blue")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[CorpusFile]:
    """The whole corpus (500+ files), built once per session."""
    return build_corpus(tmp_path_factory.mktemp("robustness") / "corpus")


@pytest.fixture(scope="session")
def fast_corpus(corpus: list[CorpusFile]) -> list[CorpusFile]:
    return fast_subset(corpus)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) ONNX classifier: the suite is about inputs, not about model speed."""
    return make_onnx_model(
        tmp_path_factory.mktemp("models") / "tiny.onnx", LABELS, model_id="tiny"
    )


@pytest.fixture(scope="session")
def station_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos held in front of an empty backdrop, 30 fps, short holds (MJPG/AVI)."""
    from tests.video_factory import write_station_video

    photos = sorted((REPO / "resources" / "samples").glob("*.jpg"))
    if not photos:
        pytest.skip("resources/samples has no photos to build a station video from")
    out = tmp_path_factory.mktemp("video") / "station.avi"
    return write_station_video(out, photos, fps=30.0, hold_s=1.2, empty_s=0.8)


REPORT_ENV = "WASTE_SORTER_ROBUSTNESS_REPORT"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With $WASTE_SORTER_ROBUSTNESS_REPORT set, write what was tried (for python -m bench)."""
    target = os.environ.get(REPORT_ENV)
    if not target:
        return
    from tests.robustness import faults, harness

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    outcomes = {}
    if reporter is not None:
        outcomes = {k: len(v) for k, v in reporter.stats.items() if k in
                    ("passed", "failed", "error", "skipped", "xfailed", "xpassed")}  # fmt: skip
    Path(target).write_text(json.dumps({
        "exitstatus": int(exitstatus), "outcomes": outcomes, "corpus_runs": harness.RUN_LOG,
        "faults": faults.FAULT_COUNTS, "kills": faults.KILL_LOG,
        "known_issues": harness.KNOWN_ISSUES,
    }, indent=1), encoding="utf-8")  # fmt: skip
