"""Bin rules: the shipped presets, decisions, thresholds (and which one applies), overrides and
validation errors."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.core.bins import (
    DEFAULT_PRESET,
    DEFAULT_THRESHOLD,
    HAZARDOUS_ID,
    PRESETS,
    UNSURE_ID,
    BinRules,
    BinRulesError,
    contrast_ratio,
    default_bins_path,
    preset_path,
)
from app.core.paths import resources_dir

TRASHNET = ("cardboard", "glass", "metal", "paper", "plastic", "trash")
WASTE = (*TRASHNET, "carton", "organic", "textile", "battery", "e_waste")  # the 11-class model
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PRESET_FILES = sorted((resources_dir() / "bins").glob("*.json"))


@pytest.fixture
def rules() -> BinRules:
    return BinRules.load(default_bins_path())


@pytest.fixture(params=sorted(PRESETS))
def preset(request: pytest.FixtureRequest) -> BinRules:
    return BinRules.load(preset_path(request.param))


def _default_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(default_bins_path().read_text(encoding="utf-8"))
    return data


def _write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_default_file_is_valid(rules: BinRules) -> None:
    assert rules.warning is None
    assert rules.source == default_bins_path()
    assert 0 < rules.default_threshold < 1
    assert rules.unsure.name == "Not sure — please check"
    assert rules.unsure.id == UNSURE_ID


def test_trashnet_mapping(rules: BinRules) -> None:
    names = {label: rules.bin_for(label) for label in TRASHNET}
    assert all(b is not None for b in names.values())
    assert names["cardboard"] == names["paper"]
    assert names["cardboard"] is not None
    assert names["cardboard"].name == "Paper & cardboard"
    assert names["glass"] is not None
    assert names["glass"].name == "Glass"
    assert names["metal"] == names["plastic"]
    assert names["metal"] is not None
    assert names["metal"].name == "Packaging (metal, plastic & cartons)"
    assert names["trash"] is not None
    assert names["trash"].name == "General waste"
    assert len({b.id for b in names.values() if b}) == 4


@pytest.mark.parametrize("label", CIFAR10)
def test_every_cifar10_label_maps_to_a_not_waste_bin(preset: BinRules, label: str) -> None:
    target = preset.bin_for(label)
    assert target is not None
    assert "Not waste" in target.name
    assert "CIFAR-10" in target.name
    assert "CIFAR-10" in target.name_in("vi")


def test_every_preset_file_is_listed_and_loads() -> None:
    assert {p.name for p in PRESET_FILES} == set(PRESETS.values())
    assert preset_path(DEFAULT_PRESET) == default_bins_path()
    for path in PRESET_FILES:
        assert json.loads(path.read_text(encoding="utf-8"))["schema"] == 2
        assert BinRules.load(path).warning is None
    with pytest.raises(ValueError, match="unknown bin preset 'mars'"):
        preset_path("mars")


def test_every_preset_maps_every_shipped_label(preset: BinRules) -> None:
    unmapped = [label for label in (*WASTE, *CIFAR10) if preset.bin_for(label) is None]
    assert unmapped == []
    # Thresholds tuned for one model's classes do not suit another's: the model recommends one.
    assert preset.class_thresholds == {}
    assert preset.default_threshold == DEFAULT_THRESHOLD


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("label", ["battery", "e_waste"])
def test_batteries_and_electronics_are_hazardous_in_every_preset(path: Path, label: str) -> None:
    """Never a general bin: a battery in household waste starts fires in collection trucks."""
    rules = BinRules.load(path)
    target = rules.bin_for(label)
    assert target is not None, f"{path.name} has no bin for {label}"
    assert target.id == HAZARDOUS_ID
    assert target.name.startswith("Hazardous — take to the collection point")
    assert target.name_in("vi").startswith("Nguy hại — mang đến điểm thu gom")
    for other in ("trash", "plastic", "metal", "organic"):
        assert rules.bin_for(other) != target, f"{path.name}: {other} goes to the hazardous bin"


def test_every_bin_has_vietnamese_texts(preset: BinRules) -> None:
    for b in [*preset.bins.values(), preset.unsure]:
        assert set(b.i18n) == {"vi"}, b.id
        assert b.name_in("vi") != b.name, f"{b.id}: name not translated"
        assert b.instruction_in("vi") != b.instruction, f"{b.id}: instruction not translated"
        assert len(b.instruction_in("vi")) <= 110, b.id
        assert b.name_in("vi_VN") == b.name_in("vi")
        assert b.name_in("de") == b.name, "a language the file lacks gets English"


def test_presets_differ_where_they_should() -> None:
    generic, vietnam, eu = (BinRules.load(preset_path(p)) for p in ("generic", "vietnam", "eu"))
    three = {vietnam.class_bins[label] for label in WASTE} - {HAZARDOUS_ID}
    assert len(three) == 3, "Vietnam: recyclable, food waste, other"
    assert vietnam.class_bins["organic"] != vietnam.class_bins["trash"]
    assert vietnam.class_bins["carton"] == vietnam.class_bins["paper"] == "recyclable"
    assert eu.class_bins["carton"] == eu.class_bins["plastic"] == "packaging"
    assert eu.class_bins["paper"] != eu.class_bins["carton"]
    assert generic.class_bins["carton"] == "packaging"
    for rules in (generic, eu):
        assert rules.class_bins["textile"] == "textile"
        assert rules.class_bins["organic"] == "organic"


def test_colours_are_readable(preset: BinRules) -> None:
    rules = preset
    for b in [*rules.bins.values(), rules.unsure]:
        assert b.text_colour in ("#FFFFFF", "#000000"), b.id
        assert contrast_ratio(b.colour, b.text_colour) >= 4.5, f"{b.id} text is hard to read"
        # the swatch itself must stand out from a white window
        assert contrast_ratio(b.colour, "#FFFFFF") >= 1.9, f"{b.id} vanishes on white"
        assert b.instruction
        assert "\n" not in b.instruction
        assert len(b.instruction) <= 90
    colours = [b.colour for b in rules.bins.values()] + [rules.unsure.colour]
    assert len(set(colours)) == len(colours), "every bin has its own colour"


def test_contrast_ratio_reference_values() -> None:
    assert contrast_ratio("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    assert contrast_ratio("#1565C0", "#FFFFFF") == pytest.approx(5.75, abs=0.01)


def test_decide(rules: BinRules) -> None:
    sure = rules.decide("glass", 0.95)
    assert not sure.unsure
    assert sure.bin_id == "glass"
    assert sure.name == "Glass"
    assert sure.threshold == rules.default_threshold
    assert sure.suggested_bin_id == "glass"
    assert sure.text_colour == "#FFFFFF"

    low = rules.decide("glass", rules.default_threshold - 0.01)
    assert low.unsure
    assert low.bin_id == UNSURE_ID
    assert low.name == rules.unsure.name
    assert low.colour == rules.unsure.colour
    assert low.suggested_bin_id == "glass"

    at = rules.decide("glass", rules.default_threshold)
    assert not at.unsure, "the threshold itself is enough"


def test_unknown_label_and_nan_are_unsure(rules: BinRules) -> None:
    unknown = rules.decide("spaceship", 0.99)
    assert unknown.unsure
    assert unknown.suggested_bin_id is None
    assert rules.decide("paper", math.nan).unsure


def test_per_class_threshold_of_an_override_overrides_default(tmp_path: Path) -> None:
    override = _write(tmp_path / "bins.json", {"classes": {"trash": {"threshold": 0.5}}})
    rules = BinRules.load(default_bins_path(), override)
    assert rules.warning is None
    assert rules.threshold_for("trash") == 0.5
    assert rules.threshold_for("paper") == rules.default_threshold
    assert not rules.decide("trash", 0.55).unsure
    assert rules.decide("paper", 0.55).unsure
    assert rules.to_dict()["classes"]["trash"] == {"bin": "general", "threshold": 0.5}


def test_with_thresholds_returns_a_copy(rules: BinRules) -> None:
    strict = rules.with_thresholds(default=0.9, per_class={"trash": 0.95, "glass": 0.2})
    assert strict.overall_threshold == 0.9
    assert strict.default_threshold == 0.6, "the rules file's default is kept"
    assert strict.decide("paper", 0.85).unsure
    assert strict.decide("trash", 0.9).unsure
    assert not strict.decide("glass", 0.3).unsure
    assert rules.overall_threshold is None, "original untouched"
    assert rules.threshold_for("trash") == 0.6
    with pytest.raises(ValueError, match="between 0 and 1"):
        rules.with_thresholds(default=1.5)
    with pytest.raises(ValueError, match="'glass'"):
        rules.with_thresholds(per_class={"glass": -0.1})


def test_no_overall_threshold_follows_the_model(rules: BinRules) -> None:
    following = rules.with_thresholds(None, {})
    assert following.overall_threshold is None
    assert following.decide("glass", 0.75, model_threshold=0.8).unsure
    assert following.decide("glass", 0.75, model_threshold=0.8).threshold == 0.8
    assert not following.decide("glass", 0.65, model_threshold=None).unsure  # rules: 0.6
    chosen = rules.with_thresholds(0.7)
    assert not chosen.decide("glass", 0.75, model_threshold=0.8).unsure, "the user's wins"
    assert chosen.with_thresholds(None).overall_threshold == 0.7, "None changes nothing"


# Precedence: the class's own threshold (settings, else rules file) > the overall threshold
# chosen in the settings > the model's recommendation > the rules file's default_threshold.
# Each level has its own value so the one applied is unmistakable.
RULES_DEFAULT, FILE_CLASS, SETTINGS_CLASS, OVERALL, MODEL = 0.31, 0.41, 0.51, 0.61, 0.71


@pytest.mark.parametrize(
    ("file_class", "settings_class", "overall", "model", "expected"),
    [
        (False, False, None, None, RULES_DEFAULT),
        (False, False, None, MODEL, MODEL),
        (False, False, OVERALL, None, OVERALL),
        (False, False, OVERALL, MODEL, OVERALL),
        (True, False, None, None, FILE_CLASS),
        (True, False, None, MODEL, FILE_CLASS),
        (True, False, OVERALL, MODEL, FILE_CLASS),
        (False, True, None, MODEL, SETTINGS_CLASS),
        (False, True, OVERALL, MODEL, SETTINGS_CLASS),
        (True, True, OVERALL, MODEL, SETTINGS_CLASS),
        (True, True, None, None, SETTINGS_CLASS),
    ],
)
def test_threshold_precedence(
    tmp_path: Path,
    file_class: bool,
    settings_class: bool,
    overall: float | None,
    model: float | None,
    expected: float,
) -> None:
    override: dict[str, Any] = {"default_threshold": RULES_DEFAULT}
    if file_class:
        override["classes"] = {"glass": {"threshold": FILE_CLASS}}
    loaded = BinRules.load(default_bins_path(), _write(tmp_path / "bins.json", override))
    assert loaded.warning is None
    rules = loaded.with_thresholds(overall, {"glass": SETTINGS_CLASS} if settings_class else {})

    assert rules.threshold_for("glass", model) == expected
    at = rules.decide("glass", expected, model_threshold=model)
    below = rules.decide("glass", expected - 0.005, model_threshold=model)
    assert (at.unsure, at.bin_id, at.threshold) == (False, "glass", expected)
    assert (below.unsure, below.bin_id, below.threshold) == (True, UNSURE_ID, expected)
    # A class without its own threshold gets the overall/model/default chain.
    chain = OVERALL if overall is not None else MODEL if model is not None else RULES_DEFAULT
    assert rules.decide("paper", 0.99, model_threshold=model).threshold == chain
    # The novelty detector wins over every threshold.
    assert rules.decide("glass", 1.0, novel=True, model_threshold=model).unsure


@dataclass(frozen=True)
class _Guess:
    """Duck-typed like a classifier's Prediction."""

    label: str
    confidence: float
    novel: bool = False
    model_threshold: float | None = None


