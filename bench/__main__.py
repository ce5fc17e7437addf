"""Run every benchmark and write docs/BENCHMARKS.md (``make bench`` == ``python -m bench``).

    python -m bench [--quick] [--minutes M] [--python PY] [--only a,b] [--out FILE]
                    [--keep DIR]   # section JSONs go to DIR; sections already there are reused
                    [--note TEXT] [--plan 'TARGET PREFIX=why not met / planned fix']

Each benchmark runs in its own process (so TensorFlow, thread pools and memory of one never
colour another) and hands back its section as JSON. ``--python`` names the interpreter that
runs the app itself (GUI benchmarks and the robustness suite); by default the current one,
i.e. the project's own venv (``.venv/bin/python -m bench``). ``--quick``: fewer repeats,
10k/100k history only, a 30-second memory run, the fast robustness subset.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import REPO, Section, Target, machine_info, machine_markdown, verdict

SECTIONS = ("inference", "live", "history", "startup", "batch", "robustness", "teach")
MODULES = {
    "inference": "bench.inference_bench",
    "live": "bench.live_bench",
    "history": "bench.history_scaling",
    "startup": "bench.startup_bench",
    "batch": "bench.batch_bench",
    "robustness": "bench.robustness_bench",
    "teach": "bench.teach_bench",
}
GUI_SECTIONS = {"live", "startup", "robustness"}


def app_python_versions(python: str) -> str:
    """``PySide6 <version>, Python <x.y>`` of the interpreter that runs the app."""
    probe = subprocess.run(
        [python, "-c", "import sys, PySide6; print(PySide6.__version__, sys.version_info[:2])"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return probe.stdout.strip() or f"cannot import PySide6: {probe.stderr.strip()[-200:]}"


def gui_python_note(python: str, versions: str) -> str | None:
    """A warning when the app's interpreter has the PySide6 build that crashes on 3.11."""
    if versions.startswith("6.12.0") and "(3, 11)" in versions:
        return (
            f"`{python}` has PySide6 6.12.0 on Python 3.11: every void method call drops a "
            "reference to None, and the app aborts with `Fatal Python error: none_dealloc` "
            "after a few thousand Qt calls (seconds of live video). Pass `--python` with a "
            "venv holding PySide6 < 6.12 to measure the GUI."
        )
    return None


def section_argv(key: str, args: argparse.Namespace) -> list[str]:
    """Arguments after ``python`` for the process that measures section ``key``."""
    cmd = ["-m", MODULES[key]]
    if args.quick:
        cmd.append("--quick")
    if key in GUI_SECTIONS:
        cmd += ["--python", args.python]
    if key == "live" and args.minutes is not None:
        cmd += ["--minutes", f"{args.minutes:g}"]
    if key == "history":
        cmd += ["--sizes", "10k,100k" if args.quick else "10k,100k,1M"]
    return cmd


def _load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def run_section(key: str, args: argparse.Namespace, folder: Path) -> Section:
    out = folder / f"{key}.json"
    command = f"{_short(sys.executable)} {' '.join(section_argv(key, args))}"
    if args.keep is not None and out.is_file():
        print(f"[bench] {key}: reusing {out}", file=sys.stderr, flush=True)
        section = Section.from_json(json.loads(out.read_text(encoding="utf-8")))
        if not section.command:  # measured by an older bench/__main__.py: same arguments
            section.command = command
        if not section.measured:
            ended = datetime.fromtimestamp(out.stat().st_mtime, tz=UTC)
            section.measured = f"finished {ended:%Y-%m-%d %H:%M} UTC"
        return section
    cmd = [sys.executable, *section_argv(key, args), "--json", str(out)]
    began, load_before = time.monotonic(), _load()
    started = datetime.now(UTC)
    print(f"[bench] {key}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    measured = (f"{started:%Y-%m-%d %H:%M}-{datetime.now(UTC):%H:%M} UTC, load average "
                f"(1/5/15 min) {load_before} before, {_load()} after")  # fmt: skip
    if result.returncode == 0 and out.is_file():
        section = Section.from_json(json.loads(out.read_text(encoding="utf-8")))
        section.command, section.measured = command, measured
        out.write_text(json.dumps(section.to_json(), indent=1), encoding="utf-8")
        return section
    section = Section(key, MODULES[key], seconds=round(time.monotonic() - began, 1),
                      command=command, measured=measured)  # fmt: skip
    section.markdown = (
        f"**Failed** (exit {result.returncode}):\n\n```\n{result.stderr.strip()[-2000:]}\n```\n"
    )
    return section


