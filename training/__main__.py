"""Command line: ``python -m training train|validate|evaluate|export|ensemble|compare``, and
``python -m training realworld ...`` (:mod:`training.realworld`, the real-world waste model).

TensorFlow is imported only by the sub-command that needs it, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXAMPLES = """\
examples:
  python -m training train --config training/configs/waste.json --run-dir runs/waste
  python -m training train --config training/configs/waste.json --limit-per-class 20 \\
      --epochs-override 1 --run-dir runs/smoke
  python -m training train --run-dir runs/waste --resume
  python -m training evaluate --run-dir runs/waste --split test
  python -m training export --run-dir runs/waste --out models/waste.onnx --id waste \\
      --version 1.0.0 --quantize
  python -m training ensemble models/cifar10.onnx runs/cifar10_effnet/export/shipped.onnx \
      --run-dir runs/cifar10_effnet --out models/cifar10.onnx --id cifar10 --version 1.2.0
  python -m training compare runs/waste runs/waste_cnn --out docs/compare.md
  python -m training realworld features|fit|export|compare|card ...   # the waste model
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train, evaluate, export (ONNX) and compare Waste Sorter image classifiers.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging (TensorFlow's own messages too)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common_data(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", type=Path, metavar="PATH",
                       help="dataset: class-per-folder tree, image tarball, or CIFAR-10 python "
                            "batches (.tar.gz or folder); overrides the path in the config/run")
        p.add_argument("--cache-dir", type=Path, metavar="DIR",
                       help="where decoded images and extracted archives are cached "
                            "(default $WASTE_SORTER_CACHE or ~/.cache/waste-sorter)")

    t = sub.add_parser("train", help="train a model (two phases for backbone models)",
                       description="Validate the dataset, split it (manifest), train, and "
                                   "leave checkpoints, history and curves in the run directory.")
    t.add_argument("--config", type=Path, metavar="JSON",
                   help="config file with every hyper-parameter (training/configs/*.json); "
                        "optional with --resume (the run directory keeps a copy)")
    common_data(t)
    t.add_argument("--run-dir", type=Path, metavar="DIR",
                   help="output directory (default runs/<config name>)")
    t.add_argument("--manifest", type=Path, metavar="JSON",
                   help="re-use this split manifest instead of making a new split")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --run-dir from its last checkpoint")
    t.add_argument("--epochs-override", metavar="N|P1,P2",
                   help="epochs for both phases (N) or for each (P1,P2); with --resume, "
                        "extends the phase in progress")
    t.add_argument("--limit-per-class", type=int, metavar="N",
                   help="use at most N images per class (smoke tests)")

    v = sub.add_parser("validate", help="check a dataset and write the validation report",
                       description="List unreadable, empty, tiny and duplicate images "
                                   "(validation.json + validation.md) without training.")
    v.add_argument("--config", type=Path, required=True, metavar="JSON",
                   help="config giving the dataset, input size and minimum side")
    common_data(v)
    v.add_argument("--out", type=Path, default=Path("runs/validation"), metavar="DIR",
                   help="where to write the report (default runs/validation)")

    e = sub.add_parser("evaluate", help="metrics, confusion matrix and mistakes of a run",
                       description="Accuracy, per-class precision/recall/F1, macro and micro "
                                   "F1, top-k accuracy, confusion matrix (PNG + CSV), the most "
                                   "confident mistakes (PNG) and report.md in RUN/eval/SPLIT.")
    e.add_argument("--run-dir", type=Path, required=True, metavar="DIR", help="a training run")
    e.add_argument("--split", choices=("test", "val"), default="test",
                   help="which split of the manifest to evaluate (default test)")
    e.add_argument("--onnx", type=Path, metavar="FILE",
                   help="evaluate this exported model of the run (e.g. models/waste.onnx, "
                        "with its INT8 weights and in-graph test-time augmentation) with ONNX "
                        "Runtime instead of the Keras model; written to eval/SPLIT-onnx-STEM")
    common_data(e)

    x = sub.add_parser("export", help="export a run to ONNX with metadata and a parity check",
                       description="Convert with tf2onnx (input 'image', dynamic batch, opset "
                                   "17), write Waste Sorter metadata, and fail unless Keras and "
                                   "ONNX Runtime agree on every validation image.")
    x.add_argument("--run-dir", type=Path, required=True, metavar="DIR", help="a training run")
    x.add_argument("--out", type=Path, required=True, metavar="ONNX", help="output model file")
    x.add_argument("--id", required=True, help="model id (e.g. waste, cifar10)")
    x.add_argument("--version", required=True, help="model version, e.g. 1.0.0")
    x.add_argument("--name", help="display name (default: the config's display_name)")
    x.add_argument("--quantize", nargs="?", const="static", choices=("static", "dynamic"),
                   help="also try INT8 quantisation (static by default) and ship it only if "
                        "validation accuracy drops by less than 0.5 points")
    x.add_argument("--tta-flip", action="store_true",
                   help="average the prediction of the image and its mirror image inside the "
                        "exported graph (test-time augmentation; twice the compute). The "
                        "reported metrics are measured on the exported graph, so they include it")
    x.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    common_data(x)

    n = sub.add_parser("ensemble", help="average exported models of one split into one .onnx",
                       description="Combine exported models (same labels, input and split "
                                   "manifest as --run-dir) into one ONNX graph whose output is "
                                   "the weighted mean of their probabilities; weights chosen on "
                                   "the validation split unless given. Writes the report to "
                                   "RUN/ensemble/ensemble.md.")
    n.add_argument("members", nargs="+", type=Path, metavar="ONNX",
                   help="member models (at least two), e.g. a shipped file and a run's export")
    n.add_argument("--run-dir", type=Path, required=True, metavar="DIR",
                   help="a run on the members' split: its validation and test images are used")
    n.add_argument("--out", type=Path, required=True, metavar="ONNX", help="output model file")
    n.add_argument("--id", required=True, help="model id (e.g. cifar10)")
    n.add_argument("--version", required=True, help="model version, e.g. 1.2.0")
    n.add_argument("--name", help="display name (default: the first member's)")
    n.add_argument("--weights", metavar="W1,W2,...",
                   help="member weights (normalised to sum 1); default: the best validation "
                        "accuracy on a grid in steps of 0.05")
    common_data(n)

    c = sub.add_parser("compare", help="compare runs: accuracy, macro-F1, ONNX size, latency",
                       description="A Markdown table of several runs' metrics with ONNX Runtime "
                                   "latency measured on this machine.")
    c.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run directories")
    c.add_argument("--split", choices=("test", "val"), default="test",
                   help="which evaluation to report (default test)")
    c.add_argument("--models", nargs="+", type=Path, default=[], metavar="ONNX",
                   help="also score these model files (e.g. the shipped ensemble) on the split "
                        "of a listed run with the same manifest")
    c.add_argument("--out", type=Path, metavar="MD", help="also write the table to this file")
    c.add_argument("--repeats", type=int, default=50,
                   help="timed single-image inferences per model (default 50)")
    return parser


