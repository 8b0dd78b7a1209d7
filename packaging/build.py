"""Build GPU Watchdog for this OS: ``make package`` runs this.

    python packaging/build.py [--dist DIR] [--work DIR] [--formats tar,deb] [--fast]

Steps: read the version from pyproject.toml (and check the installed metadata agrees, since the bundle reports
that one), render the icons, run PyInstaller with packaging/gpuwatch.spec (one-folder: DIST/gpuwatch/), then
on Linux build DIST/gpuwatch-<version>-linux-<arch>.tar.gz and DIST/gpuwatch_<version>_<arch>.deb; on macOS the
.dmg (packaging/macos/make_dmg.sh); on Windows the installer when Inno Setup's iscc is on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import tomllib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from icons import write_icons  # noqa: E402 (sibling scripts; packaging/ is not a package)
from linux_packages import build_deb, build_tarball  # noqa: E402


def project_version() -> str:
    """pyproject.toml's version; refuses to build when the installed metadata (what the bundle reports) differs."""
    declared = str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])
    try:
        installed = installed_version("gpuwatch-desktop")
    except PackageNotFoundError:
        installed = None
    if installed != declared:
        raise SystemExit(f"error: pyproject.toml says {declared} but the installed gpuwatch-desktop is {installed}; "
                         "run `.venv/bin/pip install -e .` first, so the app reports the version it is built as")
    return declared


def directory_mb(path: Path) -> float:
    """Size of the files under ``path`` in MB (10^6 bytes), links not followed."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def run_pyinstaller(version: str, icons: Path, dist: Path, work: Path) -> Path:
    env = {**os.environ, "GPUWATCH_VERSION": version, "GPUWATCH_ICON_DIR": str(icons), "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work / "pyinstaller"), str(HERE / "gpuwatch.spec")]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    bundle = dist / ("GPU Watchdog.app" if sys.platform == "darwin" else "gpuwatch")
    if not bundle.exists():
        raise SystemExit(f"error: PyInstaller finished but {bundle} is missing")
    return bundle


def package_for_os(bundle: Path, icons: Path, version: str, args: argparse.Namespace) -> list[Path]:
    if sys.platform.startswith("linux"):
        made = []
        if "tar" in args.formats:
            made.append(build_tarball(bundle, icons, version, args.dist, level=1 if args.fast else 6))
        if "deb" in args.formats:
            made.append(build_deb(bundle, icons, version, args.dist, args.work, fast=args.fast))
        return made
    if sys.platform == "darwin":
        subprocess.run(["sh", str(HERE / "macos" / "make_dmg.sh"), version, str(args.dist)], check=True)
        return [args.dist / f"GPU-Watchdog-{version}-macos-{os.uname().machine}.dmg"]
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    if sys.platform == "win32" and iscc:
        subprocess.run([iscc, f"/DAppVersion={version}", f"/DDistDir={args.dist}",
                        f"/DIconFile={icons / 'gpuwatch.ico'}", str(HERE / "windows" / "gpuwatch.iss")], check=True)
        return [args.dist / f"gpuwatch-{version}-windows-x64-setup.exe"]
    print("Inno Setup (iscc) is not on PATH: the one-folder app is built; see packaging/README.md for the installer")
    return []


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the bundle and packages go")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's work dir, icons, staging")
    parser.add_argument("--formats", default="tar,deb", help="Linux packages to make: tar, deb (default both)")
    parser.add_argument("--fast", action="store_true",
                        help="light compression (tests, trial builds): the .deb in seconds instead of minutes")
    args = parser.parse_args(argv)
    args.formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    if not args.formats <= {"tar", "deb"}:
        parser.error(f"unknown format in --formats: {', '.join(sorted(args.formats - {'tar', 'deb'}))}")
    args.dist, args.work = args.dist.resolve(), args.work.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    version = project_version()
    started = time.monotonic()
    icons = args.work / "icons"
    write_icons(icons)
    bundle = run_pyinstaller(version, icons, args.dist, args.work)
    print(f"bundle: {bundle} ({directory_mb(bundle):.0f} MB unpacked, {time.monotonic() - started:.0f} s)")
    for made in package_for_os(bundle, icons, version, args):
        print(f"package: {made} ({made.stat().st_size / 1e6:.0f} MB)")
    print(f"built gpuwatch {version} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