def _short(python: str) -> str:
    """An interpreter path relative to the repository when it lives inside it."""
    try:
        return str(Path(python).relative_to(REPO))
    except ValueError:
        return python


def render(sections: list[Section], info: dict[str, str], args: argparse.Namespace,
           notes: list[str]) -> str:  # fmt: skip
    mode = "quick run" if args.quick else "full run"
    shown, numbered = [], {"--note": 0, "--plan": 0}
    for i, arg in enumerate(args.argv):  # long --note/--plan texts are quoted below, not here
        if i and args.argv[i - 1] in numbered:
            numbered[args.argv[i - 1]] += 1
            arg = f"<{args.argv[i - 1][2:]} {numbered[args.argv[i - 1]]}, below>"
        shown.append(arg)
    invocation = shlex.join([_short(sys.executable), "-m", "bench", *shown])
    parts = [
        "# Benchmarks\n",
        f"Generated on {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by `{invocation}` "
        f"(run from the repository root; {mode}; `make bench` runs `python -m bench`). Every "
        "section says below which command measured it, when, and under what load. The machine "
        "is shared (2 cores; training, model exports and PyInstaller builds of other engineers "
        "may run alongside), so every number is reported as a ratio against a reference "
        "measured in the same run, cases alternating, with medians and spread (IQR) of the "
        "absolute times.\n",
    ]
    if args.keep is not None:
        parts.append(
            f"With `--keep {args.keep}` a section whose JSON is already in that folder is "
            "reused rather than measured again; the command, time and load given for each "
            "section are those of the run that measured it.\n"
        )
    parts.append(machine_markdown(info))
    parts += [f"> {n}\n" for n in notes]
    targets = [(s.title, t) for s in sections for t in s.targets]
    if targets:
        parts.append("## Targets\n\n| target | met | measured | why not met / planned fix | "
                     "section |\n|---|---|---|---|---|")  # fmt: skip
        parts += [f"| {t.name} | {verdict(t.met)} | {t.detail} | "
                  f"{plan_for(t, args.plan) if t.met is not True else '-'} | {title} |"
                  for title, t in targets]  # fmt: skip
        parts.append("")
    for section in sections:
        parts.append(section.render())
        took = f"took {section.seconds:.0f} s"
        if section.command:
            when = f"; {section.measured}" if section.measured else ""
            parts.append(f"_Measured by `{section.command}`{when}; {took}._\n")
        else:
            parts.append(f"_Section {took}._\n")
    return "\n".join(parts)


def plan_for(target: Target, plans: list[str] | None) -> str:
    """``--plan 'TARGET PREFIX=text'`` for a target that is not met, else its own plan."""
    for item in plans or []:
        prefix, _, text = item.partition("=")
        if target.name.startswith(prefix.strip()):
            return text.strip()
    return getattr(target, "plan", "") or "see the section"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--minutes", type=float, help="live memory run length (default 10)")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs the app")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "BENCHMARKS.md")
    p.add_argument("--keep", type=Path, help="folder for section JSONs; existing ones are reused")
    p.add_argument("--note", action="append", help="a line to add under the machine table")
    p.add_argument(
        "--plan",
        action="append",
        help="'TARGET PREFIX=why not met / planned fix' for the targets table",
    )
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    wanted = [s for s in SECTIONS if not args.only or s in args.only.split(",")]
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    saved_info = folder / "machine.json"
    if args.keep is not None and saved_info.is_file():  # describe the run that measured
        info = json.loads(saved_info.read_text(encoding="utf-8"))
    else:
        info = machine_info()
        saved_info.write_text(json.dumps(info, indent=1), encoding="utf-8")
    versions = app_python_versions(args.python)
    info["app interpreter (GUI, robustness)"] = f"{args.python} (PySide6, Python: {versions})"
    info["load average when the report was written"] = _load()
    notes = [n for n in [gui_python_note(args.python, versions)] if n] + list(args.note or [])
    if args.python != sys.executable:
        own = app_python_versions(sys.executable)
        warning = gui_python_note(sys.executable, own)
        if warning:
            head = warning.split(" Pass `--python`")[0]
            notes.append(f"{head} This report ran the app with `{args.python}` "
                         f"(PySide6, Python: {versions}) instead.")  # fmt: skip
    sections = [run_section(key, args, folder) for key in wanted]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(sections, info, args, notes), encoding="utf-8")
    print(f"[bench] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