def _setup_logging(verbose: bool) -> None:
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    for noisy in ("tensorflow", "tf2onnx", "absl", "h5py", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _cmd_train(args: argparse.Namespace) -> int:
    from training.config import Config, ConfigError, parse_epochs
    from training.run import RunPaths, default_cache_dir
    from training.train import train

    if args.resume:
        if args.run_dir is None:
            raise ConfigError("--resume needs --run-dir")
        saved = RunPaths(args.run_dir).config
        if not saved.is_file():
            raise ConfigError(f"{args.run_dir}: nothing to resume (no config.json)")
        config = Config.load(saved)
        if args.config and Config.load(args.config) != config:
            logging.warning("--resume uses the run's own config.json, not %s", args.config)
    elif args.config is None:
        raise ConfigError("train needs --config (or --resume with --run-dir)")
    else:
        config = Config.load(args.config)
    if args.epochs_override:
        p1, p2 = parse_epochs(args.epochs_override)
        config = config.with_epochs(p1, p2 if config.uses_backbone else None)
    if args.limit_per_class is not None and not args.resume:
        config = config.with_data(None, args.limit_per_class)
    config.validate()
    run_dir = args.run_dir or Path("runs") / config.name
    weights = train(config, run_dir, cache_dir=args.cache_dir or default_cache_dir(),
                    resume=args.resume, data_path=args.data, manifest_path=args.manifest)
    print(f"trained: {weights}\nnext: python -m training evaluate --run-dir {run_dir}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from training.config import Config, resolve_data_path
    from training.data import open_source, prepare, write_report
    from training.run import default_cache_dir

    config = Config.load(args.config)
    cache = args.cache_dir or default_cache_dir()
    source = open_source(args.data or resolve_data_path(config.data.path), cache, config.data.name)
    prep = prepare(source, config.input_size, cache, min_side=config.data.min_side)
    _, md = write_report(prep, args.out)
    print(md.read_text(encoding="utf-8"))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_run
    from training.run import open_run

    result = evaluate_run(open_run(args.run_dir), args.split, cache_dir=args.cache_dir,
                          data_path=args.data, onnx=args.onnx)
    print(result.report_path.read_text(encoding="utf-8"))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from training.export import export_run
    from training.run import open_run

    report = export_run(open_run(args.run_dir), args.out, model_id=args.id,
                        version=args.version, name=args.name, quantize=args.quantize,
                        opset=args.opset, cache_dir=args.cache_dir, data_path=args.data,
                        tta_flip=args.tta_flip)
    print(report.read_text(encoding="utf-8"))
    return 0


def _cmd_ensemble(args: argparse.Namespace) -> int:
    from training.config import ConfigError
    from training.ensemble import build_ensemble
    from training.run import open_run

    weights = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise ConfigError(f"--weights wants numbers like 0.6,0.4, got {args.weights!r}"
                              ) from None
    report = build_ensemble(open_run(args.run_dir), args.members, args.out, model_id=args.id,
                            version=args.version, name=args.name, weights=weights,
                            cache_dir=args.cache_dir, data_path=args.data)
    print(report.read_text(encoding="utf-8"))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from training.compare import compare_runs

    table = compare_runs(args.runs, split=args.split, repeats=args.repeats, models=args.models)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table, encoding="utf-8")
    print(table)
    return 0


COMMANDS = {"train": _cmd_train, "validate": _cmd_validate, "evaluate": _cmd_evaluate,
            "export": _cmd_export, "ensemble": _cmd_ensemble, "compare": _cmd_compare}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["realworld"]:  # the real-world waste model has its own sub-commands
        from training import realworld

        _setup_logging("-v" in argv or "--verbose" in argv)
        return realworld.main([a for a in argv[1:] if a not in ("-v", "--verbose")])
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    from training.config import UserError

    try:
        return COMMANDS[args.command](args)
    except (UserError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
