"""The packaging rules themselves, on all three platforms' file names (no build needed).

Windows and macOS builds cannot run on the Linux build machine, so what the spec keeps and drops
for them is checked here on the destination names PyInstaller gives their files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

KEEP = {"qtbase_vi.qm"}


@pytest.mark.parametrize(
    ("dest", "kept"),
    [
        # Linux
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", True),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", False),
        ("PySide6/Qt/plugins/platforms/libqvnc.so", False),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
        ("PySide6/Qt/plugins/imageformats/libqjpeg.so", True),
        ("PySide6/Qt/plugins/imageformats/libqtiff.so", False),
        ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", False),
        ("PySide6/Qt/plugins/platforminputcontexts/libibusplatforminputcontextplugin.so", True),
        ("PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so", True),
        ("PySide6/Qt/plugins/wayland-shell-integration/libivi-shell.so", False),
        ("PySide6/Qt/lib/libQt6Quick.so.6", False),
        ("libQt6Quick.so.6", False),  # PyInstaller's top-level symlink
        ("libQt6QmlModels.so.6", False),
        ("PySide6/Qt/lib/libQt6Network.so.6", False),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
        ("PySide6/Qt/lib/libQt6Charts.so.6", True),
        ("PySide6/Qt/lib/libQt6OpenGL.so.6", True),
        ("PySide6/Qt/lib/libicudata.so.73", True),
        ("PySide6/Qt/translations/qt_help_de.qm", False),
        ("PySide6/Qt/translations/qtbase_vi.qm", True),
        ("resources/translations/waste_sorter_vi.qm", True),  # ours, never filtered
        # Windows
        ("PySide6\\plugins\\platforms\\qwindows.dll", True),
        ("PySide6\\plugins\\styles\\qmodernwindowsstyle.dll", True),
        ("PySide6\\plugins\\platforms\\qdirect2d.dll", False),
        ("PySide6\\Qt6Quick.dll", False),
        ("PySide6\\Qt6WebEngineCore.dll", False),
        ("PySide6\\Qt6Widgets.dll", True),
        ("PySide6\\opengl32sw.dll", True),
        ("PySide6\\translations\\qtbase_de.qm", False),
        # macOS
        ("PySide6/Qt/plugins/platforms/libqcocoa.dylib", True),
        ("PySide6/Qt/lib/QtQuick.framework/Versions/A/QtQuick", False),
        ("PySide6/Qt/lib/QtWidgets.framework/Versions/A/QtWidgets", True),
        # not Qt at all
        ("onnxruntime/capi/onnxruntime_pybind11_state.so", True),
        ("cv2/cv2.abi3.so", True),
    ],
)
def test_qt_filter(dest: str, kept: bool, packaging_modules: None) -> None:
    from bundle_filter import keep_qt_entry

    assert keep_qt_entry(dest, KEEP) is kept


def test_windows_runtime_dlls_are_left_to_vc_redist(packaging_modules: None) -> None:
    from bundle_filter import keep_windows_entry

    assert not keep_windows_entry("msvcp140.dll")
    assert not keep_windows_entry("PySide6\\MSVCP140_1.dll")
    assert not keep_windows_entry("VCRUNTIME140.dll")
    assert keep_windows_entry("python311.dll")
    assert keep_windows_entry("onnxruntime\\capi\\onnxruntime.dll")


def test_translations_follow_the_app_languages(packaging_modules: None) -> None:
    from bundle_filter import qt_translations_kept

    from app.qt.i18n import SUPPORTED

    repo = Path(__file__).resolve().parents[2]
    assert qt_translations_kept(repo) == {f"qtbase_{lang}.qm" for lang in SUPPORTED}


def test_debian_versions(packaging_modules: None) -> None:
    from deb import debian_version

    assert debian_version("0.1.0") == "0.1.0"
    assert debian_version("1.2rc1") == "1.2~rc1"
    assert debian_version("1.2.0b3") == "1.2.0~b3"
    assert debian_version("1.2.dev4") == "1.2~dev4"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF")
def test_elf_reader_and_system_library_pruning(tmp_path: Path, packaging_modules: None) -> None:
    from bundle_filter import elf_dynamic, prune_linux_binaries

    ls = Path("/bin/ls").resolve()
    info = elf_dynamic(ls)
    assert info is not None
    needed, versions = info
    assert "libc.so.6" in needed
    assert any(v.startswith("GLIBC_2.") for v in versions)
    assert elf_dynamic(Path(__file__)) is None

    # A wheel's extension needing one system library (kept) and the desktop's libX11 (dropped,
    # the host provides it); a system library nothing needs is dropped too.
    libc_user = str(ls)
    entries = [
        ("mod/ext.so", libc_user, "EXTENSION"),
        ("libselinux.so.1", "/usr/lib/x86_64-linux-gnu/libselinux.so.1", "BINARY"),
        ("libX11.so.6", "/usr/lib/x86_64-linux-gnu/libX11.so.6", "BINARY"),
        ("libunused.so.1", "/usr/lib/x86_64-linux-gnu/libunused.so.1", "BINARY"),
    ]
    kept, dropped = prune_linux_binaries(entries)
    kept_names = [dest for dest, _, _ in kept]
    assert "mod/ext.so" in kept_names
    if "libselinux.so.1" in needed:  # Debian's ls links it
        assert "libselinux.so.1" in kept_names
    assert "libX11.so.6" not in kept_names
    assert "libunused.so.1" in dropped
