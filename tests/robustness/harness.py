"""Running the hostile-file corpus through the app and judging what came back.

Shared by the robustness tests (``tests/robustness``) and the benchmark report
(``python -m bench``), so both count the same things the same way.

Children are reaped with ``os.wait4``, which returns the resource usage of that one child:
its peak resident memory is exact even when other children ran before (the process-wide
``RUSAGE_CHILDREN`` figure is only the largest child ever).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.core.paths import display_path
from tests.robustness.corpus import CorpusFile

REPO = Path(__file__).resolve().parents[2]

PER_FILE_LIMIT_S = 5.0  # a decode slower than this counts as a hang
RSS_LIMIT_MB = 1024.0  # whole corpus incl. a legal 49 MP PNG; the fast subset stays far below
MESSAGE_MAX_CHARS = 200

# File names that are not valid UTF-8 are reported everywhere (CLI text and JSON, the Qt
# open-images signals, the history) with their bad bytes as visible escapes ("bad \xe9.png"),
# see app.core.paths.display_path.

# Files whose outcome breaks the contract today: relative path -> why. Kept out of the main
# assertions (tests mark them xfail(strict=True), so a fix turns the suite red until the
# entry is removed) and listed in docs/BENCHMARKS.md.
KNOWN_ISSUES: dict[str, str] = {
    "huge/jpeg-sof-8000x6000.jpg": (
        "a 14 KB JPEG whose SOF claims 8000x6000 decodes to a mostly grey 48 MP image "
        "(libjpeg pads the missing rows silently; Pillow raises nothing)"
    ),
}


RUN_LOG: list[dict[str, object]] = []  # one entry per corpus run judged (read by the report)


@dataclass
class ChildRun:
    """A finished child process: output, exit code, wall time and peak memory."""

    returncode: int
    stdout: str
    stderr: str
    elapsed_s: float
    max_rss_mb: float
    timed_out: bool


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra}
    env.pop("PYTHONWARNINGS", None)
    return env


def run_child(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout_s: float,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
) -> ChildRun:
    """Run ``cmd``; kill it (SIGKILL) after ``timeout_s``; return output and peak RSS."""
    began = time.monotonic()
    proc = subprocess.Popen(
        [os.fspath(c) for c in cmd],
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env or child_env(),
        cwd=cwd,
    )
    sinks: dict[str, bytes] = {}

    def pump(name: str, stream: object) -> None:
        sinks[name] = stream.read()  # type: ignore[attr-defined]

    threads = [
        threading.Thread(target=pump, args=("out", proc.stdout), daemon=True),
        threading.Thread(target=pump, args=("err", proc.stderr), daemon=True),
    ]
    for thread in threads:
        thread.start()
    if input_text is not None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(input_text.encode("utf-8", "surrogateescape"))
            proc.stdin.close()
        except BrokenPipeError:
            pass
    timed_out = False
    parent_hwm_mb = _own_high_water_mb()
    deadline = began + timeout_s
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            timed_out = True
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    for thread in threads:
        thread.join(10)
    return ChildRun(
        returncode=proc.returncode,
        stdout=sinks.get("out", b"").decode("utf-8", "surrogateescape"),
        stderr=sinks.get("err", b"").decode("utf-8", "surrogateescape"),
        elapsed_s=time.monotonic() - began,
        max_rss_mb=_attributable_peak_mb(usage.ru_maxrss / 1024.0, parent_hwm_mb),
        timed_out=timed_out,
    )


def _own_high_water_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _attributable_peak_mb(child_peak_mb: float, parent_hwm_mb: float) -> float:
    """The child's own peak, or 0.0 when it cannot be told apart from the parent's.

    Linux carries the parent's high-water mark into a forked child across exec, so a child's
    ``ru_maxrss`` is at least the parent's peak at spawn time (pytest may have loaded
    TensorFlow by then). A figure above that is the child's own; one at or below it says only
    that the child stayed under the parent's peak.
    """
    return child_peak_mb if child_peak_mb > parent_hwm_mb + 1.0 else 0.0


# --------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    """What happened to one corpus file on one path through the app."""

    file: CorpusFile
    ok: bool | None = None  # None: no result at all (crash, hang, missing line)
    error: str | None = None
    elapsed_s: float | None = None
    lines: int = 0  # how many result lines named this file


@dataclass
class CorpusReport:
    """Outcomes of one run plus the child process figures."""

    path_name: str
    outcomes: list[Outcome]
    runs: list[ChildRun] = field(default_factory=list)
    stderr_lines: int = 0
    extra: list[str] = field(default_factory=list)  # problems not tied to one file
    known: list[str] = field(default_factory=list)  # known, reported, not failed on

    @property
    def max_rss_mb(self) -> float:
        return max((r.max_rss_mb for r in self.runs), default=0.0)

    @property
    def max_file_s(self) -> float:
        return max((o.elapsed_s or 0.0 for o in self.outcomes), default=0.0)

    def problems(self, *, include_known: bool = False) -> list[str]:
        """Every broken promise, one readable line each (empty when all is well)."""
        found = [f"{self.path_name}: {p}" for p in self.extra]
        for run in self.runs:
            if run.timed_out:
                found.append(f"{self.path_name}: child killed after {run.elapsed_s:.0f} s (hang)")
            if run.returncode < 0:
                found.append(f"{self.path_name}: child died of signal {-run.returncode}")
            if "Traceback" in run.stderr:
                found.append(f"{self.path_name}: traceback on stderr: {_tail(run.stderr)}")
            if run.max_rss_mb > RSS_LIMIT_MB:
                found.append(f"{self.path_name}: peak RSS {run.max_rss_mb:.0f} MB > limit")
        for o in self.outcomes:
            if known_issue(o.file) and not include_known:
                continue
            found += [f"{self.path_name}: {relative(o.file)}: {p}" for p in judge(o)]
        return found

    def log(self) -> None:
        """Remember this run's figures for docs/BENCHMARKS.md."""
        RUN_LOG.append({
            "path": self.path_name, **self.counts(), "max_rss_mb": round(self.max_rss_mb, 1),
            "max_file_s": round(self.max_file_s, 3), "stderr_lines": self.stderr_lines,
            "problems": len(self.problems()), "known": len(self.known) + len(self.known_problems()),
        })  # fmt: skip

    def known_problems(self) -> dict[str, list[str]]:
        return {
            relative(o.file): judge(o) for o in self.outcomes if known_issue(o.file) is not None
        }

    def counts(self) -> dict[str, int]:
        return {
            "files": len(self.outcomes),
            "classified": sum(o.ok is True for o in self.outcomes),
            "refused": sum(o.ok is False for o in self.outcomes),
            "no_result": sum(o.ok is None for o in self.outcomes),
        }


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def relative(item: CorpusFile) -> str:
    parts = item.path.parts
    idx = max((i for i, p in enumerate(parts) if p == "corpus"), default=len(parts) - 3)
    return "/".join(parts[idx + 1 :]) if idx < len(parts) - 1 else item.path.name


