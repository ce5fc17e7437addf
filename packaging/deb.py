"""Build the Debian package from the PyInstaller folder (needs ``dpkg-deb``).

Layout installed:

    /opt/waste-sorter/                              the app folder, untouched
    /usr/bin/waste-sorter -> /opt/waste-sorter/waste-sorter
    /usr/share/applications/waste-sorter.desktop    launcher (runs `waste-sorter gui`)
    /usr/share/icons/hicolor/256x256/apps/waste-sorter.png   (+ scalable/apps/waste-sorter.svg)
    /usr/share/doc/waste-sorter/copyright

User data stays in each user's data directory (~/.local/share/waste-sorter), which dpkg never
touches, so upgrading or removing the package keeps the history.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bundle_check import BundleReport
from bundle_filter import RECOMMENDS

APP = "waste-sorter"
INSTALL_DIR = Path("/opt") / APP
HERE = Path(__file__).resolve().parent
MAINTAINER = "Waste Sorter maintainers <waste-sorter@example.org>"

# Lowest libstdc++ (GCC) release providing each GLIBCXX_3.4.x symbol version.
_GLIBCXX_TO_GCC = {
    21: "5",
    22: "6",
    24: "7",
    25: "8",
    26: "9",
    28: "10",
    29: "11",
    30: "12",
    31: "13",
    32: "13.2",
    33: "14",
}


@dataclass(frozen=True)
class DebInfo:
    package: Path
    version: str
    architecture: str
    depends: str
    installed_kib: int


def debian_version(version: str) -> str:
    """Debian spelling of a PEP 440 version: a pre-release needs a tilde (1.0rc1 -> 1.0~rc1)."""
    for tag in ("rc", "b", "a", ".dev"):
        head, sep, tail = version.partition(tag)
        if sep and head and head[-1].isdigit():
            return f"{head}~{tag.lstrip('.')}{tail}"
    return version


def depends_line(report: BundleReport) -> str:
    """The Depends field: the C library versions the bundle needs and the desktop libraries."""
    relations = [f"libc6 (>= {'.'.join(map(str, report.glibc))})"]
    for relation in report.system_packages():
        if relation == "libstdc++6" and report.glibcxx[-1] in _GLIBCXX_TO_GCC:
            relation = f"libstdc++6 (>= {_GLIBCXX_TO_GCC[report.glibcxx[-1]]})"
        relations.append(relation)
    return ", ".join(relations)


def _icon_png(icons: Path) -> Path | None:
    for name in ("app-256.png", "app.png"):
        if (icons / name).is_file():
            return icons / name
    return None


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _normalise_modes(root: Path) -> None:
    """Directories 755, executables 755, everything else 644 (lintian's expectations)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        Path(dirpath).chmod(0o755)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            executable = path.stat().st_mode & 0o111 or (
                path.parent.name == "DEBIAN" and name in ("postinst", "postrm", "preinst", "prerm")
            )
            path.chmod(0o755 if executable else 0o644)


def stage_icon(icons: Path, root: Path) -> None:
    """The 256x256 PNG (resized with Pillow when it is another size) and the SVG if any."""
    png = _icon_png(icons)
    target = root / "usr/share/icons/hicolor/256x256/apps" / f"{APP}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    if png is not None:
        try:
            from PIL import Image

            with Image.open(png) as image:
                if image.size != (256, 256):
                    image.resize((256, 256), Image.Resampling.LANCZOS).save(target)
                else:
                    shutil.copyfile(png, target)
        except ImportError:
            shutil.copyfile(png, target)
    svg = icons / "app.svg"
    if svg.is_file():
        scalable = root / "usr/share/icons/hicolor/scalable/apps" / f"{APP}.svg"
        scalable.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(svg, scalable)


def build_deb(
    app_folder: Path,
    out_dir: Path,
    work: Path,
    *,
    version: str,
    report: BundleReport,
    icons: Path,
    description: str,
) -> DebInfo:
    """Stage the package tree under ``work`` and build ``out_dir/waste-sorter_<v>_<arch>.deb``."""
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    deb_version = debian_version(version)
    root = work / "root"
    if root.exists():
        shutil.rmtree(root)
    opt = root / INSTALL_DIR.relative_to("/")
    opt.parent.mkdir(parents=True)
    shutil.copytree(app_folder, opt, symlinks=True)

    bin_link = root / "usr/bin" / APP
    bin_link.parent.mkdir(parents=True)
    bin_link.symlink_to(INSTALL_DIR / APP)
    desktop = (HERE / "linux" / f"{APP}.desktop").read_text(encoding="utf-8")
    _write(root / "usr/share/applications" / f"{APP}.desktop", desktop)
    stage_icon(icons, root)
    _write(root / "usr/share/doc" / APP / "copyright", (HERE / "linux" / "copyright").read_text())

    installed_kib = sum(
        (p.lstat().st_size + 1023) // 1024 for p in root.rglob("*") if not p.is_dir()
    )
    debian = root / "DEBIAN"
    for script in ("postinst", "postrm"):
        _write(debian / script, (HERE / "linux" / script).read_text(), 0o755)
    depends = depends_line(report)
    summary = "waste-sorting station: camera or image in, bin out"
    body = description
    long_text = "\n".join(
        f" {line}" if line.strip() else " ." for line in body.strip().splitlines()
    )
    control = (
        f"Package: {APP}\n"
        f"Version: {deb_version}\n"
        f"Architecture: {arch}\n"
        f"Maintainer: {MAINTAINER}\n"
        f"Installed-Size: {installed_kib}\n"
        f"Depends: {depends}\n"
        f"Recommends: {', '.join(RECOMMENDS)}\n"
        "Section: misc\n"
        "Priority: optional\n"
        f"Description: {summary}\n{long_text}\n"
    )
    _write(debian / "control", control)
    _normalise_modes(root)

    out_dir.mkdir(parents=True, exist_ok=True)
    package = out_dir / f"{APP}_{deb_version}_{arch}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(package)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return DebInfo(package, deb_version, arch, depends, installed_kib)
