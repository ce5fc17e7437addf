"""Batch classification: ``waste-sorter classify`` over a folder of 1,000 photos.

    python -m bench.batch_bench [--quick] [--count N] [--model PATH] [--json OUT]

The folder is generated from TrashNet (``../shared/data/trashnet`` when present, else
``resources/samples``) with jitter: random crop, flip, brightness and JPEG quality, saved at
512x384 like TrashNet. Timed from process launch to exit (start-up and model load included),
``--json`` output discarded; also with ``--record`` (history written, one durable transaction
and a thumbnail per image).

Reference, alternating run by run: a bare script over the same files (``cv2.imread``, RGB,
resize, ``InferenceSession.run`` in batches of 16; no app code) in its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import REPO, Section, Spread, finish, parser, table

BARE = """
import sys, glob, time, cv2, numpy as np, onnxruntime as ort
folder, model = sys.argv[1], sys.argv[2]
s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
inp = s.get_inputs()[0]
h, w = int(inp.shape[1]), int(inp.shape[2])
files = sorted(glob.glob(folder + "/**/*.jpg", recursive=True))
for i in range(0, len(files), 16):
    batch = []
    for f in files[i:i + 16]:
        rgb = cv2.cvtColor(cv2.imread(f, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        batch.append(cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA))
    s.run(None, {inp.name: np.stack(batch).astype(np.float32)})
print(len(files))
"""


def _sources() -> list[Path]:
    from tests.conftest import shared_dir

    shared = shared_dir()
    if shared is not None and (shared / "data" / "trashnet").is_dir():
        photos = sorted((shared / "data" / "trashnet").glob("*/*.jpg"))
        if photos:
            return photos
    return sorted((REPO / "resources" / "samples").glob("*.jpg"))


def make_folder(dest: Path, count: int, seed: int = 0) -> tuple[Path, str]:
    """``count`` jittered 512x384 JPEGs in class sub-folders; returns (folder, origin)."""
    from PIL import Image, ImageEnhance

    sources = _sources()
    rng = np.random.default_rng(seed)
    for i in range(count):
        src = sources[int(rng.integers(len(sources)))]
        with Image.open(src) as opened:
            img = opened.convert("RGB")
            w, h = img.size
            scale = rng.uniform(0.75, 1.0)
            cw, ch = int(w * scale), int(h * scale)
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            img = img.crop((x0, y0, x0 + cw, y0 + ch)).resize((512, 384))
            if rng.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.8, 1.2)))
            out = dest / src.parent.name / f"{i:04d}.jpg"
            out.parent.mkdir(parents=True, exist_ok=True)
            img.save(out, "JPEG", quality=int(rng.integers(75, 95)))
    origin = "../shared/data/trashnet" if len(sources) > 6 else "resources/samples"
    return dest, f"{len(sources)} photos from {origin}"


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    began = time.monotonic()
    result = subprocess.run(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, check=False)  # fmt: skip
    elapsed = time.monotonic() - began
    if result.returncode not in (0, 2):
        raise RuntimeError(f"{cmd[2:4]} exited {result.returncode}: {result.stderr[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--count", type=int, help="images (default 1000; --quick 200)")
    p.add_argument("--model", type=Path)
    args = p.parse_args(argv)
    started = time.monotonic()
    section = Section("batch", "Batch classification (`waste-sorter classify` over a folder)")
    from bench.live_bench import _default_model

    model = args.model or _default_model(section)
    if model is None:
        section.markdown = "No model.\n"
        return finish(section, args, started)
    count = args.count or (200 if args.quick else 1000)
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    folder, origin = make_folder(work / "images", count)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    repeats = 2 if args.quick else 3
    times: dict[str, list[float]] = {"cli": [], "record": [], "bare": []}
    for i in range(repeats):
        data = work / f"data-{i}"
        times["cli"].append(_timed([sys.executable, "-m", "app", "classify", "--json",
                                    "--model", str(model), "--data-dir", str(data),
                                    str(folder)], env))  # fmt: skip
        times["bare"].append(_timed([sys.executable, "-c", BARE, str(folder), str(model)], env))
        times["record"].append(_timed([sys.executable, "-m", "app", "classify", "--json",
                                       "--record", "--model", str(model), "--data-dir",
                                       str(work / f"rec-{i}"), str(folder)], env))  # fmt: skip
    s = {k: Spread.of(v) for k, v in times.items()}
    rate = {k: count / v.median for k, v in s.items()}
    rows = [
        ["`classify --json`", f"{s['cli'].median:.1f} s", f"**{rate['cli']:.1f}**",
         f"{s['cli'].median / s['bare'].median:.2f}x"],
        ["`classify --json --record`", f"{s['record'].median:.1f} s",
         f"{rate['record']:.1f}", f"{s['record'].median / s['bare'].median:.2f}x"],
        ["bare script (reference)", f"{s['bare'].median:.1f} s", f"{rate['bare']:.1f}", "1.00x"],
    ]  # fmt: skip
    section.markdown = (
        f"{count} jittered 512x384 JPEGs ({origin}), model `{model.name}`, median of "
        f"{repeats} runs each, launch to exit.\n\n"
        + table(["run", "wall time", "images/s", "time vs bare"], rows)
    )
    section.results = {"count": count, **{f"{k}_images_per_s": v for k, v in rate.items()}}
    return finish(section, args, started)


if __name__ == "__main__":
    raise SystemExit(main())
