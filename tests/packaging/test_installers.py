"""The Linux packages in dist/: the .deb's layout and metadata, the .tar.gz, and (opt-in, as
root) a real install, upgrade and removal with dpkg.

The dpkg test changes the machine's installed packages, so it runs only with
``WASTE_SORTER_TEST_DPKG=1``; it needs the package's dependencies installed already
(``apt-get install ./dist/waste-sorter_*.deb`` once does that).
"""

from __future__ import annotations

import configparser
import os
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.packaging.helpers import (
    DIST,
    SAMPLES,
    csv_rows,
    frozen_env,
    project_version,
    run_frozen,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux packages"),
]
APP = "waste-sorter"


def debian_version() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))
    try:
        from deb import debian_version as convert
    finally:
        sys.path.pop(0)
    return str(convert(project_version()))


@pytest.fixture(scope="module")
def deb() -> Path:
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb not installed")
    found = sorted(DIST.glob(f"{APP}_{debian_version()}_*.deb"))
    if not found:
        pytest.skip(f"no {APP}_{debian_version()}_*.deb in {DIST}: run `make package` first")
    return found[-1]


@pytest.fixture(scope="module")
def deb_root(deb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("debroot")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def dpkg_field(deb: Path, name: str) -> str:
    out = subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True)
    return out.stdout.strip()


def inside(root: Path, absolute: str) -> Path:
    """Resolve an absolute path of the installed system inside an extracted root."""
    path = root / absolute.lstrip("/")
    seen = 0
    while path.is_symlink() and seen < 10:
        target = str(path.readlink())
        path = root / target.lstrip("/") if target.startswith("/") else path.parent / target
        seen += 1
    return path


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_control_fields(deb: Path) -> None:
    assert dpkg_field(deb, "Package") == APP
    assert dpkg_field(deb, "Version") == debian_version()
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    assert dpkg_field(deb, "Architecture") == arch.stdout.strip()
    depends = dpkg_field(deb, "Depends")
    for lib in (
        "libc6",
        "libxkbcommon-x11-0",
        "libxcb-cursor0",
        "libegl1",
        "libgl1",
        "libfontconfig1",
        "libxcb-icccm4",
        "libxcb-keysyms1",
        "libdbus-1-3",
    ):
        assert lib in depends, f"Depends lacks {lib}: {depends}"
    installed_kib = int(dpkg_field(deb, "Installed-Size"))
    assert 100_000 < installed_kib < 600_000
    assert len(dpkg_field(deb, "Description").splitlines()[0]) < 80


def test_contents_owned_by_root(deb: Path) -> None:
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True)
    lines = listing.stdout.splitlines()
    assert lines
    assert all(line.split()[1] == "root/root" for line in lines), "files not owned by root"
    names = [line.split()[5] for line in lines]
    assert f"./opt/{APP}/{APP}" in names
    assert not any("/models/" in n and n.startswith("./usr") for n in names)


def test_launcher_icon_and_command_resolve(deb_root: Path) -> None:
    exe = deb_root / "opt" / APP / APP
    assert exe.is_file()
    assert os.access(exe, os.X_OK)
    link = deb_root / "usr" / "bin" / APP
    assert link.is_symlink()
    assert str(link.readlink()) == f"/opt/{APP}/{APP}"
    assert inside(deb_root, f"/usr/bin/{APP}") == exe

    desktop_file = deb_root / "usr" / "share" / "applications" / f"{APP}.desktop"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(desktop_file, encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Terminal"] == "false"
    command = entry["Exec"].split()
    assert command[1:] == ["gui"]
    assert inside(deb_root, command[0]) == exe, f"Exec {command[0]} does not lead to the app"
    assert inside(deb_root, entry["TryExec"]) == exe
    icon = deb_root / "usr/share/icons/hicolor/256x256/apps" / f"{entry['Icon']}.png"
    assert icon.is_file()
    assert png_size(icon) == (256, 256)
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop_file)], capture_output=True)
        assert check.returncode == 0, check.stdout + check.stderr

    # The extracted folder runs from wherever it lies (the app finds its files by itself).
    result = run_frozen(exe, "--version")
    assert result.returncode == 0, result.stderr
    assert project_version() in result.stdout