def test_decide_prediction_reads_the_prediction(rules: BinRules) -> None:
    confident = rules.decide_prediction(_Guess("glass", 0.75))
    assert (confident.unsure, confident.threshold) == (False, 0.6)
    calibrated = rules.decide_prediction(_Guess("glass", 0.75, model_threshold=0.8))
    assert (calibrated.unsure, calibrated.threshold, calibrated.suggested_bin_id) == (
        True, 0.8, "glass",
    )  # fmt: skip
    assert rules.decide_prediction(_Guess("glass", 0.99, novel=True)).unsure
    assert rules.decide_prediction(_Guess("glass", 0.75)) == rules.decide("glass", 0.75)


def test_to_dict_round_trips(preset: BinRules, tmp_path: Path) -> None:
    rules = preset
    path = _write(tmp_path / "copy.json", rules.to_dict())
    again = BinRules.load(path)
    assert again.to_dict() == rules.to_dict()
    assert again.decide("trash", 0.55) == rules.decide("trash", 0.55)
    assert again.bins == rules.bins


def test_partial_override_is_merged(tmp_path: Path) -> None:
    override = _write(
        tmp_path / "bins.json",
        {
            "default_threshold": 0.7,
            "bins": {"glass": {"colour": "#FDD835", "name": "Bottle bank"}},
            "classes": {"trash": {"threshold": 0.8}, "battery": {"bin": "general"}},
        },
    )
    rules = BinRules.load(default_bins_path(), override)
    assert rules.warning is None
    assert rules.source == override
    glass = rules.bins["glass"]
    assert glass.name == "Bottle bank"
    assert glass.colour == "#FDD835"
    assert glass.text_colour == "#000000", "text colour re-picked for the new light colour"
    assert glass.instruction.startswith("Empty and rinse"), "unchanged fields are kept"
    assert rules.default_threshold == 0.7
    assert rules.threshold_for("trash") == 0.8
    assert rules.decide("battery", 0.9).bin_id == "general"
    assert rules.decide("cardboard", 0.9).bin_id == "paper"


