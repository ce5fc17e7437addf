"""The live pipeline and memory over a long run, measured on the real app, offscreen.

    python -m bench.live_bench [--quick] [--minutes M] [--python PY] [--model PATH] [--json OUT]

A 30 fps station video (``tests/video_factory``: TrashNet photos held in front of an empty
backdrop) is played as the camera (``--camera VIDEO``) through the app's camera worker,
inference worker, live session, result panel and history writer, pinned to two cores.
``tests.robustness.gui_probe`` echoes the signals the app already emits: every inference
result with its capture timestamp, and the time it reached the UI thread (after the result
panel updated).

Reference, same run, same two cores: a bare loop over the same video (``cv2`` read, RGB,
resize, ``InferenceSession.run``; no Qt, no pacing) -> the frame rate and per-frame latency this
machine allows at best.

``--minutes`` plays the video in a loop for that long (default 10; ``--quick``: 0.5) with the
app's resident memory sampled from ``/proc/self/status`` every few seconds -> growth slope.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Section, Spread, Target, finish, parser, percentile, table
from bench.gui_runs import ProbeRun, run_app, station_video, two_cores, video_frames

FPS = 30.0
P95_TARGET_MS = 100.0
GROWTH_LIMIT_MIB_PER_MIN = 0.5
MIN_MINUTES_FOR_VERDICT = 5.0  # shorter runs still show start-up caches filling


def bare_loop(video: Path, model: Path, frames: int) -> Spread:
    """Seconds per frame of read + RGB + resize + run, as fast as it goes (no Qt)."""
    import cv2
    import onnxruntime as ort

    from app.core.classifier import Classifier

    info = Classifier(model).info
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    cap = cv2.VideoCapture(str(video))
    samples = []
    try:
        for i in range(frames + 5):
            began = time.perf_counter()
            ok, bgr = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            x = cv2.resize(rgb, (info.input.width, info.input.height),
                           interpolation=cv2.INTER_AREA).astype(np.float32)[None]  # fmt: skip
            session.run(None, {name: x})
            if i >= 5:
                samples.append(time.perf_counter() - began)
    finally:
        cap.release()
    return Spread.of(samples)


def live_figures(run: ProbeRun, video_fps: float) -> dict[str, Any]:
    live = run.first("camera")
    live_t = next((t for t, f in run.all("camera") if f.get("state") == "live"), None)
    end_t = next((t for t, f in run.all("camera") if f.get("state") == "ended"), None)
    results = run.all("result")
    exit_event = run.first("exit")
    out: dict[str, Any] = {"crashed": run.crashed, "returncode": run.returncode}
    if live is None or live_t is None or not results:
        return out
    last_t = end_t or results[-1][0]
    span = max(1e-3, last_t - live_t)
    latency = [float(f["latency_ms"]) for _, f in results]
    shown = [float(f["shown_ms"]) for _, f in results]
    out.update(
        seconds=span,
        classified=len(results),
        classified_per_s=len(results) / span,
        latency_p50=percentile(latency, 50),
        latency_p95=percentile(latency, 95),
        shown_p50=percentile(shown, 50),
        shown_p95=percentile(shown, 95),
        records=len(run.all("saved")),
    )
    if exit_event is not None:
        frames = int(exit_event[1]["frames"])
        processed = int(exit_event[1]["processed"])
        out.update(frames=frames, camera_fps=frames / span, dropped=frames - processed,
                   dropped_share=(frames - processed) / max(1, frames))  # fmt: skip
    return out


def rss_slope(run: ProbeRun, warmup_share: float = 0.2) -> dict[str, float]:
    samples = [(t, int(f["kib"]) / 1024.0) for t, f in run.all("rss")]
    if len(samples) < 4:
        return {}
    t0 = samples[0][0]
    cut = max(1, int(len(samples) * warmup_share))
    xs = np.array([(t - t0) / 60.0 for t, _ in samples[cut:]])
    ys = np.array([m for _, m in samples[cut:]])
    slope = float(np.polyfit(xs, ys, 1)[0]) if len(xs) >= 2 and np.ptp(xs) > 0 else 0.0
    return {
        "samples": len(samples),
        "first_mib": samples[0][1],
        "after_warmup_mib": float(ys[0]),
        "last_mib": samples[-1][1],
        "peak_mib": max(m for _, m in samples),
        "slope_mib_per_min": slope,
        "minutes": (samples[-1][0] - t0) / 60.0,
    }


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, help="long-run length (default 10; --quick 0.5)")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs the app")
    p.add_argument("--model", type=Path, help="model file (default: waste, else the stand-in)")
    args = p.parse_args(argv)
    started = time.monotonic()
    minutes = args.minutes if args.minutes is not None else (0.5 if args.quick else 10.0)
    section = Section("live", "Live pipeline (30 fps video source) and memory over time")
    model = args.model or _default_model(section)
    if model is None:
        section.markdown = "No model to run the app with.\n"
        return finish(section, args, started)
    folder = Path(tempfile.mkdtemp(prefix="bench-live-"))
    video = station_video(folder, fps=FPS)
    n_frames, video_fps = video_frames(video)

    cores = two_cores()
    if cores:
        os.sched_setaffinity(0, cores)
    bare = bare_loop(video, model, frames=60 if args.quick else 150)
    run = run_app(args.python, camera=video, model=model, extra_args=["--probe-results"])
    live = live_figures(run, video_fps)
    section.results = {"live": live, "bare_frame_ms": bare.median * 1e3, "model": str(model)}
    bare_fps = 1.0 / bare.median
    achievable = min(video_fps, bare_fps)
    md = [
        f"Model `{model.name}`; video {n_frames} frames at {video_fps:g} fps "
        f"({n_frames / video_fps:.1f} s), 640x480 MJPG; app and reference pinned to "
        f"{len(cores) if cores else 'all'} cores; interpreter `{args.python}`.\n"
    ]
    if run.crashed or "classified_per_s" not in live:
        md.append(f"**The app did not complete the run**: exit {run.returncode}; "
                  f"`{run.crashed or _tail(run.stderr)}`.\n")  # fmt: skip
        section.targets.append(Target("live pipeline keeps up with 30 fps on 2 cores", False,
                                      f"app crashed: {run.crashed or 'no results'}"))  # fmt: skip
        section.targets.append(Target("p95 capture-to-result latency < 100 ms", False,
                                      "app crashed"))  # fmt: skip
    else:
        rows = [
            ["frames delivered by the camera worker",
             f"{live['frames']} ({live['camera_fps']:.1f} fps)", f"{n_frames} in the file"],
            ["frames classified per second", f"{live['classified_per_s']:.1f}",
             f"{bare_fps:.1f} bare loop -> achievable {achievable:.1f}; app "
             f"**{live['classified_per_s'] / achievable:.2f}x** of it"],
            ["frames dropped (newest frame wins)",
             f"{live['dropped']} ({live['dropped_share']:.0%})", "-"],
            ["capture -> result, median / p95",
             f"{live['latency_p50']:.1f} / {live['latency_p95']:.1f} ms",
             f"{bare.median * 1e3:.1f} ms bare per-frame ({live['latency_p50'] / (bare.median * 1e3):.2f}x)"],  # noqa: E501
            ["capture -> shown in the result panel, median / p95",
             f"{live['shown_p50']:.1f} / {live['shown_p95']:.1f} ms", "-"],
            ["items recorded by auto-capture", str(live["records"]), "6 items in the video"],
        ]  # fmt: skip
        md.append(table(["live pipeline", "app", "reference / note"], rows))
        keeps_up = live["camera_fps"] >= 0.97 * video_fps and live["classified_per_s"] >= 0.95 * FPS
        section.targets.append(Target(
            "live pipeline keeps up with 30 fps on 2 cores", keeps_up,
            f"{live['classified_per_s']:.1f} classified/s of {live['camera_fps']:.1f} fps "
            f"delivered ({live['dropped_share']:.0%} dropped); bare loop {bare_fps:.1f} fps",
        ))  # fmt: skip
        section.targets.append(Target(
            f"p95 capture-to-result latency < {P95_TARGET_MS:.0f} ms",
            live["latency_p95"] < P95_TARGET_MS,
            f"{live['latency_p95']:.1f} ms (shown in UI: {live['shown_p95']:.1f} ms)",
        ))  # fmt: skip

    long_run = run_app(args.python, camera=video, model=model,
                       extra_args=["--probe-rss", "2" if minutes < 2 else "10",
                                   "--probe-loop-minutes", f"{minutes:g}"],
                       timeout_s=minutes * 60 + 300)  # fmt: skip
    memory = rss_slope(long_run)
    section.results["memory"] = memory
    if long_run.crashed or not memory:
        md.append(f"\n**Long run ({minutes:g} min) did not complete**: exit "
                  f"{long_run.returncode}; `{long_run.crashed or _tail(long_run.stderr)}`.\n")
        why = f"app crashed: {long_run.crashed or 'no samples'}"
        section.targets.append(Target("no memory growth over a long run", False, why))
    else:
        growth = memory["last_mib"] - memory["after_warmup_mib"]
        md.append(
            f"\n**Memory, {memory['minutes']:.1f} min of live video** (looped, auto-capture on, "
            f"{len(long_run.all('saved'))} records saved): RSS {memory['first_mib']:.0f} MiB at "
            f"start, {memory['after_warmup_mib']:.0f} MiB after warm-up (first 20 % of samples), "
            f"{memory['last_mib']:.0f} MiB at the end, peak {memory['peak_mib']:.0f} MiB; "
            f"slope after warm-up **{memory['slope_mib_per_min']:+.2f} MiB/min** "
            f"({memory['samples']} samples).\n"
        )
        long_enough = memory["minutes"] >= MIN_MINUTES_FOR_VERDICT
        section.targets.append(Target(
            "no memory growth over a long run",
            memory["slope_mib_per_min"] <= GROWTH_LIMIT_MIB_PER_MIN if long_enough else None,
            f"{memory['slope_mib_per_min']:+.2f} MiB/min over {memory['minutes']:.1f} min "
            f"({growth:+.1f} MiB after warm-up; limit {GROWTH_LIMIT_MIB_PER_MIN} MiB/min)"
            + ("" if long_enough else f"; under {MIN_MINUTES_FOR_VERDICT:g} min: no verdict"),
        ))  # fmt: skip
    section.markdown = "\n".join(md)
    return finish(section, args, started)


def _tail(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else "no output"


def _default_model(section: Section) -> Path | None:
    from bench.models import discover

    models, notes = discover()
    # only what concerns the model this section runs (the app's): waste, else the stand-in
    section.notes += [n for n in notes if "waste" in n or "standin" in n]
    chosen = next((m for m in models if m.key in ("waste", "standin")), None)
    if chosen is not None and chosen.key == "waste":
        section.notes.append(f"model: models/{chosen.path.name} (the shipped waste model)")
    return chosen.path if chosen else (models[0].path if models else None)


if __name__ == "__main__":
    raise SystemExit(main())