def test_maintainer_scripts(deb: Path, tmp_path: Path) -> None:
    subprocess.run(["dpkg-deb", "-e", str(deb), str(tmp_path / "DEBIAN")], check=True)
    for name in ("postinst", "postrm"):
        script = tmp_path / "DEBIAN" / name
        assert script.stat().st_mode & stat.S_IXUSR
        assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
        # Run with no cache tools around (a bare server): must still succeed.
        env = {"PATH": "/nonexistent"}
        assert subprocess.run(["/bin/sh", str(script), "configure"], env=env).returncode == 0


def test_tarball(tmp_path: Path) -> None:
    import platform

    tarball = DIST / f"{APP}-{project_version()}-linux-{platform.machine()}.tar.gz"
    if not tarball.is_file():
        pytest.skip(f"no {tarball.name}: run `make package` first")
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        assert all(m.name == APP or m.name.startswith(APP + "/") for m in members)
        assert all(m.uid == 0 and m.gid == 0 for m in members)
        exe = tar.getmember(f"{APP}/{APP}")
        assert exe.mode & 0o111
        tar.extractall(tmp_path, filter="tar")
    result = run_frozen(tmp_path / APP / APP, "--version")
    assert result.returncode == 0, result.stderr
    assert project_version() in result.stdout


# ----------------------------------------------------------------------- real dpkg install


def _dpkg(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["dpkg", *map(str, args)], capture_output=True, text=True, timeout=600)


def _installed_version() -> str | None:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status} ${Version}", APP], capture_output=True, text=True
    )
    parts = out.stdout.split()
    return (
        parts[-1] if out.returncode == 0 and parts[:3] == ["install", "ok", "installed"] else None
    )


def _newer_copy(deb: Path, work: Path) -> tuple[Path, str]:
    """The same package with a higher version, as the next release would be."""
    tree = work / "tree"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    version = debian_version() + "+upgradetest1"
    lines = [
        f"Version: {version}" if line.startswith("Version:") else line
        for line in control.read_text().splitlines()
    ]
    control.write_text("\n".join(lines) + "\n")
    out = work / f"{APP}_{version}.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", str(tree), str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out, version


@pytest.mark.skipif(
    os.environ.get("WASTE_SORTER_TEST_DPKG") != "1",
    reason="set WASTE_SORTER_TEST_DPKG=1 (installs packages)",
)
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_dpkg_install_upgrade_keeps_history_then_remove(deb: Path, tmp_path: Path) -> None:
    if _installed_version() is not None:
        pytest.skip(f"{APP} is installed on this machine already; not touching it")
    newer, newer_version = _newer_copy(deb, tmp_path)
    env = frozen_env(tmp_path)
    usr_bin = Path("/usr/bin") / APP
    try:
        first = _dpkg("-i", deb)
        if first.returncode != 0:
            pytest.skip(f"dependencies missing (apt-get install ./{deb.name} once): {first.stderr}")
        assert _installed_version() == debian_version()
        listed = run_frozen(usr_bin, "models", env=env)
        assert listed.returncode == 0, listed.stderr
        recorded = run_frozen(usr_bin, "classify", "--record", *SAMPLES, env=env)
        assert recorded.returncode == 0, recorded.stderr
        before = csv_rows(run_frozen(usr_bin, "history", "--format", "csv", env=env).stdout)
        assert len(before) == len(SAMPLES)

        upgrade = _dpkg("-i", newer)
        assert upgrade.returncode == 0, upgrade.stderr
        assert _installed_version() == newer_version
        after = csv_rows(run_frozen(usr_bin, "history", "--format", "csv", env=env).stdout)
        assert after == before, "the upgrade lost or changed history"
        assert run_frozen(usr_bin, "models", env=env).returncode == 0
    finally:
        removed = _dpkg("--purge", APP)
    assert removed.returncode == 0, removed.stderr
    assert not usr_bin.exists()
    assert not Path("/opt", APP).exists()
    assert not Path("/usr/share/applications", f"{APP}.desktop").exists()
    # Removing the program leaves the operator's data alone.
    assert list(Path(env["HOME"]).rglob("history.sqlite3"))
