"""Command line: ``waste-sorter [gui|classify|models|history|stats|teach] ...``.

The ``classify --json`` output and exit codes are a contract other checks rely on:
one JSON object per image, exit 0 when every image was classified, 2 when any failed
(the others are still printed), 1 on usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO

from app import __version__
from app.core.paths import DataDir, display_path

EXIT_OK, EXIT_USAGE, EXIT_FAILED = 0, 1, 2
BATCH = 16

log = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad arguments or an unusable environment (missing model, locked database)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="waste-sorter", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def data_dir_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data-dir",
            type=Path,
            help="data directory (default: $WASTE_SORTER_DATA_DIR or the per-user data directory)",
        )

    gui = sub.add_parser("gui", help="start the station app (the default)")
    gui.add_argument("--camera", help="camera index, or a video file played like a live camera")
    gui.add_argument("--model", help="model id to start with (default: the last one used)")
    data_dir_arg(gui)

    cls = sub.add_parser("classify", help="classify image files or folders")
    cls.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="images or folders")
    cls.add_argument("--model", default=None, help="model id or .onnx path (default: settings)")
    cls.add_argument("--top-k", type=_positive_int, default=3, help="classes to report (3)")
    cls.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    cls.add_argument("--record", action="store_true", help="add each result to the history")
    data_dir_arg(cls)

    models = sub.add_parser("models", help="list the available models")
    models.add_argument("--json", action="store_true", help="print JSON")
    data_dir_arg(models)

    hist = sub.add_parser("history", help="print the sorting history")
    hist.add_argument("--since", type=_when, help="start date/time (local), e.g. 2026-11-01")
    hist.add_argument("--until", type=_when, help="end date/time (local), exclusive")
    hist.add_argument("--label", action="append", help="only this (final) class; repeatable")
    hist.add_argument("--bin", action="append", dest="bins", help="only this bin; repeatable")
    hist.add_argument("--limit", type=_positive_int, default=None, help="at most N rows (table)")
    hist.add_argument("--format", choices=("table", "csv"), default="table")
    data_dir_arg(hist)

    stats = sub.add_parser("stats", help="print statistics for a period")
    stats.add_argument("--period", choices=("day", "week", "month"), default="day")
    stats.add_argument("--format", choices=("table", "csv", "json"), default="table")
    data_dir_arg(stats)

    from app import cli_teach

    cli_teach.add_parser(sub, data_dir_arg)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _when(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {text!r}") from None
    if len(text) <= 10:  # a bare date means its local midnight
        parsed = datetime.combine(date.fromisoformat(text), time())
    return parsed if parsed.tzinfo else parsed.astimezone()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    # Pillow warns about odd-but-decodable files (corrupt EXIF, TIFF tags); each file already
    # gets exactly one result line, so these would only be noise on stderr.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
    args = build_parser().parse_args(argv)
    command = args.command or "gui"
    try:
        if command == "gui":
            return _gui(args)
        from app import cli_teach

        handler = {"classify": _classify, "models": _models, "history": _history, "stats": _stats,
                   "teach": cli_teach.run}
        return handler[command](args)
    except UsageError as exc:
        print(f"waste-sorter: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `waste-sorter history | head`
        return EXIT_OK


# --- shared plumbing -------------------------------------------------------------------------


def _data_dir(args: argparse.Namespace) -> DataDir:
    try:
        return DataDir.resolve(getattr(args, "data_dir", None)).ensure()
    except OSError as exc:
        raise UsageError(f"cannot use data directory: {exc}") from None


def _open_store(data: DataDir) -> Any:
    from app.core.history import HistoryError, HistoryStore

    # Rows that cannot be read in full get one warning line of our own (_warn_unreadable).
    logging.getLogger("app.core.history").addFilter(
        lambda record: not getattr(record, "history_rows", False)
    )
    try:
        store = HistoryStore(data.history_db)
    except HistoryError as exc:
        raise UsageError(str(exc)) from None
    if store.recovered_from is not None:
        print(
            "waste-sorter: warning: the history database was damaged; it was moved to "
            f"{store.recovered_from} and a new one was started",
            file=sys.stderr,
        )
    return store


def _warn_unreadable(store: Any) -> None:
    """One stderr line naming the history rows that were skipped or shown in part."""
    ids = sorted(store.unreadable)
    if ids:
        shown = ", ".join(map(str, ids[:20])) + (", ..." if len(ids) > 20 else "")
        print(
            f"waste-sorter: warning: {len(ids)} history row(s) could not be read in full and "
            f"were skipped or shown in part (ids {shown}); the rest is complete",
            file=sys.stderr,
        )


def _gui(args: argparse.Namespace) -> int:
    from app.qt.application import run_gui

    return run_gui(
        camera=getattr(args, "camera", None),
        data_dir=_data_dir(args),
        model_id=getattr(args, "model", None),
    )


# --- classify --------------------------------------------------------------------------------


@dataclass
class _Item:
    path: Path
    image: Any = None
    error: str | None = None


def _decode(path: Path) -> _Item:
    from app.core.imaging import ImageError, decode_image

    try:
        return _Item(path, image=decode_image(path))
    except ImageError as exc:
        return _Item(path, error=str(exc))


def _expand(paths: Sequence[Path]) -> Iterator[_Item]:
    """Every image under ``paths``; a missing path, an empty folder, a subfolder that cannot
    be read or a broken link in a folder is an error item (after that folder's images)."""
    from app.core.imaging import iter_image_files

    for path in paths:
        if not path.exists():
            yield _Item(path, error="file not found")
            continue
        found = False
        problems: list[_Item] = []

        def on_error(where: Path, message: str, out: list[_Item] = problems) -> None:
            out.append(_Item(where, error=message))

        for file in iter_image_files([path], on_error=on_error):
            found = True
            yield _Item(file)
        yield from problems
        if not found and not problems:
            yield _Item(path, error="no image files found in this folder")


def _chunks(items: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    chunk: list[_Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _classify(args: argparse.Namespace) -> int:
    from app.core.classifier import Classifier
    from app.core.imaging import encode_crop, encode_jpeg
    from app.core.model_info import ModelError
    from app.core.registry import ModelRegistry
    from app.core.settings import load_settings

    data = _data_dir(args)
    settings, _ = load_settings(data.settings_file)
    registry = ModelRegistry(_shipped_models(), data.user_models)
    try:
        classifier: Classifier = registry.load(args.model or settings.model_id)
    except ModelError as exc:
        raise UsageError(str(exc)) from None
    rules = _rules(settings, data)
    if rules.warning:
        print(f"waste-sorter: warning: {rules.warning}", file=sys.stderr)
    rules = rules.with_thresholds(settings.threshold, settings.class_thresholds)
    store = _open_store(data) if args.record else None
    out = sys.stdout
    failed = scored = 0
    model_errors: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as pool, store or contextlib.nullcontext():
        for chunk in _chunks(_expand(args.paths), BATCH):
            todo = [item.path for item in chunk if item.error is None]
            decoded = iter(pool.map(_decode, todo))
            items = [item if item.error else next(decoded) for item in chunk]
            good = [item for item in items if item.image is not None]
            predictions = iter(classifier.predict_each([i.image for i in good], top_k=args.top_k))
            for item in items:
                prediction = next(predictions) if item.image is not None else None
                if isinstance(prediction, ModelError):  # this image only (NaN scores, ...)
                    item.error, item.image, prediction = str(prediction), None, None
                    model_errors.append(item.error)
                if item.image is None or prediction is None:
                    failed += 1
                    _emit_error(out, item, args.json)
                    continue
                scored += 1
                decision = rules.decide_prediction(prediction)
                if store is not None:
                    keep = settings.keep_images
                    thumb = encode_jpeg(item.image) if keep != "nothing" else None
                    spec = classifier.info.input
                    crop = (encode_crop(item.image, spec.width, spec.height)
                            if keep == "crop" else None)
                    _record(store, item.path, prediction, decision, thumb, crop)
                _emit(out, item, prediction, decision, args.json)
                item.image = None
    if model_errors and not scored:
        print(
            f"waste-sorter: error: the model failed on every image it was given "
            f"({len(model_errors)}): {model_errors[0]}",
            file=sys.stderr,
        )
    return EXIT_FAILED if failed else EXIT_OK


def _rules(settings: Any, data: DataDir) -> Any:
    from app.core.bins import BinRules, preset_path

    return BinRules.load(
        preset_path(settings.bin_preset),
        Path(settings.bins_file) if settings.bins_file else data.bins_override,
    )


def _shipped_models() -> Path:
    from app.core.paths import shipped_models_dir

    return shipped_models_dir()


def _record(store: Any, path: Path, prediction: Any, decision: Any, thumb: bytes | None,
            crop: bytes | None = None) -> None:
    from app.core.history import HistoryError, NewRecord

    record = NewRecord.from_prediction(
        prediction,
        decision,
        source=display_path(path.resolve()),
        source_kind="cli",
        thumbnail=thumb,
        crop=crop,
    )
    try:
        store.add(record)
    except HistoryError as exc:
        raise UsageError(f"could not record {display_path(path)}: {exc}") from None


def _emit(out: TextIO, item: _Item, prediction: Any, decision: Any, as_json: bool) -> None:
    if as_json:
        row = {
            "path": display_path(item.path),
            "label": prediction.label,
            "confidence": round(float(prediction.confidence), 6),
            "top_k": [
                {"label": lab, "confidence": round(float(c), 6)} for lab, c in prediction.top_k
            ],
            "bin": decision.bin_id,
            "error": None,
            # below its threshold, flagged unfamiliar by the model, or a class with no bin
            "unsure": bool(decision.unsure),
            "novelty": _finite(prediction.novelty),
        }
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        bin_text = "UNSURE - check" if decision.unsure else decision.name
        line = f"{display_path(item.path)}\t{prediction.label}\t{prediction.confidence:.1%}"
        out.write(f"{line}\t{bin_text}\n")
    out.flush()


def _finite(value: float | None) -> float | None:
    """A score for JSON: JSON has no infinity (an unreadable novelty score is infinite)."""
    return round(float(value), 6) if value is not None and math.isfinite(value) else None


def _emit_error(out: TextIO, item: _Item, as_json: bool) -> None:
    error = display_path(item.error or "")  # messages may quote a (model) file name
    if as_json:
        row: dict[str, Any] = {"path": display_path(item.path)}
        row |= dict.fromkeys(("label", "confidence", "top_k", "bin"))
        row |= {"error": error, "unsure": None, "novelty": None}
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        out.write(f"{display_path(item.path)}\tERROR: {error}\n")
    out.flush()


# --- models, history, stats ------------------------------------------------------------------


def _models(args: argparse.Namespace) -> int:
    from app.core.registry import ModelRegistry

    data = _data_dir(args)
    entries = ModelRegistry(_shipped_models(), data.user_models).entries()
    if args.json:
        rows = []
        for e in entries:
            info = e.info
            rows.append(
                {
                    "id": display_path(e.id),
                    "path": display_path(e.path),
                    "shipped": e.shipped,
                    "error": None if e.error is None else display_path(e.error),
                    "name": info.name if info else None,
                    "version": info.version if info else None,
                    "labels": list(info.labels) if info else None,
                    "metrics": info.metrics if info else None,
                }
            )
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not entries:
        print("no models found")
    for e in entries:
        ident, where = display_path(e.id), display_path(e.path)
        if e.info is None:
            print(f"{ident}  BROKEN  {where}\n    {display_path(e.error or '')}")
            continue
        info = e.info
        origin = "shipped" if e.shipped else "user"
        print(f"{ident}  {info.name}  v{info.version}  ({origin}, {where})")
        print(f"    classes: {', '.join(info.labels)}")
        for split, metrics in sorted(info.metrics.items()):
            if isinstance(metrics, dict):
                shown = ", ".join(
                    f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, int | float)
                )
                print(f"    {split}: {shown}")
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    from app.core.history import RecordFilter

    store = _open_store(_data_dir(args))
    flt = RecordFilter(
        since=args.since,
        until=args.until,
        labels=tuple(args.label or ()),
        bins=tuple(args.bins or ()),
    )
    if args.format == "csv":
        store.export_csv(sys.stdout, flt)
        _warn_unreadable(store)
        return EXIT_OK
    records = store.query(flt, limit=args.limit or 1_000_000, offset=0, order="asc")
    print(f"{'id':>7}  {'time (local)':19}  {'label':12} {'conf':>6}  {'bin':16} source")
    for r in records:
        local = r.created_utc.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        label = r.final_label + ("*" if r.corrected_label else "")
        print(f"{r.id:>7}  {local:19}  {label:12} {r.confidence:6.1%}  {r.final_bin:16} {r.source}")
    print(f"{len(records)} record(s); * = corrected by an operator")
    _warn_unreadable(store)
    return EXIT_OK


def _stats_json(result: Any) -> dict[str, Any]:
    return {
        "since": result.since.isoformat(),
        "until": result.until.isoformat(),
        "total": result.total,
        "mean_confidence": result.mean_confidence,
        "unsure_rate": result.unsure_rate,
        "correction_rate": result.correction_rate,
        "by_label": dict(result.by_label),
        "by_bin": dict(result.by_bin),
        "per_hour": [[start.isoformat(), n] for start, n in result.per_hour],
        "per_day": [[day.isoformat(), n] for day, n in result.per_day],
    }


def _stats(args: argparse.Namespace) -> int:
    from app.core import stats as stats_mod

    store = _open_store(_data_dir(args))
    since, until = stats_mod.period_bounds(args.period, datetime.now().astimezone())
    result = stats_mod.compute(store, since, until)
    _warn_unreadable(store)
    if args.format == "json":
        print(json.dumps(_stats_json(result), indent=2))
        return EXIT_OK
    if args.format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerows(result.to_rows())
        return EXIT_OK
    print(f"Period: {since:%Y-%m-%d %H:%M} to {until - timedelta(seconds=1):%Y-%m-%d %H:%M}")
    print(f"Items: {result.total}")
    if result.total:
        print(f"Mean confidence: {result.mean_confidence:.1%}")
        print(f"Unsure rate: {result.unsure_rate:.1%}")
        print(
            f"Correction rate (operators' estimate of the error rate): {result.correction_rate:.1%}"
        )
        print("By class:")
        for label, n in result.by_label:
            print(f"  {label:16} {n}")
        print("By bin:")
        for bin_id, n in result.by_bin:
            print(f"  {bin_id:16} {n}")
    return EXIT_OK