def test_override_translations(tmp_path: Path) -> None:
    """An override's own wording shows in every language unless it gives the translation."""
    override = _write(
        tmp_path / "bins.json",
        {
            "bins": {
                "glass": {"name": "Bottle bank"},
                "paper": {"instruction": "Bundle it", "i18n": {"vi": {"instruction": "Buộc lại"}}},
                "general": {"colour": "#37474F"},
                "hazardous": {"i18n": {"vi": {"name": "Chất thải nguy hại"}}},
            }
        },
    )
    rules = BinRules.load(default_bins_path(), override)
    assert rules.warning is None
    shipped = BinRules.load(default_bins_path())
    glass, paper = rules.bins["glass"], rules.bins["paper"]
    assert glass.name_in("vi") == "Bottle bank", "the preset's vi name was for other words"
    assert glass.instruction_in("vi") == shipped.bins["glass"].instruction_in("vi")
    assert (paper.instruction_in("vi"), paper.name_in("vi")) == (
        "Buộc lại",
        shipped.bins["paper"].name_in("vi"),
    )
    assert rules.bins["general"].i18n == shipped.bins["general"].i18n, "colour only: kept"
    assert rules.bins["hazardous"].name_in("vi") == "Chất thải nguy hại"
    assert rules.decide("glass", 0.9).name_in("vi") == "Bottle bank"
    assert shipped.bins["glass"].name_in("vi") == "Thủy tinh", "the preset is not changed"


