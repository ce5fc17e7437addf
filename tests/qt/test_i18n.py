"""Translations: language choice, live switching, and a complete, compiled catalogue."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QLocale, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

import app.qt.i18n as i18n
from app.core.bins import PRESETS, BinRules, default_bins_path
from app.core.history import HistoryStore
from app.qt.history_panel import HistoryPanel
from app.qt.i18n import (
    bin_instruction,
    bin_name,
    install_translator,
    label_text,
    preset_choices,
    resolve_language,
)

REPO = Path(__file__).resolve().parents[2]
TS_FILE = REPO / "resources" / "translations" / "waste_sorter_vi.ts"
UPDATE_SCRIPT = REPO / "resources" / "translations" / "update_translations.py"


@pytest.fixture
def english(qapp: QApplication) -> Iterator[QApplication]:
    """Leave the application in English whatever the test installed."""
    yield qapp
    install_translator(qapp, "en")


def test_switching_language_retranslates_live(
    qtbot: QtBot, english: QApplication, tmp_path: Path
) -> None:
    rules = BinRules.load(default_bins_path())
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        panel = HistoryPanel(store, rules, ["glass", "paper"])
        qtbot.addWidget(panel)
        assert panel.csv_button.text() == "Export CSV…"
        header = panel.model.headerData(2, Qt.Orientation.Horizontal)
        assert header == "Class"

        assert install_translator(english, "vi") == "vi"
        qtbot.waitUntil(lambda: panel.csv_button.text() == "Xuất CSV…", timeout=2000)
        assert panel.filters.class_combo.itemText(0) == "Tất cả các loại"
        assert panel.model.headerData(2, Qt.Orientation.Horizontal) == "Loại"
        assert label_text("glass") == "Thủy tinh"
        assert bin_name(rules.bins["general"]) == "Rác thải thông thường"
        assert panel.model.bin_name("general") == "Rác thải thông thường"

        assert install_translator(english, "en") == "en"
        qtbot.waitUntil(lambda: panel.csv_button.text() == "Export CSV…", timeout=2000)
        assert label_text("glass") == "Glass"
        assert bin_name(rules.bins["general"]) == "General waste"


def test_system_language_follows_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeLocale:
        name_ = "vi_VN"

        @classmethod
        def system(cls) -> QLocale:
            return QLocale(cls.name_)

    monkeypatch.setattr(i18n, "QLocale", FakeLocale)
    assert resolve_language("system") == "vi"
    FakeLocale.name_ = "de_DE"  # not shipped: English
    assert resolve_language("system") == "en"
    assert resolve_language("vi-VN") == "vi"
    assert resolve_language("fr") == "en"


def test_missing_catalogue_falls_back_to_english(
    english: QApplication, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(i18n, "translations_dir", lambda: tmp_path)
    assert install_translator(english, "vi") == "en"
    assert i18n.current_language() == "en"


def test_compiled_catalogue_matches_the_ts_file(english: QApplication) -> None:
    """Every message in the .ts is translated and the .qm gives that translation."""
    assert install_translator(english, "vi") == "vi"
    root = ET.parse(TS_FILE).getroot()
    checked = 0
    for context in root.iter("context"):
        name = context.findtext("name", "")
        for message in context.iter("message"):
            source = message.findtext("source", "")
            translation = message.find("translation")
            assert translation is not None, source
            assert translation.get("type") is None, f"{name}: {source!r} is unfinished"
            assert (translation.text or "").strip(), f"{name}: {source!r} is not translated"
            assert QCoreApplication.translate(name, source) == translation.text
            checked += 1
    assert checked > 100


NEW_LABELS = {  # the 11-class waste model's labels beyond TrashNet's: (English, Vietnamese)
    "carton": ("Carton", "Hộp giấy (carton)"),
    "organic": ("Organic", "Hữu cơ"),
    "textile": ("Textile", "Vải / quần áo"),
    "battery": ("Battery", "Pin"),
    "e_waste": ("E-waste", "Rác điện tử"),
}


def test_new_waste_labels_and_presets_are_named_in_both_languages(english: QApplication) -> None:
    assert {label: label_text(label) for label in NEW_LABELS} == {
        label: en for label, (en, _) in NEW_LABELS.items()
    }
    english_presets = dict(preset_choices())
    assert list(english_presets) == list(PRESETS)
    assert english_presets["generic"] == "Generic recycling"
    unsure = BinRules.load(default_bins_path()).unsure
    assert install_translator(english, "vi") == "vi"
    assert {label: label_text(label) for label in NEW_LABELS} == {
        label: vi for label, (_, vi) in NEW_LABELS.items()
    }
    vietnamese = dict(preset_choices())
    assert all(vietnamese[p] != english_presets[p] for p in PRESETS), vietnamese
    # Bin texts come from the rules file's own translations, not from the catalogue.
    assert bin_name(unsure) == "Chưa chắc chắn — vui lòng kiểm tra"
    assert bin_instruction(unsure).startswith("Độ tin cậy thấp")
    assert label_text("user_label") == "User_label", "other models' labels are shown as given"


@pytest.mark.skipif(
    shutil.which("pyside6-lupdate") is None
    and not (Path(sys.executable).parent / "pyside6-lupdate").exists(),
    reason="pyside6-lupdate is not installed",
)
def test_catalogue_covers_every_string_in_app_qt() -> None:
    """lupdate finds no string in app/qt/*.py that lacks a Vietnamese translation."""
    result = subprocess.run(
        [sys.executable, str(UPDATE_SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
