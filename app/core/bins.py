"""Which bin a predicted class goes into, from JSON rules (shipped preset + user override).

The shipped presets (:data:`PRESETS`: ``resources/bins/default.json`` is the generic one) are
always valid (a test says so). A user override (``bins.json`` in the data directory) is merged
on top of the chosen preset field by field, so it may change only one colour or threshold. A
broken override never stops the app: the preset is used and :attr:`BinRules.warning` says why.

Which confidence is enough (:meth:`BinRules.threshold_for`), first match wins: the class's own
threshold (from the settings or the rules file), the overall threshold the user chose in the
settings, the threshold the model recommends (its metadata ``unsure_threshold``, measured on
its validation data), the rules file's ``default_threshold``. The shipped presets set no
per-class thresholds: what suits one model's classes does not suit another's.

Bin names and instructions are English; ``"i18n": {"vi": {"name": ..., "instruction": ...}}``
beside them gives other languages (:meth:`Bin.name_in`). An override that changes a bin's
English text without giving its translations shows its own text in every language, as schema 1
files (which had no ``i18n``) did.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from app.core.paths import resources_dir

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
UNSURE_ID = "unsure"
HAZARDOUS_ID = "hazardous"
#: Shipped bin-rule presets: id -> file in ``resources/bins``.
PRESETS: dict[str, str] = {"generic": "default.json", "vietnam": "vietnam.json", "eu": "eu.json"}
DEFAULT_PRESET = "generic"
DEFAULT_THRESHOLD = 0.6  # a rules file's default_threshold when it gives none
MIN_TEXT_CONTRAST = 3.0  # WCAG AA for large text: bin names are drawn large and bold
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_TOP_KEYS = {"schema", "description", "default_threshold", "bins", "unsure", "classes"}
_BIN_KEYS = {"name", "colour", "text_colour", "instruction", "i18n"}
_TEXT_KEYS = ("name", "instruction")  # the translatable fields of a bin
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_CLASS_KEYS = {"bin", "threshold"}


class BinRulesError(Exception):
    """A bins file that cannot be used; the message names the file and the problem."""


Translations = Mapping[str, Mapping[str, str]]  # language -> {"name": ..., "instruction": ...}


class Scored(Protocol):
    """What :meth:`BinRules.decide_prediction` reads from a prediction."""

    @property
    def label(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def novel(self) -> bool: ...
    @property
    def model_threshold(self) -> float | None: ...


def _text_in(i18n: Translations, language: str, key: str, english: str) -> str:
    code = language.lower().replace("-", "_").split("_", 1)[0]
    return i18n.get(code, {}).get(key, english)


@dataclass(frozen=True)
class Bin:
    id: str
    name: str
    colour: str
    text_colour: str
    instruction: str
    i18n: Translations = field(default_factory=dict, hash=False)

    def name_in(self, language: str) -> str:
        """The name in ``language`` ("vi", "vi_VN"), English when the file gives none."""
        return _text_in(self.i18n, language, "name", self.name)

    def instruction_in(self, language: str) -> str:
        return _text_in(self.i18n, language, "instruction", self.instruction)


@dataclass(frozen=True)
class BinDecision:
    """Where to put an item. When ``unsure``, ``suggested_bin_id`` is the bin the label maps to
    (``None`` for an unknown label) so the UI and history can still show the best guess."""

    bin_id: str
    name: str
    colour: str
    instruction: str
    unsure: bool
    threshold: float  # the threshold that was applied to this item
    text_colour: str = "#FFFFFF"
    suggested_bin_id: str | None = None
    i18n: Translations = field(default_factory=dict, hash=False)

    def name_in(self, language: str) -> str:
        """The bin's name in ``language``, English when the rules give none."""
        return _text_in(self.i18n, language, "name", self.name)

    def instruction_in(self, language: str) -> str:
        return _text_in(self.i18n, language, "instruction", self.instruction)


