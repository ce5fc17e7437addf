"""What the frozen app leaves out, shared by ``waste_sorter.spec`` and ``build.py``.

Three kinds of things are dropped from what PyInstaller collects:

* Python packages the app never imports (the training stack above all);
* Qt plugins, libraries and translations for features the app does not use (QML/Quick,
  virtual keyboard, EGLFS/linuxfb/VNC, networking, the GTK theme, ...);
* on Linux, the desktop's own libraries (X11/xcb, Wayland, OpenGL, fontconfig, GLib, D-Bus,
  the C++ runtime). They must match the graphics drivers of the machine the app runs on, so
  they come from that machine: the .deb depends on the packages in :data:`SYSTEM_LIBS`.
  Libraries PyInstaller pulled in only for those are dropped with them.

This module is plain Python with no third-party imports, so ``build.py`` and the tests can use
it without PyInstaller.
"""

from __future__ import annotations

import ast
import struct
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

# Never in the bundle; build.py fails if any of them shows up anyway. (``onnx`` is in it since
# stations teach: app.core.teach_graph writes taught models with it; only its runtime part.)
FORBIDDEN_PACKAGES = ("tensorflow", "keras", "tf2onnx", "matplotlib", "sklearn")
EXCLUDED_MODULES = [
    *FORBIDDEN_PACKAGES,
    "onnx.backend",  # onnx's conformance tests and their data (18 MB); never imported
    "onnx.reference",  # the pure-Python reference evaluator; the app runs models with ORT
    "scipy",
    "pandas",
    "torch",
    "tensorboard",
    "tkinter",
    "IPython",
    "pytest",
    "training",
    "tests",
    "bench",
    "ssl",  # the app never opens a network connection
    "_hashlib",  # OpenSSL's hashes (4.5 MB of libcrypto); hashlib falls back to its own
    # Qt bindings the app does not use (PyInstaller's Qt hooks would add some of them).
    "PySide6.QtNetwork",
    "PySide6.QtDBus",
    "PySide6.QtOpenGL",  # Python bindings only: libQt6OpenGL itself stays (QtCharts links it)
    "PySide6.QtOpenGLWidgets",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtWebEngineCore",
    "PySide6.QtMultimedia",
    "PySide6.QtPdf",
    "PySide6.QtDesigner",
    "PySide6.Qt3DCore",
]

# Qt plugin folders (under PySide6/[Qt/]plugins) and the plugins kept in each, by file name
# without "lib" and extension, so one list serves Linux, Windows and macOS; "*" keeps them all.
QT_PLUGINS_KEPT: dict[str, tuple[str, ...]] = {
    "platforms": ("qoffscreen", "qxcb", "qwayland", "qwindows", "qcocoa"),
    "xcbglintegrations": ("*",),
    "wayland-shell-integration": ("xdg-shell",),
    "wayland-decoration-client": ("*",),
    "wayland-graphics-integration-client": ("qt-plugin-wayland-egl",),
    "iconengines": ("*",),  # the SVG window icon
    "imageformats": ("qjpeg", "qsvg", "qico", "qgif"),  # history thumbnails are JPEG
    # Compose keys and IBus: how people type Vietnamese on Linux.
    "platforminputcontexts": (
        "composeplatforminputcontextplugin",
        "ibusplatforminputcontextplugin",
    ),
    "styles": ("*",),  # native look on Windows
}
# Qt modules whose libraries nothing we keep links to once the plugins above are gone
# (matched as Qt6<name>* on Linux/Windows and Qt<name>*.framework on macOS).
QT_LIBS_DROPPED = (
    "Qml",
    "Quick",
    "VirtualKeyboard",
    "EglFS",
    "EglFs",
    "WlShellIntegration",
    "Network",
    "Pdf",
    "WebEngine",
    "WebChannel",
    "Multimedia",
    "Designer",
    "3D",
)

