"""Translations: pick the UI language, install Qt translators, translate class labels.

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

from app.core.paths import resources_dir

log = logging.getLogger(__name__)

#: Languages the app ships, as (code, name in that language). "system" follows the OS locale.
SUPPORTED = ("en", "vi")
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "vi": "Tiếng Việt"}
CATALOGUE = "waste_sorter"
LABEL_CONTEXT = "Labels"
BIN_CONTEXT = "Bins"

# Class labels of the shipped models, so lupdate extracts them; user models' labels that are not
# listed here are shown as they are.
_KNOWN_LABELS = (
    QT_TRANSLATE_NOOP("Labels", "cardboard"),
    QT_TRANSLATE_NOOP("Labels", "glass"),
    QT_TRANSLATE_NOOP("Labels", "metal"),
    QT_TRANSLATE_NOOP("Labels", "paper"),
    QT_TRANSLATE_NOOP("Labels", "plastic"),
    QT_TRANSLATE_NOOP("Labels", "trash"),
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

# Names and instructions of the shipped bin rules (resources/bins/default.json); a test keeps
# this list in step with the file. Names from a site's own bins.json are shown as written.
_SHIPPED_BIN_TEXTS = (
    QT_TRANSLATE_NOOP("Bins", "Paper & cardboard"),
    QT_TRANSLATE_NOOP("Bins", "Flatten boxes; remove tape; keep it dry and free of food"),
    QT_TRANSLATE_NOOP("Bins", "Glass"),
    QT_TRANSLATE_NOOP("Bins", "Empty and rinse; no lids, corks, ceramics or window glass"),
    QT_TRANSLATE_NOOP("Bins", "Packaging (metal & plastic)"),
    QT_TRANSLATE_NOOP("Bins", "Empty and rinse cans, bottles and tubs; squash them flat"),
    QT_TRANSLATE_NOOP("Bins", "General waste"),
    QT_TRANSLATE_NOOP("Bins", "Not recyclable here; bag it and put it in general waste"),
    QT_TRANSLATE_NOOP("Bins", "Not waste — CIFAR-10 demo (vehicle)"),
    QT_TRANSLATE_NOOP(
        "Bins", "Demo model: vehicles are not waste; switch to the Waste model to sort"
    ),
    QT_TRANSLATE_NOOP("Bins", "Not waste — CIFAR-10 demo (animal)"),
    QT_TRANSLATE_NOOP(
        "Bins", "Demo model: animals are not waste; switch to the Waste model to sort"
    ),
    QT_TRANSLATE_NOOP("Bins", "Not sure — please check"),
    QT_TRANSLATE_NOOP(
        "Bins", "Low confidence: check the item yourself or show it from another angle"
    ),
)

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
    for old in _installed:
        app.removeTranslator(old)
    _installed.clear()
    wanted = resolve_language(language)
    if wanted == "en":
        _current = "en"
        return "en"
    ours = QTranslator(app)
    if not ours.load(f"{CATALOGUE}_{wanted}", str(translations_dir())):
        log.warning("no %s translation in %s; using English", wanted, translations_dir())
        _current = "en"
        return "en"
    # Qt's own strings (standard buttons, context menus) when this Qt build ships them.
    qt_dir = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    qtbase = QTranslator(app)
    if qtbase.load(f"qtbase_{wanted}", qt_dir):
        app.installTranslator(qtbase)
        _installed.append(qtbase)
    app.installTranslator(ours)
    _installed.append(ours)
    _current = wanted
    return wanted


def current_language() -> str:
    """The language installed by the last :func:`install_translator` call ("en" before any)."""
    return _current


def label_text(label: str) -> str:
    """A class label as shown to people: translated for the shipped models' labels, with a
    capital first letter ("plastic" -> "Plastic") so every view names a class the same way."""
    text = QCoreApplication.translate(LABEL_CONTEXT, label)
    return text[:1].upper() + text[1:]


def bin_text(text: str) -> str:
    """A bin's name or instruction from the rules file, translated when it is a shipped one."""
    return QCoreApplication.translate(BIN_CONTEXT, text)


def language_choices() -> list[tuple[str, str]]:
    """(code, display name) pairs for a language chooser, "system" first."""
    system = QCoreApplication.translate("Language", "System default")
    return [("system", system)] + [(code, LANGUAGE_NAMES[code]) for code in SUPPORTED]
