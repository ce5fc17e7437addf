"""Run the station GUI exactly as ``python -m app gui ...`` does, reporting what it does.

    QT_QPA_PLATFORM=offscreen python -m tests.robustness.gui_probe \
        gui --camera VIDEO --data-dir DIR --model MODEL [--probe-results] [--probe-rss S] \
        [--probe-loop-minutes M] [--probe-unplug AFTER_S,FOR_S]

Only ``app.qt.application.build_gui`` is wrapped: the real window, workers, history writer and
panels are built and run unchanged, and signals they already emit are echoed on stdout as one
line each, flushed at once (so a parent that kills the process knows what was confirmed)::

    PROBE <time.monotonic()> window_visible
    PROBE <t> first_result latency_ms=23.1
    PROBE <t> result latency_ms=21.7 shown_ms=22.9 seq=41      (with --probe-results)
    PROBE <t> saved id=12                                       (record committed to disk)
    PROBE <t> status kind=error text=NOT saved: ...
    PROBE <t> notice kind=warning text=...
    PROBE <t> camera state=retrying text=...
    PROBE <t> rss kib=123456                                    (with --probe-rss)
    PROBE <t> exit frames=900 submitted=900 processed=871

``time.monotonic()`` is CLOCK_MONOTONIC on Linux, shared by all processes, so a parent can
subtract its own spawn time. The app itself prints no "saved" line (no log line exists for a
committed record); ``saved`` here comes from ``LiveSession.record_saved``, which the app emits
only after ``HistoryStore.add`` returned.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

PREFIX = "PROBE"


def emit(event: str, **fields: object) -> None:
    parts = [PREFIX, f"{time.monotonic():.6f}", event]
    for key, value in fields.items():
        text = str(value).replace("\n", " ")
        parts.append(f"{key}={text}")
    sys.stdout.write(" ".join(parts) + "\n")
    sys.stdout.flush()


def rss_kib() -> int:
    """Resident set size of this process from /proc (no psutil needed)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def parse_events(text: str) -> list[tuple[float, str, dict[str, str]]]:
    """(time, event, fields) for every complete probe line in ``text``."""
    events = []
    for line in text.split("\n")[:-1]:  # the last piece may be cut by a kill
        if not line.startswith(PREFIX + " "):
            continue
        parts = line.split(" ")
        fields: dict[str, str] = {}
        key = None
        for part in parts[3:]:
            if "=" in part and key != "text":
                key, _, value = part.partition("=")
                fields[key] = value
            elif key is not None:
                fields[key] += " " + part
        events.append((float(parts[1]), parts[2], fields))
    return events


class _LoopingSource:
    """A video file that starts again at its end until ``minutes`` have passed."""

    def __init__(self, inner: Any, minutes: float) -> None:
        self._inner = inner
        self._deadline = time.monotonic() + minutes * 60.0
        self.description = inner.description
        self.is_file = inner.is_file

    @property
    def fps(self) -> float | None:
        return self._inner.fps  # type: ignore[no-any-return]

    @property
    def resolution(self) -> tuple[int, int] | None:
        return self._inner.resolution  # type: ignore[no-any-return]

    def open(self) -> None:
        self._inner.open()

    def read(self) -> Any:
        from app.qt.camera_worker import EndOfStream

        try:
            return self._inner.read()
        except EndOfStream:
            if time.monotonic() >= self._deadline:
                raise
            self._inner.open()
            return self._inner.read()

    def close(self) -> None:
        self._inner.close()


class _UnpluggingSource(_LoopingSource):
    """A looping video that is "unplugged" from ``after_s`` to ``after_s + for_s`` seconds
    after the first open: reads fail and re-opening is refused, then it works again."""

    def __init__(self, inner: Any, minutes: float, after_s: float, for_s: float) -> None:
        super().__init__(inner, minutes)
        self._window = (after_s, after_s + for_s)
        self._born: float | None = None

    def _unplugged(self) -> bool:
        if self._born is None:
            return False
        age = time.monotonic() - self._born
        return self._window[0] <= age < self._window[1]

    def open(self) -> None:
        from app.qt.camera_worker import CameraError

        if self._unplugged():
            raise CameraError(f"Cannot open camera {self.description}")
        if self._born is None:
            self._born = time.monotonic()
        super().open()

    def read(self) -> Any:
        if self._unplugged():
            time.sleep(0.03)
            return None
        return super().read()


