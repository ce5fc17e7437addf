"""The robustness suite's counts for the report: hostile files tried, kills survived,
faults injected, by running ``tests/robustness`` with pytest.

    python -m bench.robustness_bench [--quick] [--python PY] [--json OUT]

``--quick`` runs the fast part only (what ``make test`` runs); otherwise the slow part too
(what ``make stress`` runs). The tests write their figures to
``$WASTE_SORTER_ROBUSTNESS_REPORT`` (see ``tests/robustness/conftest.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, Section, Target, finish, parser, table


def run_suite(python: str, *, slow: bool) -> tuple[dict[str, Any], str]:
    report = Path(tempfile.mkdtemp(prefix="bench-robust-")) / "report.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO),
           "WASTE_SORTER_ROBUSTNESS_REPORT": str(report)}  # fmt: skip
    marker = "slow or not slow" if slow else "not slow"
    result = subprocess.run(
        [python, "-m", "pytest", "tests/robustness", "-m", marker, "-q", "-p", "no:cacheprovider",
         "-p", "no:warnings", "-rfExX"],
        capture_output=True, text=True, env=env, cwd=REPO, check=False,
    )  # fmt: skip
    summary = [ln for ln in result.stdout.splitlines()
               if ln.startswith(("FAILED", "ERROR", "XFAIL", "XPASS"))]  # fmt: skip
    tail = "\n".join(summary + result.stdout.strip().splitlines()[-1:])
    if not report.is_file():
        return {"exitstatus": result.returncode, "crashed": True}, tail + result.stderr[-800:]
    data = json.loads(report.read_text(encoding="utf-8"))
    data["returncode"] = result.returncode
    return data, tail


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--python", default=sys.executable, help="interpreter that runs the suite")
    args = p.parse_args(argv)
    started = time.monotonic()
    section = Section("robustness", "Robustness: hostile files, kills, faults")
    data, tail = run_suite(args.python, slow=not args.quick)
    section.results = data
    runs = data.get("corpus_runs", [])
    rows = [[r["path"], r["files"], r["classified"], r["refused"], r["no_result"],
             r["problems"], r["known"],
             f"{r['max_rss_mb']:.0f} MB" if r["max_rss_mb"] else "in-process",
             f"{r['max_file_s']:.2f} s" if r["max_file_s"] else "-", r["stderr_lines"]]
            for r in runs]  # fmt: skip
    md = [f"`pytest tests/robustness -m \"{'not slow' if args.quick else 'slow or not slow'}\"` "
          f"with `{args.python}`: exit {data.get('returncode', data.get('exitstatus'))}, "
          f"outcomes {data.get('outcomes', {})}.\n"]  # fmt: skip
    if tail.strip():
        md.append("```\n" + tail.strip() + "\n```\n")
    if rows:
        md.append(table(["path through the app", "files", "classified", "refused", "no result",
                         "problems", "known issues", "child peak RSS", "slowest file",
                         "stderr lines"], rows))  # fmt: skip
    tried = sum(r["files"] for r in runs)
    faults = data.get("faults", {})
    kills = data.get("kills", [])
    md.append(f"\n**Files tried: {tried}** over {len(runs)} runs. "
              f"**Kills survived: {sum(int(k['kills']) for k in kills)}** "
              f"({sum(int(k['confirmed']) for k in kills)} confirmed records checked). "
              f"**Faults injected: {sum(faults.values())}**"
              + (": " + ", ".join(f"{k} x{v}" for k, v in sorted(faults.items())) if faults
                 else "") + ".\n")  # fmt: skip
    for k in kills:
        for crash in k.get("crashes", []):
            md.append(f"- app died on its own: `{crash[:200]}`")
    known = data.get("known_issues", {})
    if known:
        md.append("\nKnown contract breaches (tests marked xfail strict):\n")
        md += [f"- `{path}`: {why}" for path, why in known.items()]
    section.markdown = "\n".join(md) + "\n"
    section.targets.append(Target(
        "hostile files: no crash, no hang, bounded memory, one clear line each",
        bool(runs) and all(r["problems"] == 0 and r["no_result"] == 0 for r in runs),
        f"{tried} files, {sum(r['problems'] for r in runs)} problems",
    ))  # fmt: skip
    return finish(section, args, started)


if __name__ == "__main__":
    raise SystemExit(main())