@dataclass(frozen=True)
class BinRules:
    default_threshold: float  # the rules file's: used when the model recommends none
    bins: Mapping[str, Bin]
    unsure: Bin
    class_bins: Mapping[str, str]
    class_thresholds: Mapping[str, float] = field(default_factory=dict)
    source: Path | None = None
    warning: str | None = None
    # The overall threshold chosen in the settings (:meth:`with_thresholds`); None = follow
    # the model's recommendation. Not part of the rules file.
    overall_threshold: float | None = None

    @classmethod
    def load(cls, default_path: str | Path, override_path: str | Path | None = None) -> BinRules:
        """Read the default rules and merge an optional override on top.

        A broken default raises :class:`BinRulesError`. A missing override is ignored; a broken
        one falls back to the default with :attr:`warning` set.
        """
        default_path = Path(default_path)
        base = _upgrade(_read_json(default_path), default_path)
        rules = cls.from_dict(base, default_path)
        if override_path is None:
            return rules
        override_path = Path(override_path)
        if not override_path.exists():
            return rules
        try:
            override = _upgrade(_read_json(override_path), override_path)
            _check_new_bins(base, override, default_path, override_path)
            merged = _merge_rules(base, override)
            return cls.from_dict(merged, override_path)
        except BinRulesError as exc:
            message = f"{exc}; using the default bin rules"
            log.warning("%s", message)
            return replace(rules, warning=message)

    @classmethod
    def from_dict(cls, data: Any, source: Path) -> BinRules:
        """Validate parsed JSON; :class:`BinRulesError` names ``source`` and the problem."""

        def fail(problem: str) -> BinRulesError:
            return BinRulesError(f"{source.name}: {problem}")

        data = _upgrade(data, source)
        if not isinstance(data, dict):
            raise fail("top level must be a JSON object")
        _no_unknown_keys(data, _TOP_KEYS, "top level", fail)
        default_threshold = _threshold(
            data.get("default_threshold", DEFAULT_THRESHOLD), "default_threshold", fail
        )
        raw_bins = data.get("bins")
        if not isinstance(raw_bins, dict) or not raw_bins:
            raise fail("'bins' must be a non-empty object")
        bins = {bin_id: _parse_bin(bin_id, spec, fail) for bin_id, spec in raw_bins.items()}
        if UNSURE_ID in bins:
            raise fail(f"'{UNSURE_ID}' is reserved; describe it under the top-level 'unsure' key")
        if "unsure" not in data:
            raise fail("'unsure' is missing")
        unsure = _parse_bin(UNSURE_ID, data["unsure"], fail)
        raw_classes = data.get("classes")
        if not isinstance(raw_classes, dict):
            raise fail("'classes' must be an object mapping labels to bins")
        class_bins: dict[str, str] = {}
        thresholds: dict[str, float] = {}
        for label, rule in raw_classes.items():
            if isinstance(rule, str):  # shorthand: "cardboard": "paper"
                rule = {"bin": rule}
            if not isinstance(rule, dict):
                raise fail(f'classes.{label} must be an object like {{"bin": "..."}}')
            _no_unknown_keys(rule, _CLASS_KEYS, f"classes.{label}", fail)
            bin_id = rule.get("bin")
            if bin_id not in bins:
                known = ", ".join(sorted(bins))
                raise fail(f"classes.{label} refers to unknown bin {bin_id!r} (bins: {known})")
            class_bins[label] = str(bin_id)
            if rule.get("threshold") is not None:
                thresholds[label] = _threshold(
                    rule["threshold"], f"classes.{label}.threshold", fail
                )
        return cls(default_threshold, bins, unsure, class_bins, thresholds, source)

    def threshold_for(self, label: str, model_threshold: float | None = None) -> float:
        """The confidence ``label`` needs: its own threshold, else the overall one chosen in
        the settings, else ``model_threshold`` (the model's recommendation), else the rules
        file's default."""
        for threshold in (self.class_thresholds.get(label), self.overall_threshold):
            if threshold is not None:
                return threshold
        return self.default_threshold if model_threshold is None else model_threshold

    def bin_for(self, label: str) -> Bin | None:
        """The bin a label maps to regardless of confidence (``None`` if unknown)."""
        bin_id = self.class_bins.get(label)
        return self.bins[bin_id] if bin_id is not None else None

    def decide(
        self,
        label: str,
        confidence: float,
        *,
        novel: bool = False,
        model_threshold: float | None = None,
    ) -> BinDecision:
        """The bin for ``label``, or ``unsure`` when the label is unknown, the confidence is
        below its threshold (:meth:`threshold_for`; or not a number), or the model's novelty
        detector says the item is unlike every class it knows (``novel``)."""
        threshold = self.threshold_for(label, model_threshold)
        target = self.bin_for(label)
        if target is None or novel or not confidence >= threshold:
            return _decision(self.unsure, True, threshold, target.id if target else None)
        return _decision(target, False, threshold, target.id)

    def decide_prediction(self, prediction: Scored) -> BinDecision:
        """:meth:`decide` for a classifier's prediction (its label, confidence, novelty flag
        and the model's recommended threshold)."""
        return self.decide(
            prediction.label,
            prediction.confidence,
            novel=prediction.novel,
            model_threshold=prediction.model_threshold,
        )

    def with_thresholds(
        self, default: float | None = None, per_class: Mapping[str, float] | None = None
    ) -> BinRules:
        """A copy with the settings' thresholds: ``default`` is the overall threshold the user
        chose (it wins over the model's recommendation); ``None`` leaves it as it is (on loaded
        rules: follow the model). ``per_class`` replaces those classes' thresholds."""

        def fail(problem: str) -> ValueError:
            return ValueError(problem)

        overall = (
            self.overall_threshold
            if default is None
            else _threshold(default, "default threshold", fail)
        )
        thresholds = dict(self.class_thresholds)
        for label, value in (per_class or {}).items():
            thresholds[label] = _threshold(value, f"threshold for {label!r}", fail)
        return replace(self, overall_threshold=overall, class_thresholds=thresholds)

    def to_dict(self) -> dict[str, Any]:
        """The rules as JSON-ready data in the file format (round-trips via :meth:`from_dict`);
        the settings' overall threshold is not part of it."""

        def bin_dict(b: Bin) -> dict[str, Any]:
            spec: dict[str, Any] = {
                "name": b.name,
                "colour": b.colour,
                "text_colour": b.text_colour,
                "instruction": b.instruction,
            }
            if b.i18n:
                spec["i18n"] = {lang: dict(texts) for lang, texts in b.i18n.items()}
            return spec

        classes: dict[str, dict[str, Any]] = {}
        for label, bin_id in self.class_bins.items():
            classes[label] = {"bin": bin_id}
            if label in self.class_thresholds:
                classes[label]["threshold"] = self.class_thresholds[label]
        return {
            "schema": SCHEMA_VERSION,
            "default_threshold": self.default_threshold,
            "bins": {bin_id: bin_dict(b) for bin_id, b in self.bins.items()},
            "unsure": bin_dict(self.unsure),
            "classes": classes,
        }