def known_issue(item: CorpusFile) -> str | None:
    return KNOWN_ISSUES.get(relative(item))


def undecodable_name(item: CorpusFile) -> bool:
    """True for a file name whose bytes are not UTF-8 (Qt strings cannot carry it)."""
    try:
        os.fsencode(item.path).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def clear_message(message: str | None) -> str | None:
    """Why ``message`` is not a clear one-line error, or None when it is."""
    if not message:
        return "empty error message"
    if "\n" in message or "\r" in message:
        return f"multi-line error {message!r}"
    if len(message) > MESSAGE_MAX_CHARS:
        return f"error longer than {MESSAGE_MAX_CHARS} characters"
    if message.startswith("ESCAPED"):
        return f"exception escaped decode_image: {message}"
    if message.startswith("cannot decode image ("):  # imaging's last-resort catch-all
        return f"unexpected exception turned into {message!r}"
    if "Traceback" in message:
        return "traceback in error message"
    return None


def judge(o: Outcome) -> list[str]:
    """Problems with one outcome against the file's expectation."""
    out: list[str] = []
    if o.lines != 1:
        out.append(f"{o.lines} result lines (expected exactly 1)")
    if o.ok is None:
        return out or ["no result"]
    if o.file.expect == "error" and o.ok:
        out.append("accepted, but must be refused")
    if o.file.expect == "ok" and not o.ok:
        out.append(f"refused ({o.error}), but is a valid image")
    if not o.ok and (why := clear_message(o.error)):
        out.append(why)
    if o.elapsed_s is not None and o.elapsed_s > PER_FILE_LIMIT_S:
        out.append(f"took {o.elapsed_s:.1f} s (limit {PER_FILE_LIMIT_S:g} s)")
    return out


