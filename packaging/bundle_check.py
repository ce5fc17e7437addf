"""Checks on a built app folder: nothing forbidden inside, every library resolvable, size.

Used by ``build.py`` after PyInstaller and by ``tests/packaging``. Standard library only (the
PYZ listing needs PyInstaller and is skipped without it).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bundle_filter import (
    FORBIDDEN_PACKAGES,
    GLIBC_LIBS,
    MSVC_RUNTIME_DLLS,
    SYSTEM_LIBS,
    elf_dynamic,
)

MIB = 1024 * 1024


@dataclass
class BundleReport:
    """What ``check_bundle`` found; ``problems`` empty means the folder is fit to ship."""

    folder: Path
    size_bytes: int = 0
    files: int = 0
    system_libs: set[str] = field(default_factory=set)  # sonames the host must provide
    glibc: tuple[int, ...] = (2, 17)  # newest GLIBC_x.y symbol version any file needs
    glibcxx: tuple[int, ...] = (3, 4)  # newest GLIBCXX_3.4.x symbol version
    modules: list[str] = field(default_factory=list)  # top-level names inside the PYZ
    problems: list[str] = field(default_factory=list)

    @property
    def size_mib(self) -> float:
        return self.size_bytes / MIB

    def system_packages(self) -> list[str]:
        """Debian package relations for the system libraries the bundle links to."""
        return sorted({SYSTEM_LIBS[name] for name in self.system_libs})


def folder_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) of a folder, symlinks counted as links (as du and tar store them)."""
    total = count = 0
    for path in folder.rglob("*"):
        if path.is_symlink():
            total += len(str(path.readlink()))
            count += 1
        elif path.is_file():
            total += path.stat().st_size
            count += 1
    return total, count


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def pyz_modules(executable: Path) -> list[str]:
    """Top-level module names frozen into the executable's PYZ archive (needs PyInstaller)."""
    try:
        from PyInstaller.archive.readers import pkg_archive_contents
    except ImportError:
        return []
    names = pkg_archive_contents(str(executable), recursive=True)
    return sorted({name.split(".")[0] for name in names})


def _forbidden_name(name: str) -> str | None:
    """The forbidden package a file or folder name belongs to (``onnx`` but not ``onnxruntime``)."""
    stem = re.split(r"[.\-]", name, maxsplit=1)[0].lower()
    stem = stem.removesuffix("_cpu")  # tensorflow_cpu-2.x.dist-info
    return stem if stem in FORBIDDEN_PACKAGES else None


def check_bundle(
    folder: Path, executable: Path | None = None, *, max_mib: float | None = None
) -> BundleReport:
    """Look through an app folder as PyInstaller left it and report what is wrong."""
    report = BundleReport(folder)
    report.size_bytes, report.files = folder_size(folder)
    if max_mib is not None and report.size_mib > max_mib:
        report.problems.append(f"folder is {report.size_mib:.0f} MiB, over {max_mib:.0f} MiB")

    names: set[str] = set()
    elves: list[Path] = []
    for path in sorted(folder.rglob("*")):
        names.add(path.name)
        rel = path.relative_to(folder)
        for part in rel.parts:
            if _forbidden_name(part):
                report.problems.append(f"forbidden package in bundle: {rel}")
                break
        if sys.platform == "win32" and path.name.lower() in MSVC_RUNTIME_DLLS:
            report.problems.append(f"MSVC runtime DLL in bundle (vc_redist provides it): {rel}")
        if path.is_file() and not path.is_symlink() and sys.platform.startswith("linux"):
            elves.append(path)

    for path in elves:
        info = elf_dynamic(path)
        if info is None:
            continue
        needed, versions = info
        for soname in needed:
            if soname in SYSTEM_LIBS:
                report.system_libs.add(soname)
            elif soname not in names and soname not in GLIBC_LIBS:
                rel = path.relative_to(folder)
                report.problems.append(
                    f"{rel} needs {soname}: neither bundled nor a known system library"
                )
        for version in versions:
            if version.startswith("GLIBC_2."):
                report.glibc = max(report.glibc, _version(version.removeprefix("GLIBC_")))
            elif version.startswith("GLIBCXX_3.4"):
                report.glibcxx = max(report.glibcxx, _version(version.removeprefix("GLIBCXX_")))

    if executable is not None and executable.is_file():
        report.modules = pyz_modules(executable)
        for module in report.modules:
            if _forbidden_name(module):
                report.problems.append(f"forbidden module frozen into {executable.name}: {module}")
    return report


def main(argv: list[str] | None = None) -> int:
    """``python packaging/bundle_check.py [FOLDER]``: the report as JSON; exit 1 on problems."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", type=Path, nargs="?", default=Path("dist/waste-sorter"))
    parser.add_argument("--max-mib", type=float, default=None)
    args = parser.parse_args(argv)
    exe = args.folder / ("waste-sorter.exe" if sys.platform == "win32" else "waste-sorter")
    report = check_bundle(args.folder, exe, max_mib=args.max_mib)
    out = {
        "folder": str(report.folder),
        "size_bytes": report.size_bytes,
        "size_mib": round(report.size_mib, 1),
        "files": report.files,
        "system_packages": report.system_packages(),
        "glibc": ".".join(map(str, report.glibc)),
        "modules": report.modules,
        "problems": report.problems,
    }
    print(json.dumps(out, indent=2))  # noqa: T201  (a command-line tool's output)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