def default_bins_path() -> Path:
    """The shipped rules file of the default (generic) preset."""
    return preset_path(DEFAULT_PRESET)


def preset_path(preset: str) -> Path:
    """The shipped rules file of a preset in :data:`PRESETS`; ``ValueError`` for another."""
    try:
        return resources_dir() / "bins" / PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown bin preset {preset!r} (presets: {', '.join(PRESETS)})") from None


def contrast_ratio(colour_a: str, colour_b: str) -> float:
    """WCAG 2 contrast ratio between two ``#RRGGBB`` colours (1.0 to 21.0)."""
    lighter, darker = sorted((_luminance(colour_a), _luminance(colour_b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _decision(b: Bin, unsure: bool, threshold: float, suggested: str | None) -> BinDecision:
    return BinDecision(
        bin_id=b.id,
        name=b.name,
        colour=b.colour,
        instruction=b.instruction,
        unsure=unsure,
        threshold=threshold,
        text_colour=b.text_colour,
        suggested_bin_id=suggested,
        i18n=b.i18n,
    )


def _parse_bin(bin_id: str, spec: Any, fail: Any) -> Bin:
    where = "unsure" if bin_id == UNSURE_ID else f"bins.{bin_id}"
    if not isinstance(spec, dict):
        raise fail(f"{where} must be an object")
    _no_unknown_keys(spec, _BIN_KEYS, where, fail)
    values: dict[str, str] = {}
    for key in ("name", "colour", "instruction"):
        value = spec.get(key)
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{where}.{key} must be a non-empty string")
        if "\n" in value:
            raise fail(f"{where}.{key} must be a single line")
        values[key] = value.strip()
    colour = values["colour"]
    if not _COLOUR.match(colour):
        raise fail(f"{where}.colour {colour!r} is not a #RRGGBB colour")
    text_colour = spec.get("text_colour")
    if text_colour is None:  # pick whichever of white/black reads better
        white, black = contrast_ratio(colour, "#FFFFFF"), contrast_ratio(colour, "#000000")
        text_colour = "#FFFFFF" if white >= black else "#000000"
    if not isinstance(text_colour, str) or not _COLOUR.match(text_colour):
        raise fail(f"{where}.text_colour {text_colour!r} is not a #RRGGBB colour")
    ratio = contrast_ratio(colour, text_colour)
    if ratio < MIN_TEXT_CONTRAST:
        raise fail(
            f"{where}: text {text_colour} on {colour} is hard to read (contrast "
            f"{ratio:.1f}:1, need at least {MIN_TEXT_CONTRAST:.0f}:1)"
        )
    i18n = _parse_i18n(spec.get("i18n", {}), where, fail)
    return Bin(
        bin_id, values["name"], colour.upper(), text_colour.upper(), values["instruction"], i18n
    )


def _parse_i18n(spec: Any, where: str, fail: Any) -> dict[str, dict[str, str]]:
    """``{"vi": {"name": ..., "instruction": ...}}``; either text may be left out."""
    if not isinstance(spec, dict):
        raise fail(f'{where}.i18n must be an object like {{"vi": {{"name": "..."}}}}')
    parsed: dict[str, dict[str, str]] = {}
    for language, texts in spec.items():
        at = f"{where}.i18n.{language}"
        if not isinstance(language, str) or not _LANGUAGE.match(language):
            raise fail(f"{at}: {language!r} is not a language code like 'vi'")
        if not isinstance(texts, dict):
            raise fail(f"{at} must be an object")
        _no_unknown_keys(texts, set(_TEXT_KEYS), at, fail)
        for key, value in texts.items():
            if not isinstance(value, str) or not value.strip():
                raise fail(f"{at}.{key} must be a non-empty string")
            if "\n" in value:
                raise fail(f"{at}.{key} must be a single line")
        if texts:
            parsed[language] = {key: str(value).strip() for key, value in texts.items()}
    return parsed


def _threshold(value: Any, where: str, fail: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"{where} must be a number between 0 and 1")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise fail(f"{where} must be between 0 and 1, got {value!r}")
    return number


def _no_unknown_keys(data: dict[str, Any], allowed: set[str], where: str, fail: Any) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} in {where} (allowed: {', '.join(sorted(allowed))})")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BinRulesError(f"{path.name}: file not found ({path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BinRulesError(f"{path.name}: cannot read file ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BinRulesError(
            f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None


def _upgrade(data: Any, source: Path) -> Any:
    """Bring parsed rules of an older schema up to :data:`SCHEMA_VERSION`, step by step.

    A file without ``schema`` is taken as current (overrides often leave it out). Anything
    that is not an object is returned as it is, for :meth:`BinRules.from_dict` to reject.
    """
    if not isinstance(data, dict):
        return data
    schema = data.get("schema", SCHEMA_VERSION)
    while schema != SCHEMA_VERSION:
        step = _UPGRADES.get(schema) if isinstance(schema, int) else None
        if step is None:
            raise BinRulesError(
                f"{source.name}: schema {schema!r} is not supported "
                f"(this app reads schemas 1 to {SCHEMA_VERSION})"
            )
        data = step(data)
        schema = data["schema"]
    return data


def _from_schema_1(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 had English texts only. Nothing to convert: a schema 1 override that renames a
    bin carries no ``i18n``, so :func:`_merge_rules` shows its name in every language."""
    return {**data, "schema": 2}


_UPGRADES = {1: _from_schema_1}


def _check_new_bins(base: Any, override: Any, base_path: Path, override_path: Path) -> None:
    """A bin the override only adjusts must exist in the rules it is merged onto: an override
    written for one preset may name bins another preset does not have."""
    if not (isinstance(override, dict) and isinstance(override.get("bins"), dict)):
        return
    known = base.get("bins", {}) if isinstance(base, dict) else {}
    for bin_id, spec in override["bins"].items():
        if bin_id in known or not isinstance(spec, dict) or bin_id == UNSURE_ID:
            continue
        missing = [key for key in ("name", "colour", "instruction") if key not in spec]
        if missing:
            raise BinRulesError(
                f"{override_path.name}: bins.{bin_id} is not a bin of {base_path.name} "
                f"(bins: {', '.join(sorted(known))}); a new bin needs {', '.join(missing)}"
            )


def _merge_rules(base: Any, override: Any) -> Any:
    """Merge an override file onto the default rules.

    A bin whose override sets ``colour`` but not ``text_colour`` gets its text colour picked
    afresh rather than inheriting one chosen for the old colour; likewise a bin whose override
    sets ``name`` or ``instruction`` drops the translations of that text it does not give, so a
    site's own wording is never replaced by the preset's translation of different words.
    """
    merged = _merge(base, override)
    if not (isinstance(merged, dict) and isinstance(override, dict)):
        return merged
    specs = [(merged.get("unsure"), override.get("unsure"))]
    if isinstance(merged.get("bins"), dict) and isinstance(override.get("bins"), dict):
        specs += [(merged["bins"].get(k), v) for k, v in override["bins"].items()]
    for target, given in specs:
        if (
            isinstance(target, dict)
            and isinstance(given, dict)
            and "colour" in given
            and "text_colour" not in given
        ):
            target.pop("text_colour", None)
        if isinstance(target, dict) and isinstance(given, dict):
            _drop_stale_translations(target, given)
    return merged


def _drop_stale_translations(target: dict[str, Any], given: dict[str, Any]) -> None:
    changed = [key for key in _TEXT_KEYS if key in given]
    inherited = target.get("i18n")
    if not changed or not isinstance(inherited, dict):
        return
    own = given.get("i18n")
    own = own if isinstance(own, dict) else {}
    kept: dict[str, Any] = {}
    for language, texts in inherited.items():
        if not isinstance(texts, dict):
            kept[language] = texts  # invalid: left for validation to report
            continue
        mine = own.get(language)
        mine = mine if isinstance(mine, dict) else {}
        texts = {k: v for k, v in texts.items() if k not in changed or k in mine}
        if texts:
            kept[language] = texts
    target["i18n"] = kept  # a new dict: the preset's own data is never changed


def _merge(base: Any, override: Any) -> Any:
    """Recursively merge JSON objects; anything else in ``override`` replaces ``base``."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return override