def test_schema_1_override_still_merges(tmp_path: Path) -> None:
    """An override written for schema 1 (English only) is upgraded and merged as before."""
    override = _write(
        tmp_path / "bins.json",
        {
            "schema": 1,
            "default_threshold": 0.65,
            "bins": {
                "glass": {"name": "Bottle bank", "colour": "#FDD835"},
                "bulky": {"name": "Bulky", "colour": "#4E342E", "instruction": "Call the desk"},
            },
            "classes": {"metal": {"bin": "bulky"}},
        },
    )
    for preset_id in ("generic", "eu"):
        rules = BinRules.load(preset_path(preset_id), override)
        assert rules.warning is None, preset_id
        assert rules.default_threshold == 0.65
        assert rules.bins["glass"].name_in("vi") == "Bottle bank"
        assert rules.decide("metal", 0.9).name_in("vi") == "Bulky"
        assert rules.decide("battery", 0.9).bin_id == HAZARDOUS_ID
        assert rules.to_dict()["schema"] == 2
    # The Vietnamese preset has no glass bin of its own: say so rather than "name missing".
    rules = BinRules.load(preset_path("vietnam"), override)
    assert rules.warning is not None
    assert rules.warning.startswith("bins.json: bins.glass is not a bin of vietnam.json (bins: ")
    assert rules.warning.endswith("a new bin needs instruction; using the default bin rules")
    assert rules.to_dict() == BinRules.load(preset_path("vietnam")).to_dict()


