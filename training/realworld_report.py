"""``RUN/fit/report.md`` and the figures of the real-world waste model's evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _outcome_row(name: str, o: dict[str, Any]) -> str:
    ece = f"{o['ece']:.3f}" if "ece" in o else "-"
    return (f"| {name} | {o['n']} | {_pct(o['accuracy'])} | {_pct(o['confidently_wrong'])} | "
            f"{_pct(o['unsure_rate'])} | {_pct(o['accuracy_when_sure'])} | {ece} |")


VIEW_NAMES = {0: "the image", 1: "its mirror"}


def _views(views: list[int]) -> str:
    return ", ".join(VIEW_NAMES.get(v, f"station augmentation {v - 1}") for v in views)


def _extractors(recipe: dict[str, Any]) -> str:
    members = {m[0]: m[1] for m in recipe.get("members", [])}
    return " + ".join(f"{b} (exported model {Path(members[b]).name})" if b in members
                      else f"{b} (ImageNet)" for b in recipe["backbones"])


HEADER = ("| set | images | accuracy (top-1) | confidently wrong | \"Not sure\" | right when sure "
          "| ECE |\n|---|---|---|---|---|---|---|")


def render(results: dict[str, Any]) -> str:
    r = results["recipe"]
    lines = [
        "# Real-world waste model: evaluation", "",
        f"Features (frozen): {_extractors(r)}; views: {_views(r['views'])}; softmax "
        f"regression C={r['c']}, "
        f"source balance power {r['source_power']}. Temperature {results['temperature']:.3f}; "
        f"\"Not sure\" below {results['threshold']:.2f} or novelty above "
        f"{results['novelty_threshold']:.3f} (Mahalanobis, {r['novelty_k']} dims, "
        f"{_pct(r['novelty_keep'])} of known validation items kept).", "",
        "\"Confidently wrong\": wrong and not \"Not sure\" (the item goes into the wrong bin).",
        "", "## Held-out splits", "", HEADER,
        _outcome_row("validation (threshold chosen here)", results["val"]),
        _outcome_row("test", results["test"]),
    ]
    if "test_trashnet" in results:
        lines.append(_outcome_row("test, TrashNet images only", results["test_trashnet"]))
    lines += [_outcome_row(f"test, {g}", o) for g, o in results["test_by_group"].items()]
    if "loso" in results:
        lines += ["", "## Leave one source out", "",
                  "Each row: trained without that source; tested on its images of the classes "
                  "another source also has.", "", HEADER]
        for group, o in results["loso"].items():
            if group == "overall":
                continue
            lines.append(_outcome_row(f"{group} ({', '.join(o['classes'])})", o))
        lines.append(_outcome_row("**all held-out sources**", results["loso"]["overall"]))
        lines += ["", "Per class over all held-out sources:", "", _per_class(
            results["loso"]["overall"])]
    if "loco" in results:
        lines += ["", "## Leave one class out (items of a class the model does not know)", "",
                  "| left out | images | \"Not sure\" | by confidence | by novelty | top guess "
                  "| known test: accuracy / confidently wrong / \"Not sure\" |",
                  "|---|---|---|---|---|---|---|"]
        for name, o in results["loco"].items():
            if name.startswith("mean_"):
                continue
            k = o["known_test"]
            lines.append(f"| {name} | {o['n']} | {_pct(o['unsure_rate'])} | "
                         f"{_pct(o['unsure_by_probability'])} | {_pct(o['unsure_by_novelty'])} | "
                         f"{o['top_guess']} | {_pct(k['accuracy'])} / "
                         f"{_pct(k['confidently_wrong'])} / {_pct(k['unsure_rate'])} |")
        lines.append(f"| **mean** | | {_pct(results['loco']['mean_unsure_rate'])} | | | | |")
        if "mean_by_novelty_keep" in results["loco"]:
            lines += ["", "Other detector thresholds in the same folds (mean over the left-out "
                      "classes; the threshold lets this share of known validation items "
                      "through; 100 % = no detector):", "",
                      "| known items kept | unknown items \"Not sure\" | known test items "
                      "\"Not sure\" |", "|---|---|---|"]
            for keep, m in results["loco"]["mean_by_novelty_keep"].items():
                lines.append(f"| {_pct(float(keep))} | {_pct(m['unknown_unsure'])} | "
                             f"{_pct(m['known_unsure'])} |")
    lines += ["", "## Test split per class", "", _per_class(results["test"]), "",
              "## Risk and coverage on validation", "",
              "| threshold | answered | confidently wrong | right when sure |", "|---|---|---|---|"]
    lines += [f"| {c['threshold']:.2f} | {_pct(c['coverage'])} | {_pct(c['confidently_wrong'])} "
              f"| {_pct(c['accuracy_when_sure'])} |" for c in results["risk_coverage_val"]]
    if "timing" in results:
        lines += ["", "Time (this machine): " + ", ".join(
            f"{k.removesuffix('_s')} {v:.0f} s" for k, v in results["timing"].items())]
    return "\n".join(lines) + "\n"


def _per_class(report: dict[str, Any]) -> str:
    rows = ["| class | precision | recall | F1 | images |", "|---|---|---|---|---|"]
    for name, m in report["per_class"].items():
        if m["support"]:
            rows.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | "
                        f"{m['f1-score']:.3f} | {int(m['support'])} |")
    return "\n".join(rows)


def plot_confusion(matrix: list[list[int]], classes: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    norm = m / np.maximum(1, m.sum(axis=1, keepdims=True))
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(results: dict[str, Any], out: Path) -> None:
    (out / "report.md").write_text(render(results), encoding="utf-8")
    classes = results["classes"]
    plot_confusion(results["test"]["confusion"], classes, out / "confusion-test.png",
                   "test split")
    if "loso" in results:
        plot_confusion(results["loso"]["overall"]["confusion"], classes,
                       out / "confusion-loso.png", "leave one source out (all held-out)")


def plot_mistakes(images: Any, labels: Any, probs: Any, classes: list[str], path: Path,
                  title: str, count: int = 24) -> None:
    """The most confident mistakes, each captioned true -> predicted (confidence)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != labels)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]])][:count]
    cols = 6
    rows = max(1, (len(order) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.1, rows * 2.4))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, i in zip(np.atleast_1d(axes).ravel(), order, strict=False):
        ax.imshow(images[i].astype("uint8"))
        ax.set_title(f"{classes[labels[i]]} -> {classes[pred[i]]}\n{probs[i, pred[i]]:.0%}",
                     fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)


