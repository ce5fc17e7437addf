"""``waste-sorter teach``: teach this station from example folders and/or its own history.

    waste-sorter teach --name NAME [--base MODEL] [--from-history] [--promote]
                       [--bins CLASS=BIN ...] [--json] [--data-dir DIR] [FOLDER ...]
    waste-sorter teach --rollback [--data-dir DIR]

Exit codes: 0 taught (or rolled back), 1 usage errors and anything that stopped teaching.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.paths import DataDir, display_path


def add_parser(sub: Any, data_dir_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "teach",
        help="teach this station new or better classes from examples",
        description="Fit a station model on the base model's features from class-per-folder "
        "examples (FOLDER/<class>/*.jpg) and/or the history's corrected and confirmed records.",
    )
    p.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                   help="folders of examples: one subfolder per class")
    p.add_argument("--name", help="the taught model's name (letters, digits, _)")
    p.add_argument("--base", help="model to start from (default: the station's model)")
    p.add_argument("--from-history", action="store_true",
                   help="also learn from corrected and confirmed history records")
    p.add_argument("--promote", action="store_true",
                   help="make it the station's model if it beats the current one")
    p.add_argument("--bins", action="append", default=[], metavar="CLASS=BIN",
                   help="bin for a new class (repeatable, or comma-separated)")
    p.add_argument("--rollback", action="store_true",
                   help="go back to the station's previous model")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    data_dir_arg(p)


def run(args: argparse.Namespace) -> int:
    from app import cli

    data = cli._data_dir(args)
    if args.rollback:
        return _rollback(data)
    if not args.name:
        raise cli.UsageError("teach needs --name NAME (or --rollback)")
    if not args.folders and not args.from_history:
        raise cli.UsageError("give example FOLDERs and/or --from-history")
    return _teach(args, data)


def _rollback(data: DataDir) -> int:
    from app import cli
    from app.core.station_model import StationError, rollback

    try:
        change = rollback(data)
    except StationError as exc:
        raise cli.UsageError(str(exc)) from None
    print(f"This station's model is '{change.after}' again (was '{change.before}').")
    return cli.EXIT_OK


def _teach(args: argparse.Namespace, data: DataDir) -> int:
    from app import cli
    from app.core.bin_overrides import BinAssignmentError, assign, parse_assignments
    from app.core.model_info import ModelError
    from app.core.registry import ModelRegistry
    from app.core.settings import load_settings
    from app.core.teach import (
        Gathered,
        TeachError,
        folder_examples,
        history_examples,
        teach,
    )

    settings, _ = load_settings(data.settings_file)
    registry = ModelRegistry(cli._shipped_models(), data.user_models)
    try:
        base = registry.load(args.base or settings.model_id)
        bins = parse_assignments(args.bins)
    except (ModelError, BinAssignmentError) as exc:
        raise cli.UsageError(str(exc)) from None
    gathered = folder_examples(args.folders) if args.folders else Gathered()
    if args.from_history:
        store = cli._open_store(data)
        try:
            more = history_examples(store)
        finally:
            store.close()
        gathered.examples += more.examples
        gathered.problems += more.problems
    for problem in gathered.problems:
        print(f"waste-sorter: warning: skipped {problem}", file=sys.stderr)
    if not gathered.examples:
        raise cli.UsageError("no example images found")
    shipped = [e.info.id for e in registry.entries() if e.shipped and e.info is not None]
    err = sys.stderr

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "embedding" and total and not args.json:
            print(f"\rreading examples {done}/{total}", end="" if done < total else "\n",
                  file=err, flush=True)

    try:
        result = teach(
            name=args.name, base=base, examples=gathered.examples,
            models_dir=data.user_models, cache_dir=data.root / "teach" / "cache",
            reports_dir=data.root / "teach", reserved=shipped, problems=gathered.problems,
            progress=progress,
        )
    except (TeachError, ModelError) as exc:
        raise cli.UsageError(str(exc)) from None
    for problem in result.problems[len(gathered.problems):]:
        print(f"waste-sorter: warning: skipped {problem}", file=err)

    rules = cli._rules(settings, data)
    missing = [c for c in result.classes if rules.bin_for(c) is None and c not in bins]
    override = Path(settings.bins_file) if settings.bins_file else data.bins_override
    wanted = {c: b for c, b in bins.items() if c in result.classes}
    if wanted:
        try:
            assign(override, rules, wanted)
        except BinAssignmentError as exc:
            print(f"waste-sorter: warning: bins not set: {exc}", file=err)
            missing += list(wanted)
    promotion = _promotion(args, data, settings.model_id, result, registry, gathered.examples)
    summary = result.summary() | {"bins_set": wanted, "no_bin": missing} | promotion
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_result(result, missing, promotion)
    return cli.EXIT_OK


def _promotion(args: argparse.Namespace, data: DataDir, current_id: str, result: Any,
               registry: Any, examples: list[Any]) -> dict[str, Any]:
    """Promote when asked and better than the station's model on the same examples."""
    from app.core.station_model import StationError, promote

    current = _accuracy_of(registry, current_id, result, examples)
    out: dict[str, Any] = {"station_model": current_id, "station_accuracy": current,
                           "promoted": False}
    if not args.promote:
        return out
    if current is not None and not result.accuracy > current:
        out["not_promoted_because"] = (
            f"it is not better than '{current_id}' on these examples "
            f"({result.accuracy:.1%} vs {current:.1%})")
        return out
    try:
        promote(data, result.model_id)
    except StationError as exc:
        out["not_promoted_because"] = str(exc)
        return out
    out["promoted"] = True
    return out


