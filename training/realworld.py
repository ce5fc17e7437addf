"""``python -m training realworld features|fit|export``: the real-world waste model.

One run directory holds everything: ``data.json`` (datasets, split per image, group per image),
``features/`` (frozen backbone features per view, :mod:`training.feature_views`), ``fit/``
(heads, calibration, novelty detector and the evaluation reports) and ``export/``.

    python -m training realworld features --run-dir runs/realworld          # hours on 2 cores
    python -m training realworld fit --run-dir runs/realworld                # minutes
    python -m training realworld export --run-dir runs/realworld --out models/waste.onnx

``features`` resumes where it stopped (each (backbone, view) file is written once complete).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.config import UserError, shared_root

log = logging.getLogger(__name__)

DEFAULT_BACKBONES = ("efficientnet_lite0", "mobilenet_v2")
DEFAULT_VIEWS = 6
INPUT_SIZE = (224, 224)
SEED = 42


def _datasets(args: argparse.Namespace) -> list[tuple[str, Path]]:
    if args.data:
        return [(Path(p).name, Path(p)) for p in args.data]
    root = shared_root() / "data"
    return [("trashnet", root / "trashnet"), ("waste-wild", root / "waste-wild")]


def prepare_run(run_dir: Path, datasets: list[tuple[str, Path]], cache_dir: Path,
                *, input_size: tuple[int, int] = INPUT_SIZE, val_fraction: float = 0.15,
                test_fraction: float = 0.15, keep_splits: dict[str, Path] | None = None) -> Any:
    """Decode (cached), validate and split; ``data.json`` fixes the split for the run.

    ``keep_splits`` maps a dataset name to an earlier run's split manifest: those images keep
    their split (matched by path and sha256), so an older model's test images stay test
    images and the two models are compared on images neither was trained on.
    """
    from training.data import prepare, write_report
    from training.multisource import MultiSource, split_by_class_and_group

    source = MultiSource(datasets)
    data_file = run_dir / "data.json"
    if data_file.is_file():  # a run keeps its input size
        input_size = tuple(json.loads(data_file.read_text(encoding="utf-8"))["input_size"])
    prep = prepare(source, input_size, cache_dir)
    write_report(prep, run_dir)
    keys = [s.key for s in prep.samples]
    labels = [s.label for s in prep.samples]
    groups = [source.groups[k] for k in keys]
    if data_file.is_file():
        data = json.loads(data_file.read_text(encoding="utf-8"))
        if set(data["items"]) != set(keys):
            raise UserError(f"{data_file}: made from other images; use a new --run-dir")
    else:
        split = split_by_class_and_group(keys, labels, groups, val_fraction, test_fraction, SEED)
        for name, manifest in (keep_splits or {}).items():
            split.update(_kept_split(name, manifest, prep.sha256))
        data = {
            "datasets": {n: str(p) for n, p in datasets},
            "classes": sorted(set(labels)),
            "input_size": list(input_size),
            "seed": SEED,
            "items": {k: {"label": y, "group": g, "split": split[k], "sha256": prep.sha256[k]}
                      for k, y, g in zip(keys, labels, groups, strict=True)},
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        tmp.replace(data_file)
    return prep, data


def _kept_split(name: str, manifest: Path, sha256: dict[str, str]) -> dict[str, str]:
    items = json.loads(manifest.read_text(encoding="utf-8"))["items"]
    kept = {f"{name}/{i['path']}": i["split"] for i in items
            if sha256.get(f"{name}/{i['path']}") == i["sha256"]}
    if not kept:
        raise UserError(f"{manifest}: no image of {name} matches (path and sha256)")
    log.info("%d images of %s keep their split from %s", len(kept), name, manifest)
    return kept


def cmd_features(args: argparse.Namespace) -> int:
    from training.feature_views import compute, open_cache
    from training.run import default_cache_dir

    run_dir = args.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    prep, _ = prepare_run(run_dir, _datasets(args), args.cache_dir or default_cache_dir(),
                          input_size=(args.input_size, args.input_size),
                          keep_splits=dict(_name_path(v) for v in args.keep_split or ()))
    cache = open_cache(run_dir / "features", prep)
    timing_file = run_dir / "features" / "timing.json"
    timing = json.loads(timing_file.read_text()) if timing_file.is_file() else {}
    views = list(range(args.views))
    members = dict(_member(m) for m in args.member or ())
    # View 0 and the mirror of every backbone first, so fitting can start early.
    for group in (views[:2], views[2:]):
        for backbone in [*args.backbones, *members]:
            began = time.perf_counter()
            took = compute(cache, prep, backbone, group, batch_size=args.batch_size,
                           weights=None if args.random_weights else "default",
                           member=members.get(backbone))
            for view, seconds in took.items():
                timing[f"{backbone}_v{view}"] = round(seconds, 1)
            timing_file.write_text(json.dumps(timing, indent=1), encoding="utf-8")
            if took:
                log.info("%s views %s: %.0f s", backbone, group, time.perf_counter() - began)
    print(f"features of {len(cache.keys)} images in {cache.folder}")
    return 0


def _member(spec: str) -> tuple[str, Path]:
    from training.onnx_member import parse

    try:
        alias, path = parse(spec)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not path.is_file():
        raise UserError(f"member model not found: {path}")
    return alias, path


def _recipe(args: argparse.Namespace) -> Any:
    from training.onnx_member import sha256
    from training.realworld_fit import Recipe

    members = dict(_member(m) for m in args.member or ())
    return Recipe(backbones=(*args.backbones, *members),
                  members=tuple((a, str(p), sha256(p)) for a, p in members.items()),
                  member_groups=tuple(args.member_trained_on or ()),
                  c=args.c, views=tuple(range(args.views)),
                  source_power=args.source_power, novelty_k=args.novelty_k,
                  novelty_keep=args.novelty_keep, max_risk=args.max_risk)


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit the shipped head, then the LOSO and LOCO runs; reports in RUN/fit/."""
    from training import heads
    from training.realworld_fit import Bank, fit, judge, loco, loso, recipe_dict
    from training.realworld_report import write_reports

    bank = Bank.open(args.run_dir)
    recipe = _recipe(args)
    out = args.out_dir or args.run_dir / "fit"
    out.mkdir(parents=True, exist_ok=True)
    timing: dict[str, float] = {}
    began = time.perf_counter()
    model = fit(bank, recipe, bank.rows("train"), bank.rows("val"))
    timing["fit_s"] = round(time.perf_counter() - began, 1)
    heads.save(out / "head.npz", head=model.head, novelty=model.novelty)
    test = bank.rows("test")
    trashnet_test = test[bank.groups[test] == "trashnet"]
    results: dict[str, Any] = {
        "recipe": recipe_dict(recipe), "classes": list(bank.classes),
        "threshold": model.threshold, "temperature": model.head.temperature,
        "novelty_threshold": model.novelty.threshold, "risk_coverage_val": model.curve,
        "val": judge(bank, model, bank.rows("val"), full=True),
        "test": judge(bank, model, test, full=True),
        "test_by_group": {g: judge(bank, model, test[bank.groups[test] == g])
                          for g in sorted(set(bank.groups[test]))},
    }
    if len(trashnet_test):  # reported separately: it should not drop below the old model
        results["test_trashnet"] = judge(bank, model, trashnet_test, full=True)
    if not args.skip_field:
        began = time.perf_counter()
        results["loso"] = loso(bank, recipe)
        timing["loso_s"] = round(time.perf_counter() - began, 1)
        if not args.loso_only:
            began = time.perf_counter()
            results["loco"] = loco(bank, recipe)
            timing["loco_s"] = round(time.perf_counter() - began, 1)
    results["timing"] = timing
    (out / "metrics.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    write_reports(results, out)
    print(f"wrote {out / 'report.md'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The fitted head and the backbones as one ONNX file with metadata."""
    import shutil

    import numpy as np

    from training import heads
    from training.export import session
    from training.realworld_export import export
    from training.run import default_cache_dir, now_iso

    fit_dir = args.run_dir / "fit"
    metrics = json.loads((fit_dir / "metrics.json").read_text(encoding="utf-8"))
    recipe = metrics["recipe"]
    head = heads.load(fit_dir / "head.npz", "head", heads.LinearHead)
    novelty = heads.load(fit_dir / "head.npz", "novelty", heads.Novelty)
    prep, data = prepare_run(args.run_dir, [(n, Path(p)) for n, p in data_sets(args.run_dir)],
                             args.cache_dir or default_cache_dir())
    items = data["items"]
    classes = tuple(metrics["classes"])
    val_keys = [s.key for s in prep.samples if items[s.key]["split"] == "val"]
    train_keys = [s.key for s in prep.samples if items[s.key]["split"] == "train"]
    val_keys.sort(key=lambda k: prep.rows[k])
    val_images = np.asarray(prep.images[[prep.rows[k] for k in val_keys]])
    test_keys = sorted((s.key for s in prep.samples if items[s.key]["split"] == "test"),
                       key=lambda k: prep.rows[k])
    test_images = np.asarray(prep.images[[prep.rows[k] for k in test_keys]])
    from training.feature_views import ViewCache

    cache = ViewCache(args.run_dir / "features", tuple(s.key for s in prep.samples))
    position = {k: i for i, k in enumerate(cache.keys)}
    val_features = np.concatenate([np.asarray(cache.load(b, 0))[[position[k] for k in val_keys]]
                                   for b in recipe["backbones"]], axis=1).astype(np.float32)
    pick = np.random.default_rng(0).permutation(len(train_keys))[:256]
    calibration = (np.asarray(prep.images[sorted(prep.rows[train_keys[i]] for i in pick)])
                   if args.quantize else None)
    # the file's own validation and test metrics are added by the export; these were
    # measured on the fitted head over the cached (float) features
    short: dict[str, Any] = {}
    if "test_trashnet" in metrics:
        t = metrics["test_trashnet"]
        short["test_trashnet_head"] = {m: round(t[m], 4) for m in (
            "accuracy", "confidently_wrong", "unsure_rate")} | {"images": t["n"]}
    if "loso" in metrics:
        o = metrics["loso"]["overall"]
        short["leave_one_source_out"] = {m: round(o[m], 4) for m in (
            "accuracy", "confidently_wrong", "unsure_rate", "ece")} | {"images": o["n"]}
    if "loco" in metrics:
        short["leave_one_class_out"] = {"unknown_unsure_rate": round(
            metrics["loco"]["mean_unsure_rate"], 4)}
    info_fields = {
        "id": args.id, "name": args.name, "version": args.version,
        "training": {"dataset": "+".join(data["datasets"]), "backbone": "+".join(
            recipe["backbones"]), "head": "softmax regression on frozen features",
            "recipe": recipe, "data_sha256": _data_digest(data), "created": now_iso()},
        "metrics": short,
    }
    members = {}
    for alias, path, digest in recipe.get("members", []):
        from training.onnx_member import sha256

        if not Path(path).is_file() or sha256(Path(path)) != digest:
            raise UserError(f"member {alias}: {path} is missing or not the file the head was "
                            "fitted with")
        members[alias] = Path(path)
    val_labels = np.array([classes.index(items[k]["label"]) for k in val_keys])
    report = export(backbones=tuple(recipe["backbones"]), members=members, head=head,
                    novelty=novelty, val_labels=val_labels, test_images=test_images,
                    test_labels=np.array([classes.index(items[k]["label"]) for k in test_keys]),
                    test_groups=np.array([items[k]["group"] for k in test_keys]),
                    threshold=float(metrics["threshold"]), classes=classes,
                    input_size=tuple(data["input_size"]), val_images=val_images,
                    calibration=calibration, folder=args.run_dir / "export",
                    info_fields=info_fields, val_features=val_features,
                    novelty_keep=float(recipe["novelty_keep"]),
                    weights=None if args.random_weights else "default")
    from training.realworld_export import run_all
    from training.realworld_report import plot_mistakes, render_export

    chosen = "int8" if args.quantize else "fp32"
    report["shipped"] = chosen
    folder = args.run_dir / "export"
    (folder / "export.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    (folder / "export.md").write_text(render_export(report), encoding="utf-8")
    shipped = Path(report["variants"][chosen]["path"])
    probs = run_all(session(shipped), test_images)[0]
    plot_mistakes(test_images, np.array([classes.index(items[k]["label"]) for k in test_keys]),
                  probs, list(classes), folder / "mistakes.png",
                  "test split: the most confident mistakes (true -> predicted)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shipped, args.out)
    print(render_export(report))
    return 0


def cmd_card(args: argparse.Namespace) -> int:
    """Copy a run's reports and figures into the model card folder (small files only)."""
    import csv
    import gzip
    import shutil

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    run = args.run_dir
    copies = {"fit/report.md": "report.md", "fit/metrics.json": "metrics.json",
              "fit/confusion-test.png": "confusion-test.png",
              "fit/confusion-loso.png": "confusion-loso.png",
              "export/export.md": "export.md", "export/export.json": "export.json",
              "export/mistakes.png": "mistakes.png", "validation.md": "validation.md",
              "features/timing.json": "feature-timing.json"}
    for src, dst in copies.items():
        if (run / src).is_file():
            shutil.copyfile(run / src, out / dst)
    data = json.loads((run / "data.json").read_text(encoding="utf-8"))
    # gzip: 9,857 rows are 0.6 MB of text; the model's metadata holds the digest of the
    # full listing (with each image's sha256) as training.data_sha256
    with gzip.open(out / "split.csv.gz", "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "label", "group", "split"])
        for key, item in sorted(data["items"].items()):
            writer.writerow([key, item["label"], item["group"], item["split"]])
    print(f"card files in {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from training.realworld_compare import compare
    from training.run import default_cache_dir

    text = compare(args.run_dir, args.models, args.cache_dir or default_cache_dir())
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


def data_sets(run_dir: Path) -> list[tuple[str, str]]:
    data = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))
    return list(data["datasets"].items())


def _data_digest(data: dict[str, Any]) -> str:
    import hashlib

    listing = json.dumps(sorted((k, v["sha256"], v["split"]) for k, v in data["items"].items()))
    return hashlib.sha256(listing.encode()).hexdigest()


def _name_path(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep:
        raise UserError(f"--keep-split wants NAME=MANIFEST, got {text!r}")
    return name, Path(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training realworld",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    f = sub.add_parser("features", help="decode, split and cache frozen backbone features")
    f.add_argument("--run-dir", type=Path, required=True, metavar="DIR")
    f.add_argument("--data", type=Path, nargs="+", metavar="PATH",
                   help="class-per-folder datasets (a manifest.csv gives groups); default "
                        "../shared/data/trashnet and ../shared/data/waste-wild")
    f.add_argument("--cache-dir", type=Path, metavar="DIR")
    f.add_argument("--backbones", type=lambda s: [b for b in s.split(",") if b],
                   default=list(DEFAULT_BACKBONES))
    f.add_argument("--views", type=int, default=DEFAULT_VIEWS,
                   help="0 = image, 1 = mirror, 2.. = station augmentations")
    f.add_argument("--batch-size", type=int, default=64)
    f.add_argument("--input-size", type=int, default=INPUT_SIZE[0], help="square side (px)")
    f.add_argument("--random-weights", action="store_true",
                   help="untrained backbones (tests only: no ImageNet weights needed)")
    f.add_argument("--member", action="append", metavar="ALIAS=MODEL.onnx",
                   help="also cache the pooled features of an exported model (e.g. "
                        "waste100=waste-1.0.0.onnx); repeatable")
    f.add_argument("--keep-split", action="append", metavar="NAME=MANIFEST",
                   help="images of dataset NAME keep their split from an earlier run's "
                        "manifest.json (trashnet=models/cards/waste/1.0.0/split-manifest.json)")
    f.set_defaults(func=cmd_features)

    t = sub.add_parser("fit", help="fit the head; leave-one-source/class-out reports")
    t.add_argument("--run-dir", type=Path, required=True, metavar="DIR")
    t.add_argument("--backbones", type=lambda s: [b for b in s.split(",") if b],
                   default=list(DEFAULT_BACKBONES))
    t.add_argument("--views", type=int, default=DEFAULT_VIEWS, help="use views 0..N-1")
    t.add_argument("--member", action="append", metavar="ALIAS=MODEL.onnx",
                   help="features of an exported model as well (see features --member)")
    t.add_argument("--member-trained-on", action="append", metavar="GROUP",
                   help="a member was trained on this group's train split: leave-one-source-"
                        "out tests that group on its test split only")
    t.add_argument("--c", type=float, default=0.3, help="inverse L2 strength")
    t.add_argument("--source-power", type=float, default=0.5)
    t.add_argument("--novelty-k", type=int, default=128)
    t.add_argument("--novelty-keep", type=float, default=0.95)
    t.add_argument("--max-risk", type=float, default=0.02,
                   help="confidently wrong share allowed on validation (picks the threshold)")
    t.add_argument("--skip-field", action="store_true", help="no LOSO / LOCO runs")
    t.add_argument("--loso-only", action="store_true", help="LOSO but no LOCO runs")
    t.add_argument("--out-dir", type=Path, metavar="DIR",
                   help="reports here instead of RUN/fit (variants; export reads RUN/fit)")
    t.set_defaults(func=cmd_fit)

    x = sub.add_parser("export", help="write the ONNX model with its metadata")
    x.add_argument("--run-dir", type=Path, required=True, metavar="DIR")
    x.add_argument("--out", type=Path, required=True)
    x.add_argument("--id", default="waste")
    x.add_argument("--name", default="Waste (real-world, 11 classes)")
    x.add_argument("--version", required=True)
    x.add_argument("--quantize", action="store_true", help="INT8 backbones")
    x.add_argument("--cache-dir", type=Path, metavar="DIR")
    x.add_argument("--random-weights", action="store_true", help=argparse.SUPPRESS)
    x.set_defaults(func=cmd_export)

    c = sub.add_parser("compare", help="exported models side by side on the run's test split")
    c.add_argument("--run-dir", type=Path, required=True, metavar="DIR")
    c.add_argument("models", type=Path, nargs="+", metavar="MODEL.onnx")
    c.add_argument("--out", type=Path, help="also write the Markdown table here")
    c.add_argument("--cache-dir", type=Path, metavar="DIR")
    c.set_defaults(func=cmd_compare)

    k = sub.add_parser("card", help="copy reports and figures into a model card folder")
    k.add_argument("--run-dir", type=Path, required=True, metavar="DIR")
    k.add_argument("--out", type=Path, required=True, metavar="DIR")
    k.set_defaults(func=cmd_card)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"error: {exc}")
        return 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    raise SystemExit(main())
