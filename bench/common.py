"""Shared benchmark plumbing: the machine description, repeat statistics, report sections.

Every benchmark is a module with ``main(argv)`` taking ``--quick`` and ``--json OUT``; it prints
its Markdown section and, with ``--json``, writes :class:`Section` as JSON so that
``python -m bench`` can assemble ``docs/BENCHMARKS.md``. Numbers are always a ratio against a
reference measured in the same run (the machine is shared and noisy) plus absolute medians
with their spread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- machine


def _lscpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))}, kernel {platform.release()}"
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


def _version(module: str, attr: str = "__version__") -> str:
    try:
        mod = __import__(module, fromlist=["_"])
    except Exception:
        return "not installed"
    return str(getattr(mod, attr, "?"))


def machine_info() -> dict[str, str]:
    """What the numbers were measured on (CPU, cores, RAM, OS, library versions, load)."""
    import sqlite3

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu": _lscpu_model(),
        "cores": f"{os.cpu_count()} logical, {affinity} usable by this process",
        "ram": f"{_mem_total_gib():.1f} GiB",
        "os": _os_name(),
        "python": platform.python_version(),
        "onnxruntime": _version("onnxruntime"),
        "numpy": _version("numpy"),
        "opencv": _version("cv2"),
        "pillow": _version("PIL"),
        "pyside6": _version("PySide6"),
        "sqlite": sqlite3.sqlite_version,
        "load average at start": " / ".join(f"{x:.2f}" for x in load),
    }


def machine_markdown(info: dict[str, str]) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in info.items())
    return f"| machine | |\n|---|---|\n{rows}\n"


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Spread:
    """Median and spread of repeated measurements (seconds, or any unit)."""

    median: float
    p25: float
    p75: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        data = sorted(samples)
        if not data:
            return cls(float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), 0)
        if len(data) >= 4:
            q = statistics.quantiles(data, n=4)
            p25, p75 = q[0], q[2]
        else:
            p25, p75 = data[0], data[-1]
        return cls(statistics.median(data), p25, p75, data[0], data[-1], len(data))

    def ms(self, digits: int = 2) -> str:
        """``12.34 ms (IQR 12.10-12.90, n=40)``."""
        f = f"{{:.{digits}f}}"
        return (
            f"{f.format(self.median * 1e3)} ms (IQR {f.format(self.p25 * 1e3)}-"
            f"{f.format(self.p75 * 1e3)}, n={self.n})"
        )


def percentile(samples: Sequence[float], q: float) -> float:
    data = sorted(samples)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def interleaved(
    cases: dict[str, Callable[[], object]], *, rounds: int, per_round: int = 1, warmup: int = 2
) -> dict[str, list[float]]:
    """Seconds per call of each case, run in alternation (A B A B ...) so that a burst of
    load from another process hits every case alike. Returns ``rounds`` samples per case,
    each the mean of ``per_round`` calls."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            began = time.perf_counter()
            for _ in range(per_round):
                fn()
            samples[name].append((time.perf_counter() - began) / per_round)
    return samples


def ratio_of_medians(samples: dict[str, list[float]], name: str, reference: str) -> float:
    return statistics.median(samples[name]) / statistics.median(samples[reference])


def paired_ratio(samples: dict[str, list[float]], name: str, reference: str) -> Spread:
    """Median and spread of the round-by-round ratio (pairs measured seconds apart)."""
    return Spread.of([a / b for a, b in zip(samples[name], samples[reference], strict=True)])


# --------------------------------------------------------------------------- sections


@dataclass
class Target:
    name: str
    met: bool | None  # None: could not be measured here
    detail: str
    plan: str = ""  # when not met: why, and the planned fix


@dataclass
class Section:
    """One benchmark's part of docs/BENCHMARKS.md."""

    key: str
    title: str
    markdown: str = ""
    results: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    command: str = ""  # the command that measured this section (set by ``python -m bench``)
    measured: str = ""  # when, and the load average around it

    def render(self) -> str:
        parts = [f"## {self.title}\n", self.markdown.rstrip() + "\n"]
        if self.targets:
            parts.append("\n| target | met | measured |\n|---|---|---|")
            parts += [f"| {t.name} | {verdict(t.met)} | {t.detail} |" for t in self.targets]
            parts.append("")
        if self.notes:
            parts.append("\n" + "\n".join(f"- {n}" for n in self.notes) + "\n")
        return "\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        targets = [Target(**t) for t in data.pop("targets", [])]
        return cls(**data, targets=targets)


def verdict(met: bool | None) -> str:
    return {True: "**met**", False: "**NOT met**", None: "not measured"}[met]


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer repeats, smaller sizes")
    p.add_argument("--json", type=Path, help="also write the section as JSON here")
    return p


def finish(section: Section, args: argparse.Namespace, started: float) -> int:
    section.seconds = round(time.monotonic() - started, 1)
    print(section.render())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(section.to_json(), indent=1), encoding="utf-8")
    return 0


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def python_cmd() -> list[str]:
    return [sys.executable]
