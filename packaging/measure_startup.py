"""Time from launching the app to its main window being visible, on a real X server.

Starts Xvfb, runs the program (the frozen one by default) with a fresh data directory, waits
with ``xdotool search --onlyvisible`` (every 20 ms) for the "Waste Sorter" window, then closes
it with SIGTERM like a shutdown would. Needs the Debian packages xvfb and xdotool::

    python packaging/measure_startup.py                       # dist/waste-sorter/waste-sorter
    python packaging/measure_startup.py --runs 5 -- /usr/bin/waste-sorter
    python packaging/measure_startup.py -- .venv/bin/python -m app     # from source, to compare
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TITLE = "Waste Sorter"


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """An Xvfb on a display number it picks itself; returns (process, DISPLAY).

    ``-displayfd`` lets the server take the first free number and report it once it accepts
    connections. Choosing the number here instead races with anything else starting an X server
    at the same moment (a benchmark's own Xvfb, say): both pick :90, ours loses, and the app is
    sent to a display that goes away.
    """
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_fd,),
    )
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        ready, _, _ = select.select([pipe], [], [], 10.0)
        number = pipe.readline().strip() if ready else b""  # empty: the server did not start
    if not number.isdigit():
        proc.kill()
        proc.wait(10)
        raise SystemExit("could not start Xvfb")
    return proc, f":{number.decode()}"


def wait_for_window(
    env: dict[str, str], app: subprocess.Popen[bytes], started: float, timeout: float
) -> float:
    """Seconds from ``started`` until a visible top-level window has the app's title.

    Polls ``xdotool search`` every 20 ms (its own ``--sync`` polls only twice a second).
    """
    query = ["xdotool", "search", "--onlyvisible", "--name", f"^{TITLE}$"]
    while time.monotonic() - started < timeout:
        found = subprocess.run(query, env=env, capture_output=True, check=False)
        if found.returncode == 0 and found.stdout.strip():
            return time.monotonic() - started
        if app.poll() is not None:
            _, err = app.communicate()
            raise SystemExit(
                f"the app exited ({app.returncode}) before showing a window:\n"
                f"{err.decode()[-3000:]}"
            )
        time.sleep(0.02)
    app.kill()
    _, err = app.communicate()
    raise SystemExit(f"no window within {timeout} s; the app said:\n{err.decode()[-3000:]}")


def measure_once(
    command: list[str], display: str, extra: list[str], timeout: float
) -> tuple[float, int]:
    """(seconds until the window is visible, exit code after SIGTERM)."""
    with tempfile.TemporaryDirectory(prefix="ws-startup-") as data:
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "LANG": "C.UTF-8"}
        env.pop("WAYLAND_DISPLAY", None)
        started = time.monotonic()
        app = subprocess.Popen(
            [*command, "gui", "--data-dir", data, *extra],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        shown = wait_for_window(env, app, started, timeout)
        time.sleep(1.0)  # let it settle (threads started, model loaded) before closing
        app.send_signal(signal.SIGTERM)
        try:
            _, err = app.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
            raise SystemExit("the app did not exit within 30 s of SIGTERM") from None
        if app.returncode != 0:
            sys.stderr.write(err.decode()[-3000:])
        return shown, app.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--camera", default=None, help="passed to `gui --camera`")
    parser.add_argument("command", nargs="*", help="program to start (default: the frozen app)")
    args = parser.parse_args()
    command = args.command or [str(REPO / "dist" / "waste-sorter" / "waste-sorter")]
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install xvfb xdotool")
    extra = ["--camera", args.camera] if args.camera else []
    xvfb, display = start_xvfb()
    try:
        times = []
        for run in range(args.runs):
            shown, code = measure_once(command, display, extra, args.timeout)
            times.append(shown)
            print(  # noqa: T201  (the measurement is the output)
                f"run {run + 1}: window visible after {shown:.2f} s; exit code {code} after SIGTERM"
            )
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    print(  # noqa: T201
        f"launch to visible window: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
