"""Start-up: process launch to a visible window, and to the first camera frame classified.

    python -m bench.startup_bench [--quick] [--python PY] [--model PATH] [--json OUT]

App: ``tests.robustness.gui_probe gui --camera VIDEO`` (the real app; the probe only reports
its first paint and first inference result), stopped with SIGTERM after the first result.
Reference, alternating launch by launch: :mod:`bench.startup_ref` (a bare window, then a bare
ONNX Runtime session on the first video frame), and ``python -c pass`` as the floor.
Times run from just before ``Popen`` to the child's probe line (CLOCK_MONOTONIC is shared
between processes on Linux). Fresh data directory per launch; pinned to two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, Section, Spread, Target, finish, parser, table
from bench.gui_runs import run_app, station_video, two_cores


def _reference(python: str, video: Path, model: Path) -> dict[str, float]:
    from tests.robustness.gui_probe import parse_events

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    cores = two_cores()
    began = time.monotonic()
    out = subprocess.run(
        [python, "-m", "bench.startup_ref", str(video), str(model)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )  # fmt: skip
    events = {name: t for t, name, _ in parse_events(out.stdout)}
    return {k: events[k] - began for k in ("window_visible", "first_result") if k in events}


def _interpreter(python: str) -> float:
    began = time.monotonic()
    subprocess.run([python, "-c", "pass"], check=True)
    return time.monotonic() - began


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--python", default=sys.executable, help="interpreter that runs the app")
    p.add_argument("--model", type=Path)
    args = p.parse_args(argv)
    started = time.monotonic()
    section = Section("startup", "Start-up")
    from bench.live_bench import _default_model

    model = args.model or _default_model(section)
    if model is None:
        section.markdown = "No model to start the app with.\n"
        return finish(section, args, started)
    video = station_video(Path(tempfile.mkdtemp(prefix="bench-start-")))
    launches = 3 if args.quick else 7
    samples: dict[str, list[float]] = {k: [] for k in
                                       ("app_window", "app_first", "ref_window", "ref_first",
                                        "python")}  # fmt: skip
    crashed = ""
    for _ in range(launches):
        run = run_app(args.python, camera=video, model=model, stop_after="first_result",
                      timeout_s=120)  # fmt: skip
        window, first = run.first("window_visible"), run.first("first_result")
        if window is None or first is None:
            crashed = run.crashed or f"exit {run.returncode}: no probe lines"
            break
        samples["app_window"].append(window[0] - run.spawned_at)
        samples["app_first"].append(first[0] - run.spawned_at)
        ref = _reference(args.python, video, model)
        samples["ref_window"].append(ref.get("window_visible", float("nan")))
        samples["ref_first"].append(ref.get("first_result", float("nan")))
        samples["python"].append(_interpreter(args.python))
    if crashed:
        section.markdown = f"The app did not start cleanly: `{crashed}`.\n"
        return finish(section, args, started)
    s = {k: Spread.of(v) for k, v in samples.items()}
    ratio_window = Spread.of([a / b for a, b in zip(samples["app_window"],
                                                    samples["ref_window"], strict=True)])
    ratio_first = Spread.of([a / b for a, b in zip(samples["app_first"],
                                                   samples["ref_first"], strict=True)])
    rows = [
        ["launch -> window visible (first paint)", s["app_window"].ms(0), s["ref_window"].ms(0),
         f"**{ratio_window.median:.2f}x**"],
        ["launch -> first camera frame classified", s["app_first"].ms(0), s["ref_first"].ms(0),
         f"**{ratio_first.median:.2f}x**"],
        ["`python -c pass` (interpreter floor)", s["python"].ms(0), "-", "-"],
    ]  # fmt: skip
    section.markdown = (
        f"{launches} launches each, app and reference alternating, model `{model.name}`, "
        f"interpreter `{args.python}`. Reference: bench/startup_ref.py (bare window, then a "
        "bare session on the first frame).\n\n"
        + table(["start-up", "app", "bare reference", "app / ref"], rows)
    )
    section.results = {k: v.median for k, v in s.items()}
    section.results.update(ratio_window=ratio_window.median, ratio_first=ratio_first.median)
    section.targets.append(Target(
        "window visible within 2 s of launch (application.py's promise)",
        s["app_window"].median < 2.0, f"{s['app_window'].median:.2f} s",
    ))  # fmt: skip
    return finish(section, args, started)


if __name__ == "__main__":
    raise SystemExit(main())