# --------------------------------------------------------------------------- the paths


def decode_corpus(
    files: Sequence[CorpusFile], *, model: Path | None = None, per_file_s: float = PER_FILE_LIMIT_S
) -> CorpusReport:
    """Every file through ``decode_image`` (and ``Classifier.predict`` with ``model``) in one
    child; a hang or crash is retried from the next file so one bad file costs one result."""
    outcomes = [Outcome(f) for f in files]
    report = CorpusReport("decode_image" if model is None else "decode+predict", outcomes)
    start = 0
    cmd: list[str | os.PathLike[str]] = [sys.executable, "-m", "tests.robustness.decode_child"]
    if model is not None:
        cmd += ["--classify", model]
    while start < len(files):
        batch = files[start:]
        text = "".join(os.fsencode(f.path).hex() + "\n" for f in batch)
        run = run_child(cmd, timeout_s=30 + per_file_s * len(batch), input_text=text)
        report.runs.append(run)
        report.stderr_lines += len(run.stderr.splitlines())
        started = -1
        for line in run.stdout.splitlines():
            row = json.loads(line)
            if "start" in row:
                started = int(row["start"])
                continue
            o = outcomes[start + int(row["i"])]
            o.lines += 1
            o.ok = bool(row["ok"])
            o.error = row["error"]
            o.elapsed_s = float(row["elapsed_s"])
        finished = sum(1 for o in outcomes[start:] if o.ok is not None)
        if finished == len(batch):
            break
        if started < 0:  # the child never got to a file: retrying file by file is pointless
            report.extra.append(f"decode child failed before the first file: {_tail(run.stderr)}")
            break
        culprit = start + max(started, finished)  # the file it was working on
        outcomes[culprit].elapsed_s = run.elapsed_s
        start = culprit + 1
    return report


def cli_corpus(
    files: Sequence[CorpusFile],
    *,
    model: Path,
    data_dir: Path,
    as_json: bool = True,
    per_file_s: float = 2.0,
) -> CorpusReport:
    """All files named on one ``waste-sorter classify`` command line (``--json`` or text)."""
    cmd: list[str | os.PathLike[str]] = [sys.executable, "-m", "app", "classify"]
    cmd += ["--json"] if as_json else []
    cmd += ["--model", model, "--", *(f.path for f in files)]
    env = child_env(WASTE_SORTER_DATA_DIR=str(data_dir))
    run = run_child(cmd, timeout_s=60 + per_file_s * len(files), env=env)
    # Output spells a name that is not UTF-8 with visible escapes (app.core.paths.display_path).
    outcomes = {display_path(f.path): Outcome(f) for f in files}
    report = CorpusReport("cli --json" if as_json else "cli text", list(outcomes.values()), [run])
    report.stderr_lines = len(run.stderr.splitlines())
    for line in run.stdout.splitlines():
        if as_json:
            row = json.loads(line)
            key, error = str(row["path"]), row["error"]
        else:
            key, _, rest = line.partition("\t")
            error = rest.removeprefix("ERROR: ") if rest.startswith("ERROR: ") else None
        o = outcomes.get(key)
        if o is None:
            report.extra.append(f"result line for a file never asked about: {key!r}")
            continue
        o.lines += 1
        o.ok = error is None
        o.error = error
    expected_rc = 0 if all(o.ok for o in report.outcomes) else 2
    if not run.timed_out and run.returncode != expected_rc:
        report.extra.append(f"exit code {run.returncode}, expected {expected_rc}")
    return report