def test_missing_override_is_silently_ignored(tmp_path: Path) -> None:
    rules = BinRules.load(default_bins_path(), tmp_path / "absent.json")
    assert rules.warning is None
    assert rules.source == default_bins_path()


BROKEN_OVERRIDES: dict[str, tuple[Any, str]] = {
    "invalid_json": ('{"bins": ', "not valid JSON"),
    "not_object": ([1, 2], "top level must be a JSON object"),
    "unknown_bin": ({"classes": {"glass": {"bin": "compost"}}}, "unknown bin 'compost'"),
    "bad_colour": ({"bins": {"glass": {"colour": "green"}}}, "not a #RRGGBB colour"),
    "unreadable": (
        {"bins": {"glass": {"colour": "#FFFF00", "text_colour": "#FFFFFF"}}},
        "hard to read",
    ),
    "threshold_range": ({"default_threshold": 2}, "between 0 and 1"),
    "threshold_type": ({"classes": {"glass": {"threshold": "high"}}}, "must be a number"),
    "typo_key": ({"classes": {"glass": {"treshold": 0.5}}}, "unknown key 'treshold'"),
    "empty_name": ({"unsure": {"name": " "}}, "unsure.name must be a non-empty string"),
    "reserved_id": (
        {"bins": {"unsure": {"name": "x", "colour": "#000000", "instruction": "y"}}},
        "'unsure' is reserved",
    ),
    "schema": ({"schema": 3}, "schema 3 is not supported"),
    "i18n_language": (
        {"bins": {"glass": {"i18n": {"Vietnamese": {"name": "x"}}}}},
        "not a language code",
    ),
    "i18n_key": ({"bins": {"glass": {"i18n": {"vi": {"nom": "x"}}}}}, "unknown key 'nom'"),
    "i18n_empty": ({"unsure": {"i18n": {"vi": {"name": ""}}}}, "unsure.i18n.vi.name must be"),
    "multi_line": ({"bins": {"glass": {"instruction": "a\nb"}}}, "single line"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_OVERRIDES))
def test_broken_override_falls_back_with_warning(tmp_path: Path, case: str) -> None:
    data, problem = BROKEN_OVERRIDES[case]
    override = _write(tmp_path / "bins.json", data)
    rules = BinRules.load(default_bins_path(), override)
    assert rules.warning is not None
    assert rules.warning.startswith("bins.json: ")
    assert problem in rules.warning
    assert rules.warning.endswith("using the default bin rules")
    assert rules.source == default_bins_path()
    assert rules.to_dict() == BinRules.load(default_bins_path()).to_dict()


def test_unreadable_override_bytes(tmp_path: Path) -> None:
    override = tmp_path / "bins.json"
    override.write_bytes(b"\xff\xfe\x00garbage")
    rules = BinRules.load(default_bins_path(), override)
    assert rules.warning is not None
    assert "bins.json" in rules.warning


def test_broken_default_raises(tmp_path: Path) -> None:
    with pytest.raises(BinRulesError, match=r"^missing\.json: file not found"):
        BinRules.load(tmp_path / "missing.json")
    data = _default_data()
    del data["unsure"]
    with pytest.raises(BinRulesError, match=r"^rules\.json: 'unsure' is missing"):
        BinRules.load(_write(tmp_path / "rules.json", data))
    data = _default_data()
    data["bins"] = {}
    with pytest.raises(BinRulesError, match="'bins' must be a non-empty object"):
        BinRules.load(_write(tmp_path / "rules.json", data))


def test_class_shorthand_and_automatic_text_colour(tmp_path: Path) -> None:
    data = {
        "schema": 1,
        "bins": {"bio": {"name": "Compost", "colour": "#33691E", "instruction": "No plastic"}},
        "unsure": {"name": "Check", "colour": "#FFEB3B", "instruction": "Look again"},
        "classes": {"banana": "bio"},
    }
    rules = BinRules.load(_write(tmp_path / "mini.json", data))
    assert rules.default_threshold == 0.6
    assert rules.decide("banana", 0.9).bin_id == "bio"
    assert rules.bins["bio"].text_colour == "#FFFFFF"
    assert rules.unsure.text_colour == "#000000"