def _attach(gui: Any, *, results: bool, rss_every_s: float) -> None:
    from PySide6.QtCore import QEvent, QObject, QTimer

    class Probe(QObject):
        def __init__(self) -> None:
            super().__init__(gui.window)
            self.painted = False
            self.first = True

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if not self.painted and event.type() == QEvent.Type.Paint:
                self.painted = True
                emit("window_visible")
            return False

        def on_result(self, result: Any) -> None:  # queued: runs in the UI thread
            now = time.monotonic()
            latency = (result.finished_at - result.captured_at) * 1000.0
            if self.first:
                self.first = False
                emit("first_result", latency_ms=f"{latency:.2f}")
            if results:
                shown = (now - result.captured_at) * 1000.0
                emit("result", latency_ms=f"{latency:.2f}", shown_ms=f"{shown:.2f}",
                     seq=result.seq)  # fmt: skip

    probe = Probe()
    gui.window.installEventFilter(probe)
    gui.workers.inference.result_ready.connect(probe.on_result)
    gui.session.record_saved.connect(lambda rid: emit("saved", id=rid))
    gui.session.status.connect(
        lambda text, kind: emit("status", kind=kind or "clear", text=text) if kind else None
    )
    gui.workers.camera.state_changed.connect(
        lambda state, text: emit("camera", state=state, text=text)
    )
    original_notice: Callable[..., Any] = gui.window.show_notice

    def notice(text: str, kind: str = "info", *args: Any, **kwargs: Any) -> Any:
        emit("notice", kind=kind, text=text)
        return original_notice(text, kind, *args, **kwargs)

    gui.window.show_notice = notice
    if rss_every_s > 0:
        timer = QTimer(gui.window, interval=int(rss_every_s * 1000))
        timer.timeout.connect(lambda: emit("rss", kib=rss_kib()))
        timer.start()
        emit("rss", kib=rss_kib())

    original_shutdown = gui.shutdown

    def shutdown() -> None:
        original_shutdown()
        w = gui.workers
        emit("exit", frames=w.camera.frames_emitted, submitted=w.inference.submitted,
             processed=w.inference.processed, rss_kib=rss_kib())  # fmt: skip

    gui.shutdown = shutdown


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    results = _flag(args, "--probe-results")
    rss_every_s = float(_option(args, "--probe-rss") or 0)
    loop_minutes = float(_option(args, "--probe-loop-minutes") or 0)
    unplug = _option(args, "--probe-unplug")  # "AFTER_S,FOR_S"

    import onnxruntime  # noqa: F401  (before Qt, as app/__main__.py does)

    from app.qt import application

    original = application.build_gui

    def build_gui(**kwargs: Any) -> Any:
        from app.qt.camera_worker import OpenCvSource

        if unplug:
            after_s, for_s = (float(x) for x in unplug.split(","))
            shared: dict[str, _UnpluggingSource] = {}

            def flaky(spec: str, res: Any) -> Any:
                # One timeline for all re-opens: the worker builds a new source per attempt.
                if "source" not in shared:
                    shared["source"] = _UnpluggingSource(
                        OpenCvSource(spec, res), max(loop_minutes, 1.0), after_s, for_s
                    )
                return shared["source"]

            kwargs["make_source"] = flaky
        elif loop_minutes > 0:
            kwargs["make_source"] = lambda spec, res: _LoopingSource(
                OpenCvSource(spec, res), loop_minutes
            )
        gui = original(**kwargs)
        _attach(gui, results=results, rss_every_s=rss_every_s)
        return gui

    application.build_gui = build_gui
    from app.cli import main as cli_main

    return cli_main(args)


def _flag(args: list[str], name: str) -> bool:
    if name in args:
        args.remove(name)
        return True
    return False


def _option(args: list[str], name: str) -> str | None:
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i : i + 2]
        return value
    return None


if __name__ == "__main__":
    sys.exit(main())

