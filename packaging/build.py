"""Build the installable app: PyInstaller folder, checks, then the platform's packages.

Run it with the packaging venv's Python (``make package`` does), which holds the app's runtime
dependencies and PyInstaller but none of the training stack::

    .venv-pkg/bin/python packaging/build.py          # Linux: folder, .tar.gz and .deb
    .venv-pkg\\Scripts\\python packaging\\build.py   # Windows: folder (+ installer if iscc)
    .venv-pkg/bin/python packaging/build.py          # macOS: folder and Waste Sorter.app

Outputs go to ``dist/``. The script stops with a non-zero exit when the bundle holds a
forbidden package (TensorFlow, Keras, tf2onnx, matplotlib, scikit-learn), a library that
can be neither found in it nor named as a system dependency, or is over the size limit.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bundle_check import BundleReport, check_bundle, folder_size  # noqa: E402
from bundle_filter import FORBIDDEN_PACKAGES  # noqa: E402

APP = "waste-sorter"
SIZE_AIM_MIB = 350.0  # what we aim for, shipped models not counted; above it the build warns
DEFAULT_MAX_MIB = 450.0  # above this the build fails: something big crept in


def project_metadata() -> dict[str, str]:
    with (REPO / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh)["project"]
    return {"version": project["version"], "description": project["description"]}


def log(message: str) -> None:
    print(f"[package] {message}", flush=True)  # noqa: T201  (a build script's output)


def run_pyinstaller(dist: Path, work: Path, models_dir: Path | None) -> None:
    env = dict(os.environ)
    if models_dir is not None:
        env["WASTE_SORTER_MODELS_DIR"] = str(models_dir)
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(HERE / "waste_sorter.spec"),
    ]
    log("PyInstaller: " + " ".join(command[1:]))
    subprocess.run(command, check=True, env=env, cwd=REPO)


def smoke_test(executable: Path, version: str) -> None:
    """The frozen program starts, knows its version and finds its shipped files."""
    out = subprocess.run(
        [str(executable), "--version"], capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0 or version not in out.stdout:
        raise SystemExit(f"frozen --version failed ({out.returncode}): {out.stdout}{out.stderr}")
    log(f"smoke test: {out.stdout.strip()}")


def make_tarball(folder: Path, target: Path) -> None:
    """``waste-sorter/`` inside, owned by root, modes and symlinks kept."""

    def reset(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(target, "w:gz", compresslevel=6) as tar:
        tar.add(folder, arcname=APP, filter=reset)


def describe(report: BundleReport, models: Path) -> None:
    size = f"{report.size_mib:.1f} MiB ({report.size_bytes / 1e6:.1f} MB)"
    model_mib = folder_size(models)[0] / 1024 / 1024 if models.is_dir() else 0.0
    log(f"app folder: {size}, {report.files} files; shipped models {model_mib:.1f} MiB of it")
    if report.size_mib - model_mib > SIZE_AIM_MIB:  # the models are as big as they need to be
        log(
            f"WARNING: {report.size_mib - model_mib:.0f} MiB without the models, over the "
            f"{SIZE_AIM_MIB:.0f} MiB aim"
        )
    if report.system_libs:
        log("system libraries: " + " ".join(sorted(report.system_libs)))


def build_platform_packages(
    args: argparse.Namespace, meta: dict[str, str], app: Path, report: BundleReport
) -> list[Path]:
    outputs: list[Path] = []
    version = args.package_version or meta["version"]
    if sys.platform.startswith("linux"):
        machine = platform.machine()
        if not args.no_tar:
            tarball = args.dist / f"{APP}-{version}-linux-{machine}.tar.gz"
            log(f"writing {tarball.name}")
            make_tarball(app, tarball)
            outputs.append(tarball)
        if not args.no_deb:
            if shutil.which("dpkg-deb") is None:
                raise SystemExit("dpkg-deb not found: apt-get install dpkg-dev, or pass --no-deb")
            from deb import build_deb

            log("writing the .deb (xz; takes a minute or two)")
            info = build_deb(
                app,
                args.dist,
                args.work / "deb",
                version=version,
                report=report,
                icons=REPO / "resources" / "icons",
                description=meta["description"] + "\n"
                ".\nA sorting station: hold an item to the camera and the app shows which bin it "
                "goes in,\nkeeping a history and statistics. Also `waste-sorter classify` for "
                "image files.",
            )
            log(f"Depends: {info.depends}")
            outputs.append(info.package)
    elif sys.platform == "win32" and args.iscc:
        outputs.append(build_windows_installer(args, version, app))
    elif sys.platform == "darwin":
        outputs.append(args.dist / "Waste Sorter.app")
    return outputs


def build_windows_installer(args: argparse.Namespace, version: str, app: Path) -> Path:
    redist = HERE / "windows" / "redist" / "vc_redist.x64.exe"
    if not redist.is_file():
        raise SystemExit(f"put Microsoft's vc_redist.x64.exe at {redist} (see packaging/README.md)")
    defines = [f"/DAppVersion={version}", f"/DAppFolder={app}", f"/DOutputDir={args.dist}"]
    icon = make_ico(args.work)
    if icon is not None:
        defines.append(f"/DAppIcon={icon}")
    command = [str(args.iscc), *defines, str(HERE / "windows" / "waste_sorter.iss")]
    log("Inno Setup: " + " ".join(command))
    subprocess.run(command, check=True)
    return Path(args.dist) / f"{APP}-{version}-setup.exe"


def make_ico(work: Path) -> Path | None:
    """resources/icons/app.ico, or one made from the PNG with Pillow; None without either."""
    icons = REPO / "resources" / "icons"
    if (icons / "app.ico").is_file():
        return icons / "app.ico"
    png = next((icons / n for n in ("app.png", "app-256.png") if (icons / n).is_file()), None)
    if png is None:
        return None
    from PIL import Image

    target = work / "app.ico"
    with Image.open(png) as image:
        image.save(target, sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    return target


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="output folder (dist/)")
    parser.add_argument(
        "--work",
        type=Path,
        default=REPO / "build" / "packaging",
        help="PyInstaller's work folder and package staging (build/packaging/)",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="models to ship instead of models/ (e.g. a scratch folder)",
    )
    parser.add_argument(
        "--package-version",
        default=None,
        help="version of the .deb/.tar.gz/installer (default: pyproject's)",
    )
    parser.add_argument(
        "--skip-pyinstaller",
        action="store_true",
        help="package the existing dist/waste-sorter folder again",
    )
    parser.add_argument("--no-deb", action="store_true", help="Linux: skip the .deb")
    parser.add_argument("--no-tar", action="store_true", help="Linux: skip the .tar.gz")
    parser.add_argument(
        "--iscc",
        default=shutil.which("iscc") or shutil.which("ISCC"),
        help="Windows: Inno Setup compiler; the installer is built when found",
    )
    parser.add_argument(
        "--max-mib",
        type=float,
        default=DEFAULT_MAX_MIB,
        help=f"fail when the app folder is larger ({DEFAULT_MAX_MIB:.0f})",
    )
    parser.add_argument(
        "--allow-training-env",
        action="store_true",
        help="build even though this Python has the training packages",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.dist, args.work = args.dist.resolve(), args.work.resolve()
    meta = project_metadata()
    present = [name for name in FORBIDDEN_PACKAGES if importlib.util.find_spec(name) is not None]
    if present and not args.allow_training_env:
        raise SystemExit(
            f"{sys.executable} has {', '.join(present)}: build from the packaging venv "
            "(make package) so they cannot leak into the bundle"
        )
    started = time.monotonic()
    app = args.dist / APP
    if not args.skip_pyinstaller:
        args.work.mkdir(parents=True, exist_ok=True)
        run_pyinstaller(args.dist, args.work / "pyinstaller", args.models_dir)
    executable = app / (f"{APP}.exe" if sys.platform == "win32" else APP)
    if not executable.is_file():
        raise SystemExit(f"no frozen program at {executable}")

    report = check_bundle(app, executable, max_mib=args.max_mib)
    describe(report, app / "_internal" / "models")
    if report.problems:
        for problem in report.problems:
            log(f"PROBLEM: {problem}")
        raise SystemExit(f"the bundle failed {len(report.problems)} check(s)")
    if not any((app / "_internal" / "models").glob("*.onnx")):
        log("WARNING: no models shipped (models/ is empty): the app has no model to classify with")
    smoke_test(executable, meta["version"])

    for output in build_platform_packages(args, meta, app, report):
        size = folder_size(output)[0] if output.is_dir() else output.stat().st_size
        shown = output.relative_to(REPO) if output.is_relative_to(REPO) else output
        log(f"built {shown}: {size / 1024 / 1024:.1f} MiB ({size / 1e6:.1f} MB)")
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
