"""``python -m training realworld compare``: exported models side by side on a run's test split.

Each model is scored on the test images whose class it knows (an older six-class model is
not blamed for batteries), as the app would answer: "Not sure" below the model's own
``unsure_threshold`` (else the app's default 0.6) or when its novelty output is above the
model's threshold. Rows: TrashNet's test photos, and everything else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

APP_DEFAULT_THRESHOLD = 0.6


def score(path: Path, images: np.ndarray) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Labels, probabilities and the app's unsure flag for ``images`` under model ``path``."""
    from app.core.model_info import ModelInfo
    from training.export import session

    sess = session(path)
    info = ModelInfo.from_onnx_metadata(dict(sess.get_modelmeta().custom_metadata_map), path)
    names = [info.novelty["output"]] if info.novelty else []
    probs, novelty = [], []
    for i in range(0, len(images), 32):
        out = sess.run(["probabilities", *names] if names else None,
                       {sess.get_inputs()[0].name: images[i:i + 32].astype(np.float32)})
        probs.append(out[0])
        if names:
            novelty.append(out[1][:, 0])
    p = np.concatenate(probs)
    threshold = info.unsure_threshold or APP_DEFAULT_THRESHOLD
    unsure = p.max(1) < threshold
    if names:
        unsure |= np.concatenate(novelty) > float(info.novelty["threshold"])  # type: ignore[index]
    return info.labels, p, unsure


def compare(run_dir: Path, models: list[Path], cache_dir: Path) -> str:
    from training.realworld import data_sets, prepare_run

    prep, data = prepare_run(run_dir, [(n, Path(p)) for n, p in data_sets(run_dir)], cache_dir)
    items = data["items"]
    keys = sorted((s.key for s in prep.samples if items[s.key]["split"] == "test"),
                  key=lambda k: prep.rows[k])
    images = np.asarray(prep.images[[prep.rows[k] for k in keys]])
    truth = np.array([items[k]["label"] for k in keys])
    studio = np.array([items[k]["group"] == "trashnet" for k in keys])
    lines = [f"Test split of `{run_dir}`; each model only on the classes it knows.", "",
             "| model | images | classes | accuracy | confidently wrong | \"Not sure\" |",
             "|---|---|---|---|---|---|"]
    rows: list[dict[str, Any]] = []
    for path in models:
        labels, probs, unsure = score(path, images)
        known = np.isin(truth, labels)
        right = np.array(labels)[probs.argmax(1)] == truth
        for name, sel in (("TrashNet test photos", studio & known),
                          ("other sources' test photos", ~studio & known)):
            if not sel.any():
                continue
            row = {"model": path.name, "set": name, "images": int(sel.sum()),
                   "accuracy": float(right[sel].mean()),
                   "confidently_wrong": float((~right & ~unsure)[sel].mean()),
                   "unsure": float(unsure[sel].mean())}
            rows.append(row)
            lines.append(f"| `{path.name}` | {name}: {row['images']} | {len(labels)} | "
                         f"{row['accuracy']:.1%} | {row['confidently_wrong']:.1%} | "
                         f"{row['unsure']:.1%} |")
    (run_dir / "compare.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return "\n".join(lines) + "\n"