# Linux libraries taken from the system, by soname, with the Debian/Ubuntu package giving each
# ("a | b": the name before and after Ubuntu 24.04's 64-bit time_t rename).
SYSTEM_LIBS: dict[str, str] = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libgmodule-2.0.so.0": "libglib2.0-0t64 | libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libzstd.so.1": "libzstd1",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
}
# Part of the C library itself (package libc6), never bundled.
GLIBC_LIBS = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "librt.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
        "libanl.so.1",
        "libnsl.so.1",
    }
)
# Windows: the MSVC C++ runtime comes from the vc_redist the installer runs, never from the app
# folder. Wheels carry copies of different ages (PySide6's may be older than the 14.40 ONNX
# Runtime needs), and a copy in the folder would be found before the system's.
MSVC_RUNTIME_DLLS = frozenset(
    {
        "msvcp140.dll",
        "msvcp140_1.dll",
        "msvcp140_2.dll",
        "msvcp140_atomic_wait.dll",
        "msvcp140_codecvt_ids.dll",
        "vcruntime140.dll",
        "vcruntime140_1.dll",
        "concrt140.dll",
        "vcomp140.dll",
    }
)


def keep_windows_entry(dest: str) -> bool:
    """False for an MSVC runtime DLL (see :data:`MSVC_RUNTIME_DLLS`)."""
    return PurePosixPath(dest.replace("\\", "/")).name.lower() not in MSVC_RUNTIME_DLLS


# Qt draws text with whatever fonts fontconfig finds; a desktop has some, a bare server not.
RECOMMENDS = ("fonts-dejavu-core | fonts-noto-core",)


def qt_translations_kept(repo: Path) -> set[str]:
    """``qtbase_<lang>.qm`` for each language the app ships (read from app/qt/i18n.py)."""
    i18n = repo / "app" / "qt" / "i18n.py"
    if not i18n.is_file():
        return set()
    source = i18n.read_text(encoding="utf-8")
    languages: tuple[str, ...] = ()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SUPPORTED" for t in node.targets
        ):
            languages = tuple(ast.literal_eval(node.value))
    return {f"qtbase_{lang}.qm" for lang in languages}


def keep_qt_entry(dest: str, translations: set[str]) -> bool:
    """False for a Qt plugin, library or translation the app does not use."""
    parts = PurePosixPath(dest.replace("\\", "/")).parts
    name = parts[-1]
    in_pyside = parts[0] == "PySide6"
    if in_pyside and "plugins" in parts[:-1]:
        folder_at = parts.index("plugins") + 1
        if folder_at >= len(parts) - 1:
            return True
        kept = QT_PLUGINS_KEPT.get(parts[folder_at])
        if kept is None:
            return False
        return "*" in kept or name.split(".")[0].removeprefix("lib") in kept
    if in_pyside and "translations" in parts[:-1]:
        return name in translations
    for part in parts:
        bare = part.removeprefix("lib")
        for module in QT_LIBS_DROPPED:
            if bare.startswith("Qt6" + module) or (
                bare.startswith("Qt" + module) and part.endswith(".framework")
            ):
                return False
    return True


# --------------------------------------------------------------------------- ELF inspection


