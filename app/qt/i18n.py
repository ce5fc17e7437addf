"""Translations: pick the UI language, install Qt translators, translate labels and bins.

Installing or removing a translator makes Qt send ``QEvent.LanguageChange`` to every widget, so
widgets that implement ``changeEvent`` -> ``retranslate_ui`` switch language live.

The catalogue lives in ``resources/translations/waste_sorter_<lang>.ts`` (edit with Qt Linguist)
and is compiled to ``.qm``; ``resources/translations/update_translations.py`` rescans every
``app/qt/*.py`` file with ``pyside6-lupdate`` and recompiles with ``pyside6-lrelease``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QCoreApplication,
    QLibraryInfo,
    QLocale,
    QTranslator,
)

from app.core.bins import PRESETS, Bin, BinDecision
from app.core.paths import resources_dir

log = logging.getLogger(__name__)

#: Languages the app ships, as (code, name in that language). "system" follows the OS locale.
SUPPORTED = ("en", "vi")
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "vi": "Tiếng Việt"}
CATALOGUE = "waste_sorter"
LABEL_CONTEXT = "Labels"

# Class labels of the shipped models, so lupdate extracts them; user models' labels that are not
# listed here are shown as they are.
_KNOWN_LABELS = (
    QT_TRANSLATE_NOOP("Labels", "cardboard"),
    QT_TRANSLATE_NOOP("Labels", "glass"),
    QT_TRANSLATE_NOOP("Labels", "metal"),
    QT_TRANSLATE_NOOP("Labels", "paper"),
    QT_TRANSLATE_NOOP("Labels", "plastic"),
    QT_TRANSLATE_NOOP("Labels", "trash"),
    QT_TRANSLATE_NOOP("Labels", "carton"),
    QT_TRANSLATE_NOOP("Labels", "organic"),
    QT_TRANSLATE_NOOP("Labels", "textile"),
    QT_TRANSLATE_NOOP("Labels", "battery"),
    QT_TRANSLATE_NOOP("Labels", "e_waste"),
    QT_TRANSLATE_NOOP("Labels", "airplane"),
    QT_TRANSLATE_NOOP("Labels", "automobile"),
    QT_TRANSLATE_NOOP("Labels", "bird"),
    QT_TRANSLATE_NOOP("Labels", "cat"),
    QT_TRANSLATE_NOOP("Labels", "deer"),
    QT_TRANSLATE_NOOP("Labels", "dog"),
    QT_TRANSLATE_NOOP("Labels", "frog"),
    QT_TRANSLATE_NOOP("Labels", "horse"),
    QT_TRANSLATE_NOOP("Labels", "ship"),
    QT_TRANSLATE_NOOP("Labels", "truck"),
)

# English display names of labels that capitalising alone does not give.
_ENGLISH_LABELS = {"e_waste": "e-waste"}

# The shipped bin-rule presets (app.core.bins.PRESETS) as the Settings dialog names them. Bin
# names and instructions are not in this catalogue: the preset files carry their translations.
_PRESET_NAMES = {
    "generic": QT_TRANSLATE_NOOP("BinPresets", "Generic recycling"),
    "vietnam": QT_TRANSLATE_NOOP("BinPresets", "Vietnam (3 streams + hazardous)"),
    "eu": QT_TRANSLATE_NOOP("BinPresets", "EU-style (paper, packaging, glass, bio)"),
}

# Translators we installed, kept alive here (Qt does not own them) and removed on a switch.
_installed: list[QTranslator] = []
_current = "en"


def translations_dir() -> Path:
    return resources_dir() / "translations"


def resolve_language(language: str) -> str:
    """Map a setting ("system", "en", "vi", or a locale name like "vi_VN") to a shipped code."""
    code = language.strip().lower()
    if code in ("", "system"):
        code = QLocale.system().name().lower()
    code = code.replace("-", "_").split("_", 1)[0]
    return code if code in SUPPORTED else "en"


def install_translator(app: QCoreApplication, language: str) -> str:
    """Install the translators for ``language`` and return the language actually used.

    English is the source language, so it needs no catalogue; a missing or unreadable
    catalogue falls back to English with a warning rather than failing start-up.
    """
    global _current
    wanted = resolve_language(language)
    new: list[QTranslator] = []
    if wanted != "en":
        ours = QTranslator(app)
        if ours.load(f"{CATALOGUE}_{wanted}", str(translations_dir())):
            # Qt's own strings (standard buttons, context menus) when this Qt build ships them.
            qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
            qtbase = QTranslator(app)
            new = [qtbase, ours] if qtbase.load(f"qtbase_{wanted}", qt_dir) else [ours]
        else:
            log.warning("no %s translation in %s; using English", wanted, translations_dir())
            wanted = "en"
    # Set before the translators change: each change sends LanguageChange, and widgets then
    # ask bin_name() for texts in the new language.
    _current = wanted
    for old in _installed:
        app.removeTranslator(old)
    _installed.clear()
    for translator in new:
        app.installTranslator(translator)
        _installed.append(translator)
    return wanted


def current_language() -> str:
    """The language installed by the last :func:`install_translator` call ("en" before any)."""
    return _current


def label_text(label: str) -> str:
    """A class label as shown to people: translated for the shipped models' labels, with a
    capital first letter ("plastic" -> "Plastic") so every view names a class the same way."""
    text = QCoreApplication.translate(LABEL_CONTEXT, label)
    if text == label:
        text = _ENGLISH_LABELS.get(label, label)
    return text[:1].upper() + text[1:]


def bin_name(target: Bin | BinDecision) -> str:
    """A bin's name in the UI language: the rules file's translation, else its English name."""
    return target.name_in(_current)


def bin_instruction(target: Bin | BinDecision) -> str:
    """A bin's one-line instruction in the UI language (English when the file has none)."""
    return target.instruction_in(_current)


def preset_choices() -> list[tuple[str, str]]:
    """(preset id, display name) pairs for the bin-rule preset chooser, in PRESETS order."""
    return [
        (preset, QCoreApplication.translate("BinPresets", str(_PRESET_NAMES.get(preset, preset))))
        for preset in PRESETS
    ]


def language_choices() -> list[tuple[str, str]]:
    """(code, display name) pairs for a language chooser, "system" first."""
    system = QCoreApplication.translate("Language", "System default")
    return [("system", system)] + [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED]