def _accuracy_of(registry: Any, model_id: str, result: Any, examples: list[Any]) -> float | None:
    """The station model's accuracy on the examples (None when it cannot be measured)."""
    from app.core.model_info import ModelError

    if model_id == result.base_id:
        return float(result.base_accuracy)
    try:
        model = registry.load(model_id)
        hits = total = 0
        for start in range(0, len(examples), 32):
            chunk = examples[start:start + 32]
            images = []
            for ex in chunk:
                try:
                    images.append((ex, ex.image()))
                except Exception:  # reported already by teaching
                    continue
            preds = model.predict_each([img for _, img in images])
            for (ex, _), p in zip(images, preds, strict=True):
                total += 1
                hits += int(not isinstance(p, ModelError) and p.label == ex.label)
        return hits / total if total else None
    except ModelError:
        return None


def _print_result(result: Any, missing: list[str], promotion: dict[str, Any]) -> None:
    from app.core.teach import FOLDS

    size_mb = result.path.stat().st_size / 1e6
    print(f"Taught '{result.model_id}' in {result.seconds:.1f} s from "
          f"{sum(result.examples.values())} examples ({result.cached} already known): "
          f"{display_path(result.path)} ({size_mb:.1f} MB)")
    folds = min(FOLDS, min(result.examples.values()))
    print(f"Accuracy on the examples ({folds}-fold cross-validation): {result.accuracy:.1%}; "
          f"'{result.base_id}' on the same examples: {result.base_accuracy:.1%}")
    width = max(len(c) for c in result.classes)
    for c in result.classes:
        new = "  (new)" if c in result.new_classes else ""
        print(f"    {c:<{width}}  {result.examples[c]:>4} examples  "
              f"{result.per_class[c]:>6.1%}{new}")
    if missing:
        print(f"No bin for: {', '.join(missing)} -- these items will show 'Not sure' until "
              "you give --bins CLASS=BIN (or set them in the app).")
    if promotion["promoted"]:
        print(f"This station now uses '{result.model_id}' "
              f"(was '{promotion['station_model']}'; undo: waste-sorter teach --rollback).")
    else:
        why = promotion.get("not_promoted_because")
        print(f"Not promoted{': ' + why if why else ''}. The station still uses "
              f"'{promotion['station_model']}'; use --promote or the app to switch, or "
              f"classify --model {result.name} to try it.")