def elf_dynamic(path: Path) -> tuple[list[str], set[str]] | None:
    """(DT_NEEDED sonames, symbol versions required such as ``GLIBC_2.34``) of an ELF file,
    or None when the file is not ELF. Handles 32/64-bit and either byte order.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < 64 or data[:4] != b"\x7fELF":
        return None
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        phoff = struct.unpack_from(end + "Q", data, 32)[0]
        phentsize, phnum = struct.unpack_from(end + "HH", data, 54)
        ph_fmt, dyn_fmt = end + "IIQQQQQQ", end + "qQ"
    else:
        phoff = struct.unpack_from(end + "I", data, 28)[0]
        phentsize, phnum = struct.unpack_from(end + "HH", data, 42)
        ph_fmt, dyn_fmt = end + "IIIIIIII", end + "iI"
    loads: list[tuple[int, int, int]] = []  # (vaddr, file offset, size in file)
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        fields = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
        if is64:
            p_type, _, p_offset, p_vaddr, _, p_filesz = fields[:6]
        else:
            p_type, p_offset, p_vaddr, _, p_filesz = fields[:5]
        if p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:  # PT_DYNAMIC
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return [], set()

    def file_offset(vaddr: int) -> int:
        for va, off, size in loads:
            if va <= vaddr < va + size:
                return off + vaddr - va
        return vaddr

    def string(at: int) -> str:
        return data[at : data.index(b"\0", at)].decode("utf-8", "replace")

    needed: list[int] = []
    tags: dict[int, int] = {}
    entry_size = struct.calcsize(dyn_fmt)
    for at in range(dynamic[0], dynamic[0] + dynamic[1], entry_size):
        tag, value = struct.unpack_from(dyn_fmt, data, at)
        if tag == 0:  # DT_NULL
            break
        if tag == 1:  # DT_NEEDED
            needed.append(value)
        else:
            tags[tag] = value
    if 5 not in tags:  # DT_STRTAB
        return [], set()
    strtab = file_offset(tags[5])
    versions: set[str] = set()
    at = file_offset(tags.get(0x6FFFFFFE, 0))  # DT_VERNEED
    for _ in range(tags.get(0x6FFFFFFF, 0) if 0x6FFFFFFE in tags else 0):  # DT_VERNEEDNUM
        _, count, _, aux, next_ = struct.unpack_from(end + "HHIII", data, at)
        aux_at = at + aux
        for _ in range(count):
            _, _, _, name, aux_next = struct.unpack_from(end + "IHHII", data, aux_at)
            versions.add(string(strtab + name))
            aux_at += aux_next
        at += next_
    return [string(strtab + rel) for rel in needed], versions


def elf_needed(path: Path) -> list[str] | None:
    """The DT_NEEDED sonames of an ELF file, or None when it is not one."""
    info = elf_dynamic(path)
    return None if info is None else info[0]


def _is_system_path(src: str) -> bool:
    return src.startswith(("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/", "/usr/local/lib/"))


def prune_linux_binaries(
    binaries: Iterable[tuple[str, str, str]],
) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Drop system libraries that the host provides or that nothing kept needs.

    Roots are everything that came with Python or a wheel (destinations inside a folder,
    libpython, or a source outside the system library folders); a system library stays only
    when a kept file needs it and it is not one of :data:`SYSTEM_LIBS`. Returns
    (kept entries, names of dropped libraries).
    """
    entries = list(binaries)
    by_name: dict[str, tuple[str, str, str]] = {}
    roots: list[tuple[str, str, str]] = []
    for entry in entries:
        dest, src, _ = entry
        is_root = "/" in dest.replace("\\", "/") or not _is_system_path(src)
        is_root = is_root or PurePosixPath(dest).name.startswith("libpython")
        if is_root:
            roots.append(entry)
        else:
            by_name[PurePosixPath(dest).name] = entry
    kept_system: set[str] = set()
    queue = [entry for entry in roots if entry[2] != "SYMLINK"]
    while queue:
        _, src, _ = queue.pop()
        for soname in elf_needed(Path(src)) or []:
            if soname in SYSTEM_LIBS or soname in kept_system or soname not in by_name:
                continue
            kept_system.add(soname)
            queue.append(by_name[soname])
    kept = [e for e in entries if e in roots or PurePosixPath(e[0]).name in kept_system]
    dropped = sorted(set(by_name) - kept_system)
    return kept, dropped


def strip_debug_info(
    binaries: list[tuple[str, str, str]], workdir: Path, strip: str
) -> list[tuple[str, str, str]]:
    """Replace libpython and the standard library's extension modules by copies without
    debug sections (a self-built interpreter keeps them: 20+ MB). Wheels' libraries are left
    alone: running ``strip`` over files that auditwheel patched can break them.
    """
    import shutil
    import subprocess

    out: list[tuple[str, str, str]] = []
    for dest, src, kind in binaries:
        posix = dest.replace("\\", "/")
        ours = posix.startswith("libpython") or "/lib-dynload/" in posix
        if kind == "SYMLINK" or not ours or elf_needed(Path(src)) is None:
            out.append((dest, src, kind))
            continue
        target = workdir / "stripped" / posix
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.stat().st_mtime < Path(src).stat().st_mtime:
            shutil.copy2(src, target)
            subprocess.run([strip, "--strip-debug", str(target)], check=True)
        out.append((dest, str(target), kind))
    return out