def render_export(report: dict[str, Any]) -> str:
    """``export.md``: parity checks and each variant's size, latency and metrics."""
    p = report["parity"]
    lines = ["# Export", "",
             f"Checks on {p['images']} validation images: graph embedding vs the cached "
             f"features the head was fitted on, max relative difference "
             f"{p.get('embedding_vs_cache', float('nan')):.1e}; probabilities vs the NumPy "
             f"head {p['probabilities_vs_head']:.1e}; novelty vs the NumPy detector "
             f"{p['novelty_vs_detector']:.1e}.", "",
             "| variant | size (MB) | latency median / p90 (ms, batch 1) | val accuracy | "
             "val confidently wrong | test accuracy | test confidently wrong | test \"Not sure\""
             " | TrashNet test accuracy |", "|---|---|---|---|---|---|---|---|---|"]
    for key, v in report["variants"].items():
        tn = v.get("test_by_group", {}).get("trashnet")
        lines.append(
            f"| {key} | {v['size_bytes'] / 1e6:.2f} | {v['latency']['median_ms']:.1f} / "
            f"{v['latency']['p90_ms']:.1f} | {_pct(v['val']['accuracy'])} | "
            f"{_pct(v['val']['confidently_wrong'])} | {_pct(v['test']['accuracy'])} | "
            f"{_pct(v['test']['confidently_wrong'])} | {_pct(v['test']['unsure_rate'])} | "
            f"{_pct(tn['accuracy']) if tn else '-'} |")
    lines += ["", f"Shipped: {report.get('shipped', '?')}."]
    return "\n".join(lines) + "\n"
