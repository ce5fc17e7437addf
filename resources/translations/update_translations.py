"""Regenerate the translation catalogue and compile it.

    python resources/translations/update_translations.py          # lupdate + lrelease
    python resources/translations/update_translations.py --check  # fail if out of date

``lupdate`` scans every ``app/qt/*.py`` file for ``tr()`` / ``translate()`` /
``QT_TRANSLATE_NOOP`` strings and merges them into ``waste_sorter_<lang>.ts``, keeping existing
translations (new strings are marked unfinished; translate them in Qt Linguist or by editing
the XML). ``lrelease`` then compiles the ``.ts`` into the ``.qm`` the app loads. Both tools come
with PySide6 (``pyside6-lupdate``, ``pyside6-lrelease`` beside the Python executable).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LANGUAGES = {"vi": "vi_VN"}
CATALOGUE = "waste_sorter"


def tool(name: str) -> str:
    """``pyside6-<name>`` from the running interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / f"pyside6-{name}"
    found = str(beside) if beside.exists() else shutil.which(f"pyside6-{name}")
    if found is None:
        raise SystemExit(f"pyside6-{name} not found: install PySide6 in this environment")
    return found


def sources() -> list[Path]:
    return sorted((REPO / "app" / "qt").glob("*.py"))


def unfinished(ts_file: Path) -> list[str]:
    """Source texts in ``ts_file`` that still lack a finished translation."""
    root = ET.parse(ts_file).getroot()
    missing = []
    for message in root.iter("message"):
        source = message.findtext("source", "")
        translation = message.find("translation")
        kind = None if translation is None else translation.get("type")
        if kind in ("vanished", "obsolete"):
            continue
        if translation is None or kind == "unfinished":
            missing.append(source)
            continue
        forms = [translation.text or ""] + [f.text or "" for f in translation.iter("numerusform")]
        if not any(form.strip() for form in forms):
            missing.append(source)
    return missing


def update(ts_file: Path, locale: str) -> None:
    files = [str(p.relative_to(REPO)) for p in sources()]
    subprocess.run(
        [tool("lupdate"), *files, "-ts", str(ts_file.relative_to(REPO)),
         "-target-language", locale, "-no-obsolete", "-locations", "relative"],
        cwd=REPO, check=True,
    )  # fmt: skip


def release(ts_file: Path) -> None:
    qm = ts_file.with_suffix(".qm")
    subprocess.run([tool("lrelease"), str(ts_file), "-qm", str(qm)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="rescan into a temporary copy and fail if strings are new or untranslated",
    )
    args = parser.parse_args(argv)
    status = 0
    for lang, locale in LANGUAGES.items():
        ts_file = HERE / f"{CATALOGUE}_{lang}.ts"
        if args.check:
            copy = ts_file.with_name(f".check_{ts_file.name}")
            if ts_file.exists():
                shutil.copyfile(ts_file, copy)
            try:
                update(copy, locale)
                missing = unfinished(copy)
            finally:
                copy.unlink(missing_ok=True)
        else:
            update(ts_file, locale)
            release(ts_file)
            missing = unfinished(ts_file)
        for text in missing:
            print(f"{lang}: untranslated: {text!r}")  # noqa: T201 (command-line output)
        status = status or int(bool(missing))
    return status


if __name__ == "__main__":
    sys.exit(main())
